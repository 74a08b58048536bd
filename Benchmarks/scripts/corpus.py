#!/usr/bin/env python3
"""Generate the HTTP benchmarks' corpus once, into a git-ignored folder.

Usage:
    python3 Benchmarks/scripts/corpus.py DIR

Writes under DIR/www (the nginx document root):
    p/00000.html .. p/19999.html   20,000 pages of about 2 KiB (1,800-2,300 bytes)
    big/1m-0.bin .. big/1m-3.bin   four files of 1 MiB
    huge/256m.bin                  one file of 256 MiB

and DIR/manifest.json naming them, last. When the manifest is there and says the same layout,
nothing is done, so a run reuses the corpus of the previous one (about 300 MiB on disk).
The content is deterministic (seeded), so every run serves the same bytes.
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


def page_path(i):
    return f"p/{i:05d}.html"


def write_pages(www, rng):
    """HTML pages whose body is random words, so no two pages are the same."""
    os.makedirs(os.path.join(www, "p"), exist_ok=True)
    words = ["deferred", "reactor", "callback", "errback", "semaphore", "agent", "protocol",
             "chain", "failure", "result", "token", "page", "body", "header", "twisted"]
    for i in range(PAGES):
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
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    www = os.path.join(root, "www")
    manifest_path = os.path.join(root, "manifest.json")
    try:
        with open(manifest_path, encoding="utf-8") as f:
            if json.load(f).get("layout") == json.loads(json.dumps(LAYOUT)):
                print(f"corpus.py: reusing {root}", file=sys.stderr)
                return
    except (OSError, ValueError):
        pass

    print(f"corpus.py: generating {root} (about 300 MiB)", file=sys.stderr)
    rng = random.Random(20110402)  # the tutorial's date
    write_pages(www, rng)
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
