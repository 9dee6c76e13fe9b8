#!/usr/bin/env bash
# The main job on the embedded example: builds the rules from source, then
# evaluates the reference rule pack (seed-segments) over the example
# profiles for the example campaign. One JSON decision per profile goes to
# stdout; the summary (segment sizes, variants, statuses, latency and fuel
# percentiles) to stderr. Extra arguments go to `mailrules eval`
# (try --explain).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/build-rules.sh
cargo build --release --quiet -p mailrules
exec target/release/mailrules eval \
    --rules target/rules/seed-segments.wasm \
    --campaign examples/campaign.toml \
    --profiles examples/profiles.jsonl \
    "$@"
