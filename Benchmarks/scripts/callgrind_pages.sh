#!/usr/bin/env bash
# getpage's user-space instructions per page, counted by callgrind (robust on a busy machine):
#
#   Benchmarks/scripts/callgrind_pages.sh GETPAGE [CONCURRENCY] [http|https]
#
# Fetches 1,000 and then 4,000 pages of the benchmark corpus (~2 KiB each) from a private nginx on
# 127.0.0.1 at CONCURRENCY (50), each under `valgrind --tool=callgrind`, twice, and prints
# (Ir(4000) - Ir(1000)) / 3000 for each pair: the start-up and shut-down costs cancel out. GETPAGE
# is best a release build (`make getpage`, or `swift build -c release --static-swift-stdlib
# --scratch-path .build-static --product getpage`); its debug information is stripped into a
# temporary copy first (valgrind 3.19 cannot read the DWARF 5 Swift 6 writes). Needs valgrind,
# nginx and python3; stops its nginx by PID on the way out.
#
# https: the same over TLS (nginx with TLS 1.2/1.3, session tickets, keep-alive), trusting a CA
# made for the run with openssl (ECDSA P-256, as tls_bench.py makes it) by `--cacert`.
#
# CALLGRIND_KEEP=DIR keeps each run's callgrind output as DIR/cg.N.out (the last round's), for
# `callgrind_annotate` (subtract the 1,000-page run's functions from the 4,000-page run's).
set -euo pipefail

getpage="${1:?usage: $0 GETPAGE [CONCURRENCY]}"
concurrency="${2:-50}"
scheme="${3:-http}"
[[ "${scheme}" == http || "${scheme}" == https ]] || { echo "$0: the scheme is http or https" >&2; exit 1; }
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
tls_args=()
if [[ "${scheme}" == https ]]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "${run_dir}/ca.key" \
        -out "${run_dir}/ca.pem" -days 2 -subj "/CN=callgrind_pages CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "${run_dir}/server.key" \
        -out "${run_dir}/server.csr" -subj "/CN=127.0.0.1" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"${run_dir}/server.ext"
    openssl x509 -req -in "${run_dir}/server.csr" -CA "${run_dir}/ca.pem" -CAkey "${run_dir}/ca.key" -CAcreateserial \
        -out "${run_dir}/server.pem" -days 2 -extfile "${run_dir}/server.ext" 2>/dev/null
    sed -i "s|listen 127.0.0.1:${port};|listen 127.0.0.1:${port} ssl;\\
        ssl_certificate ${run_dir}/server.pem;\\
        ssl_certificate_key ${run_dir}/server.key;\\
        ssl_protocols TLSv1.2 TLSv1.3;\\
        ssl_session_cache shared:TLS:10m;\\
        ssl_session_tickets on;|" "${run_dir}/nginx/nginx.conf"
    tls_args=(--cacert "${run_dir}/ca.pem")
fi
"${NGINX}" -p "${run_dir}/nginx" -c "${run_dir}/nginx/nginx.conf" -e "${run_dir}/nginx/error.log" &
nginx_pid=$!
for _ in $(seq 50); do
    curl -s -o /dev/null "${tls_args[@]}" "${scheme}://127.0.0.1:${port}/p/00000.html" && break
    sleep 0.1
done

for n in 1000 4000; do
    python3 -c "
for i in range(${n}): print(f'${scheme}://127.0.0.1:${port}/p/{i:05d}.html')" >"${run_dir}/urls.${n}"
done
instructions() {
    valgrind --tool=callgrind --callgrind-out-file="${run_dir}/cg.out" "${run_dir}/getpage" \
        "${tls_args[@]}" --input "${run_dir}/urls.$1" --concurrency "${concurrency}" --format summary --progress never \
        >/dev/null 2>"${run_dir}/err"
    grep -q "getpage: $1 ok, 0 failed" "${run_dir}/err" || { tail -n 5 "${run_dir}/err" >&2; exit 1; }
    if [[ -n "${CALLGRIND_KEEP:-}" ]]; then mkdir -p "${CALLGRIND_KEEP}"; cp "${run_dir}/cg.out" "${CALLGRIND_KEEP}/cg.$1.out"; fi
    sed -n 's/^==[0-9]*== Collected : //p' "${run_dir}/err"
}
for round in 1 2; do
    small="$(instructions 1000)"
    large="$(instructions 4000)"
    echo "round ${round}: Ir(1000) = ${small}, Ir(4000) = ${large}: $(((large - small) / 3000)) instructions per ${scheme} page at C = ${concurrency}"
done
