#!/usr/bin/env python3
"""Generate the HTTP benchmarks' corpus once, into a git-ignored folder.

Usage:
    python3 Benchmarks/scripts/corpus.py DIR [--pages N]

Writes under DIR/www (the nginx document root):
    p/00000.html .. p/19999.html   20,000 pages of about 2 KiB (1,800-2,300 bytes)
    big/1m-0.bin .. big/1m-3.bin   four files of 1 MiB
    huge/256m.bin                  one file of 256 MiB

and DIR/manifest.json naming them, last. When the manifest is there and its layout covers the one
asked for, nothing is done, so a run reuses the corpus of the previous one (about 300 MiB on disk).
The content is deterministic (seeded), so every run serves the same bytes.

--pages N writes only the first N pages (at most 20,000) and no big files: what `make bench-smoke`
needs, in a second where the whole corpus takes a minute. They are the same bytes as the full
corpus's first N pages (the pages come first from the seeded generator), so a full corpus covers
any such request and a later full run rewrites them unchanged.
"""

import json
import os
import random
import sys

PAGES = 20_000
PAGE_SIZES = (1_800, 2_300)
BIG_FILES = 4
BIG_SIZE = 1 << 20
HUGE_SIZE = 256 << 20
LAYOUT = {"version": 1, "pages": PAGES, "page_sizes": PAGE_SIZES, "big_files": BIG_FILES,
          "big_size": BIG_SIZE, "huge_size": HUGE_SIZE}
# The counts a corpus may hold more of than asked for; every other entry must be equal.
AMOUNTS = ("pages", "big_files", "huge_size")


def pages_only_layout(n):
    """The layout of the first n pages alone."""
    return {**LAYOUT, "pages": n, "big_files": 0, "huge_size": 0}


def covers(have, want):
    """Whether a corpus of layout `have` holds everything of layout `want`."""
    have, want = json.loads(json.dumps(have)), json.loads(json.dumps(want))
    if not isinstance(have, dict) or have.keys() != want.keys():
        return False
    return all(have[k] >= want[k] if k in AMOUNTS else have[k] == want[k] for k in want)


def page_path(i):
    return f"p/{i:05d}.html"


def write_pages(www, rng, count):
    """The first `count` HTML pages, whose body is random words, so no two pages are the same."""
    os.makedirs(os.path.join(www, "p"), exist_ok=True)
    words = ["deferred", "reactor", "callback", "errback", "semaphore", "agent", "protocol",
             "chain", "failure", "result", "token", "page", "body", "header", "twisted"]
    for i in range(count):
        size = rng.randint(*PAGE_SIZES)
        head = f"<!doctype html>\n<html><head><title>page {i}</title></head><body>\n<p>"
        tail = "</p>\n</body></html>\n"
        text = []
        room = size - len(head) - len(tail)
        while room > 0:
            w = rng.choice(words)[:room]
            text.append(w)
            room -= len(w) + 1
        body = (head + " ".join(text) + tail).encode()
        with open(os.path.join(www, page_path(i)), "wb") as f:
            f.write(body[:size] if len(body) >= size else body.ljust(size, b"\n"))


def write_blob(path, size, rng):
    """A file of `size` bytes: one random MiB repeated (no compression is involved anyway)."""
    block = rng.randbytes(1 << 20)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n


def main():
    args = sys.argv[1:]
    pages = None
    if len(args) == 3 and args[1] == "--pages" and args[2].isdigit():
        pages = min(int(args[2]), PAGES)
        args = args[:1]
    if len(args) != 1 or pages == 0:
        sys.exit(__doc__)
    root = args[0]
    want = LAYOUT if pages is None else pages_only_layout(pages)
    www = os.path.join(root, "www")
    manifest_path = os.path.join(root, "manifest.json")
    try:
        with open(manifest_path, encoding="utf-8") as f:
            if covers(json.load(f).get("layout"), want):
                print(f"corpus.py: reusing {root}", file=sys.stderr)
                return
    except (OSError, ValueError, AttributeError):
        pass

    # Whatever was there no longer counts as complete until the new manifest is written: an
    # interrupted run may leave a page half written.
    if os.path.exists(manifest_path):
        os.remove(manifest_path)
    rng = random.Random(20110402)  # the tutorial's date
    if pages is not None:
        print(f"corpus.py: generating the first {pages:,} pages in {root}", file=sys.stderr)
        write_pages(www, rng, pages)
        manifest = {"layout": want, "pages": [page_path(0), page_path(pages - 1)]}
    else:
        print(f"corpus.py: generating {root} (about 300 MiB)", file=sys.stderr)
        write_pages(www, rng, PAGES)
        os.makedirs(os.path.join(www, "big"), exist_ok=True)
        big = [f"big/1m-{i}.bin" for i in range(BIG_FILES)]
        for name in big:
            write_blob(os.path.join(www, name), BIG_SIZE, rng)
        os.makedirs(os.path.join(www, "huge"), exist_ok=True)
        write_blob(os.path.join(www, "huge/256m.bin"), HUGE_SIZE, rng)
        manifest = {"layout": LAYOUT, "pages": [page_path(0), page_path(PAGES - 1)],
                    "big": big, "huge": "huge/256m.bin"}
    with open(manifest_path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
    os.replace(manifest_path + ".tmp", manifest_path)  # last: marks the corpus complete

if __name__ == "__main__":
    main()
