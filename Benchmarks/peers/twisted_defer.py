#!/usr/bin/env python3
"""Reference benchmarks for Twisted's ``twisted.internet.defer``.

Runs the same workloads as the Swift benchmark suite so the two can be
compared with ``Benchmarks/scripts/compare.py``.  No reactor is involved:
every Deferred is fired synchronously by calling ``callback`` directly.

Output is JSON Lines on stdout, one object per line:

    {"impl": "twisted", "workload": "meta", "python": ..., "twisted": ...}
    {"impl": "twisted", "workload": NAME, "ops": n, "seconds": s, "ops_per_sec": n/s}
    {"impl": "twisted", "workload": "pending_memory", "count": n, "bytes_per_deferred": b}

Timed workloads report the median wall time (time.perf_counter) over
``--repeat`` runs; each timed region covers the whole workload, i.e. setup
(creating Deferreds, adding callbacks) as well as firing.

Usage (from the repo root):

    PY="$(Benchmarks/scripts/venv.sh)"
    "$PY" Benchmarks/peers/twisted_defer.py [--scale F] [--repeat R]
          [--only NAME ...] [--full-many]
"""

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import twisted
from twisted.internet.defer import (
    Deferred,
    DeferredList,
    DeferredSemaphore,
    succeed,
)

IMPL = "twisted"

# Base counts at --scale 1.0.
CREATE_FIRE_N = 1_000_000
MANY_CALLBACKS_N = 1_000_000
# Twisted's callback runner is reportedly quadratic in the number of
# callbacks queued on one Deferred (1M took ~45 s), so by default the
# many_callbacks workload uses this smaller count and a single repetition.
MANY_CALLBACKS_REDUCED_N = 100_000
DEEP_CHAIN_N = 100_000
SEMAPHORE_RUN_N = 100_000
SEMAPHORE_LIMIT = 10
DEFERRED_LIST_N = 100_000
PENDING_MEMORY_N = 1_000_000
# Deferreds created (and dropped) before taking the RSS baseline, so that
# one-time costs (code objects, caches, interned names) are not attributed
# to the measured Deferreds.  Kept small: peak RSS never goes down, so a big
# warm-up would hide part of the later growth.
PENDING_MEMORY_WARMUP = 1_000

TIMED_WORKLOADS = (
    "create_fire",
    "many_callbacks",
    "deep_chain",
    "semaphore_run",
    "deferred_list",
)
ALL_WORKLOADS = TIMED_WORKLOADS + ("pending_memory",)


# One shared callback function.  Defining it once (rather than evaluating a
# fresh lambda per Deferred) keeps closure allocation out of the measurement,
# which is the comparison most favourable to Twisted.
add_one = lambda v: v + 1  # noqa: E731


def scaled(base, scale):
    """Apply --scale to a base count, never going below 1."""
    return max(1, int(round(base * scale)))


def emit(record):
    record = {"impl": IMPL, **record}
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def log(message):
    print(f"twisted_defer.py: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Workloads.  Each takes a count, does the whole job and returns nothing;
# correctness checks are plain asserts (cheap relative to the work).
# --------------------------------------------------------------------------


def run_create_fire(n):
    for _ in range(n):
        d = Deferred()
        d.addCallback(add_one)
        d.callback(1)


def run_many_callbacks(n):
    d = Deferred()
    for _ in range(n):
        d.addCallback(add_one)
    out = []
    d.addCallback(out.append)
    d.callback(0)
    assert out == [n], out


def run_deep_chain(n):
    # d[0..n]: n + 1 Deferreds.  d[i]'s callback returns d[i+1], which is
    # still unfired when d[i] fires, so d[i] pauses waiting on d[i+1].
    # Firing d[n] last resolves the whole chain back to d[0].
    ds = [Deferred() for _ in range(n + 1)]
    for i in range(n):
        ds[i].addCallback(lambda _, nxt=ds[i + 1]: nxt)
    out = []
    ds[0].addCallback(out.append)
    for i, d in enumerate(ds):
        d.callback(i)
    assert out == [n], out


def run_semaphore_run(n):
    sem = DeferredSemaphore(SEMAPHORE_LIMIT)
    results = []
    factory = lambda: succeed(1)  # noqa: E731  (already-fired Deferred)
    for _ in range(n):
        sem.run(factory).addCallback(results.append)
    assert len(results) == n, len(results)


def run_deferred_list(n):
    ds = [Deferred() for _ in range(n)]
    fired = []
    DeferredList(ds).addCallback(fired.append)
    for i, d in enumerate(ds):
        d.callback(i)
    assert len(fired) == 1 and len(fired[0]) == n, "DeferredList did not fire"


RUNNERS = {
    "create_fire": run_create_fire,
    "many_callbacks": run_many_callbacks,
    "deep_chain": run_deep_chain,
    "semaphore_run": run_semaphore_run,
    "deferred_list": run_deferred_list,
}


def time_once(runner, n):
    gc.collect()  # start every run from the same GC state
    start = time.perf_counter()
    runner(n)
    return time.perf_counter() - start


def bench_timed(name, args):
    """Run one timed workload and emit its JSON line."""
    extra = {}
    repeat = args.repeat
    if name == "create_fire":
        n = scaled(CREATE_FIRE_N, args.scale)
    elif name == "many_callbacks":
        if args.full_many:
            n = scaled(MANY_CALLBACKS_N, args.scale)
        else:
            n = scaled(MANY_CALLBACKS_REDUCED_N, args.scale)
        # Quadratic in Twisted: one repetition only, whatever --repeat says.
        repeat = 1
        extra["note"] = f"ran with {n:,} callbacks, 1 repetition" + (
            ""
            if args.full_many
            else f" (full count {scaled(MANY_CALLBACKS_N, args.scale):,}"
            " needs --full-many)"
        )
    elif name == "deep_chain":
        n = scaled(DEEP_CHAIN_N, args.scale)
    elif name == "semaphore_run":
        n = scaled(SEMAPHORE_RUN_N, args.scale)
    elif name == "deferred_list":
        n = scaled(DEFERRED_LIST_N, args.scale)
    else:
        raise ValueError(name)

    log(f"{name}: n={n:,} x{repeat}")
    times = [time_once(RUNNERS[name], n) for _ in range(repeat)]
    median = statistics.median(times)
    emit(
        {
            "workload": name,
            "ops": n,
            "seconds": median,
            "ops_per_sec": n / median,
            **extra,
        }
    )


# --------------------------------------------------------------------------
# pending_memory: measured in a fresh child process per repetition, because
# ru_maxrss is a process-lifetime peak and would otherwise include whatever
# the timed workloads allocated.
# --------------------------------------------------------------------------


def max_rss_kib():
    # ru_maxrss is in KiB on Linux (bytes on macOS; scaled below).
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 if sys.platform == "darwin" else rss


def child_pending_memory(n):
    """Child mode: hold n unfired Deferreds (one callback each); print KiB."""
    warm = []
    for _ in range(PENDING_MEMORY_WARMUP):
        d = Deferred()
        d.addCallback(add_one)
        warm.append(d)
    del warm, d
    gc.collect()

    before = max_rss_kib()
    pending = []
    for _ in range(n):
        d = Deferred()
        d.addCallback(add_one)
        pending.append(d)
    after = max_rss_kib()

    assert len(pending) == n and not pending[-1].called
    print(json.dumps({"count": n, "before_kib": before, "after_kib": after}))


def bench_pending_memory(args):
    n = scaled(PENDING_MEMORY_N, args.scale)
    log(f"pending_memory: n={n:,} x{args.repeat} (one child process each)")
    samples = []
    for _ in range(args.repeat):
        proc = subprocess.run(
            [
                sys.executable,
                os.path.abspath(__file__),
                "--child",
                "pending_memory",
                "--scale",
                repr(args.scale),
            ],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        samples.append((result["after_kib"] - result["before_kib"]) * 1024 / n)
    emit(
        {
            "workload": "pending_memory",
            "count": n,
            "bytes_per_deferred": statistics.median(samples),
        }
    )


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Benchmark twisted.internet.defer (reference peer)."
    )
    p.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply every count by F (default 1.0; e.g. 0.01 for smoke tests)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per workload; the median is reported (default 3)",
    )
    p.add_argument(
        "--only",
        action="append",
        choices=ALL_WORKLOADS,
        metavar="NAME",
        help=f"run only this workload (repeatable): {', '.join(ALL_WORKLOADS)}",
    )
    p.add_argument(
        "--full-many",
        action="store_true",
        help=f"many_callbacks with {MANY_CALLBACKS_N:,} callbacks "
        f"instead of {MANY_CALLBACKS_REDUCED_N:,} (slow: quadratic in Twisted)",
    )
    p.add_argument("--child", choices=("pending_memory",), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.scale <= 0:
        p.error("--scale must be positive")
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)

    if args.child == "pending_memory":
        child_pending_memory(scaled(PENDING_MEMORY_N, args.scale))
        return

    emit(
        {
            "workload": "meta",
            "python": platform.python_version(),
            "twisted": twisted.__version__,
            "platform": platform.platform(),
        }
    )
    selected = [w for w in ALL_WORKLOADS if not args.only or w in args.only]
    for name in selected:
        if name == "pending_memory":
            bench_pending_memory(args)
        else:
            bench_timed(name, args)


if __name__ == "__main__":
    main()
