#!/usr/bin/env bash
# Ensure a Python virtualenv with a pinned Twisted exists at Benchmarks/.venv.
#
# Idempotent: the venv is created only if missing, and Twisted is installed
# only if `import twisted` fails inside it.  All progress output goes to
# stderr; the last (and only) line on stdout is the venv's python path, so
# callers can do:  PY="$(Benchmarks/scripts/venv.sh)"
set -euo pipefail

TWISTED_VERSION="26.10.0"

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${script_dir}/../.." && pwd)"
venv_dir="${repo_root}/Benchmarks/.venv"
venv_python="${venv_dir}/bin/python"

if [[ ! -x "${venv_python}" ]]; then
    echo "venv.sh: creating virtualenv at ${venv_dir}" >&2
    python3 -m venv "${venv_dir}" >&2
fi

if ! "${venv_python}" -c 'import twisted' >/dev/null 2>&1; then
    echo "venv.sh: installing twisted==${TWISTED_VERSION}" >&2
    "${venv_python}" -m pip install --quiet --disable-pip-version-check \
        "twisted==${TWISTED_VERSION}" >&2
fi

echo "${venv_python}"
