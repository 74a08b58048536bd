#!/usr/bin/env python3
"""Draws the documentation's diagrams as SVG, each in a light and a dark variant.

    python3 Scripts/diagrams.py        # rewrites the SVGs in the DocC catalogs' Resources

DocC shows `name~dark.svg` in place of `name.svg` when the reader's appearance is dark. The
pictures are drawn here, in code, so both variants always agree and a change is one edit.
"""
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

LIGHT = dict(text="#1d1d1f", muted="#6e6e73", line="#3a3a3c", ok="#0a62c9", okFill="#e6f0fc",
             err="#c0352b", errFill="#fdecea", alt="#b25e00", altFill="#fff1e0", dash="#a1a1a6",
             paper="#ffffff")
DARK = dict(text="#f2f2f7", muted="#a1a1a6", line="#d1d1d6", ok="#64a8ff", okFill="#0f2742",
            err="#ff7a6e", errFill="#3d1512", alt="#ffab4a", altFill="#3a2408", dash="#636366",
            paper="#1c1c1e")


class SVG:
    def __init__(self, w, h, p):
        self.w, self.h, self.p, self.parts = w, h, p, []

    def add(self, s):
        self.parts.append(s)

    def text(self, x, y, s, size=13, color="text", anchor="middle", weight="normal", style="normal"):
        s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        self.add(f'<text x="{x}" y="{y}" font-size="{size}" fill="{self.p[color]}" text-anchor="{anchor}" '
                 f'font-weight="{weight}" font-style="{style}">{s}</text>')

    def box(self, x, y, w, h, stroke, fill, dashed=False, r=8):
        d = ' stroke-dasharray="5 4"' if dashed else ""
        self.add(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="{r}" fill="{self.p[fill]}" '
                 f'stroke="{self.p[stroke]}" stroke-width="1.5"{d}/>')

    def arrow(self, x1, y1, x2, y2, color="line", width=2, dashed=False):
        d = ' stroke-dasharray="6 4"' if dashed else ""
        self.add(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{self.p[color]}" stroke-width="{width}"'
                 f' marker-end="url(#head-{color})"{d}/>')

    def path(self, d, color="line", width=2, dashed=False, arrow=True):
        da = ' stroke-dasharray="6 4"' if dashed else ""
        m = f' marker-end="url(#head-{color})"' if arrow else ""
        self.add(f'<path d="{d}" fill="none" stroke="{self.p[color]}" stroke-width="{width}"{m}{da}/>')

    def render(self):
        heads = "".join(
            f'<marker id="head-{c}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{self.p[c]}"/></marker>'
            for c in ("line", "ok", "err", "alt", "muted"))
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.w}" height="{self.h}" '
                f'viewBox="0 0 {self.w} {self.h}" font-family="-apple-system, Helvetica, Arial, sans-serif">'
                f'<defs>{heads}</defs>'
                f'<rect width="{self.w}" height="{self.h}" rx="12" fill="{self.p["paper"]}"/>'
                + "".join(self.parts) + "</svg>\n")


def chain_columns(p):
    """The two columns of a chain: a throw crosses to the right, a recovery crosses back."""
    s = SVG(680, 470, p)
    lx, rx, bw, bh = 60, 380, 240, 48
    s.text(lx + bw / 2, 40, "callbacks (values)", 15, "ok", weight="bold")
    s.text(rx + bw / 2, 40, "errbacks (failures)", 15, "err", weight="bold")
    s.text(lx + bw / 2, 74, "tiny.callback(12)", 13, "muted", style="italic")
    rows = [
        (("addCallback: throws PageTooSmall", False), ("passes the value on", True)),
        (("addCallback: \"a page of …\"", True), ("passes the failure on", True)),
        (("skipped", True), ("addErrback: trap, return text", False)),
        (("addCallback: print(line)", False), ("passes the value on", True)),
    ]
    ys = [100 + i * 86 for i in range(len(rows))]
    for y, (left, right) in zip(ys, rows):
        s.box(lx, y, bw, bh, "ok" if not left[1] else "dash", "okFill" if not left[1] else "paper", left[1])
        s.text(lx + bw / 2, y + 29, left[0], 13, "text" if not left[1] else "muted")
        s.box(rx, y, bw, bh, "err" if not right[1] else "dash", "errFill" if not right[1] else "paper", right[1])
        s.text(rx + bw / 2, y + 29, right[0], 13, "text" if not right[1] else "muted")
    cx = lx + bw / 2
    ex = rx + bw / 2
    s.arrow(cx, 80, cx, ys[0] - 2, "ok")
    # the throw: from row 0 left, across, down to row 2 right (row 1 right passes it on)
    s.path(f"M{lx + bw},{ys[0] + bh / 2} C{lx + bw + 50},{ys[0] + bh / 2} {ex},{ys[0] + 40} {ex},{ys[1] - 2}", "err")
    s.text((lx + bw + rx) / 2, ys[0] + 14, "throw", 13, "err", weight="bold")
    s.arrow(ex, ys[1] + bh, ex, ys[2] - 2, "err")
    # the recovery: from row 2 right back to row 3 left
    s.path(f"M{rx},{ys[2] + bh / 2} C{rx - 50},{ys[2] + bh / 2} {cx},{ys[2] + 40} {cx},{ys[3] - 2}", "ok")
    s.text((lx + bw + rx) / 2 + 30, ys[2] + bh + 24, "return: recovered", 13, "ok", weight="bold")
    s.arrow(cx, ys[3] + bh, cx, ys[3] + bh + 30, "ok")
    s.text(cx, ys[3] + bh + 48, "the chain ends holding a value", 13, "muted", style="italic")
    return s.render()


def chain_paused(p):
    """A chain paused on the deferred a callback returned."""
    s = SVG(680, 420, p)
    ox, ow, ix, iw, bh = 40, 280, 400, 240, 50
    s.text(ox + ow / 2, 36, "getPage's chain", 15, "ok", weight="bold")
    s.text(ix + iw / 2, 36, "whenFinished", 15, "alt", weight="bold")
    s.box(ox, 60, ow, bh, "ok", "okFill")
    s.text(ox + ow / 2, 82, "request fires with the Response", 13)
    s.text(ox + ow / 2, 99, "(the headers are in)", 12, "muted")
    s.arrow(ox + ow / 2, 60 + bh, ox + ow / 2, 138)
    s.box(ox, 140, ow, bh, "ok", "okFill")
    s.text(ox + ow / 2, 162, "handleResponse(r) -> Deferred<Void>", 13)
    s.text(ox + ow / 2, 179, "returns whenFinished", 12, "muted")
    # pause bar
    s.add(f'<rect x="{ox + ow / 2 - 12}" y="212" width="8" height="52" rx="2" fill="{p["alt"]}"/>')
    s.add(f'<rect x="{ox + ow / 2 + 4}" y="212" width="8" height="52" rx="2" fill="{p["alt"]}"/>')
    s.text(ox + ow / 2 + 28, 243, "paused", 14, "alt", anchor="start", weight="bold")
    s.text(ox + ow / 2 - 28, 236, "body", 12, "muted", anchor="end")
    s.text(ox + ow / 2 - 28, 251, "arriving", 12, "muted", anchor="end")
    s.box(ox, 290, ow, bh, "ok", "okFill")
    s.text(ox + ow / 2, 312, "the next step: getPage's deferred", 13)
    s.text(ox + ow / 2, 329, "fires; the semaphore's token goes", 12, "muted")
    # inner deferred
    s.box(ix, 140, iw, bh, "alt", "altFill")
    s.text(ix + iw / 2, 162, "Deferred<Void>, unfired", 13)
    s.text(ix + iw / 2, 179, "PrinterClient holds it", 12, "muted")
    s.path(f"M{ox + ow},{165} L{ix - 4},{165}", "alt")
    s.text((ox + ow + ix) / 2, 157, "returns", 12, "alt")
    s.box(ix, 240, iw, bh, "alt", "altFill")
    s.text(ix + iw / 2, 262, "connectionLost(ResponseDone)", 13)
    s.text(ix + iw / 2, 279, "whenFinished.callback(())", 12, "muted")
    s.arrow(ix + iw / 2, 240, ix + iw / 2, 140 + bh + 3, "alt", dashed=True)
    s.text(ix + iw / 2 + 8, 222, "fires", 12, "alt", anchor="start")
    s.path(f"M{ix + iw / 2},{240 + bh} C{ix + iw / 2},{330} {ox + ow + 60},{315} {ox + ow + 3},{315}", "ok")
    s.text(ix + iw / 2 - 10, 360, "its result continues the outer chain", 13, "ok")
    s.text(340, 404, "A callback typed to return a Deferred pauses its chain until that deferred fires.", 13,
           "muted", style="italic")
    return s.render()


def semaphore_timeline(p):
    """DeferredSemaphore(tokens: 2) over five downloads."""
    s = SVG(720, 400, p)
    x0, unit, top, row = 120, 64, 70, 52
    # page: (start, headersEnd, end, token)
    pages = [(0, 1, 3, "ok"), (0, 1.5, 4, "alt"), (3, 4, 6, "ok"), (4, 5, 6.5, "alt"), (6, 7, 8.5, "ok")]
    s.text(360, 32, "DeferredSemaphore(tokens: 2): five downloads", 15, weight="bold")
    for i, (start, head, end, tok) in enumerate(pages):
        y = top + i * row
        s.text(x0 - 14, y + 22, f"/page/{i + 1}", 13, anchor="end")
        if start > 0:
            s.add(f'<line x1="{x0}" y1="{y + 17}" x2="{x0 + start * unit}" y2="{y + 17}" stroke="{p["dash"]}" '
                  f'stroke-width="2" stroke-dasharray="4 4"/>')
            s.text(x0 + start * unit / 2, y + 11, "waits for a token", 11, "muted")
        fill = tok + "Fill"
        s.add(f'<rect x="{x0 + start * unit}" y="{y + 4}" width="{(head - start) * unit}" height="26" '
              f'fill="{p[fill]}" stroke="{p[tok]}" stroke-width="1.5"/>')
        s.text(x0 + (start + head) / 2 * unit, y + 22, "headers", 11)
        s.add(f'<rect x="{x0 + head * unit}" y="{y + 4}" width="{(end - head) * unit}" height="26" '
              f'fill="{p[tok]}" stroke="{p[tok]}" stroke-width="1.5"/>')
        s.text(x0 + (head + end) / 2 * unit, y + 22, "body", 11, "paper", weight="bold")
    # hand-overs
    for (frm, to) in ((0, 2), (1, 3), (2, 4)):
        end = pages[frm][2]
        tok = pages[frm][3]
        y1 = top + frm * row + 30
        y2 = top + to * row + 4
        s.arrow(x0 + end * unit, y1, x0 + end * unit, y2 - 1, tok, 1.5, dashed=True)
    ya = top + 5 * row + 16
    s.arrow(x0, ya, x0 + 9 * unit, ya, "muted", 1.5)
    s.text(x0 + 9 * unit, ya + 20, "time", 12, "muted", anchor="end")
    s.add(f'<rect x="{x0}" y="{ya + 30}" width="14" height="14" fill="{p["ok"]}"/>')
    s.text(x0 + 20, ya + 42, "token 1", 12, anchor="start")
    s.add(f'<rect x="{x0 + 90}" y="{ya + 30}" width="14" height="14" fill="{p["alt"]}"/>')
    s.text(x0 + 110, ya + 42, "token 2", 12, anchor="start")
    s.text(x0 + 190, ya + 42, "A token is held from the request to the end of the body,", 12, "muted", anchor="start")
    s.text(x0 + 190, ya + 58, "then handed at once to the page that waited longest.", 12, "muted", anchor="start")
    return s.render()


def reactor_pass(p):
    """One pass of EPollReactor's loop."""
    s = SVG(680, 440, p)
    s.text(340, 34, "One pass of the reactor's loop", 15, weight="bold")
    steps = [
        ("1. thread calls", "callFromThread, @ReactorActor jobs"),
        ("2. due timed calls", "callLater / DelayedCall due at the pass's start"),
        ("3. epoll_wait", "until the next timer is due or a descriptor is ready"),
        ("4. ready descriptors", "doRead / doWrite: protocols run, deferreds fire"),
    ]
    bx, bw, bh = 170, 340, 56
    ys = [64 + i * 84 for i in range(4)]
    for (title, sub), y in zip(steps, ys):
        s.box(bx, y, bw, bh, "ok", "okFill")
        s.text(bx + bw / 2, y + 24, title, 14, weight="bold")
        s.text(bx + bw / 2, y + 43, sub, 12, "muted")
    for a, b in zip(ys, ys[1:]):
        s.arrow(bx + bw / 2, a + bh, bx + bw / 2, b - 2)
    # loop back
    s.path(f"M{bx + bw},{ys[3] + bh / 2} C{bx + bw + 110},{ys[3] + bh / 2} {bx + bw + 110},{ys[0] + bh / 2} "
           f"{bx + bw + 3},{ys[0] + bh / 2}", "line")
    s.text(bx + bw + 92, (ys[0] + ys[3]) / 2 + bh / 2 + 4, "next pass", 12, "muted", anchor="start")
    s.text(bx - 16, ys[2] + 24, "skipped while zero-delay", 11, "muted", anchor="end")
    s.text(bx - 16, ys[2] + 39, "calls chain (≤ 50 µs)", 11, "muted", anchor="end")
    s.text(340, ys[3] + bh + 40, "A callLater(0) made during a pass runs in the next pass; stop() ends the loop after",
           12, "muted", style="italic")
    s.text(340, ys[3] + bh + 56, "the current pass and fires the shutdown triggers.", 12, "muted", style="italic")
    return s.render()


def request_flow(p):
    """How a request flows through the Agent (http)."""
    s = SVG(720, 520, p)
    s.text(360, 32, "A request through the Agent (http)", 15, weight="bold")
    bx, bw, bh = 50, 300, 54
    left = [
        ("Agent.request(method, url, headers)", "validates; nothing is sent on bad input"),
        ("HTTPConnectionPool", "an idle kept connection, or a new one (limits)"),
        ("HTTP11Connection", "writes the request on the reactor's TCP"),
        ("ResponseParser", "bytes → status line, headers, body"),
    ]
    ys = [60 + i * 90 for i in range(4)]
    for (t, sub), y in zip(left, ys):
        s.box(bx, y, bw, bh, "ok", "okFill")
        s.text(bx + bw / 2, y + 23, t, 13, weight="bold")
        s.text(bx + bw / 2, y + 42, sub, 12, "muted")
    for a, b in zip(ys, ys[1:]):
        s.arrow(bx + bw / 2, a + bh, bx + bw / 2, b - 2)
    rx, rw = 420, 280
    right = [
        ("Deferred<Response> fires", "at the end of the headers", ys[1]),
        ("response.deliverBody(protocol)", "held chunks, then each as it comes", ys[2]),
        ("protocol.connectionLost(reason)", "ResponseDone / ResponseFailed / …", ys[3]),
    ]
    for t, sub, y in right:
        s.box(rx, y, rw, bh, "alt", "altFill")
        s.text(rx + rw / 2, y + 23, t, 13, weight="bold")
        s.text(rx + rw / 2, y + 42, sub, 12, "muted")
    s.path(f"M{bx + bw},{ys[3] + 20} C{375},{ys[3] + 20} {375},{ys[1] + bh / 2} {rx - 3},{ys[1] + bh / 2}", "alt")
    s.text(rx - 6, ys[1] + bh + 22, "head", 12, "alt", anchor="end")
    s.arrow(rx + rw / 2, ys[1] + bh, rx + rw / 2, ys[2] - 2, "alt")
    s.arrow(rx + rw / 2, ys[2] + bh, rx + rw / 2, ys[3] - 2, "alt")
    s.arrow(bx + bw, ys[3] + 40, rx - 3, ys[3] + 40, "alt")
    s.text((bx + bw + rx) / 2, ys[3] + 58, "body bytes", 12, "alt")
    yb = ys[3] + bh + 40
    s.path(f"M{rx + rw / 2},{ys[3] + bh} L{rx + rw / 2},{yb} L{bx - 20},{yb} L{bx - 20},{ys[1] + bh / 2} "
           f"L{bx - 3},{ys[1] + bh / 2}", "ok", dashed=True)
    s.text((bx + rx + rw) / 2, yb + 20, "a complete, reusable connection goes back to the pool (persistent pools)", 12,
           "ok")
    s.text(360, yb + 52, "A paused protocol pauses reading; a timeout or cancel() aborts the connection.", 12,
           "muted", style="italic")
    s.text(360, yb + 68, "https: the same Response and protocol calls, driven by libcurl's multi interface.", 12,
           "muted", style="italic")
    return s.render()


def write(catalog, name, draw):
    folder = os.path.join(ROOT, "Sources", catalog, f"{catalog}.docc", "Resources")
    os.makedirs(folder, exist_ok=True)
    for suffix, palette in (("", LIGHT), ("~dark", DARK)):
        with open(os.path.join(folder, f"{name}{suffix}.svg"), "w") as f:
            f.write(draw(palette))


if __name__ == "__main__":
    write("Deferreds", "chain-columns", chain_columns)
    write("Deferreds", "chain-paused", chain_paused)
    write("Deferreds", "semaphore-timeline", semaphore_timeline)
    write("Reactor", "reactor-pass", reactor_pass)
    write("WebAgent", "request-flow", request_flow)
