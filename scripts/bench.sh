#!/usr/bin/env bash
# Runs every benchmark side by side and writes the tables, with the machine,
# versions and this command, into BENCHMARKS.md (between its result markers;
# the analysis around them is kept). Arguments go to mailrules-bench
# (`scripts/bench.sh --help` lists them; e.g. `--only eval,isolation`).
#
# Needs what the tests need: the wasm32-wasip2 target (the build installs
# it) and Postfix's smtp-sink / smtp-source for the delivery section.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v smtp-sink >/dev/null && [ ! -x /usr/sbin/smtp-sink ]; then
    scripts/postfix-loopback.sh
fi
# The same build as the tests' (one feature resolution, so nothing is built
# twice): it includes target/release/mailrules and mailrules-bench.
cargo test --release --workspace --no-run --quiet
if [ "${1:-}" = "--help" ]; then exec target/release/mailrules-bench --help; fi
target/release/mailrules-bench --write BENCHMARKS.md --command "scripts/bench.sh${*:+ $*}" "$@"
