#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, when missing:
# cmake and g++ build the CharLS JPEG-LS codec, python3-venv makes the test
# venv. Does nothing when they are present; needs root (or sudo) otherwise.
set -euo pipefail

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    else
        echo "install-system-deps.sh: missing ${missing[*]}; install them as root" >&2
        exit 1
    fi
fi
echo "install-system-deps.sh: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
