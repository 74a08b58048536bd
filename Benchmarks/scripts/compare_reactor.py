#!/usr/bin/env python3
"""Compare swift-deferreds' reactor benchmark results against Twisted's.

Usage:
    python3 Benchmarks/scripts/compare_reactor.py [--title TITLE] ours.jsonl twisted.jsonl

Inputs are JSON Lines as printed by ``reactor-bench`` (Benchmarks/ReactorBench)
and Benchmarks/peers/twisted_reactor.py:

    {"impl": ..., "workload": NAME, "ops": n, "seconds": s, "ops_per_sec": r, ...}
        + "mb_per_sec" (tcp_echo_throughput_1), "round_trips_per_sec" (tcp_rtt_*),
          "note" (Twisted, when it ran a different count)
    {"impl": ..., "workload": "meta", ...}        (optional, machine info)

Prints a Markdown table with the speed ratio (ours / Twisted) of each
workload's rate and whether its target is met.  When the two sides ran
different counts (clock_random_100k: Twisted's task.Clock runs 10,000 timers
by default) the per-operation rates are compared and a footnote says so.
"""

import os
import platform
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import fmt_count, fmt_ratio, ordered_workloads, read_inputs  # noqa: E402  (same directory)

OURS = "swift-deferreds"
THEIRS = "Twisted"

# workload -> (what the rate counts, record key holding the rate, minimum ratio or None)
WORKLOADS = {
    "call_later_bulk": ("calls/s", "ops_per_sec", 20.0),
    "call_later_chain": ("calls/s", "ops_per_sec", 20.0),
    "call_from_thread": ("calls/s", "ops_per_sec", 20.0),
    "tcp_echo_throughput_1": ("MB/s", "mb_per_sec", None),
    "tcp_rtt_1": ("round trips/s", "round_trips_per_sec", 5.0),
    "tcp_rtt_100": ("round trips/s", "round_trips_per_sec", 5.0),
    "clock_random_100k": ("timers/s", "ops_per_sec", 1000.0),
}


def fmt_rate(r):
    if r is None:
        return "—"
    return f"{r:,.1f}" if r < 100 else f"{r:,.0f}"


def fmt_seconds(s):
    if s is None:
        return "—"
    return f"{s * 1000:,.0f} ms" if s < 1 else f"{s:,.2f} s"


def fmt_ops(workload, n):
    if n is None:
        return "—"
    if workload == "tcp_echo_throughput_1":
        return f"{n / (1024 * 1024):,.0f} MiB"
    return fmt_count(n)


def row(workload, ours, theirs, footnotes):
    unit, key, target = WORKLOADS.get(workload, ("ops/s", "ops_per_sec", None))
    ours_rate, theirs_rate = ours.get(key), theirs.get(key)
    ratio = ours_rate / theirs_rate if ours_rate and theirs_rate else None
    if target is None:
        target_cell, met = "— (no target)", "n/a"
    else:
        target_cell = f"≥ {target:,.0f}×"
        met = "n/a" if ratio is None else ("met" if ratio >= target else "MISSED")

    ours_n, theirs_n = ours.get("ops"), theirs.get("ops")
    if workload.startswith("tcp_rtt"):
        conns = ours.get("connections", theirs.get("connections"))
        count = f"{conns} conn., {fmt_seconds(ours.get('seconds'))}"
    elif ours_n == theirs_n or ours_n is None or theirs_n is None:
        count = fmt_ops(workload, ours_n if ours_n is not None else theirs_n)
    else:
        note = (
            f"`{workload}`: counts differ ({OURS} {fmt_count(ours_n)}, {THEIRS} "
            f"{fmt_count(theirs_n)}), so the ratio compares per-operation rates ({unit})."
        )
        if workload == "clock_random_100k":
            note += (
                f" {THEIRS}'s `task.Clock` re-sorts its whole call list on every `callLater` and"
                " after every call it runs, so its cost per timer grows linearly with the count:"
                f" at {fmt_count(ours_n)} timers its rate would be about"
                f" {ours_n / theirs_n:,.0f}× lower than measured here, and the ratio shown is"
                f" conservative. Run the peer with `--full-clock` for the full count (minutes)."
            )
        if theirs.get("note"):
            note += f" {THEIRS} note: {theirs['note']}."
        footnotes.append(note)
        count = f"{fmt_count(ours_n)} / {fmt_count(theirs_n)}[^{len(footnotes)}]"

    if workload.startswith("tcp_rtt"):
        time_cell = f"{fmt_count(ours_n)} / {fmt_count(theirs_n)} round trips"
    else:
        time_cell = f"{fmt_seconds(ours.get('seconds'))} / {fmt_seconds(theirs.get('seconds'))}"
    return [
        f"`{workload}`", count, time_cell, unit, fmt_rate(ours_rate), fmt_rate(theirs_rate),
        fmt_ratio(ratio), target_cell, met,
    ]


def machine_line(ours_meta, theirs_meta):
    parts = [f"nproc {os.cpu_count()}"]
    parts.append(f"Python {theirs_meta.get('python', platform.python_version())}")
    parts.append(f"Twisted {theirs_meta.get('twisted', 'unknown')}")
    if theirs_meta.get("reactor"):
        parts.append(theirs_meta["reactor"].rsplit(".", 1)[-1] + " (epollreactor)")
    if theirs_meta.get("platform"):
        parts.append(theirs_meta["platform"])
    if ours_meta.get("build"):
        parts.append(f"{OURS} {ours_meta['build']} build")
    loads = []
    if ours_meta.get("loadavg"):
        loads.append(f"{ours_meta['loadavg']} before {OURS}")
    if theirs_meta.get("loadavg"):
        loads.append(f"{theirs_meta['loadavg']} before {THEIRS}")
    line = "Machine: " + ", ".join(parts)
    if loads:
        line += "; load average " + ", ".join(loads)
    return line


def main(argv=None):
    args, ours, ours_meta, theirs, theirs_meta = read_inputs(__doc__.split("\n", 1)[0], argv)
    workloads = ordered_workloads(WORKLOADS, ours, theirs)

    footnotes = []
    rows = [row(w, ours.get(w, {}), theirs.get(w, {}), footnotes) for w in workloads]

    if args.title:
        print(f"## {args.title}\n")
    print(machine_line(ours_meta, theirs_meta) + "\n")
    header = ["workload", "count", f"time or work ({OURS} / {THEIRS})", "unit",
              OURS, THEIRS, "ratio", "target", "met?"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] * 4 + ["---:"] * 3 + ["---"] * 2) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    print(
        "Rates are medians over the repetitions (each Twisted repetition in a fresh process;"
        " each Swift one on a fresh `EPollReactor`). Times run from the first call scheduled"
        " (for `call_from_thread`, the first `callFromThread` on the producer thread) to the"
        " end of the last call; TCP runs server and client on one reactor over 127.0.0.1"
        " (MB = 10^6 bytes, echoed once each way)."
    )
    if footnotes:
        print()
        for i, note in enumerate(footnotes, 1):
            print(f"[^{i}]: {note}")


if __name__ == "__main__":
    main()
