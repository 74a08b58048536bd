#!/usr/bin/env python3
"""Reference benchmarks for Twisted's epoll reactor and ``task.Clock``.

Runs the same workloads as Benchmarks/ReactorBench (``reactor-bench``) so the
two can be compared with ``Benchmarks/scripts/compare_reactor.py``.

A Twisted reactor cannot be restarted, so every repetition of every workload
runs in a fresh child process (this script re-invoked with ``--child NAME``),
which installs ``epollreactor`` before importing the reactor, runs the
workload once and prints one JSON object.  The parent prints the median.

Workloads (counts at --scale 1.0):

    call_later_bulk        1,000,000 callLater(0) scheduled before run(), then run
    call_later_chain       1,000,000 callLater(0), each scheduling the next
    call_from_thread       100,000 callFromThread from a second thread, in order
    tcp_echo_throughput_1  256 MiB through an echo server and back, 1 connection
    tcp_rtt_1, tcp_rtt_100 32-byte request/response ping-pong for 2 s, 1 / 100 connections
    clock_random_100k      task.Clock: callLater at random delays in [0, 1000), advance(1000);
                           10,000 timers by default (Clock is quadratic), --full-clock for 100,000

Server and client share the one reactor, over 127.0.0.1; TCP_NODELAY is set on
both ends (as swift-deferreds' TCP transport does).

Output is JSON Lines on stdout:

    {"impl": "twisted", "workload": "meta", "python": ..., "twisted": ..., "reactor": ...}
    {"impl": "twisted", "workload": NAME, "ops": n, "seconds": s, "ops_per_sec": n/s, ...}

with "mb_per_sec" for tcp_echo_throughput_1, "round_trips_per_sec" for tcp_rtt_*,
and a "note" when the count differs from the Swift benchmark's.

Usage (from the repo root):

    PY="$(Benchmarks/scripts/venv.sh)"
    "$PY" Benchmarks/peers/twisted_reactor.py [--scale F] [--repeat R]
          [--only NAME ...] [--full-clock]
"""

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time

IMPL = "twisted"

CALL_LATER_BULK_N = 1_000_000
CALL_LATER_CHAIN_N = 1_000_000
CALL_FROM_THREAD_N = 100_000
TCP_THROUGHPUT_BYTES = 256 * 1024 * 1024
TCP_CHUNK = 64 * 1024
TCP_WINDOW = 4 * 1024 * 1024
RTT_SECONDS = 2.0
RTT_MESSAGE = b"a" * 32
CLOCK_FULL_N = 100_000
# task.Clock re-sorts its whole call list on every callLater and pops from the
# front of a list on every call run: quadratic.  10,000 took ~4.8 s here;
# 100,000 would take minutes.
CLOCK_REDUCED_N = 10_000

WORKLOADS = (
    "call_later_bulk",
    "call_later_chain",
    "call_from_thread",
    "tcp_echo_throughput_1",
    "tcp_rtt_1",
    "tcp_rtt_100",
    "clock_random_100k",
)


def scaled(base, scale):
    return max(1, int(round(base * scale)))


def emit(record):
    sys.stdout.write(json.dumps({"impl": IMPL, **record}) + "\n")
    sys.stdout.flush()


def log(message):
    print(f"twisted_reactor.py: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Child side: one workload, once, in this process.  Each returns a dict with
# at least "ops" and "seconds".
# --------------------------------------------------------------------------


def install_reactor():
    from twisted.internet import epollreactor

    epollreactor.install()
    from twisted.internet import reactor

    return reactor


def child_call_later_bulk(n):
    reactor = install_reactor()
    state = {"next": 0, "end": None}

    def hit(i):
        assert i == state["next"], f"call {i} ran when {state['next']} was expected"
        state["next"] = i + 1
        if i + 1 == n:
            state["end"] = time.perf_counter()
            reactor.stop()

    call_later = reactor.callLater
    start = time.perf_counter()
    for i in range(n):
        call_later(0, hit, i)
    scheduled = time.perf_counter()
    reactor.run(installSignalHandlers=False)
    assert state["next"] == n, f"{state['next']} of {n} calls ran"
    end = state["end"]
    return {
        "ops": n,
        "seconds": end - start,
        "schedule_seconds": scheduled - start,
        "run_seconds": end - scheduled,
    }


def child_call_later_chain(n):
    reactor = install_reactor()
    state = {"done": 0, "end": None}

    def step():
        state["done"] += 1
        if state["done"] == n:
            state["end"] = time.perf_counter()
            reactor.stop()
        else:
            reactor.callLater(0, step)

    start = time.perf_counter()
    reactor.callLater(0, step)
    reactor.run(installSignalHandlers=False)
    assert state["done"] == n, f"{state['done']} of {n} calls ran"
    return {"ops": n, "seconds": state["end"] - start}


def child_call_from_thread(n):
    import threading

    reactor = install_reactor()
    state = {"next": 0, "start": None, "end": None}

    def received(i):
        assert i == state["next"], f"call {i} ran when {state['next']} was expected"
        state["next"] = i + 1
        if i + 1 == n:
            state["end"] = time.perf_counter()
            reactor.stop()

    def produce():
        call = reactor.callFromThread
        state["start"] = time.perf_counter()
        for i in range(n):
            call(received, i)

    thread = threading.Thread(target=produce)
    reactor.callWhenRunning(thread.start)
    reactor.run(installSignalHandlers=False)
    thread.join()
    assert state["next"] == n, f"{state['next']} of {n} calls ran"
    return {"ops": n, "seconds": state["end"] - state["start"]}


def _tcp_classes():
    from twisted.internet import protocol

    class Echo(protocol.Protocol):
        def connectionMade(self):
            self.transport.setTcpNoDelay(True)

        def dataReceived(self, data):
            self.transport.write(data)

    class EchoFactory(protocol.Factory):
        protocol = Echo

    class BenchClientFactory(protocol.ClientFactory):
        def __init__(self, make):
            self.make = make

        def buildProtocol(self, addr):
            p = self.make()
            p.factory = self
            return p

        def clientConnectionFailed(self, connector, reason):
            log(f"connection failed: {reason}")
            os._exit(1)

    return protocol, EchoFactory, BenchClientFactory


def child_tcp_echo_throughput_1(total_bytes):
    reactor = install_reactor()
    protocol, EchoFactory, BenchClientFactory = _tcp_classes()
    total = max(1, total_bytes // TCP_CHUNK) * TCP_CHUNK
    chunk = bytes((i * 31) & 0xFF for i in range(TCP_CHUNK))

    class StreamClient(protocol.Protocol):
        sent = 0
        received = 0
        start = end = None

        def connectionMade(self):
            self.transport.setTcpNoDelay(True)
            self.start = time.perf_counter()
            self.pump()

        def pump(self):
            write = self.transport.write
            while self.sent < total and self.sent - self.received < TCP_WINDOW:
                write(chunk)
                self.sent += TCP_CHUNK

        def dataReceived(self, data):
            self.received += len(data)
            if self.received >= total:
                self.end = time.perf_counter()
                reactor.stop()
            else:
                self.pump()

    clients = []

    def make():
        c = StreamClient()
        clients.append(c)
        return c

    port = reactor.listenTCP(0, EchoFactory(), interface="127.0.0.1", backlog=1024)
    reactor.connectTCP("127.0.0.1", port.getHost().port, BenchClientFactory(make))
    reactor.run(installSignalHandlers=False)
    (client,) = clients
    assert client.received == total, f"{client.received} of {total} bytes came back"
    seconds = client.end - client.start
    return {"ops": total, "seconds": seconds, "mb_per_sec": total / 1e6 / seconds}


def child_tcp_rtt(connections, duration):
    reactor = install_reactor()
    protocol, EchoFactory, BenchClientFactory = _tcp_classes()
    run = {"connected": 0, "running": False, "round_trips": 0, "start": None, "end": None}
    clients = []

    def finish():
        run["end"] = time.perf_counter()
        run["running"] = False
        reactor.stop()

    class PingClient(protocol.Protocol):
        pending = 0

        def connectionMade(self):
            self.transport.setTcpNoDelay(True)
            run["connected"] += 1
            if run["connected"] == connections:
                run["running"] = True
                run["start"] = time.perf_counter()
                reactor.callLater(duration, finish)
                for c in clients:
                    c.ping()

        def ping(self):
            self.pending = len(RTT_MESSAGE)
            self.transport.write(RTT_MESSAGE)

        def dataReceived(self, data):
            self.pending -= len(data)
            assert self.pending >= 0, "more bytes came back than were sent"
            if self.pending == 0 and run["running"]:
                run["round_trips"] += 1
                self.ping()

    def make():
        c = PingClient()
        clients.append(c)
        return c

    port = reactor.listenTCP(0, EchoFactory(), interface="127.0.0.1", backlog=1024)
    factory = BenchClientFactory(make)
    for _ in range(connections):
        reactor.connectTCP("127.0.0.1", port.getHost().port, factory)
    reactor.run(installSignalHandlers=False)
    assert run["connected"] == connections, f"{run['connected']} of {connections} connected"
    assert run["round_trips"] > 0, "no round trips"
    seconds = run["end"] - run["start"]
    n = run["round_trips"]
    return {
        "ops": n,
        "seconds": seconds,
        "round_trips_per_sec": n / seconds,
        "connections": connections,
    }


def child_clock_random(n):
    from twisted.internet import task

    rng = random.Random(0x5EED)
    delays = [rng.random() * 1000 for _ in range(n)]
    state = {"last": -1.0, "ran": 0}

    def hit(delay):
        assert delay >= state["last"], f"a call for {delay} ran after one for {state['last']}"
        state["last"] = delay
        state["ran"] += 1

    start = time.perf_counter()
    clock = task.Clock()
    for delay in delays:
        clock.callLater(delay, hit, delay)
    clock.advance(1000)
    seconds = time.perf_counter() - start
    assert state["ran"] == n, f"{state['ran']} of {n} calls ran"
    return {"ops": n, "seconds": seconds}


def run_child(name, args):
    s = args.scale
    if name == "call_later_bulk":
        return child_call_later_bulk(scaled(CALL_LATER_BULK_N, s))
    if name == "call_later_chain":
        return child_call_later_chain(scaled(CALL_LATER_CHAIN_N, s))
    if name == "call_from_thread":
        return child_call_from_thread(scaled(CALL_FROM_THREAD_N, s))
    if name == "tcp_echo_throughput_1":
        return child_tcp_echo_throughput_1(scaled(TCP_THROUGHPUT_BYTES, s))
    if name == "tcp_rtt_1":
        return child_tcp_rtt(1, rtt_seconds(s))
    if name == "tcp_rtt_100":
        return child_tcp_rtt(100, rtt_seconds(s))
    if name == "clock_random_100k":
        return child_clock_random(clock_count(args))
    raise ValueError(name)


def rtt_seconds(scale):
    return max(0.2, RTT_SECONDS * scale)


def clock_count(args):
    return scaled(CLOCK_FULL_N if args.full_clock else CLOCK_REDUCED_N, args.scale)


# --------------------------------------------------------------------------
# Parent side.
# --------------------------------------------------------------------------


def bench(name, args):
    repeat = args.repeat
    log(f"{name}: x{repeat} (one child process each)")
    samples = []
    for _ in range(repeat):
        command = [
            sys.executable,
            os.path.abspath(__file__),
            "--child",
            name,
            "--scale",
            repr(args.scale),
        ]
        if args.full_clock:
            command.append("--full-clock")
        proc = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
        samples.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    # The median repetition by rate (for fixed counts, the median time).
    samples.sort(key=lambda r: r["ops"] / r["seconds"])
    chosen = samples[len(samples) // 2]
    record = {
        "workload": name,
        "ops": chosen["ops"],
        "seconds": chosen["seconds"],
        "ops_per_sec": chosen["ops"] / chosen["seconds"],
    }
    record.update({k: v for k, v in chosen.items() if k not in record})
    record["repeat"] = repeat
    if name == "clock_random_100k":
        full = scaled(CLOCK_FULL_N, args.scale)
        record["note"] = f"ran with {chosen['ops']:,} timers" + (
            ""
            if chosen["ops"] == full
            else f" (task.Clock is quadratic; the full {full:,} needs --full-clock)"
        )
    emit(record)


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Benchmark Twisted's epoll reactor and task.Clock (reference peer)."
    )
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiply every count (and the 2 s round-trip duration) by F")
    p.add_argument("--repeat", type=int, default=3,
                   help="runs per workload, each in its own process; the median is reported")
    p.add_argument("--only", action="append", choices=WORKLOADS, metavar="NAME",
                   help=f"run only this workload (repeatable): {', '.join(WORKLOADS)}")
    p.add_argument("--full-clock", action="store_true",
                   help=f"clock_random_100k with {CLOCK_FULL_N:,} timers instead of "
                   f"{CLOCK_REDUCED_N:,} (minutes: task.Clock is quadratic)")
    p.add_argument("--child", choices=WORKLOADS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.scale <= 0:
        p.error("--scale must be positive")
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        print(json.dumps(run_child(args.child, args)))
        return

    import twisted

    emit({
        "workload": "meta",
        "python": platform.python_version(),
        "twisted": twisted.__version__,
        "reactor": "twisted.internet.epollreactor.EPollReactor",
        "platform": platform.platform(),
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    })
    for name in WORKLOADS:
        if not args.only or name in args.only:
            bench(name, args)


if __name__ == "__main__":
    main()
