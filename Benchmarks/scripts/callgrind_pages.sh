#!/usr/bin/env bash
# getpage's user-space instructions per page, counted by callgrind (robust on a busy machine):
#
#   Benchmarks/scripts/callgrind_pages.sh GETPAGE [CONCURRENCY]
#
# Fetches 1,000 and then 4,000 pages of the benchmark corpus (~2 KiB each) from a private nginx on
# 127.0.0.1 at CONCURRENCY (50), each under `valgrind --tool=callgrind`, twice, and prints
# (Ir(4000) - Ir(1000)) / 3000 for each pair: the start-up and shut-down costs cancel out. GETPAGE
# is best a release build (`make getpage`, or `swift build -c release --static-swift-stdlib
# --scratch-path .build-static --product getpage`); its debug information is stripped into a
# temporary copy first (valgrind 3.19 cannot read the DWARF 5 Swift 6 writes). Needs valgrind,
# nginx and python3; stops its nginx by PID on the way out.
set -euo pipefail

getpage="${1:?usage: $0 GETPAGE [CONCURRENCY]}"
concurrency="${2:-50}"
script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${script_dir}/../.." && pwd)"
command -v valgrind >/dev/null || { echo "$0: valgrind is missing (apt-get install valgrind)" >&2; exit 1; }
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

python3 "${script_dir}/corpus.py" "${repo_root}/Benchmarks/.corpus" --pages 4000 >&2
run_dir="$(mktemp -d)"
nginx_pid=""
cleanup() {
    if [[ -n "${nginx_pid}" ]]; then kill -TERM "${nginx_pid}" 2>/dev/null || true; wait "${nginx_pid}" 2>/dev/null || true; fi
    rm -rf "${run_dir}"
}
trap cleanup EXIT

strip --strip-debug "${getpage}" -o "${run_dir}/getpage"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
source "${script_dir}/nginx_conf.sh"
write_nginx_conf "${run_dir}/nginx" "${port}" "Benchmarks/scripts/callgrind_pages.sh"
"${NGINX}" -p "${run_dir}/nginx" -c "${run_dir}/nginx/nginx.conf" -e "${run_dir}/nginx/error.log" &
nginx_pid=$!
for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:${port}/p/00000.html" && break
    sleep 0.1
done

for n in 1000 4000; do
    python3 -c "
for i in range(${n}): print(f'http://127.0.0.1:${port}/p/{i:05d}.html')" >"${run_dir}/urls.${n}"
done
instructions() {
    valgrind --tool=callgrind --callgrind-out-file="${run_dir}/cg.out" "${run_dir}/getpage" \
        --input "${run_dir}/urls.$1" --concurrency "${concurrency}" --format summary --progress never \
        >/dev/null 2>"${run_dir}/err"
    grep -q "getpage: $1 ok, 0 failed" "${run_dir}/err" || { tail -n 5 "${run_dir}/err" >&2; exit 1; }
    sed -n 's/^==[0-9]*== Collected : //p' "${run_dir}/err"
}
for round in 1 2; do
    small="$(instructions 1000)"
    large="$(instructions 4000)"
    echo "round ${round}: Ir(1000) = ${small}, Ir(4000) = ${large}: $(((large - small) / 3000)) instructions per page at C = ${concurrency}"
done
