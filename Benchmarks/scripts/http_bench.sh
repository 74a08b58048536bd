#!/usr/bin/env bash
# One part of the HTTP benchmarks, against a private nginx on 127.0.0.1:
#
#   Benchmarks/scripts/http_bench.sh pages|stream|memory|smoke
#
# smoke (`make bench-smoke`, run by CI): the same harness end to end in well under a minute, with
# getpage (the debug build `make test` makes, unless GETPAGE names one) and curl --parallel only,
# BENCH_PAGES (1000) pages, one run each at each C: no wrk, no venv, and of the corpus only the
# pages it fetches.
#
# Installs what is missing (nginx-light, wrk, curl, a C compiler; the Python venv with the
# pinned Twisted, treq and aiohttp), builds getpage and blog-example as `make getpage` does
# (release, static Swift runtime) unless GETPAGE / BLOG_EXAMPLE name the binaries, generates the corpus once (Benchmarks/.corpus),
# starts nginx (1 worker, no access log, keep-alive) on a free port, runs
# Benchmarks/scripts/http_bench.py, and stops that nginx by its PID on the way out, also when
# anything fails or the run is interrupted.
#
# Environment: BENCH_REPEAT (3), BENCH_PAGES_REPEAT (5, at least BENCH_REPEAT), BENCH_STREAM_REPEAT
# (9, at least BENCH_REPEAT), BENCH_PAGES (10000),
# BENCH_CONCURRENCY ("2 50 200"),
# BENCH_WRK_SECONDS (5), BENCH_MEMORY_URLS (1000000), BENCH_RUN_TIMEOUT (600 s, per program run),
# GETPAGE, GETPAGE_BUILD (what GETPAGE is, for the tables), BLOG_EXAMPLE, SWIFT (swift).
set -euo pipefail

mode="${1:-}"
case "${mode}" in
    pages | stream | memory | smoke) ;;
    *) echo "usage: $0 pages|stream|memory|smoke" >&2; exit 2 ;;
esac

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${script_dir}/../.." && pwd)"
cd "${repo_root}"
SWIFT="${SWIFT:-swift}"

# --- tools -------------------------------------------------------------------------------------
missing=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
[[ "${mode}" == smoke ]] || command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v cc >/dev/null 2>&1 || command -v clang >/dev/null 2>&1 || missing+=(gcc)
if ((${#missing[@]})) && [[ "$(id -u)" != 0 ]]; then
    echo "http_bench.sh: missing ${missing[*]}: install them (apt-get install ${missing[*]}) as root" >&2
    exit 1
elif ((${#missing[@]})); then
    echo "http_bench.sh: installing ${missing[*]}" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
CC="$(command -v cc || command -v clang)"

# --- binaries under test -----------------------------------------------------------------------
# getpage_build says which build is measured (GETPAGE_BUILD when GETPAGE names it); every table
# prints it.
if [[ -n "${GETPAGE:-}" ]]; then
    getpage_build="${GETPAGE_BUILD:-given by GETPAGE=${GETPAGE}}"
elif [[ "${mode}" == smoke ]]; then
    # The debug build in .build that `make test` leaves (nothing to compile after it): a release
    # build of getpage alone would take minutes more in CI, and the smoke run checks the harness,
    # not the speed.
    echo "http_bench.sh: building getpage (debug, .build, as make test does)" >&2
    "${SWIFT}" build --product getpage >&2
    GETPAGE="$("${SWIFT}" build --show-bin-path)/getpage"
    getpage_build="debug (.build, as make test builds it)"
fi
if [[ -z "${GETPAGE:-}" || ("${mode}" == pages && -z "${BLOG_EXAMPLE:-}") ]]; then
    # As `make getpage` builds them: release, Swift runtime linked statically (.build-static).
    # One product per invocation: with several --product flags SwiftPM builds only the last.
    echo "http_bench.sh: building getpage and blog-example (release, --static-swift-stdlib)" >&2
    static=(-c release --static-swift-stdlib --scratch-path .build-static)
    "${SWIFT}" build "${static[@]}" --product getpage >&2
    "${SWIFT}" build "${static[@]}" --product blog-example >&2
    bin_dir="$("${SWIFT}" build "${static[@]}" --show-bin-path)"
    getpage_build="${getpage_build:-release, static Swift runtime (.build-static, as make getpage builds it)}"
    GETPAGE="${GETPAGE:-${bin_dir}/getpage}"
    BLOG_EXAMPLE="${BLOG_EXAMPLE:-${bin_dir}/blog-example}"
fi
BLOG_EXAMPLE="${BLOG_EXAMPLE:-}"

# --- Python peers and the corpus ---------------------------------------------------------------
if [[ "${mode}" == smoke ]]; then
    PY=python3  # the harness needs only the standard library
    "${PY}" Benchmarks/scripts/corpus.py Benchmarks/.corpus --pages "${BENCH_PAGES:-1000}"
else
    PY="$(Benchmarks/scripts/venv.sh)"
    "${PY}" Benchmarks/scripts/corpus.py Benchmarks/.corpus
fi

# --- private run folder, launcher, nginx ------------------------------------------------------
# Every program measured from here on talks to the private nginx on 127.0.0.1: a proxy set for the
# machine (a CI runner's http_proxy, which getpage and curl both honour) must not stand in between.
# Unset only now: apt-get, the package fetches of swift build and pip above may need it.
unset http_proxy https_proxy all_proxy no_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY NO_PROXY
run_dir="$(mktemp -d "${TMPDIR:-/tmp}/swift-deferreds-bench.XXXXXX")"
nginx_pid=""
harness_pid=""
cleanup() {
    # The harness first (it ends the program it is measuring), then nginx, each by its PID.
    if [[ -n "${harness_pid}" ]] && kill -0 "${harness_pid}" 2>/dev/null; then
        kill -TERM "${harness_pid}" 2>/dev/null || true
        wait "${harness_pid}" 2>/dev/null || true
    fi
    if [[ -n "${nginx_pid}" ]] && kill -0 "${nginx_pid}" 2>/dev/null; then
        kill -TERM "${nginx_pid}" 2>/dev/null || true  # the master stops its worker
        wait "${nginx_pid}" 2>/dev/null || true
        echo "http_bench.sh: nginx (pid ${nginx_pid}) stopped" >&2
    fi
    rm -rf "${run_dir}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"${CC}" -O2 -o "${run_dir}/rusage_run" Benchmarks/scripts/rusage_run.c
"${CC}" -O2 -o "${run_dir}/nonpersistent_floor" Benchmarks/peers/nonpersistent_floor.c

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
source "${script_dir}/nginx_conf.sh"
write_nginx_conf "${run_dir}/nginx" "${port}" "Benchmarks/scripts/http_bench.sh"
"${NGINX}" -p "${run_dir}/nginx" -c "${run_dir}/nginx/nginx.conf" -e "${run_dir}/nginx/error.log" &
nginx_pid=$!
echo "http_bench.sh: nginx (pid ${nginx_pid}) on 127.0.0.1:${port}" >&2
for _ in $(seq 50); do
    if ! kill -0 "${nginx_pid}" 2>/dev/null; then
        cat "${run_dir}/nginx/error.log" >&2 || true
        echo "http_bench.sh: nginx did not start" >&2
        exit 1
    fi
    code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${port}/p/00000.html" || true)"
    [[ "${code}" == 200 ]] && break
    sleep 0.1
done
if [[ "${code}" != 200 ]]; then
    echo "http_bench.sh: nginx answers ${code} for /p/00000.html; the end of its error log:" >&2
    tail -n 3 "${run_dir}/nginx/error.log" >&2 || true
    exit 1
fi

# --- the benchmark -----------------------------------------------------------------------------
# In the background with `wait`, so that a signal runs the traps at once instead of after it.
mkdir -p Benchmarks/results
"${PY}" Benchmarks/scripts/http_bench.py "${mode}" \
    --port "${port}" --run-dir "${run_dir}" --launcher "${run_dir}/rusage_run" \
    --nginx-pid "${nginx_pid}" --getpage "${GETPAGE}" --blog-example "${BLOG_EXAMPLE}" \
    --floor "${run_dir}/nonpersistent_floor" \
    --python "${PY}" --swift "${SWIFT}" --build "${getpage_build}" --results Benchmarks/results &
harness_pid=$!
wait "${harness_pid}"
harness_pid=""  # reaped: never signal that PID again
