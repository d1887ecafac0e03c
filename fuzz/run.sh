#!/usr/bin/env bash
# Fuzzes file parsing and pixel decoding with cargo-fuzz (libFuzzer) for a
# bounded time, then copies every crashing input into fixtures/regressions/.
#
# Usage: fuzz/run.sh [DURATION]
#   DURATION  seconds, or a number with s, m or h (default: 10m)
#
# Environment:
#   FUZZ_TARGET     target under fuzz/fuzz_targets (default: open_and_decode)
#   FUZZ_SANITIZER  address (default) or none; passed to `cargo fuzz --sanitizer`
#
# What it does:
# 1. Installs cargo-fuzz with `cargo install` when it is missing.
# 2. Sets RUSTC_BOOTSTRAP=1 when the toolchain is not nightly: cargo-fuzz
#    passes nightly-only flags (-Zsanitizer, sanitizer coverage), which
#    stable rustc accepts only with that variable.
# 3. Seeds fuzz/corpus/TARGET with every file under fixtures/ of at most
#    64 KiB (the regression inputs included). The corpus is kept between runs.
# 4. Runs one libFuzzer process in fork mode, which keeps going after a
#    crash, out-of-memory or time-out and stops after DURATION.
# 5. Copies the artifacts (crash-*, oom-*, timeout-*, leak-*) to
#    fixtures/regressions/fuzz-KIND-HASH.dcm and lists them. Each one needs
#    an entry in crates/hounsfield-pipeline/tests/regressions.rs.
#
# The fuzz crate builds in fuzz/target, not in the workspace target folder,
# because its instrumented build flags differ.
set -euo pipefail

fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$fuzz_dir/.." && pwd)"
target="${FUZZ_TARGET:-open_and_decode}"
sanitizer="${FUZZ_SANITIZER:-address}"
duration="${1:-10m}"

case "$duration" in
    *h) seconds=$(( ${duration%h} * 3600 )) ;;
    *m) seconds=$(( ${duration%m} * 60 )) ;;
    *s) seconds=${duration%s} ;;
    *) seconds=$duration ;;
esac
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "run.sh: invalid duration '$duration'; give seconds or a number with s, m or h" >&2
    exit 2
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "run.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi
if ! rustc --version | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
fi

corpus="$fuzz_dir/corpus/$target"
artifacts="$fuzz_dir/artifacts/$target"
mkdir -p "$corpus" "$artifacts"
# Seed names are content hashes, so seeding again adds no duplicates.
seeded=0
while IFS= read -r -d '' file; do
    hash="$(sha1sum "$file" | cut -c1-16)"
    if [ ! -e "$corpus/seed-$hash" ]; then
        cp "$file" "$corpus/seed-$hash"
        seeded=$((seeded + 1))
    fi
done < <(find "$repo_root/fixtures" -type f -size -65537c -print0)
echo "run.sh: $seeded new seed file(s); corpus has $(find "$corpus" -type f | wc -l) file(s)" >&2

before="$(mktemp)"
trap 'rm -f "$before"' EXIT
find "$artifacts" -type f | sort >"$before"

cd "$fuzz_dir"
echo "run.sh: fuzzing $target for $seconds s (sanitizer: $sanitizer)" >&2
# -malloc_limit_mb turns any single allocation of more than 1 GiB into an
# `oom-` artifact; the target itself limits frames to 16 MiB. The resident
# size limit is higher because AddressSanitizer keeps freed memory in
# quarantine, so a long-lived child process grows without any leak.
status=0
cargo fuzz run --sanitizer "$sanitizer" "$target" "$corpus" -- \
    -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 || status=$?

found=0
while IFS= read -r artifact; do
    name="$(basename "$artifact")"
    kind="${name%%-*}"
    hash="${name#*-}"
    destination="$repo_root/fixtures/regressions/fuzz-$kind-${hash:0:16}.dcm"
    cp "$artifact" "$destination"
    echo "run.sh: new $kind input: ${destination#"$repo_root"/}" >&2
    found=$((found + 1))
done < <(find "$artifacts" -type f | sort | comm -13 "$before" -)

echo "run.sh: libFuzzer exited with status $status; $found new artifact(s) copied to fixtures/regressions/" >&2
if [ "$found" -gt 0 ]; then
    exit 1
fi
exit "$status"
