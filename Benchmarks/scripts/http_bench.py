#!/usr/bin/env python3
"""getpage against the HTTP clients users would pick instead, in one run, on one server.

Started by Benchmarks/scripts/http_bench.sh, which provides the nginx, the corpus, the venv and
the binaries:

    http_bench.py pages|stream|memory|smoke --port P --run-dir D --launcher rusage_run --getpage BIN
        [--blog-example BIN] --python VENV_PYTHON --results DIR [--nginx-pid PID]

pages   BENCH_PAGES (10,000) pages of ~2 KiB at each C in BENCH_CONCURRENCY (2 50 200), through
        getpage, blog-example (C = 2: its semaphore has 2 tokens), curl --parallel, the
        tutorial's program on Twisted (non-persistent and persistent; printing, as blog-example
        does, at C = 2), treq, aiohttp, and wrk on one URL (the server's ceiling here).
stream  one 256 MiB body to /dev/null: getpage, curl -o /dev/null, Twisted Agent + a Protocol.
smoke   BENCH_PAGES (1,000) pages at each C through getpage and curl --parallel only, one run
        each: that the harness works end to end (CI), not a measurement; exits 1 if a run failed
        (or was killed after BENCH_RUN_TIMEOUT, 60 s here).
memory  BENCH_MEMORY_URLS (1,000,000) URLs, the corpus cycled, at C = 100 through getpage; its
        VmHWM/VmRSS sampled at every tenth of the URLs completed, then its peak RSS at the end.

Every program runs under rusage_run (wall time, user + sys CPU and ru_maxrss from wait4; see
rusage_run.c for why not os.wait4 here). Runs are interleaved: each repetition (BENCH_REPEAT, 3;
pages: BENCH_PAGES_REPEAT, 5; stream: BENCH_STREAM_REPEAT, 9)
runs every program once, the order rotated by one each time, and the tables show medians.
Results: DIR/MODE.jsonl (one line per run, the machine first) and DIR/MODE.md (the table, also
printed on stdout). Progress goes to stderr.
"""

import argparse
import importlib.metadata
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time

PEERS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "peers")
MIB = 1 << 20
CORPUS_PAGES = 20_000  # Benchmarks/scripts/corpus.py
BIG_FILES = 4
HUGE = "/huge/256m.bin"
HUGE_BYTES = 256 * MIB
MEMORY_CONCURRENCY = 100

# Targets (issue #6). Ratios are getpage's rate over the peer's.
PAGES_RATIO_TARGETS = {"curl": 1.5, "twisted-tutorial": 20.0, "aiohttp": 3.0}
WRK_SHARE_TARGET = (50, 0.5)  # at C = 50, getpage >= 50 % of wrk's req/s
CPU_VS_CURL_TARGET = 0.7  # getpage CPU s per 10k pages <= 0.7x curl's
BLOG_RATIO_TARGET = 10.0  # blog-example >= 10x the tutorial's program (printing too)
STREAM_RSS_TARGET_MIB = 16.0
MEMORY_RSS_TARGET_MIB = 64.0
# "No growth" between the first tenth and the end: the final peak may exceed the peak at the
# first checkpoint by at most this much (allocator and page-granularity noise).
MEMORY_GROWTH_TOLERANCE_MIB = 1.0


def log(*args):
    print("http_bench:", *args, file=sys.stderr, flush=True)


def env_int(name, default):
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# --- running one program -----------------------------------------------------------------------

class Launcher:
    """Runs commands under rusage_run and returns its measurements."""

    def __init__(self, path, run_dir, timeout):
        self.path = path
        self.run_dir = run_dir
        self.timeout = timeout  # seconds a run may take before it is killed and marked failed
        self.count = 0
        self.current = None  # (launcher Popen, report path) of the run in progress

    def start(self, argv, stdout=subprocess.DEVNULL):
        """Starts argv; returns (Popen of the launcher, report path, stderr path)."""
        self.count += 1
        report = os.path.join(self.run_dir, f"run-{self.count}.report")
        err = os.path.join(self.run_dir, f"run-{self.count}.stderr")
        with open(err, "wb") as err_file:
            proc = subprocess.Popen([self.path, report] + argv, stdout=stdout, stderr=err_file,
                                    stdin=subprocess.DEVNULL)
        self.current = (proc, report)
        return proc, report, err

    @staticmethod
    def program_pid(report):
        """The program's pid, which rusage_run writes first; None until it has."""
        try:
            with open(report, encoding="utf-8") as f:
                first = f.readline()
        except FileNotFoundError:
            return None
        return json.loads(first)["pid"] if first.endswith("\n") else None

    def kill(self, proc, report, sig):
        """Sends sig to the program rusage_run started (rusage_run then reports and exits)."""
        pid = self.program_pid(report)
        if pid and proc.poll() is None:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def finish(self, proc, report, timeout=None):
        """Waits for the launcher (killing the program after `timeout` s); returns the
        measurements of the program, with "timed_out" set if it had to be killed."""
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            self.kill(proc, report, signal.SIGKILL)
            proc.wait()
        self.current = None
        with open(report, encoding="utf-8") as f:
            lines = [json.loads(line) for line in f if line.strip()]
        if len(lines) < 2:
            raise RuntimeError(f"rusage_run left no measurement ({report})")
        return {**lines[-1], "pid": lines[0]["pid"], "timed_out": timed_out}

    def run(self, argv, stdout=subprocess.DEVNULL):
        """Runs argv to the end; returns (measurements, stderr text)."""
        proc, report, err = self.start(argv, stdout)
        result = self.finish(proc, report, self.timeout)
        with open(err, encoding="utf-8", errors="replace") as f:
            return result, f.read()

    def stop(self):
        """Ends the run in progress, if any: the harness itself is being stopped."""
        if self.current:
            proc, report = self.current
            self.kill(proc, report, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill(proc, report, signal.SIGKILL)
                proc.wait()
            self.current = None


def last_json_line(text):
    """The last line of text that parses as a JSON object, or {}."""
    for line in reversed(text.splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {}


def getpage_summary(stderr):
    """(ok, failed) from getpage's final summary line on stderr, or None."""
    m = re.search(r"getpage: (\d+) ok, (\d+) failed", stderr)
    return (int(m.group(1)), int(m.group(2))) if m else None


# --- the programs --------------------------------------------------------------------------------
#
# Each tool is a function (ctx, c) -> (argv, stdout target, check) where check(result, stderr,
# stdout_path) returns (pages done, seconds of the run as the program itself measured or None,
# error text or None). `ctx` holds the files made for the run.

class Context:
    """The run's settings plus its URL files: STEM.urls (one a line) and STEM.curl."""

    def __init__(self, args, pages, stem="pages"):
        self.args = args
        self.pages = pages
        self.stem = stem
        self.base = f"http://127.0.0.1:{args.port}"
        self.dir = args.run_dir

    def path(self, name):
        return os.path.join(self.dir, name)


def write_url_files(ctx):
    """ctx's URL list (one a line) and curl config (url and output per URL)."""
    urls = page_urls(ctx, ctx.pages)
    with open(ctx.path(ctx.stem + ".urls"), "w", encoding="utf-8") as f:
        f.writelines(u + "\n" for u in urls)
    with open(ctx.path(ctx.stem + ".curl"), "w", encoding="utf-8") as f:
        for u in urls:
            f.write(f'url = "{u}"\noutput = "/dev/null"\n')


def page_urls(ctx, n):
    return [f"{ctx.base}/p/{i % CORPUS_PAGES:05d}.html" for i in range(n)]


def python_peer_check(expected):
    def check(result, stderr, _stdout):
        stats = last_json_line(stderr)
        if result["exit"] != 0 or stats.get("pages") != expected:
            return stats.get("pages", 0), None, f"exit {result['exit']}: {stderr.strip()[-300:]}"
        return stats["pages"], stats.get("seconds"), None
    return check


def getpage_check(expected):
    def check(result, stderr, _stdout):
        summary = getpage_summary(stderr)
        if result["exit"] != 0 or summary != (expected, 0):
            return (summary or (0, 0))[0], None, f"exit {result['exit']}: {stderr.strip()[-300:]}"
        return expected, None, None
    return check


def curl_check(expected, expected_bytes=None):
    """curl writes one '%{http_code} %{size_download}' line per URL to a file (never a body)."""
    def check(result, stderr, stdout_path):
        with open(stdout_path, encoding="utf-8") as f:
            lines = f.read().split()
        codes, sizes = lines[0::2], lines[1::2]
        ok = sum(1 for c in codes if c == "200")
        if expected_bytes is not None and sizes != [str(expected_bytes)]:
            return 0, None, f"curl got {sizes} bytes"
        if result["exit"] != 0 or ok != expected:
            return ok, None, (f"exit {result['exit']}, {ok} of {expected} answered 200: "
                              f"{stderr[-300:]}")
        return ok, None, None
    return check


def tool_getpage(ctx, c):
    argv = [ctx.args.getpage, "--input", ctx.path(ctx.stem + ".urls"), "--concurrency", str(c),
            "--format", "summary", "--progress", "never"]
    return argv, None, getpage_check(ctx.pages)


def tool_blog_example(ctx, c):
    """It takes its URLs as arguments and prints every response (to /dev/null here): only its
    exit status can be checked in a timed run; the check run counts its responses."""
    def check(result, stderr, _stdout_path):
        if result["exit"] != 0:
            return 0, None, f"exit {result['exit']}: {stderr[-300:]}"
        return ctx.pages, None, None
    return [ctx.args.blog_example] + page_urls(ctx, ctx.pages), None, check


def tool_floor(ctx, c):
    """peers/nonpersistent_floor.c: blog-example's connection pattern in plain C, printing nothing."""
    def check(result, stderr, stdout_path):
        with open(stdout_path, encoding="utf-8") as f:
            out = f.read()
        m = re.match(r"(\d+) pages", out)
        ok = int(m.group(1)) if m else 0
        if result["exit"] != 0 or ok != ctx.pages:
            return ok, None, f"exit {result['exit']}, {ok} of {ctx.pages} pages: {out[-200:]} {stderr[-200:]}"
        return ok, None, None
    return [ctx.args.floor, ctx.path(ctx.stem + ".urls"), str(c)], ctx.path("floor.out"), check


def tool_curl(ctx, c):
    argv = ["curl", "--silent", "--show-error", "--parallel", "--parallel-max", str(c),
            "--config", ctx.path(ctx.stem + ".curl"),
            "--write-out", "%{http_code} %{size_download}\\n"]
    return argv, ctx.path("curl.out"), curl_check(ctx.pages)


def tool_python(script, *flags):
    """A peer of Benchmarks/peers/ run by the venv's python."""
    def tool(ctx, c):
        argv = [ctx.args.python, os.path.join(PEERS, script),
                "--input", ctx.path(ctx.stem + ".urls"), "--concurrency", str(c), *flags]
        return argv, None, python_peer_check(ctx.pages)
    return tool


def tool_wrk(ctx, c):
    seconds = env_int("BENCH_WRK_SECONDS", 5)
    argv = ["wrk", "-t1", f"-c{c}", f"-d{seconds}s", f"{ctx.base}/p/00000.html"]

    def check(result, _stderr, stdout_path):
        with open(stdout_path, encoding="utf-8") as f:
            out = f.read()
        m = re.search(r"(\d+) requests in", out)
        rate = re.search(r"Requests/sec:\s*([\d.]+)", out)
        bad = re.search(r"(Non-2xx or 3xx responses|Socket errors):.*", out)
        if result["exit"] != 0 or not m or not rate or bad:
            return 0, None, f"exit {result['exit']}: {out[-300:]}"
        requests = int(m.group(1))
        # wrk's own duration: requests / (req/s), so that the rate below is wrk's number.
        return requests, requests / float(rate.group(1)), None
    return argv, ctx.path("wrk.out"), check


# name -> (label in the tables, tool, concurrencies it runs at: None = all)
PAGE_TOOLS = {
    "getpage": ("getpage (summary, persistent pool)", tool_getpage, None),
    "blog-example": ("blog-example (Swift port of the tutorial, prints)", tool_blog_example, {2}),
    "nonpersistent-floor": ("plain C, a connection per request, prints nothing (the kernel's floor "
                            "under blog-example)", tool_floor, {2}),
    "curl": ("curl --parallel", tool_curl, None),
    "twisted-tutorial": ("tutorial on Twisted (Agent per request, non-persistent)",
                         tool_python("twisted_tutorial.py"), None),
    "twisted-tutorial-persistent": ("tutorial on Twisted, persistent pool",
                                    tool_python("twisted_tutorial.py", "--persistent"), None),
    "twisted-tutorial-print": ("tutorial on Twisted, printing (blog-example's original)",
                               tool_python("twisted_tutorial.py", "--print"), {2}),
    "treq": ("treq (persistent pool, DeferredSemaphore)", tool_python("treq_get.py"), None),
    "aiohttp": ("aiohttp (one session, asyncio.Semaphore)", tool_python("aiohttp_get.py"), None),
    "wrk": ("wrk -t1 (one URL, the server's ceiling)", tool_wrk, None),
}


def run_tool(launcher, ctx, name, tool, c):
    """Runs one tool once; returns its record (without mode/rep)."""
    argv, stdout_path, check = tool(ctx, c)
    if stdout_path:
        with open(stdout_path, "wb") as out:
            result, stderr = launcher.run(argv, stdout=out)
    else:
        result, stderr = launcher.run(argv)
    done, inner, error = check(result, stderr, stdout_path)
    if result["timed_out"]:
        error = f"killed after {launcher.timeout} s (BENCH_RUN_TIMEOUT)"
    record = {"tool": name, "concurrency": c, "pages": done, "ok": error is None,
              "wall": result["wall"], "user": result["user"], "sys": result["sys"],
              "maxrss_kib": result["maxrss_kib"], "exit": result["exit"]}
    if inner is not None:
        record["inner_seconds"] = inner
    if error:
        record["error"] = error
    return record


# --- machine description -----------------------------------------------------------------------

def first_line(argv, stderr=False, env=None):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (p.stderr if stderr else p.stdout) or p.stdout or p.stderr
    return text.strip().splitlines()[0] if text.strip() else None


def machine(args):
    def version(dist):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    commit = first_line(["git", "-C", repo, "rev-parse", "--short", "HEAD"])
    # Changes to the sources, not to the results this very harness (or bench-deferred) writes.
    dirty = first_line(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no",
                        "--", ".", ":!Benchmarks/results"])
    return {
        "record": "machine",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "nproc": os.cpu_count(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "curl": first_line(["curl", "--version"]),
        "nginx": first_line(["nginx", "-v"], stderr=True),
        "wrk": first_line(["wrk", "--version"]),
        "python": platform.python_version(),
        "twisted": version("twisted"),
        "treq": version("treq"),
        "aiohttp": version("aiohttp"),
        # The driver leaves an empty TemporaryDirectory.* in TMPDIR: in the run folder, removed.
        "swift": first_line([args.swift, "--version"], env={**os.environ, "TMPDIR": args.run_dir}),
        "getpage": args.getpage,
        "build": args.build,
        "commit": (commit or "?") + (" (uncommitted changes)" if dirty else ""),
    }


def machine_markdown(m, load_after):
    def short(text, n=None):
        return " ".join((text or "?").split()[:n]) if n else (text or "?")
    return (f"Machine: nproc {m['nproc']}, {m['platform']}; {short(m['curl'], 2)}; "
            f"{short(m['nginx']).replace('nginx version: ', '')} (1 worker, keep-alive); "
            f"{short(m['wrk'], 2)}; Python {m['python']}, "
            + (f"Twisted {m['twisted']}, treq {m['treq']}, aiohttp {m['aiohttp']}; "
               if m["twisted"] else "no peers in Python; ")
            + f"{short(m['swift'])}; swift-deferreds {m['commit']}, getpage build: "
            f"{m.get('build') or '?'}; load average {m['load_average']} before, "
            f"{load_after} after; {m['date']}.")


# --- statistics and formatting -----------------------------------------------------------------

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(x, digits=0):
    return "—" if x is None else f"{x:,.{digits}f}"


def fmt_ratio(x):
    return "—" if x is None else (f"{x:,.0f}×" if x >= 100 else f"{x:,.2f}×" if x < 10
                                  else f"{x:,.1f}×")


def met(ok):
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def write_outputs(args, mode, records, markdown):
    jsonl = os.path.join(args.results, f"{mode}.jsonl")
    md = os.path.join(args.results, f"{mode}.md")
    with open(jsonl, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    with open(md, "w", encoding="utf-8") as f:
        f.write(markdown)
    print(markdown)
    log(f"wrote {jsonl} and {md}")


def check_nginx(args):
    if args.nginx_pid and not os.path.exists(f"/proc/{args.nginx_pid}"):
        raise SystemExit("http_bench: nginx is gone; see its error.log in the run folder")


def pages_per_second(record):
    return f"{record['pages'] / (record.get('inner_seconds') or record['wall']):10,.0f} pages/s"


def interleaved(launcher, ctx, args, runs, repeat, mode, rate=pages_per_second):
    """Runs every (name, tool, c) of `runs` once per repetition, rotating the order.

    Logs each run with rate(record), a short text."""
    records = []
    for rep in range(repeat):
        shift = rep % len(runs)
        for name, tool, c in runs[shift:] + runs[:shift]:
            check_nginx(args)
            record = {"mode": mode, "rep": rep + 1, **run_tool(launcher, ctx, name, tool, c)}
            records.append(record)
            log(f"rep {rep + 1}/{repeat} C={c:<3} {name:<28} {record['wall']:7.2f} s "
                f"{rate(record)}  cpu {record['user'] + record['sys']:6.2f} s  "
                f"rss {record['maxrss_kib'] / 1024:6.1f} MiB"
                + ("" if record["ok"] else f"  FAILED: {record['error']}"))
    return records


def preflight(launcher, ctx, names, tools):
    """Each program once on ctx's (few) URLs at C = 2, to fail early rather than after minutes."""
    for name in names:
        record = run_tool(launcher, ctx, name, tools[name][1], 2)
        if not record["ok"]:
            raise SystemExit(f"http_bench: {name} failed its check run: {record['error']}")


# --- pages -------------------------------------------------------------------------------------

def summarize_pages(records, name, c):
    """Medians of one tool at one C over its successful runs."""
    runs = [r for r in records if r["tool"] == name and r["concurrency"] == c and r["ok"]]
    failed = sum(1 for r in records if r["tool"] == name and r["concurrency"] == c and not r["ok"])
    if not runs:
        return {"runs": 0, "failed": failed}
    return {
        "runs": len(runs), "failed": failed,
        # whole process, start-up included
        "rate": median(r["pages"] / r["wall"] for r in runs),
        # as the program measured its own run (Python peers: without interpreter start-up)
        "inner_rate": median(r["pages"] / r.get("inner_seconds", r["wall"]) for r in runs),
        "cpu_10k": median((r["user"] + r["sys"]) * 10_000 / r["pages"] for r in runs),
        "rss_mib": median(r["maxrss_kib"] / 1024 for r in runs),
    }


def pages_markdown(args, meta, records, concurrencies, pages, repeat, names, load_after,
                   smoke=False):
    if smoke:
        title = (f"## HTTP smoke run: getpage and curl ({pages:,} pages of ~2 KiB, one run each: "
                 f"a check of the harness, not a measurement; getpage build: {meta['build']})\n")
    else:
        title = (f"## HTTP pages: getpage and its peers ({pages:,} pages of ~2 KiB, median of "
                 f"{repeat} interleaved run{'s' if repeat != 1 else ''})\n")
    out = [title, machine_markdown(meta, load_after) + "\n"]
    targets = []
    for c in concurrencies:
        stats = {n: summarize_pages(records, n, c) for n in names
                 if PAGE_TOOLS[n][2] is None or c in PAGE_TOOLS[n][2]}
        gp = stats.get("getpage", {})
        out.append(f"### C = {c}\n")
        out.append("| program | pages/s | pages/s, run only | getpage ÷ this | CPU s per 10k pages "
                   "| peak RSS MiB | runs |")
        out.append("|---|---:|---:|---:|---:|---:|---|")
        for n, s in stats.items():
            # The ratio uses the run-only rate: for the Python peers that leaves out the
            # interpreter's start-up, which can only make the ratio smaller (conservative).
            ratio = gp.get("rate") / s["inner_rate"] \
                if gp.get("rate") and s.get("inner_rate") and n != "getpage" else None
            if n == "blog-example":
                ratio = None
            inner = fmt(s.get("inner_rate"))
            runs = f"{s['runs']}" + (f" ({s['failed']} FAILED)" if s["failed"] else "")
            out.append(f"| {PAGE_TOOLS[n][0]} | {fmt(s.get('rate'))} | {inner} | "
                       f"{fmt_ratio(ratio)} | {fmt(s.get('cpu_10k'), 2)} | "
                       f"{fmt(s.get('rss_mib'), 1)} | {runs} |")
        out.append("")

        def ratio_of(a, b):
            ra, rb = stats.get(a, {}).get("rate"), stats.get(b, {}).get("inner_rate")
            return ra / rb if ra and rb else None

        for peer, target in PAGES_RATIO_TARGETS.items():
            r = ratio_of("getpage", peer)
            targets.append((f"C = {c}: getpage pages/s ≥ {target:g}× {peer}", fmt_ratio(r),
                            met(None if r is None else r >= target)))
        if c == WRK_SHARE_TARGET[0]:
            r = ratio_of("getpage", "wrk")
            targets.append((f"C = {c}: getpage pages/s ≥ {WRK_SHARE_TARGET[1]:.0%} of wrk's",
                            "—" if r is None else f"{r:.0%}",
                            met(None if r is None else r >= WRK_SHARE_TARGET[1])))
        cg, cc = gp.get("cpu_10k"), stats.get("curl", {}).get("cpu_10k")
        r = cg / cc if cg and cc else None
        targets.append((f"C = {c}: getpage CPU s per 10k pages ≤ {CPU_VS_CURL_TARGET:g}× curl's",
                        "—" if r is None else f"{fmt_ratio(r)} ({cg:.2f} s vs {cc:.2f} s)",
                        met(None if r is None else r <= CPU_VS_CURL_TARGET)))
        if "blog-example" in stats:
            r = ratio_of("blog-example", "twisted-tutorial-print")
            targets.append((f"C = {c}: blog-example pages/s ≥ {BLOG_RATIO_TARGET:g}× its "
                            "Twisted original (both printing to /dev/null)", fmt_ratio(r),
                            met(None if r is None else r >= BLOG_RATIO_TARGET)))
            floor = ratio_of("nonpersistent-floor", "twisted-tutorial-print")
            if floor is not None:
                # Not a target: how far above that line plain C gets with the same connections.
                targets.append((f"C = {c}: (bound) plain C with blog-example's connections, "
                                "printing nothing, ÷ the same Twisted original", fmt_ratio(floor),
                                "context"))
                share = ratio_of("blog-example", "nonpersistent-floor")
                targets.append((f"C = {c}: (bound) blog-example ÷ that plain C floor",
                                "—" if share is None else f"{share:.0%}", "context"))

    if smoke:  # no targets: one short run of a debug build says nothing about them
        out.append("pages/s: pages over the whole process's wall time (start-up included). CPU is "
                   "user + sys of the process (wait4); peak RSS is its ru_maxrss.\n")
        return "\n".join(out)
    out.append("### Targets\n")
    out.append("| target | measured | met? |")
    out.append("|---|---:|---|")
    out.extend(f"| {t} | {v} | {m} |" for t, v, m in targets)
    out.append("")
    out.append(
        "pages/s: pages over the whole process's wall time (start-up included). *run only*: as the "
        "Python peers time themselves, from the first request to the last body (no interpreter "
        "start-up); wrk's is its own Requests/sec over its fixed duration. Ratios divide getpage's "
        "whole-process rate by the peer's run-only rate. CPU is user + sys of the process "
        "(wait4); peak RSS is its ru_maxrss. Bodies are dropped by every program except "
        "blog-example and the printing tutorial, which print to /dev/null.\n")
    return "\n".join(out)


def run_pages(args, launcher):
    # Five by default: one run of 10,000 pages lasts 0.2-0.4 s for getpage and curl, and on this
    # shared machine a single run can be 50 % slower than its neighbours.
    repeat = env_int("BENCH_PAGES_REPEAT", max(5, env_int("BENCH_REPEAT", 3)))
    pages = env_int("BENCH_PAGES", 10_000)
    concurrencies = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "2 50 200").split()]
    names = list(PAGE_TOOLS)
    smoke = args.mode == "smoke"
    if smoke:  # the harness end to end: the program under test and one peer, once each
        repeat, pages, names = 1, env_int("BENCH_PAGES", 1_000), ["getpage", "curl"]
    ctx = Context(args, pages)

    # blog-example takes its URLs as arguments: skip it if they would not fit in argv.
    argv_bytes = sum(len(u) + 1 for u in page_urls(ctx, pages))
    if "blog-example" in names and not args.blog_example:
        names.remove("blog-example")
        log("no blog-example binary: skipping it")
    elif "blog-example" in names and argv_bytes > os.sysconf("SC_ARG_MAX") // 2:
        names.remove("blog-example")
        log(f"{pages:,} URLs are {argv_bytes:,} bytes of arguments: too many for blog-example")

    if not args.floor and "nonpersistent-floor" in names:
        names.remove("nonpersistent-floor")

    write_url_files(ctx)
    small = Context(args, 20, stem="check")
    write_url_files(small)
    log("check runs (20 URLs each)")
    preflight(launcher, small, [n for n in names if n not in ("blog-example", "wrk")], PAGE_TOOLS)
    if "blog-example" in names:  # its check: 20 responses printed, with status 200
        out_path = ctx.path("blog.out")
        with open(out_path, "wb") as out:
            result, stderr = launcher.run([args.blog_example] + page_urls(small, 20), stdout=out)
        with open(out_path, encoding="utf-8", errors="replace") as f:
            codes = f.read().count("code=200")
        if result["exit"] != 0 or codes != 20:
            raise SystemExit(f"http_bench: blog-example check run: exit {result['exit']}, "
                             f"{codes} of 20 responses with code=200: {stderr[-300:]}")
    # every page once, untimed, so that all of them are in the page cache before the first run
    run_tool(launcher, ctx, "curl", tool_curl, 50)

    meta = machine(args)
    runs = [(n, PAGE_TOOLS[n][1], c) for c in concurrencies for n in names
            if PAGE_TOOLS[n][2] is None or c in PAGE_TOOLS[n][2]]
    log(f"{len(runs)} runs x {repeat} repetitions, {pages:,} pages each")
    records = interleaved(launcher, ctx, args, runs, repeat, args.mode)
    load_after = [round(x, 2) for x in os.getloadavg()]
    markdown = pages_markdown(args, meta, records, concurrencies, pages, repeat, names, load_after,
                              smoke)
    write_outputs(args, args.mode, [meta] + records, markdown)
    failed = [r for r in records if not r["ok"]]
    if smoke and failed:
        raise SystemExit(f"http_bench: {len(failed)} smoke run(s) FAILED, the first: "
                         f"{failed[0]['tool']} at C = {failed[0]['concurrency']}: "
                         f"{failed[0]['error']}")


# --- stream ------------------------------------------------------------------------------------

def run_stream(args, launcher):
    # One run lasts 0.1-0.2 s, within the machine's noise: take the median of more of them.
    repeat = env_int("BENCH_STREAM_REPEAT", max(9, env_int("BENCH_REPEAT", 3)))
    ctx = Context(args, 1)
    url = ctx.base + HUGE
    with open(ctx.path("huge.urls"), "w", encoding="utf-8") as f:
        f.write(url + "\n")

    def tool_getpage_stream(ctx, c):
        argv = [args.getpage, "--concurrency", "1", "--format", "summary", "--progress", "never",
                url]
        return argv, None, getpage_check(1)

    def tool_curl_stream(ctx, c):
        argv = ["curl", "--silent", "--show-error", "--output", "/dev/null",
                "--write-out", "%{http_code} %{size_download}\\n", url]
        return argv, ctx.path("curl.out"), curl_check(1, HUGE_BYTES)

    def tool_twisted_stream(ctx, c):
        argv = [args.python, os.path.join(PEERS, "twisted_tutorial.py"),
                "--input", ctx.path("huge.urls"), "--concurrency", "1"]
        check = python_peer_check(1)

        def check_bytes(result, stderr, stdout_path):
            done, inner, error = check(result, stderr, stdout_path)
            if error is None and last_json_line(stderr).get("bytes") != HUGE_BYTES:
                error = f"got {last_json_line(stderr).get('bytes')} bytes"
            return done, inner, error
        return argv, None, check_bytes

    tools = {"getpage": ("getpage (one URL, body dropped)", tool_getpage_stream),
             "curl": ("curl -o /dev/null", tool_curl_stream),
             "twisted-stream": ("Twisted Agent + a Protocol dropping the body",
                                tool_twisted_stream)}
    meta = machine(args)
    runs = [(n, t, 1) for n, (_, t) in tools.items()]
    log(f"streaming {HUGE_BYTES // MIB} MiB, {len(runs)} programs x {repeat} repetitions")
    records = interleaved(
        launcher, ctx, args, runs, repeat, "stream",
        rate=lambda r: f"{HUGE_BYTES / MIB / (r.get('inner_seconds') or r['wall']):8,.0f} MiB/s")
    load_after = [round(x, 2) for x in os.getloadavg()]

    stats = {}
    for n in tools:
        ok = [r for r in records if r["tool"] == n and r["ok"]]
        stats[n] = {
            "runs": len(ok), "failed": sum(1 for r in records if r["tool"] == n and not r["ok"]),
            "mib_s": median(HUGE_BYTES / MIB / r["wall"] for r in ok),
            "inner_mib_s": median(HUGE_BYTES / MIB / r.get("inner_seconds", r["wall"]) for r in ok),
            "cpu": median(r["user"] + r["sys"] for r in ok),
            "rss_mib": median(r["maxrss_kib"] / 1024 for r in ok),
        }
    gp, curl = stats["getpage"], stats["curl"]
    out = [f"## Streaming one 256 MiB body to /dev/null (median of {repeat} interleaved "
           f"run{'s' if repeat != 1 else ''})\n", machine_markdown(meta, load_after) + "\n",
           "| program | MiB/s | MiB/s, run only | getpage ÷ this | CPU s | peak RSS MiB | runs |",
           "|---|---:|---:|---:|---:|---:|---|"]
    for n, s in stats.items():
        ratio = gp["mib_s"] / s["inner_mib_s"] if gp["mib_s"] and s["inner_mib_s"] \
            and n != "getpage" else None
        runs = f"{s['runs']}" + (f" ({s['failed']} FAILED)" if s["failed"] else "")
        inner = fmt(s["inner_mib_s"])
        out.append(f"| {tools[n][0]} | {fmt(s['mib_s'])} | {inner} | {fmt_ratio(ratio)} | "
                   f"{fmt(s['cpu'], 2)} | {fmt(s['rss_mib'], 1)} | {runs} |")
    r = gp["mib_s"] / curl["mib_s"] if gp["mib_s"] and curl["mib_s"] else None
    rss = gp["rss_mib"]
    out += ["", "| target | measured | met? |", "|---|---:|---|",
            f"| getpage throughput ≥ curl's | {fmt_ratio(r)} | "
            f"{met(None if r is None else r >= 1.0)} |",
            f"| getpage peak RSS ≤ {STREAM_RSS_TARGET_MIB:g} MiB | {fmt(rss, 1)} MiB | "
            f"{met(None if rss is None else rss <= STREAM_RSS_TARGET_MIB)} |", "",
            "MiB/s: 256 MiB over the whole process's wall time (start-up included); *run only*: "
            "as the Twisted program times itself. Peak RSS: ru_maxrss (wait4).\n"]
    write_outputs(args, "stream", [meta] + records, "\n".join(out))


# --- memory ------------------------------------------------------------------------------------

def proc_status_kib(pid, *keys):
    """Values (KiB) of /proc/PID/status fields, or None each if the process is gone."""
    values = dict.fromkeys(keys)
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in values:
                    values[key] = int(rest.split()[0])
    except OSError:
        pass
    return [values[k] for k in keys]


def run_memory(args, launcher):
    total = env_int("BENCH_MEMORY_URLS", 1_000_000)
    step = max(1, total // 10)
    ctx = Context(args, total)
    # The corpus cycled: its 20,000 pages, then its four 1 MiB files, again and again.
    entries = [f"/p/{i:05d}.html" for i in range(CORPUS_PAGES)] + \
        [f"/big/1m-{i}.bin" for i in range(BIG_FILES)]
    with open(ctx.path("memory.urls"), "w", encoding="utf-8") as f:
        for i in range(total):
            f.write(ctx.base + entries[i % len(entries)] + "\n")
    meta = machine(args)
    argv = [args.getpage, "--input", ctx.path("memory.urls"),
            "--concurrency", str(MEMORY_CONCURRENCY), "--format", "summary", "--progress", "never"]
    log(f"{total:,} URLs at C = {MEMORY_CONCURRENCY} through getpage, sampling every {step:,}")

    # getpage prints one summary line per finished URL on stdout: count them through a pipe
    # (summary lines only, no bodies) and read its /proc status at every `step` of them.
    proc, report, err = launcher.start(argv, stdout=subprocess.PIPE)
    pid = None
    for _ in range(200):
        pid = launcher.program_pid(report)
        if pid:
            break
        time.sleep(0.02)
    samples, done, start = [], 0, time.monotonic()
    next_sample = step
    while True:
        chunk = proc.stdout.read1(1 << 16)
        if not chunk:
            break
        done += chunk.count(b"\n")
        while done >= next_sample:
            hwm, rss = proc_status_kib(pid, "VmHWM", "VmRSS") if pid else (None, None)
            samples.append({"record": "sample", "completed": next_sample,
                            "seconds": round(time.monotonic() - start, 3),
                            "vm_hwm_kib": hwm, "vm_rss_kib": rss})
            log(f"{next_sample:>9,} done  {time.monotonic() - start:6.1f} s  VmHWM "
                f"{(hwm or 0) / 1024:6.1f} MiB  VmRSS {(rss or 0) / 1024:6.1f} MiB")
            next_sample += step
    result = launcher.finish(proc, report)
    with open(err, encoding="utf-8", errors="replace") as f:
        stderr = f.read()
    summary = getpage_summary(stderr)
    ok = result["exit"] == 0 and summary == (total, 0)
    record = {"mode": "memory", "tool": "getpage", "concurrency": MEMORY_CONCURRENCY,
              "urls": total, "ok": ok, "summary": summary, "wall": result["wall"],
              "user": result["user"], "sys": result["sys"],
              "maxrss_kib": result["maxrss_kib"], "exit": result["exit"]}
    if not ok:
        record["error"] = stderr.strip()[-300:]
    load_after = [round(x, 2) for x in os.getloadavg()]

    first = samples[0]["vm_hwm_kib"] if samples and samples[0]["vm_hwm_kib"] else None
    peak = result["maxrss_kib"] / 1024
    growth = peak - first / 1024 if first else None
    growth_text = "—" if growth is None else \
        f"{growth:+.1f} MiB ({first / 1024:.1f} → {peak:.1f})"
    no_growth = None if growth is None or not ok else growth <= MEMORY_GROWTH_TOLERANCE_MIB
    counts = f"{summary[0]:,} ok, {summary[1]:,} failed" if summary else "no summary"

    def mib(kib):
        return "—" if kib is None else f"{kib / 1024:.1f}"

    out = [f"## Memory at scale: {total:,} URLs (the corpus cycled, 1 MiB files included) at "
           f"C = {MEMORY_CONCURRENCY} through getpage (one run)\n",
           machine_markdown(meta, load_after) + "\n",
           f"getpage: {'ok' if ok else 'FAILED'}, {counts}, {result['wall']:.1f} s "
           f"({total / result['wall']:,.0f} pages/s), CPU {result['user'] + result['sys']:.1f} s."
           + ("" if ok else f" Error: {record.get('error')}") + "\n",
           "| URLs completed | seconds | VmHWM MiB | VmRSS MiB |", "|---:|---:|---:|---:|"]
    for s in samples:
        out.append(f"| {s['completed']:,} | {s['seconds']:.1f} | {mib(s['vm_hwm_kib'])} | "
                   f"{mib(s['vm_rss_kib'])} |")
    out.append(f"| {total:,} (exit: ru_maxrss) | {result['wall']:.1f} | {peak:.1f} | |")
    out += ["", "| target | measured | met? |", "|---|---:|---|",
            f"| peak RSS ≤ {MEMORY_RSS_TARGET_MIB:g} MiB | {peak:.1f} MiB | "
            f"{met(peak <= MEMORY_RSS_TARGET_MIB if ok else None)} |",
            f"| no growth from {step:,} to {total:,} URLs (peak at the end − VmHWM at {step:,} "
            f"≤ {MEMORY_GROWTH_TOLERANCE_MIB:g} MiB) | {growth_text} | {met(no_growth)} |",
            "",
            f"One run, sampled: at every {step:,} URLs completed (counted from getpage's summary "
            "lines on stdout) the harness reads getpage's VmHWM and VmRSS from /proc; the last "
            "row is ru_maxrss at exit (wait4). VmHWM at the first sample against the final peak "
            "shows any growth over the other nine tenths of the run.\n"]
    write_outputs(args, "memory", [meta] + samples + [record], "\n".join(out))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("mode", choices=("pages", "stream", "memory", "smoke"))
    p.add_argument("--port", type=int, required=True, help="the nginx's port on 127.0.0.1")
    p.add_argument("--run-dir", required=True, help="scratch folder for URL lists and reports")
    p.add_argument("--launcher", required=True, help="the built rusage_run")
    p.add_argument("--getpage", required=True)
    p.add_argument("--blog-example", default="")
    p.add_argument("--floor", default="", help="the built peers/nonpersistent_floor.c")
    p.add_argument("--python", required=True, help="the venv's python (peers)")
    p.add_argument("--swift", default="swift", help="for its --version only")
    p.add_argument("--build", default="", help="which build of getpage this is, for the tables")
    p.add_argument("--results", required=True, help="folder for MODE.jsonl and MODE.md")
    p.add_argument("--nginx-pid", type=int, help="checked before each run")
    args = p.parse_args()
    # A smoke run of 1,000 pages takes a second or two: a hung one fails within a minute.
    timeout = env_int("BENCH_RUN_TIMEOUT", 60 if args.mode == "smoke" else 600)
    launcher = Launcher(args.launcher, args.run_dir, timeout)
    # On SIGTERM (http_bench.sh's cleanup) or Ctrl-C, end the program being measured too.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    try:
        {"pages": run_pages, "stream": run_stream, "memory": run_memory,
         "smoke": run_pages}[args.mode](args, launcher)
    finally:
        launcher.stop()


if __name__ == "__main__":
    main()
