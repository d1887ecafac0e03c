#!/usr/bin/env bash
# Create the Python virtual environment for the pydicom oracle and the synthetic
# fixture generator, and install tests/python/requirements.txt into it.
#
# Usage: tests/python/venv.sh
#   HOUNSFIELD_VENV  venv directory (default: <repo>/target/venv)
#   PYTHON           interpreter that creates the venv (default: python3, must be >= 3.11)
#
# Running it again is cheap: pip runs only when the venv is new or requirements.txt
# changed since the last successful install. Progress goes to stderr and the venv path
# is the only line on stdout, so `VENV=$(tests/python/venv.sh)` works.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/../.." && pwd)"
requirements="$script_dir/requirements.txt"
venv="${HOUNSFIELD_VENV:-$repo_root/target/venv}"
python="${PYTHON:-python3}"

if ! command -v "$python" >/dev/null 2>&1; then
    echo "venv.sh: $python not found; install CPython 3.11 or newer, or set PYTHON" >&2
    exit 1
fi

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "venv.sh: $("$python" --version 2>&1) is too old; numpy 2.4 needs Python >= 3.11" >&2
    exit 1
fi

if [ ! -x "$venv/bin/python" ]; then
    # Debian's own python3 ships ensurepip separately, so `python3 -m venv` fails without it.
    if ! "$python" -c 'import ensurepip' 2>/dev/null; then
        echo "venv.sh: $python has no ensurepip module; on Debian run: apt-get install python3-venv" >&2
        exit 1
    fi
    echo "venv.sh: creating $venv" >&2
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv"
fi

stamp="$venv/.requirements.sha256"
wanted_hash="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted_hash" ]; then
    echo "venv.sh: installing $requirements" >&2
    # --only-binary keeps a fresh machine from needing compilers: every pin has a wheel.
    "$venv/bin/python" -m pip install \
        --disable-pip-version-check --no-input --quiet \
        --only-binary=:all: \
        --requirement "$requirements" >&2
    echo "$wanted_hash" >"$stamp"
fi

echo "$venv"
