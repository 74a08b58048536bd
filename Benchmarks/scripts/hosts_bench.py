#!/usr/bin/env python3
"""`make bench-hosts`: many host names behind a slow DNS server (issue 14).

Run by hosts_bench.sh inside a private mount namespace whose /etc/resolv.conf names only the
benchmark's DNS server (bench_dns.DNSServer, started here, on --dns-listen port 53). Every name
answers 127.0.0.1, where the benchmark's nginx serves any server name.

The workload: 2,000 URLs over 500 host names (h000.bench.test … h499.bench.test, 4 URLs each,
shuffled), fetched by getpage, curl --parallel, aiohttp and the Twisted tutorial with a
persistent pool, at C = 50 and 200, with the DNS server answering after 0 ms and 100 ms.
Each (delay, C) runs every program BENCH_REPEAT (3) times, interleaved; the tables give the
median wall time (min–max) and the median number of questions the DNS server received per run.

Targets: getpage's wall <= curl's at both C and both delays; at most 2 questions per distinct
name per run (A + AAAA) for getpage.
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_dns import DNSServer  # noqa: E402

HOSTS = 500
URLS = 2000
PEERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers")


def env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value else default


def write_lists(run_dir, port):
    rng = random.Random(14)
    hosts = [f"h{i:03d}.bench.test" for i in range(HOSTS)]
    urls = [f"http://{hosts[i % HOSTS]}:{port}/p/{i % 1000:05d}.html" for i in range(URLS)]
    rng.shuffle(urls)
    url_file = os.path.join(run_dir, "hosts.urls")
    with open(url_file, "w", encoding="utf-8") as f:
        f.writelines(u + "\n" for u in urls)
    curl_file = os.path.join(run_dir, "hosts.curl")
    with open(curl_file, "w", encoding="utf-8") as f:
        for u in urls:
            f.write(f'url = "{u}"\noutput = "/dev/null"\n')
    return url_file, curl_file


def tools(args, url_file, curl_file):
    """name -> (label, argv maker(C), success check(exit, stdout, stderr))."""
    def getpage(c):
        return [args.getpage, "--input", url_file, "--concurrency", str(c), "--format", "summary",
                "--progress", "never"]

    def getpage_ok(code, _out, err):
        return code == 0 and f"getpage: {URLS} ok, 0 failed" in err

    def curl(c):
        return ["curl", "--silent", "--show-error", "--parallel", "--parallel-max", str(c),
                "--config", curl_file, "--write-out", "%{http_code}\\n"]

    def curl_ok(code, out, _err):
        return code == 0 and out.split().count("200") == URLS

    def python(script, *flags):
        return lambda c: [args.python, os.path.join(PEERS, script), "--input", url_file,
                          "--concurrency", str(c), *flags]

    def python_ok(code, _out, err):
        lines = [line for line in err.splitlines() if line.startswith("{")]
        return code == 0 and bool(lines) and json.loads(lines[-1]).get("pages") == URLS

    return {
        "getpage": ("getpage", getpage, getpage_ok),
        "curl": ("curl --parallel", curl, curl_ok),
        "aiohttp": ("aiohttp", python("aiohttp_get.py"), python_ok),
        "twisted": ("Twisted tutorial, persistent pool", python("twisted_tutorial.py", "--persistent"),
                    python_ok),
    }


def run_one(dns, argv, ok, timeout):
    dns.reset()
    start = time.perf_counter()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        wall = time.perf_counter() - start
        good = ok(done.returncode, done.stdout, done.stderr)
        detail = "" if good else f"exit {done.returncode}: {done.stderr.strip()[-300:]}"
    except subprocess.TimeoutExpired:
        wall, good, detail = time.perf_counter() - start, False, f"timed out after {timeout} s"
    queries, names = dns.counts()
    return {"wall": wall, "ok": good, "detail": detail, "queries": queries,
            "most_per_name": max(names.values()) if names else 0, "names": len(names)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, required=True, help="nginx's port on 127.0.0.1")
    parser.add_argument("--dns-listen", default="127.0.0.153")
    parser.add_argument("--getpage", required=True)
    parser.add_argument("--python", required=True, help="the venv's python (aiohttp, Twisted)")
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--results", required=True)
    args = parser.parse_args()

    repeat = env_int("BENCH_REPEAT", 3)
    delays = [float(d) for d in os.environ.get("BENCH_DNS_DELAYS", "0 0.1").split()]
    concurrencies = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "50 200").split()]
    only = os.environ.get("BENCH_TOOLS", "getpage curl aiohttp twisted").split()
    timeout = env_int("BENCH_RUN_TIMEOUT", 300)

    with open("/etc/resolv.conf", encoding="utf-8") as f:
        resolv = f.read()
    if args.dns_listen not in resolv:
        sys.exit(f"hosts_bench.py: /etc/resolv.conf does not name {args.dns_listen} (run by hosts_bench.sh)")

    url_file, curl_file = write_lists(args.run_dir, args.port)
    all_tools = tools(args, url_file, curl_file)
    dns = DNSServer(args.dns_listen, 53).start()
    results = {}  # (delay, c, tool) -> [run]
    failures = []
    try:
        for delay in delays:
            dns.delay = delay
            for c in concurrencies:
                for round_number in range(repeat):
                    for name in only:
                        label, argv, ok = all_tools[name]
                        run = run_one(dns, argv(c), ok, timeout)
                        results.setdefault((delay, c, name), []).append(run)
                        state = "ok" if run["ok"] else "FAILED " + run["detail"]
                        print(f"hosts_bench: delay {delay * 1000:.0f} ms, C = {c}, round {round_number + 1}: "
                              f"{name} {run['wall']:.2f} s, {run['queries']} queries "
                              f"({run['names']} names, at most {run['most_per_name']} per name) {state}",
                              file=sys.stderr, flush=True)
                        if not run["ok"]:
                            failures.append((delay, c, name, run["detail"]))
    finally:
        dns.stop()

    lines = [f"2,000 URLs over {HOSTS} host names, each answered by the benchmark's DNS server after "
             f"the delay shown; medians of {repeat} interleaved runs (min–max). Queries: questions the "
             f"DNS server received in one run (median); per name: the most any one name got.", ""]
    targets = []
    for delay in delays:
        for c in concurrencies:
            lines.append(f"**DNS delay {delay * 1000:.0f} ms, C = {c}**")
            lines.append("")
            lines.append("| program | wall (s) | vs curl | DNS queries | most per name |")
            lines.append("|---|---:|---:|---:|---:|")
            curl_runs = results.get((delay, c, "curl"), [])
            curl_wall = statistics.median(r["wall"] for r in curl_runs) if curl_runs else None
            for name in only:
                runs = results[(delay, c, name)]
                walls = [r["wall"] for r in runs]
                wall = statistics.median(walls)
                ratio = f"{curl_wall / wall:.2f}×" if curl_wall else "–"
                queries = statistics.median(r["queries"] for r in runs)
                most = max(r["most_per_name"] for r in runs)
                bad = sum(1 for r in runs if not r["ok"])
                note = f" ({bad} failed)" if bad else ""
                lines.append(f"| {all_tools[name][0]}{note} | {wall:.2f} ({min(walls):.2f}–{max(walls):.2f}) "
                             f"| {ratio} | {queries:.0f} | {most} |")
                if name == "getpage":
                    if curl_wall:
                        targets.append((f"delay {delay * 1000:.0f} ms, C = {c}: getpage wall ≤ curl's",
                                        f"{wall:.2f} s vs {curl_wall:.2f} s", wall <= curl_wall))
                    targets.append((f"delay {delay * 1000:.0f} ms, C = {c}: ≤ 2 queries per name",
                                    f"at most {most}", most <= 2))
            lines.append("")
    lines.append("| target | measured | met |")
    lines.append("|---|---|---|")
    for text, measured, met in targets:
        lines.append(f"| {text} | {measured} | {'yes' if met else 'NO'} |")
    table = "\n".join(lines) + "\n"
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, "hosts.md"), "w", encoding="utf-8") as f:
        f.write(table)
    print(table)
    if failures:
        for failure in failures[:5]:
            print("hosts_bench: failed:", failure, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
