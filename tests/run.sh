#!/usr/bin/env bash
# Runs every test of the project: the Rust tests of all crates, then the
# Python tests that read Hounsfield's output with the real readers (numpy,
# webdataset, Pillow, pydicom) from a venv that tests/python/venv.sh creates.
# The Python package is built into that venv and tested there too.
#
#   HOUNSFIELD_PYTHON_EXTRAS=1  also install torch, wids and ray and run their tests
#
# Needs: cargo, CMake and a C++ compiler (for the CharLS JPEG-LS codec), and
# CPython 3.11 with venv support. As root on Debian the missing system
# packages are installed with apt-get.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

bash tests/install-system-deps.sh

echo "run.sh: building the hounsfield binary (release)" >&2
cargo build --release --locked -p hounsfield-cli

echo "run.sh: Rust tests" >&2
cargo test --workspace --locked

echo "run.sh: Python venv" >&2
venv="$(bash tests/python/venv.sh)"
pip_install=("$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet)

# torch from PyPI brings CUDA libraries (about 6 GB installed), so the tests that
# need torch, wids or ray skip unless this is set.
if [ "${HOUNSFIELD_PYTHON_EXTRAS:-0}" = 1 ]; then
    echo "run.sh: installing torch, wids and ray (tests/python/requirements-extras.txt)" >&2
    "${pip_install[@]}" --requirement tests/python/requirements-extras.txt >&2
fi

# maturin (pinned in requirements.txt) builds the extension in target/release; the
# first build compiles PyO3 and takes a few minutes. The build backend runs the
# `maturin` command, so the venv's bin folder goes first on PATH.
echo "run.sh: building the Python package hounsfield (maturin, release)" >&2
PATH="$venv/bin:$PATH" "${pip_install[@]}" --no-build-isolation --no-deps --force-reinstall \
    ./crates/hounsfield-py >&2

echo "run.sh: Python tests" >&2
HOUNSFIELD_BIN="$repo_root/target/release/hounsfield" \
    "$venv/bin/python" -m pytest -q tests/python
