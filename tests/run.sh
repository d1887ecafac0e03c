#!/usr/bin/env bash
# Runs every test of the project: the Rust tests of all crates, then the
# Python tests that read Hounsfield's output with the real readers (numpy,
# webdataset, Pillow, pydicom) from a venv that tests/python/venv.sh creates.
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

echo "run.sh: Python tests" >&2
venv="$(bash tests/python/venv.sh)"
HOUNSFIELD_BIN="$repo_root/target/release/hounsfield" \
    "$venv/bin/python" -m pytest -q tests/python
