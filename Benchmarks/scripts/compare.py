#!/usr/bin/env python3
"""Compare swift-deferreds benchmark results against Twisted's.

Usage:
    python3 Benchmarks/scripts/compare.py [--title TITLE] ours.jsonl twisted.jsonl

Both inputs are JSON Lines in the shape printed by
Benchmarks/peers/twisted_defer.py:

    {"impl": ..., "workload": NAME, "ops": n, "seconds": s, "ops_per_sec": r}
    {"impl": ..., "workload": "pending_memory", "count": n, "bytes_per_deferred": b}
    {"impl": ..., "workload": "meta", ...}        (optional, machine info)

Prints a Markdown table with the speed ratio (ours / Twisted) per workload
and whether each target is met.  Lines that are not JSON objects are skipped
with a warning, so raw benchmark logs can be fed in directly.
"""

import argparse
import json
import os
import platform
import sys

OURS = "swift-deferreds"
THEIRS = "Twisted"

# Workloads in display order; anything else found in the inputs is appended.
KNOWN_WORKLOADS = (
    "create_fire",
    "many_callbacks",
    "deep_chain",
    "semaphore_run",
    "deferred_list",
    "pending_memory",
)
DEFAULT_MIN_RATIO = 20.0
MIN_RATIO = {"many_callbacks": 1000.0}
MAX_BYTES_PER_DEFERRED = 150.0


def load(path):
    """Return (records by workload, meta record or {}) from a JSONL file."""
    records, meta = {}, {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                rec = None
            if not isinstance(rec, dict) or "workload" not in rec:
                print(f"compare.py: {path}:{lineno}: skipping non-result line",
                      file=sys.stderr)
                continue
            if rec["workload"] == "meta":
                meta = rec
            else:
                records[rec["workload"]] = rec  # last result wins
    return records, meta


def fmt_count(n):
    return "—" if n is None else f"{int(n):,}"


def fmt_rate(r):
    return "—" if r is None else f"{r:,.0f}"


def fmt_ratio(x):
    if x is None:
        return "—"
    return f"{x:,.0f}×" if x >= 100 else f"{x:,.1f}×"


def count_cell(ours_n, theirs_n, footnotes, workload, theirs_rec):
    """One count, or "ours / Twisted" plus a footnote when they differ."""
    if ours_n == theirs_n or ours_n is None or theirs_n is None:
        return fmt_count(ours_n if ours_n is not None else theirs_n)
    footnotes.append(
        f"`{workload}`: counts differ ({OURS} {fmt_count(ours_n)}, "
        f"{THEIRS} {fmt_count(theirs_n)}); ops/s are still comparable rates."
        + (f" {THEIRS} note: {theirs_rec['note']}." if theirs_rec.get("note") else "")
    )
    return f"{fmt_count(ours_n)} / {fmt_count(theirs_n)}[^{len(footnotes)}]"


def speed_row(workload, ours, theirs, footnotes):
    ours_rate = ours.get("ops_per_sec")
    theirs_rate = theirs.get("ops_per_sec")
    ratio = ours_rate / theirs_rate if ours_rate and theirs_rate else None
    target = MIN_RATIO.get(workload, DEFAULT_MIN_RATIO)
    met = "n/a" if ratio is None else ("met" if ratio >= target else "MISSED")
    count = count_cell(ours.get("ops"), theirs.get("ops"), footnotes, workload, theirs)
    return [workload, count, fmt_rate(ours_rate), fmt_rate(theirs_rate),
            fmt_ratio(ratio), f"≥ {target:,.0f}×", met]


def memory_row(ours, theirs, footnotes):
    ours_b = ours.get("bytes_per_deferred")
    theirs_b = theirs.get("bytes_per_deferred")
    # For memory, smaller is better: show how many times smaller ours is.
    ratio = theirs_b / ours_b if ours_b and theirs_b else None
    met = "n/a" if ours_b is None else (
        "met" if ours_b <= MAX_BYTES_PER_DEFERRED else "MISSED")
    count = count_cell(ours.get("count"), theirs.get("count"), footnotes,
                       "pending_memory", theirs)
    return [
        "pending_memory",
        count,
        "—" if ours_b is None else f"{ours_b:,.1f} B/deferred",
        "—" if theirs_b is None else f"{theirs_b:,.1f} B/deferred",
        "—" if ratio is None else f"{fmt_ratio(ratio)} smaller",
        f"≤ {MAX_BYTES_PER_DEFERRED:,.0f} bytes",
        met,
    ]


def machine_line(ours_meta, theirs_meta):
    parts = [f"nproc {os.cpu_count()}"]
    parts.append(f"Python {theirs_meta.get('python', platform.python_version())}")
    parts.append(f"Twisted {theirs_meta.get('twisted', 'unknown')}")
    if theirs_meta.get("platform"):
        parts.append(theirs_meta["platform"])
    # Whatever the Swift side chose to report about itself, verbatim.
    extra = {k: v for k, v in ours_meta.items() if k not in ("impl", "workload")}
    parts.extend(f"{k} {v}" for k, v in extra.items())
    return "Machine: " + ", ".join(parts)


def read_inputs(description, argv=None):
    """Parses `ours twisted [--title T]`, loads both files and orders their workloads.

    Returns (args, ours, ours_meta, theirs, theirs_meta); shared with compare_reactor.py."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("ours", help=f"{OURS} results (JSONL)")
    p.add_argument("twisted", help=f"{THEIRS} results (JSONL)")
    p.add_argument("--title", help="print as a Markdown heading first")
    args = p.parse_args(argv)
    ours, ours_meta = load(args.ours)
    theirs, theirs_meta = load(args.twisted)
    return args, ours, ours_meta, theirs, theirs_meta


def ordered_workloads(known, ours, theirs):
    """The known workloads first, in their order, then any others; only those with results."""
    workloads = list(known)
    for name in list(ours) + list(theirs):
        if name not in workloads:
            workloads.append(name)
    return [w for w in workloads if w in ours or w in theirs]


def main(argv=None):
    args, ours, ours_meta, theirs, theirs_meta = read_inputs(__doc__.split("\n", 1)[0], argv)
    workloads = ordered_workloads(KNOWN_WORKLOADS, ours, theirs)

    footnotes = []
    rows = []
    for w in workloads:
        o, t = ours.get(w, {}), theirs.get(w, {})
        if w == "pending_memory":
            rows.append(memory_row(o, t, footnotes))
        else:
            rows.append(speed_row(w, o, t, footnotes))

    if args.title:
        print(f"## {args.title}\n")
    print(machine_line(ours_meta, theirs_meta) + "\n")
    header = ["workload", "count", f"{OURS} ops/s", f"{THEIRS} ops/s",
              "ratio", "target", "met?"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] * 2 + ["---:"] * 3 + ["---"] * 2) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if footnotes:
        print()
        for i, note in enumerate(footnotes, 1):
            print(f"[^{i}]: {note}")


if __name__ == "__main__":
    main()
