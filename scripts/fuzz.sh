#!/usr/bin/env bash
# Runs every cargo-fuzz target under fuzz/ for SECONDS_PER_TARGET seconds
# (default 60), one after the other, one process each.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Each run starts from the committed corpus (fuzz/corpus/<target>), uses the
# target's dictionary of tokens when there is one (fuzz/dict/<target>.dict)
# and writes the inputs it finds to fuzz/target/grown-corpus/<target>. With
# FUZZ_KEEP_CORPUS=1 the new inputs are merged into fuzz/corpus/<target>
# afterwards, minimised to a small set of inputs that still reaches every
# code edge the two reached (libFuzzer's set-cover merge on edge coverage),
# ready to commit. An input that panics, runs over FUZZ_TIMEOUT seconds
# (default 10) or needs more than 2 GB is a failure: libFuzzer stores it
# under fuzz/artifacts/<target>/, the other targets still run, and the script
# exits non-zero. Reproduce one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -s none <target> fuzz/artifacts/<target>/<file>
#
# cargo-fuzz is installed when missing. It passes nightly-only flags to
# rustc (coverage instrumentation); RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept them. No sanitizer is used (`-s none`): the host is safe
# Rust, and what is looked for is panics, hangs and runaway memory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-60}"
shift || true
timeout_seconds="${FUZZ_TIMEOUT:-10}"
export RUSTC_BOOTSTRAP=1

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

host="$(rustc -vV | sed -n 's/^host: //p')"
echo "== cargo fuzz build (${targets[*]})"
cargo fuzz build -s none

failed=()
for target in "${targets[@]}"; do
    grown="fuzz/target/grown-corpus/$target"
    mkdir -p "$grown" "fuzz/corpus/$target"
    dictionary=()
    [ -f "fuzz/dict/$target.dict" ] && dictionary=(-dict="fuzz/dict/$target.dict")
    echo "== $target: ${seconds}s"
    if ! cargo fuzz run -s none "$target" "$grown" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout="$timeout_seconds" \
        -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1 "${dictionary[@]}"; then
        failed+=("$target")
        continue
    fi
    if [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ]; then
        minimised="fuzz/target/minimised-corpus/$target"
        rm -rf "$minimised" && mkdir -p "$minimised"
        "fuzz/target/$host/release/$target" -merge=1 -set_cover_merge=1 -use_counters=0 \
            "$minimised" "fuzz/corpus/$target" "$grown"
        rm -rf "fuzz/corpus/$target" "$grown"
        mv "$minimised" "fuzz/corpus/$target"
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzzing found failures in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzzing: no failures in ${targets[*]} (${seconds}s each)"
