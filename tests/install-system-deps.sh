#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, when missing:
# cmake and g++ build the CharLS JPEG-LS codec, python3-venv makes the test
# venv. Does nothing when they are present; needs root (or sudo) otherwise.
#
# dcm2niix is optional: tests/python/test_volumes.py compares volumes with it
# and skips that comparison when it is missing. It is installed when root (or
# sudo) is available, and its absence never fails this script.
set -euo pipefail

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
optional=()
command -v dcm2niix >/dev/null 2>&1 || optional+=(dcm2niix)

if [ ${#missing[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ]; then
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    elif [ ${#missing[@]} -gt 0 ]; then
        echo "install-system-deps.sh: missing ${missing[*]}; install them as root" >&2
        exit 1
    else
        echo "install-system-deps.sh: dcm2niix is missing and cannot be installed without root; the dcm2niix comparison tests will skip" >&2
        exit 0
    fi
fi
$sudo apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-system-deps.sh: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
fi
if [ ${#optional[@]} -gt 0 ]; then
    echo "install-system-deps.sh: installing ${optional[*]}" >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${optional[@]}" >&2 ||
        echo "install-system-deps.sh: installing ${optional[*]} failed; the dcm2niix comparison tests will skip" >&2
fi
