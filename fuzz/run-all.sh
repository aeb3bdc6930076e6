#!/usr/bin/env bash
# Runs every fuzz target for N seconds each (default 30), one after another.
#
#   fuzz/run-all.sh            # 30 s per target
#   fuzz/run-all.sh 600        # 10 min per target
#   fuzz/run-all.sh 3600 -jobs=2 -workers=2   # extra args go to libFuzzer
#
# New inputs go to fuzz/corpus-scratch/<target> (git-ignored); the committed
# seeds in fuzz/corpus/<target> are only read. Crashes land in
# fuzz/artifacts/<target>/. Exits non-zero if any target failed.
set -euo pipefail

seconds="${1:-30}"
shift || true
cd "$(dirname "$0")/.."

failed=()
for t in $(cargo fuzz list); do
    scratch="fuzz/corpus-scratch/$t"
    mkdir -p "$scratch" "fuzz/corpus/$t"
    echo "=== $t: ${seconds}s ==="
    if ! RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "$scratch" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" "$@"; then
        failed+=("$t")
    fi
done

if ((${#failed[@]})); then
    echo "FAILED targets: ${failed[*]} (see fuzz/artifacts/)" >&2
    exit 1
fi
echo "all targets ran ${seconds}s without a failure"
