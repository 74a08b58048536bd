#!/usr/bin/env bash
# Ensure a Python virtualenv with the pinned peers exists at Benchmarks/.venv:
# Twisted (the Deferreds/Reactor peer and the tutorial's program), treq and
# aiohttp (the HTTP peers of Benchmarks/scripts/http_bench.py).
#
# Idempotent: the venv is created only if missing, and the pins are installed
# only if one of them is missing or at another version.  All progress output
# goes to stderr; the last (and only) line on stdout is the venv's python path,
# so callers can do:  PY="$(Benchmarks/scripts/venv.sh)"
set -euo pipefail

TWISTED_VERSION="26.10.0"
TREQ_VERSION="26.7.0"
AIOHTTP_VERSION="3.14.5"
# Twisted's TLS extra (https in tls_bench.py): pyOpenSSL and service_identity.
PYOPENSSL_VERSION="26.4.0"
SERVICE_IDENTITY_VERSION="26.1.0"

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${script_dir}/../.." && pwd)"
venv_dir="${repo_root}/Benchmarks/.venv"
venv_python="${venv_dir}/bin/python"

if [[ ! -x "${venv_python}" ]]; then
    echo "venv.sh: creating virtualenv at ${venv_dir}" >&2
    python3 -m venv "${venv_dir}" >&2
fi

pins=("twisted==${TWISTED_VERSION}" "treq==${TREQ_VERSION}" "aiohttp==${AIOHTTP_VERSION}"
      "pyopenssl==${PYOPENSSL_VERSION}" "service-identity==${SERVICE_IDENTITY_VERSION}")

# Exit 0 only when every pinned distribution is installed at its pinned version.
if ! "${venv_python}" - "${pins[@]}" >/dev/null 2>&1 <<'EOF'
import sys
from importlib.metadata import version
sys.exit(any(version(n) != v for n, v in (p.split("==") for p in sys.argv[1:])))
EOF
then
    echo "venv.sh: installing ${pins[*]}" >&2
    "${venv_python}" -m pip install --quiet --disable-pip-version-check "${pins[@]}" >&2
fi

echo "${venv_python}"
