#!/usr/bin/env bash
# `make bench-hosts`: 2,000 URLs over 500 host names behind the benchmark's own DNS server
# (Benchmarks/scripts/hosts_bench.py says what is measured).
#
# Builds getpage as `make getpage` does unless GETPAGE names a binary, makes the Python venv and
# the corpus (as http_bench.sh does), starts a private nginx on 127.0.0.1 (one server for every
# host name), then runs hosts_bench.py inside a private mount namespace (`unshare -m`) where a
# resolv.conf naming only the benchmark's DNS server (127.0.0.153:53, started by the harness) is
# bind-mounted over /etc/resolv.conf: getpage, curl, aiohttp and Twisted all resolve through it,
# and nothing outside the run changes. nginx is stopped by its PID on the way out.
#
# Needs root (port 53, the mount namespace). Environment: BENCH_REPEAT (3), BENCH_DNS_DELAYS
# ("0 0.1", seconds), BENCH_CONCURRENCY ("50 200"), BENCH_TOOLS ("getpage curl aiohttp twisted"),
# BENCH_RUN_TIMEOUT (300 s per run), GETPAGE, SWIFT (swift).
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${script_dir}/../.." && pwd)"
cd "${repo_root}"
SWIFT="${SWIFT:-swift}"
dns_listen=127.0.0.153

if [[ "$(id -u)" != 0 ]]; then
    echo "hosts_bench.sh: needs root (a DNS server on port 53, unshare -m)" >&2
    exit 1
fi
missing=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
if ((${#missing[@]})); then
    echo "hosts_bench.sh: installing ${missing[*]}" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

if [[ -z "${GETPAGE:-}" ]]; then
    echo "hosts_bench.sh: building getpage (release, --static-swift-stdlib)" >&2
    static=(-c release --static-swift-stdlib --scratch-path .build-static)
    "${SWIFT}" build "${static[@]}" --product getpage >&2
    GETPAGE="$("${SWIFT}" build "${static[@]}" --show-bin-path)/getpage"
fi

PY="$(Benchmarks/scripts/venv.sh)"
"${PY}" Benchmarks/scripts/corpus.py Benchmarks/.corpus

run_dir="$(mktemp -d "${TMPDIR:-/tmp}/swift-deferreds-hosts.XXXXXX")"
chmod 755 "${run_dir}"
nginx_pid=""
harness_pid=""
cleanup() {
    if [[ -n "${harness_pid}" ]] && kill -0 "${harness_pid}" 2>/dev/null; then
        kill -TERM "${harness_pid}" 2>/dev/null || true
        wait "${harness_pid}" 2>/dev/null || true
    fi
    if [[ -n "${nginx_pid}" ]] && kill -0 "${nginx_pid}" 2>/dev/null; then
        kill -TERM "${nginx_pid}" 2>/dev/null || true
        wait "${nginx_pid}" 2>/dev/null || true
        echo "hosts_bench.sh: nginx (pid ${nginx_pid}) stopped" >&2
    fi
    rm -rf "${run_dir}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# nginx's only server answers every host name.
source "${script_dir}/nginx_conf.sh"
write_nginx_conf "${run_dir}/nginx" "${port}" "Benchmarks/scripts/hosts_bench.sh"
"${NGINX}" -p "${run_dir}/nginx" -c "${run_dir}/nginx/nginx.conf" -e "${run_dir}/nginx/error.log" &
nginx_pid=$!
echo "hosts_bench.sh: nginx (pid ${nginx_pid}) on 127.0.0.1:${port}" >&2
code=""
for _ in $(seq 50); do
    kill -0 "${nginx_pid}" 2>/dev/null || { cat "${run_dir}/nginx/error.log" >&2; exit 1; }
    code="$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: h000.bench.test' "http://127.0.0.1:${port}/p/00000.html" || true)"
    [[ "${code}" == 200 ]] && break
    sleep 0.1
done
if [[ "${code}" != 200 ]]; then
    echo "hosts_bench.sh: nginx answers ${code} for /p/00000.html (is the corpus readable by nginx's worker user?)" >&2
    exit 1
fi

# The resolv.conf of the namespace: the benchmark's server only (no search list).
printf 'nameserver %s\noptions timeout:2 attempts:2\n' "${dns_listen}" >"${run_dir}/resolv.conf"
mkdir -p Benchmarks/results
unshare -m --propagation private bash -c '
    set -e
    mount --bind "$1" /etc/resolv.conf
    shift
    exec "$@"
' hosts-bench "${run_dir}/resolv.conf" \
    "${PY}" Benchmarks/scripts/hosts_bench.py --port "${port}" --dns-listen "${dns_listen}" \
    --getpage "${GETPAGE}" --python "${PY}" --run-dir "${run_dir}" --results Benchmarks/results &
harness_pid=$!
wait "${harness_pid}"
harness_pid=""
