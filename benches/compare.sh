#!/usr/bin/env bash
# Times `hounsfield convert` and `hounsfield table` against pydicom scripts,
# DCMTK and dicom-toimage on the same files, on this machine, in one run, and
# prints a Markdown report (also written to --report).
#
# Inputs: the CT series of fixtures/dicom/dcm_qa_ct copied to --files files in
# a temporary folder, plus RLE, JPEG-LS, JPEG 2000 and JPEG Lossless versions
# of it (--compressed-files files each). Outputs go to /dev/shm, so that disk
# write-back does not blur the figures, and are deleted after each command.
#
# Usage: bash benches/compare.sh [--files N] [--compressed-files N]
#            [--repeat N] [--only TASKS] [--report FILE]
#   --files N             copies of the CT slices (default 2000)
#   --compressed-files N  copies per compressed transfer syntax (default 300)
#   --repeat N            runs per command; the median is reported (default 1)
#   --only TASKS          comma-separated subset of png8,png16,npy,metadata,
#                         compressed,rss (default: all)
#   --report FILE         Markdown report (default target/bench-compare/report.md)
#
# Needs cargo, CPython 3.11 with venv support, and, when not root, GNU time
# and DCMTK already installed; as root on Debian they are installed with
# apt-get. dicom-toimage 0.10.1 is built once into target/bench-tools.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

files=2000
compressed_files=300
repeat=1
only=""
report="$repo_root/target/bench-compare/report.md"
while [ $# -gt 0 ]; do
    case "$1" in
        --files) files="$2"; shift 2 ;;
        --compressed-files) compressed_files="$2"; shift 2 ;;
        --repeat) repeat="$2"; shift 2 ;;
        --only) only="$2"; shift 2 ;;
        --report) report="$2"; shift 2 ;;
        *) echo "compare.sh: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done

install_packages() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "compare.sh: missing $*; install the Debian packages $* or run as root" >&2
        exit 1
    fi
    echo "compare.sh: installing $* with apt-get" >&2
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2; then
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
    fi
}

[ -x /usr/bin/time ] || install_packages time
command -v dcm2pnm >/dev/null 2>&1 || install_packages dcmtk

echo "compare.sh: building the hounsfield binary (release)" >&2
cargo build --release --locked -p hounsfield-cli >&2
hounsfield="$repo_root/target/release/hounsfield"

tools_root="$repo_root/target/bench-tools"
toimage="$tools_root/bin/dicom-toimage"
if [ ! -x "$toimage" ]; then
    echo "compare.sh: building dicom-toimage 0.10.1 into $tools_root" >&2
    cargo install dicom-toimage --version 0.10.1 --locked --root "$tools_root" >&2
fi

venv="$(bash tests/python/venv.sh)"
python="$venv/bin/python"

work="$(mktemp -d "${TMPDIR:-/tmp}/hounsfield-bench.XXXXXX")"
shm="$(mktemp -d /dev/shm/hounsfield-bench.XXXXXX)"
trap 'rm -rf "$work" "$shm"' EXIT

echo "compare.sh: making $files CT inputs and $compressed_files per compressed syntax in $work" >&2
"$python" benches/compare/make_inputs.py fixtures/dicom/dcm_qa_ct "$work/ct" "$files" \
    "$work/compressed" "$compressed_files"

mkdir -p "$work/recipes"
cat >"$work/recipes/png8.yaml" <<'EOF'
channels: [modality]
export:
  png: { bits: 8, window: file }
EOF
cat >"$work/recipes/png16.yaml" <<'EOF'
channels: [modality]
export:
  png: { bits: 16, window: file }
EOF
cat >"$work/recipes/npy.yaml" <<'EOF'
channels: [modality]
export:
  shards: { max_samples_per_shard: 1000 }
EOF

# Read every input once so that all tools start with the files in the page cache.
find "$work" -type f -name '*.dcm' -print0 | xargs -0 cat >/dev/null

versions="$(
    echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
    echo "- memory: $(free -g | awk '/^Mem:/ {print $2}') GiB; kernel $(uname -r)"
    echo "- $("$hounsfield" --version) ($(git rev-parse --short HEAD 2>/dev/null || echo unknown) with local changes: $(git status --porcelain 2>/dev/null | wc -l) files), $(rustc --version)"
    echo "- $("$python" --version 2>&1); $("$python" -c 'import numpy, PIL, pydicom; print(f"pydicom {pydicom.__version__}, NumPy {numpy.__version__}, Pillow {PIL.__version__}")')"
    echo "- DCMTK $(dcm2pnm --version 2>&1 | sed -n 's/.*dcm2pnm v\([^ ]*\).*/\1/p' | head -n 1) (Debian package $(dpkg-query -W -f='${Version}' dcmtk 2>/dev/null || echo unknown))"
    echo "- $("$toimage" --version 2>&1 | head -n 1)"
    echo "- input folder file system: $(df --output=fstype "$work" | tail -n 1); output folder: $(df --output=fstype "$shm" | tail -n 1)"
)"

cat >"$work/config.json" <<EOF
{
  "hounsfield": "$hounsfield",
  "toimage": "$toimage",
  "python": "$python",
  "scripts": "$repo_root/benches/compare",
  "recipes": "$work/recipes",
  "ct_dir": "$work/ct",
  "compressed_dir": "$work/compressed",
  "output_root": "$shm"
}
EOF

mkdir -p "$(dirname "$report")"
printf '%s\n' "$versions" >"$work/machine.md"
"$python" benches/compare/run.py --config "$work/config.json" --machine "$work/machine.md" \
    --report "$report" --results "${report%.md}.json" --repeat "$repeat" --only "$only"
echo "compare.sh: report written to $report" >&2
