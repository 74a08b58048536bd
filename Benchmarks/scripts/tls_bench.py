#!/usr/bin/env python3
"""getpage over https against curl, on a private nginx with TLS and HTTP/2, in one run.

    python3 Benchmarks/scripts/tls_bench.py --getpage BIN [--results DIR] [--peers VENV_PYTHON]

Everything it needs it makes in a private folder (mktemp, removed at the end): a CA and a
server certificate signed by it (openssl; ECDSA P-256, for 127.0.0.1), BENCH_PAGES (10,000)
pages of ~2 KiB, and an nginx (1 worker, TLS 1.2/1.3 with session tickets and a session cache,
h2 offered by ALPN, keep-alive) on a free port of 127.0.0.1, stopped by its PID on the way out.
The nginx worker runs as the user running the benchmark, so the folder may be private (0700).

Programs, each at every C in BENCH_CONCURRENCY ("50 200"), trusting the CA by file:
  getpage         getpage --cacert CA
  curl-h2         curl --parallel --parallel-max C --cacert CA   (h2 through ALPN, multiplexed)
  curl-h1         the same with --http1.1
  aiohttp         Benchmarks/peers/aiohttp_get.py --cafile CA    (with --peers VENV_PYTHON)
  twisted         Benchmarks/peers/twisted_tutorial.py --persistent --cafile CA (with --peers)
  getpage-baseline  another getpage build (--baseline BIN), e.g. before a change

BENCH_TLS_TOOLS ("getpage curl-h2 curl-h1", and aiohttp and twisted with --peers) picks the programs.
Runs are interleaved (each repetition runs every program once, the order rotated by one), and
the table shows medians of BENCH_TLS_REPEAT (3) repetitions: pages/s over the whole process,
CPU seconds (user + sys of the client, wait4), peak RSS (ru_maxrss), and from nginx's access log
($connection, $ssl_session_reused, $server_protocol per request) the connections the run opened,
how many began with a full TLS handshake and how many resumed a session, and the protocol.

Many names (run as root; BENCH_TLS_NAMES, "500 5000", "" to skip): the server certificate also
covers *.bench.test, and each of N names h0000.bench.test ... is answered with 127.0.0.1 by the
benchmark's own DNS server (bench_dns.py, on 127.0.0.153:53, as `make bench-hosts` runs it). Every
program of those runs starts in a private mount namespace (unshare -m) where a resolv.conf naming
only that server is bind-mounted over /etc/resolv.conf (unshare and sh exec the program, so wait4
still measures the program itself). Each name gets NAMES_URLS_PER_NAME(N) URLs (4 for 500 names:
2,000 URLs; 2 for 5,000: 10,000 URLs), shuffled with a fixed seed, at BENCH_TLS_NAMES_CONCURRENCY
("50"); the table adds the DNS questions the server received.

Every program runs under Benchmarks/scripts/rusage_run.c, built here with cc (wall time, user +
sys CPU and ru_maxrss from wait4 of the program itself, not of this Python process).
"""

import argparse
import json
import os
import platform
import pwd
import grp
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PEERS = os.path.join(REPO, "Benchmarks", "peers")

# Targets (issue 18): getpage against the better of curl's two modes at each C.
RATE_TARGET = 1.2  # pages/s >= 1.2x curl's
CPU_TARGET = 0.6  # CPU s per page <= 0.6x curl's


def log(*args):
    print("tls_bench:", *args, file=sys.stderr, flush=True)


def env_int(name, default):
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def run_checked(argv, **kwargs):
    p = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if p.returncode != 0:
        raise SystemExit(f"tls_bench: {' '.join(argv)} failed: {p.stderr.strip()[-500:]}")
    return p.stdout


# --- the private server --------------------------------------------------------------------------

def make_certificates(d):
    """A CA and a server certificate it signs, for the address 127.0.0.1 and the name localhost."""
    ca_key, ca = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    key, csr, cert = os.path.join(d, "server.key"), os.path.join(d, "server.csr"), os.path.join(d, "server.pem")
    ext = os.path.join(d, "server.ext")
    run_checked(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=tls_bench CA",
                 "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"])
    run_checked(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"])
    with open(ext, "w", encoding="utf-8") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:*.bench.test\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    run_checked(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                 "-out", cert, "-days", "2", "-extfile", ext])
    return ca, cert, key


def make_pages(www, count):
    """`count` pages of 1,800-2,300 bytes of words (seeded: every run serves the same bytes)."""
    os.makedirs(os.path.join(www, "p"))
    rng = random.Random(18)
    words = ["deferred", "reactor", "callback", "errback", "protocol", "transport", "handshake",
             "session", "stream", "certificate", "cipher", "record", "alpn", "resume"]
    for i in range(count):
        size = rng.randint(1_800, 2_300)
        text = []
        n = 0
        while n < size - 40:
            w = rng.choice(words)
            text.append(w)
            n += len(w) + 1
        body = f"<html><body><p>{' '.join(text)}</p></body></html>\n"
        with open(os.path.join(www, "p", f"{i:05d}.html"), "w", encoding="utf-8") as f:
            f.write(body[:size].ljust(size - 1) + "\n")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Nginx:
    LOG_FORMAT = "$connection $ssl_session_reused $server_protocol $status"

    def __init__(self, d, cert, key, www):
        self.dir = os.path.join(d, "nginx")
        os.makedirs(self.dir)
        self.port = free_port()
        self.access_log = os.path.join(self.dir, "access.log")
        user = ""
        if os.geteuid() == 0:
            # Keep the worker as this user, so it reads the private (0700) folder.
            u = pwd.getpwuid(os.geteuid())
            user = f"user {u.pw_name} {grp.getgrgid(u.pw_gid).gr_name};"
        conf = os.path.join(self.dir, "nginx.conf")
        temp = "\n".join(f"    {k}_temp_path {self.dir}/{k};" for k in
                         ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        with open(conf, "w", encoding="utf-8") as f:
            f.write(f"""# Written by Benchmarks/scripts/tls_bench.py for one run.
{user}
worker_processes 1;
worker_rlimit_nofile 16384;
daemon off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    log_format tls '{self.LOG_FORMAT}';
    access_log {self.access_log} tls;
    sendfile on;
    keepalive_timeout 65;
    keepalive_requests 10000000;
    http2_max_concurrent_streams 128;
    default_type application/octet-stream;
    types {{ text/html html; }}
{temp}
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:TLS:10m;
    ssl_session_tickets on;
    server {{
        listen 127.0.0.1:{self.port} ssl http2;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {www};
    }}
}}
""")
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.proc = subprocess.Popen([nginx, "-p", self.dir, "-c", conf, "-e", os.path.join(self.dir, "error.log")],
                                     stdin=subprocess.DEVNULL)
        log(f"nginx (pid {self.proc.pid}) on https://127.0.0.1:{self.port}")

    def wait_ready(self, ca):
        url = f"https://127.0.0.1:{self.port}/p/00000.html"
        for _ in range(100):
            if self.proc.poll() is not None:
                break
            p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca, url],
                               capture_output=True, text=True)
            if p.stdout == "200":
                return
            time.sleep(0.1)
        with open(os.path.join(self.dir, "error.log"), encoding="utf-8", errors="replace") as f:
            raise SystemExit(f"tls_bench: nginx did not answer 200 for {url}: {f.read()[-800:]}")

    def log_size(self):
        return os.path.getsize(self.access_log)

    def requests_since(self, offset):
        """(connection, reused, protocol, status) of each request logged after `offset` bytes."""
        # nginx writes each line when its request ends, which is before the client sees the end
        # of the response; a moment for the last ones.
        time.sleep(0.05)
        with open(self.access_log, encoding="utf-8") as f:
            f.seek(offset)
            return [tuple(line.split()) for line in f if line.strip()]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # the master stops its worker
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            log(f"nginx (pid {self.proc.pid}) stopped")


def handshake_counts(requests):
    """Connections seen, how many began with a full handshake / a resumed one, and protocols."""
    first = {}
    protocols = {}
    for conn, reused, proto, _status in requests:
        first.setdefault(conn, reused)
        protocols[proto] = protocols.get(proto, 0) + 1
    full = sum(1 for r in first.values() if r != "r")
    return {"connections": len(first), "full_handshakes": full, "resumed": len(first) - full,
            "protocols": protocols}


# --- running one program --------------------------------------------------------------------------

class Launcher:
    """Runs a command under rusage_run; returns its measurements and its stderr."""

    def __init__(self, path, d, timeout):
        self.path, self.dir, self.timeout, self.count = path, d, timeout, 0
        self.current = None

    def run(self, argv, stdout_path=None):
        self.count += 1
        report = os.path.join(self.dir, f"run-{self.count}.report")
        err = os.path.join(self.dir, f"run-{self.count}.stderr")
        out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
        with open(err, "wb") as err_file:
            proc = subprocess.Popen([self.path, report] + argv, stdout=out, stderr=err_file,
                                    stdin=subprocess.DEVNULL)
        self.current = (proc, report)
        timed_out = False
        try:
            proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            self._kill(report, signal.SIGKILL)
            proc.wait()
        self.current = None
        if stdout_path:
            out.close()
        with open(report, encoding="utf-8") as f:
            lines = [json.loads(line) for line in f if line.strip()]
        with open(err, encoding="utf-8", errors="replace") as f:
            stderr = f.read()
        if len(lines) < 2:
            raise SystemExit(f"tls_bench: rusage_run left no measurement ({report}): {stderr[-300:]}")
        return {**lines[-1], "timed_out": timed_out}, stderr

    def _kill(self, report, sig):
        try:
            with open(report, encoding="utf-8") as f:
                pid = json.loads(f.readline())["pid"]
            os.kill(pid, sig)
        except (OSError, ValueError, KeyError):
            pass

    def stop(self):
        if self.current:
            proc, report = self.current
            self._kill(report, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._kill(report, signal.SIGKILL)
                proc.wait()


# --- the programs ----------------------------------------------------------------------------------
# Each returns (argv, stdout file or None, check(result, stderr, stdout_path) -> pages ok or error).

class Run:
    """One workload: its URL list (and curl's config for it), and the prefix that starts each
    program (the many-names runs' private namespace)."""

    def __init__(self, args, d, port, ca, pages, names=0, resolv=None):
        self.args, self.dir, self.ca = args, d, ca
        self.names = names
        self.workload = f"{names:,} names" if names else "one host"
        tag = f"names{names}" if names else "pages"
        if names:
            per_name = NAMES_URLS_PER_NAME(names)
            urls = [f"https://h{n:04d}.bench.test:{port}/p/{(n * per_name + k) % pages:05d}.html"
                    for n in range(names) for k in range(per_name)]
            random.Random(names).shuffle(urls)
        else:
            urls = [f"https://127.0.0.1:{port}/p/{i:05d}.html" for i in range(pages)]
        self.pages = len(urls)
        self.prefix = []
        if resolv:
            self.prefix = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                           'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolv]
        self.urls = os.path.join(d, f"{tag}.urls")
        self.curl_config = os.path.join(d, f"{tag}.curl")
        with open(self.urls, "w", encoding="utf-8") as f:
            f.writelines(u + "\n" for u in urls)
        with open(self.curl_config, "w", encoding="utf-8") as f:
            f.writelines(f'url = "{u}"\noutput = "/dev/null"\n' for u in urls)


def tool_getpage(run, c, binary=None):
    argv = [binary or run.args.getpage, "--input", run.urls, "--concurrency", str(c), "--cacert", run.ca,
            "--format", "summary", "--progress", "never"]

    def check(result, stderr, _out):
        import re
        m = re.search(r"getpage: (\d+) ok, (\d+) failed", stderr)
        if result["exit"] != 0 or not m or (int(m.group(1)), int(m.group(2))) != (run.pages, 0):
            return f"exit {result['exit']}: {stderr.strip()[-300:]}"
        return None
    return argv, None, check


def tool_curl(*flags):
    def tool(run, c):
        out = os.path.join(run.dir, "curl.out")
        argv = ["curl", "--silent", "--show-error", "--parallel", "--parallel-max", str(c), *flags,
                "--cacert", run.ca, "--config", run.curl_config, "--write-out", "%{http_code}\\n"]

        def check(result, stderr, out_path):
            with open(out_path, encoding="utf-8") as f:
                ok = f.read().split().count("200")
            if result["exit"] != 0 or ok != run.pages:
                return f"exit {result['exit']}, {ok} of {run.pages} answered 200: {stderr[-300:]}"
            return None
        return argv, out, check
    return tool


def tool_aiohttp(run, c):
    argv = [run.args.peers, os.path.join(PEERS, "aiohttp_get.py"), "--input", run.urls,
            "--concurrency", str(c), "--cafile", run.ca]

    def check(result, stderr, _out):
        stats = {}
        for line in reversed(stderr.splitlines()):
            try:
                stats = json.loads(line)
                break
            except ValueError:
                continue
        if result["exit"] != 0 or stats.get("pages") != run.pages:
            return f"exit {result['exit']}: {stderr.strip()[-300:]}"
        return None
    return argv, None, check


def tool_twisted(run, c):
    argv = [run.args.peers, os.path.join(PEERS, "twisted_tutorial.py"), "--input", run.urls,
            "--concurrency", str(c), "--persistent", "--cafile", run.ca]
    return argv, None, tool_aiohttp(run, c)[2]


TOOLS = {
    "getpage": ("getpage --cacert", tool_getpage),
    "getpage-baseline": ("getpage --cacert, the --baseline build", lambda run, c: tool_getpage(run, c, run.args.baseline)),
    "curl-h2": ("curl --parallel (h2)", tool_curl()),
    "curl-h1": ("curl --parallel --http1.1", tool_curl("--http1.1")),
    "aiohttp": ("aiohttp (one session)", tool_aiohttp),
    "twisted": ("Twisted tutorial, persistent pool", tool_twisted),
}


def interleaved(launcher, nginx, run, names, concurrencies, repeat, dns=None):
    """Every program at every C, `repeat` times, each repetition's order rotated by one; the records."""
    runs = [(name, c) for c in concurrencies for name in names]
    records = []
    for rep in range(repeat):
        shift = rep % len(runs)
        for name, c in runs[shift:] + runs[:shift]:
            record = {"rep": rep + 1, **run_once(launcher, nginx, run, name, c, dns)}
            records.append(record)
            log(f"rep {rep + 1}/{repeat} {run.workload} C={c:<3} {name:<8} {record['wall']:6.2f} s "
                f"{run.pages / record['wall']:8,.0f} pages/s  cpu {record['user'] + record['sys']:5.2f} s  "
                f"rss {record['maxrss_kib'] / 1024:5.1f} MiB  conns {record['connections']} "
                f"(full {record['full_handshakes']}, resumed {record['resumed']}) {record['protocols']}"
                + (f" dns {record['dns_queries']}" if dns else "")
                + ("" if record["ok"] else f"  FAILED: {record['error']}"))
    return records


def NAMES_URLS_PER_NAME(names):
    return 4 if names <= 500 else 2


def run_once(launcher, nginx, run, name, c, dns=None):
    argv, out, check = TOOLS[name][1](run, c)
    offset = nginx.log_size()
    if dns:
        dns.reset()
    result, stderr = launcher.run(run.prefix + argv, out)
    error = check(result, stderr, out)
    if result["timed_out"]:
        error = f"killed after {launcher.timeout} s"
    record = {"tool": name, "workload": run.workload, "pages": run.pages, "concurrency": c,
              "ok": error is None, "wall": result["wall"],
              "user": result["user"], "sys": result["sys"], "maxrss_kib": result["maxrss_kib"],
              **handshake_counts(nginx.requests_since(offset))}
    if dns:
        record["dns_queries"] = dns.counts()[0]
    if error:
        record["error"] = error
    return record


# --- the table --------------------------------------------------------------------------------------

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(x, digits=0):
    return "—" if x is None else f"{x:,.{digits}f}"


def summarize(records, name, c, pages, workload="one host"):
    mine = [r for r in records if r["tool"] == name and r["concurrency"] == c
            and r.get("workload", "one host") == workload]
    runs = [r for r in mine if r["ok"]]
    failed = len(mine) - len(runs)
    if not runs:
        return {"runs": 0, "failed": failed}
    protocols = {}
    for r in runs:
        for p, n in r["protocols"].items():
            protocols[p] = protocols.get(p, 0) + n
    return {
        "runs": len(runs), "failed": failed,
        "rate": median(pages / r["wall"] for r in runs),
        "cpu": median(r["user"] + r["sys"] for r in runs),
        "rss": median(r["maxrss_kib"] / 1024 for r in runs),
        "connections": median(r["connections"] for r in runs),
        "full": median(r["full_handshakes"] for r in runs),
        "resumed": median(r["resumed"] for r in runs),
        "protocol": max(protocols, key=protocols.get) if protocols else "?",
        "wall": median(r["wall"] for r in runs),
        "dns": median(r.get("dns_queries") for r in runs),
    }


def markdown(meta, records, names, concurrencies, pages, repeat):
    out = [f"## HTTPS pages: getpage and curl ({pages:,} pages of ~2 KiB over TLS, median of {repeat} "
           "interleaved runs)\n",
           f"Machine: nproc {meta['nproc']}, {meta['platform']}; {meta['curl']}; {meta['nginx']} (1 worker, "
           f"TLS 1.3, h2 by ALPN, ECDSA P-256); swift-deferreds {meta['commit']}; load average "
           f"{meta['load_before']} before, {meta['load_after']} after; {meta['date']}.\n"]
    targets = []
    for c in concurrencies:
        out.append(f"### C = {c}\n")
        out.append("| program | pages/s | CPU s | peak RSS MiB | connections | full handshakes | resumed | "
                   "protocol | runs |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---|---|")
        stats = {n: summarize(records, n, c, pages) for n in names}
        for n, s in stats.items():
            runs = f"{s['runs']}" + (f" ({s['failed']} FAILED)" if s["failed"] else "")
            out.append(f"| {TOOLS[n][0]} | {fmt(s.get('rate'))} | {fmt(s.get('cpu'), 2)} | "
                       f"{fmt(s.get('rss'), 1)} | {fmt(s.get('connections'))} | {fmt(s.get('full'))} | "
                       f"{fmt(s.get('resumed'))} | {s.get('protocol', '—')} | {runs} |")
        out.append("")
        gp = stats.get("getpage", {})
        curls = [stats[n] for n in ("curl-h2", "curl-h1") if stats.get(n, {}).get("rate")]
        if gp.get("rate") and curls:
            best = max(curls, key=lambda s: s["rate"])
            r = gp["rate"] / best["rate"]
            targets.append((f"C = {c}: getpage pages/s ≥ {RATE_TARGET:g}× curl's better mode",
                            f"{r:.2f}×", "met" if r >= RATE_TARGET else "MISSED"))
            cpu = gp["cpu"] / best["cpu"]
            targets.append((f"C = {c}: getpage CPU ≤ {CPU_TARGET:g}× that curl's",
                            f"{cpu:.2f}× ({gp['cpu']:.2f} s vs {best['cpu']:.2f} s)",
                            "met" if cpu <= CPU_TARGET else "MISSED"))
            rss = gp["rss"] / best["rss"]
            # The memory target is the 5,000-name run's; here the ratio is shown only.
            targets.append((f"C = {c}: getpage peak RSS vs that curl's", f"{rss:.2f}×", "(no target)"))
    for names, c in meta.get("names_runs", []):
        workload = f"{names:,} names"
        n_urls = names * NAMES_URLS_PER_NAME(names)
        out.append(f"### {workload}, {n_urls:,} URLs, C = {c}\n")
        out.append("| program | wall s | CPU s | peak RSS MiB | connections | full handshakes | resumed | "
                   "DNS questions | runs |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        stats = {n: summarize(records, n, c, n_urls, workload) for n in meta["names_tools"]}
        for n, s in stats.items():
            runs = f"{s['runs']}" + (f" ({s['failed']} FAILED)" if s["failed"] else "")
            out.append(f"| {TOOLS[n][0]} | {fmt(s.get('wall'), 2)} | {fmt(s.get('cpu'), 2)} | "
                       f"{fmt(s.get('rss'), 1)} | {fmt(s.get('connections'))} | {fmt(s.get('full'))} | "
                       f"{fmt(s.get('resumed'))} | {fmt(s.get('dns'))} | {runs} |")
        out.append("")
        gp = stats.get("getpage", {})
        curls = [stats[n] for n in ("curl-h2", "curl-h1") if stats.get(n, {}).get("rss")]
        if gp.get("rss") and curls:
            best = min(curls, key=lambda s: s["wall"])
            targets.append((f"{workload}, C = {c}: getpage wall time vs curl's faster mode",
                            f"{gp['wall'] / best['wall']:.2f}×", "(no target)"))
            rss = gp["rss"] / min(s["rss"] for s in curls)
            targets.append((f"{workload}, C = {c}: getpage peak RSS ≤ curl's", f"{rss:.2f}× "
                            f"({gp['rss']:.1f} vs {min(s['rss'] for s in curls):.1f} MiB)",
                            "met" if rss <= 1 else "MISSED"))
    out += ["### Targets (issue 18)\n", "| target | measured | met? |", "|---|---:|---|"]
    out += [f"| {t} | {v} | {m} |" for t, v, m in targets]
    out += ["", "pages/s: pages over the client's whole wall time (start-up included). CPU: user + sys "
            "of the client (wait4). Connections, full handshakes and resumed: from nginx's access log "
            "($connection and $ssl_session_reused of each connection's first request). Many names: wall "
            "seconds for the whole list; DNS questions: what the benchmark's DNS server received.\n"]
    return "\n".join(out)


def first_line(argv, stderr=False):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (p.stderr if stderr else p.stdout) or p.stdout or p.stderr
    return text.strip().splitlines()[0] if text.strip() else "?"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--getpage", required=True)
    p.add_argument("--results", default=os.path.join(REPO, "Benchmarks", "results"))
    p.add_argument("--peers", default="", help="the venv's python: adds aiohttp")
    p.add_argument("--baseline", default="", help="another getpage build to measure in the same run")
    args = p.parse_args()
    pages = env_int("BENCH_PAGES", 10_000)
    repeat = env_int("BENCH_TLS_REPEAT", 3)
    concurrencies = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "50 200").split()]
    names = ["getpage"] + (["getpage-baseline"] if args.baseline else []) + ["curl-h2", "curl-h1"] \
        + (["aiohttp", "twisted"] if args.peers else [])
    if os.environ.get("BENCH_TLS_TOOLS"):  # a subset, e.g. "getpage curl-h2"
        names = [n for n in os.environ["BENCH_TLS_TOOLS"].split() if n in TOOLS]

    name_counts = [int(n) for n in os.environ.get("BENCH_TLS_NAMES", "500 5000").split()]
    names_concurrencies = [int(c) for c in os.environ.get("BENCH_TLS_NAMES_CONCURRENCY", "50").split()]
    if name_counts and (os.geteuid() != 0 or not shutil.which("unshare")):
        log("many-names runs skipped: they need root (a DNS server on port 53, unshare -m); "
            "BENCH_TLS_NAMES= skips them quietly")
        name_counts = []

    d = tempfile.mkdtemp(prefix="swift-deferreds-tls.")
    os.chmod(d, 0o755)  # the namespace's resolv.conf is read by every program
    nginx = launcher = dns = None
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    try:
        cc = shutil.which("cc") or shutil.which("clang")
        rusage = os.path.join(d, "rusage_run")
        run_checked([cc, "-O2", "-o", rusage, os.path.join(HERE, "rusage_run.c")])
        ca, cert, key = make_certificates(d)
        www = os.path.join(d, "www")
        make_pages(www, pages)
        nginx = Nginx(d, cert, key, www)
        nginx.wait_ready(ca)
        launcher = Launcher(rusage, d, env_int("BENCH_RUN_TIMEOUT", 300))
        run = Run(args, d, nginx.port, ca, pages)
        # Check runs: every program on all the pages once, untimed (also warms nginx's cache).
        for name in names:
            record = run_once(launcher, nginx, run, name, 50)
            if not record["ok"]:
                raise SystemExit(f"tls_bench: {name} failed its check run: {record['error']}")
        commit = first_line(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":!Benchmarks/results"], capture_output=True, text=True).stdout.strip()
        meta = {"record": "machine", "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "nproc": os.cpu_count(),
                "platform": platform.platform(), "curl": " ".join(first_line(["curl", "--version"]).split()[:2]),
                "nginx": first_line(["nginx", "-v"], stderr=True).replace("nginx version: ", ""),
                "commit": commit + (" (uncommitted changes)" if dirty else ""),
                "load_before": [round(x, 2) for x in os.getloadavg()]}
        records = interleaved(launcher, nginx, run, names, concurrencies, repeat)
        if name_counts:
            sys.path.insert(0, HERE)
            from bench_dns import DNSServer
            resolv = os.path.join(d, "resolv.conf")
            with open(resolv, "w", encoding="utf-8") as f:
                f.write("nameserver 127.0.0.153\noptions timeout:2 attempts:2\n")
            dns = DNSServer("127.0.0.153", 53).start()
            meta["names_tools"] = names
            meta["names_runs"] = [(n, c) for n in name_counts for c in names_concurrencies]
            for n in name_counts:
                names_run = Run(args, d, nginx.port, ca, pages, names=n, resolv=resolv)
                records += interleaved(launcher, nginx, names_run, names, names_concurrencies, repeat, dns)
        meta["load_after"] = [round(x, 2) for x in os.getloadavg()]
        text = markdown(meta, records, names, concurrencies, pages, repeat)
        os.makedirs(args.results, exist_ok=True)
        with open(os.path.join(args.results, "tls.jsonl"), "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in [meta] + records)
        with open(os.path.join(args.results, "tls.md"), "w", encoding="utf-8") as f:
            f.write(text)
        print(text)
    finally:
        if launcher:
            launcher.stop()
        if nginx:
            nginx.stop()
        if dns:
            dns.stop()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
