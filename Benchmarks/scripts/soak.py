#!/usr/bin/env python3
"""Soak test: getpage against the project's WebServer, with random faults, for a bounded time.

`make soak` (SOAK_SECONDS=300 by default) runs it on the release build. It

1. starts the WebServer (`getpage --serve-demo 0`: the demo pages plus every built-in and fault
   route) on 127.0.0.1 and remembers its PID;
2. starts `getpage --format jsonl --concurrency 200 --input -` and streams URLs into its standard
   input until the time is up: 90 % ordinary pages (demo pages, /bytes, /chunked, /gzip, /echo,
   /status, /delay), 10 % picked evenly among all the fault routes of Sources/WebServer/Faults.swift;
   each URL is unique (`soak=N` in its query);
3. samples getpage's resident memory (VmRSS) and open descriptors every second;
4. closes getpage's input when the time is up, waits for it to finish, stops the WebServer by its
   PID, and checks:
   - every URL sent has exactly one JSON line with a result (a status or an error), and no line
     names a URL that was not sent; every ordinary URL succeeded; getpage exited with 0 or 1;
   - resident memory does not grow after the warm-up (the first 20 %, at least 15 s): the
     least-squares slope of the later samples is below 1 % of their mean per minute;
   - no descriptor leaks: getpage (GETPAGE_DEBUG_FDS=1) has as many descriptors open once its
     reactor stopped as before the downloads started.

Exit status 0 when every check passes, 1 otherwise. Loopback only; nothing is left running.
"""

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

CONCURRENCY = 200
FAULT_SHARE = 0.10

# Every fault route of the WebServer (Sources/WebServer/Faults.swift), with the parameters used.
FAULTS = [
    "/fault/stall-headers",
    "/fault/stall-body?length=20000",
    "/fault/truncate-length?length=20000",
    "/fault/truncate-chunked?chunks=4&size=1000",
    "/fault/reset-body?length=20000",
    "/fault/bad-status",
    "/fault/huge-header?size=204800",
    "/fault/redirect-chain?n=3",
    "/fault/redirect-loop",
    "/fault/close-delimited?length=20000",
    "/fault/slow-drip?bytes=10&interval=0.05",
    "/fault/retry-after?fails=1",  # with a key of its own, added below
]


def ordinary_path(rng):
    kind = rng.randrange(8)
    if kind <= 2:
        return "/page/%d" % rng.randint(1, 20)
    if kind == 3:
        return "/bytes/%d" % rng.choice([0, 100, 1000, 10000, 100000, 300000])
    if kind == 4:
        return "/chunked?chunks=5&size=500"
    if kind == 5:
        return "/gzip?size=8192"
    if kind == 6:
        return rng.choice(["/echo", "/status/200", "/status/204", "/headers"])
    return "/delay?seconds=0.02"


def route_of(path):
    """The route a URL's path belongs to, for the tables."""
    base = path.split("?", 1)[0]
    if base.startswith("/fault/"):
        return base
    for prefix in ("/page/", "/bytes/", "/status/"):
        if base.startswith(prefix):
            return prefix + "*"
    return base


class Run:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.sent = 0
        self.kinds = []  # per id: route name
        self.is_fault = bytearray()
        self.seen = bytearray()
        self.problems = []
        self.extra_lines = 0
        self.results = {}  # route -> [ok, failed, {error: count}]
        self.samples = []  # (seconds, rss KiB, descriptors)
        self.lock = threading.Lock()

    # MARK: - Feeding URLs

    def feed(self, stream, base, deadline):
        try:
            batch = []
            while time.monotonic() < deadline:
                for _ in range(200):
                    number = self.sent
                    if self.rng.random() < FAULT_SHARE:
                        path = self.rng.choice(FAULTS)
                        if path.startswith("/fault/retry-after"):
                            path += "&key=soak-%d" % number
                        fault = 1
                    else:
                        path = ordinary_path(self.rng)
                        fault = 0
                    separator = "&" if "?" in path else "?"
                    batch.append("%s%s%ssoak=%d\n" % (base, path, separator, number))
                    with self.lock:
                        self.kinds.append(route_of(path))
                        self.is_fault.append(fault)
                        self.seen.append(0)
                        self.sent += 1
                stream.write("".join(batch))
                batch = []
            stream.flush()
        except BrokenPipeError:
            self.problems.append("getpage stopped reading its input early")
        finally:
            try:
                stream.close()
            except BrokenPipeError:
                pass

    # MARK: - Reading results

    def read(self, stream):
        pattern = re.compile(r"[?&]soak=(\d+)$")
        for line in stream:
            try:
                record = json.loads(line)
                match = pattern.search(record["url"])
            except (ValueError, KeyError, TypeError):
                self.extra_lines += 1
                if len(self.problems) < 20:
                    self.problems.append("not a result line: %r" % line[:200])
                continue
            with self.lock:
                number = int(match.group(1)) if match else -1
                if not 0 <= number < self.sent:
                    self.problems.append("a result for a URL never sent: %s" % record["url"])
                    continue
                self.seen[number] = min(self.seen[number] + 1, 255)
                if self.seen[number] > 1:
                    self.problems.append("a second result for %s" % record["url"])
                has_result = record.get("status") is not None or record.get("error") is not None
                if not has_result:
                    self.problems.append("no status and no error for %s" % record["url"])
                route = self.kinds[number]
                tally = self.results.setdefault(route, [0, 0, {}])
                error = record.get("error")
                if error is None:
                    tally[0] += 1
                else:
                    tally[1] += 1
                    key = re.sub(r"\d+", "N", error)[:90]
                    tally[2][key] = tally[2].get(key, 0) + 1
                    if not self.is_fault[number] and len(self.problems) < 40:
                        self.problems.append("an ordinary URL failed: %s: %s" % (record["url"], error))

    # MARK: - Sampling

    def sample(self, pid, start):
        rss = None
        try:
            with open("/proc/%d/status" % pid) as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
            descriptors = len(os.listdir("/proc/%d/fd" % pid))
        except (FileNotFoundError, ProcessLookupError):
            return
        if rss is not None:
            self.samples.append((time.monotonic() - start, rss, descriptors))


def slope_per_minute(points):
    """Least-squares slope of (seconds, KiB) points, in KiB per minute."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    sxx = sum((t - mean_t) ** 2 for t, _ in points)
    sxy = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return (sxy / sxx) * 60 if sxx > 0 else 0.0


def start_server(getpage):
    server = subprocess.Popen([getpage, "--serve-demo", "0"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              text=True)
    base = server.stdout.readline().strip()
    if not base.startswith("http://127.0.0.1:"):
        server.kill()
        server.wait()
        sys.exit("soak: the WebServer did not start (it printed %r)" % base)
    return server, base


def stop(process, name):
    """Stops `process` by its PID: SIGTERM, then SIGKILL after 10 s."""
    if process.poll() is not None:
        return process.returncode
    os.kill(process.pid, signal.SIGTERM)
    try:
        return process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        print("soak: %s (pid %d) ignored SIGTERM; killing it" % (name, process.pid), file=sys.stderr)
        os.kill(process.pid, signal.SIGKILL)
        return process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--getpage", required=True, help="the getpage binary (release build)")
    parser.add_argument("--seconds", type=float, default=300, help="how long to feed URLs (default 300)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--log", default=None, help="where to keep getpage's standard error")
    args = parser.parse_args()

    run = Run(args)
    server, base = start_server(args.getpage)
    client = None
    log_path = args.log or "/tmp/soak-getpage-%d.stderr" % os.getpid()
    try:
        print("soak: WebServer pid %d on %s; getpage --concurrency %d for %g s, %d %% faults"
              % (server.pid, base, CONCURRENCY, args.seconds, FAULT_SHARE * 100), file=sys.stderr)
        environment = dict(os.environ, GETPAGE_DEBUG_FDS="1")
        with open(log_path, "w") as log:
            client = subprocess.Popen(
                [args.getpage, "--format", "jsonl", "--concurrency", str(CONCURRENCY), "--input", "-",
                 "--timeout", "2", "--retries", "1", "--retry-backoff", "0.05", "--compressed",
                 "--progress", "never"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, env=environment)
        start = time.monotonic()
        deadline = start + args.seconds
        feeder = threading.Thread(target=run.feed, args=(client.stdin, base, deadline), daemon=True)
        reader = threading.Thread(target=run.read, args=(client.stdout,), daemon=True)
        feeder.start()
        reader.start()
        next_sample = start
        while client.poll() is None:
            now = time.monotonic()
            if now >= next_sample:
                run.sample(client.pid, start)
                next_sample += 1
            if now > deadline + 120:
                run.problems.append("getpage did not finish within 120 s of the end of its input")
                break
            time.sleep(min(0.05, max(0.0, next_sample - time.monotonic())))
        status = stop(client, "getpage")
        elapsed = time.monotonic() - start
        feeder.join(timeout=5)
        reader.join(timeout=30)
    finally:
        if client is not None and client.poll() is None:
            stop(client, "getpage")
        server_status = stop(server, "the WebServer")
    return report(run, status, server_status, elapsed, log_path)


def report(run, status, server_status, elapsed, log_path):
    with open(log_path) as log:
        stderr = log.read()
    failed = []
    print()
    print("== soak: %d URLs in %.1f s (%.0f URLs/s), concurrency %d ==" % (run.sent, elapsed, run.sent / elapsed,
                                                                          CONCURRENCY))
    summary = [line for line in stderr.splitlines() if re.match(r"getpage: \d+ ok", line)]
    print(summary[-1] if summary else "getpage printed no summary")

    # Every URL exactly once.
    missing = sum(1 for count in run.seen if count == 0)
    duplicated = sum(1 for count in run.seen if count > 1)
    faults = sum(run.is_fault)
    print("\nURLs: %d sent (%d to fault routes, %.1f %%), %d with one result, %d without, %d with more than one, "
          "%d stray lines" % (run.sent, faults, 100.0 * faults / max(run.sent, 1),
                              run.sent - missing - duplicated, missing, duplicated, run.extra_lines))
    if missing or duplicated or run.extra_lines:
        failed.append("URLs not accounted for exactly once")
    print("\n%-34s %9s %9s  %s" % ("route", "ok", "failed", "errors (most frequent)"))
    for route in sorted(run.results, key=lambda r: (r.startswith("/fault/"), r)):
        ok, bad, errors = run.results[route]
        top = sorted(errors.items(), key=lambda item: -item[1])[:2]
        print("%-34s %9d %9d  %s" % (route, ok, bad, "; ".join("%s (%d)" % item for item in top)))
    ordinary_failures = sum(run.results[r][1] for r in run.results if not r.startswith("/fault/"))
    if ordinary_failures:
        failed.append("%d ordinary URLs failed" % ordinary_failures)
    if status not in (0, 1):
        failed.append("getpage exited with %s" % status)
    print("\ngetpage exit status %s; WebServer stopped by its PID (status %s)" % (status, server_status))

    # Memory.
    samples = run.samples
    print("\nRSS of getpage, one sample a second (MiB):")
    values = ["%.1f" % (rss / 1024) for _, rss, _ in samples]
    for index in range(0, len(values), 20):
        print("  %4ds: %s" % (index, " ".join(values[index:index + 20])))
    warmup = max(15.0, 0.2 * elapsed)
    steady = [(t, rss) for t, rss, _ in samples if t >= warmup]
    if len(steady) >= 10:
        mean = sum(v for _, v in steady) / len(steady)
        slope = slope_per_minute(steady)
        limit = 0.01 * mean
        per_minute = run.sent / elapsed * 60
        print("after the %.0f s warm-up: %d samples, mean %.1f MiB, min %.1f, max %.1f, first %.1f, last %.1f"
              % (warmup, len(steady), mean / 1024, min(v for _, v in steady) / 1024,
                 max(v for _, v in steady) / 1024, steady[0][1] / 1024, steady[-1][1] / 1024))
        print("least-squares slope %+.1f KiB/min (limit %.1f KiB/min = 1 %% of the mean per minute; at %.0f URLs/min "
              "a leak of %.1f bytes per URL would reach it)" % (slope, limit, per_minute, limit * 1024 / per_minute))
        if slope >= limit:
            failed.append("RSS grows %.1f KiB/min after the warm-up" % slope)
    else:
        failed.append("too few samples after the warm-up (%d): run longer" % len(steady))

    # Descriptors.
    if samples:
        counts = [d for _, _, d in samples]
        print("\nopen descriptors of getpage, sampled each second: first %d, min %d, max %d, last %d"
              % (counts[0], min(counts), max(counts), counts[-1]))
    descriptors = re.search(r"descriptors: (\d+) open before the downloads, (\d+) after the reactor stopped", stderr)
    if descriptors:
        print(descriptors.group(0))
        if descriptors.group(1) != descriptors.group(2):
            failed.append("descriptors leaked")
            for line in stderr.splitlines():
                if "descriptors left open" in line:
                    print(line)
    else:
        failed.append("getpage did not report its descriptors")

    for problem in run.problems[:20]:
        print("problem: " + problem)
    if run.problems:
        failed.append("%d problems" % len(run.problems))
    print()
    if failed:
        print("soak: FAILED: " + "; ".join(failed))
        return 1
    print("soak: passed (every URL once, ordinary URLs all ok, RSS flat after warm-up, no descriptor leaked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
