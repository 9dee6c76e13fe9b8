#!/usr/bin/env bash
# The main job on the embedded example, no relay needed: builds the rules
# from source, shows the reference pack's decision (its contract 0.2 build)
# for every example profile
# (`mailrules eval`: one JSON line each on stdout, a summary on stderr), then
# sends the example campaign into a local Maildir (`mailrules send`) and
# prints the journal's report. Output goes to target/example/: the Maildir
# (target/example/maildir/new/*) and the journal. Each run starts afresh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/build-rules.sh
cargo build --release --quiet -p mailrules-cli
mailrules=target/release/mailrules
rules=target/rules/seed-segments-v0-2.wasm
out=target/example
rm -rf "$out" && mkdir -p "$out"

echo "== mailrules eval" >&2
"$mailrules" eval --rules "$rules" --campaign examples/campaign.toml --profiles examples/profiles.jsonl "$@"

echo "== mailrules send (into the Maildir $out/maildir)" >&2
"$mailrules" send --rules "$rules" --campaign examples/campaign.toml --profiles examples/profiles.jsonl \
    --maildir "$out/maildir" --journal "$out/autumn-picks-2026.journal"

echo "== mailrules report" >&2
"$mailrules" report "$out/autumn-picks-2026.journal"
echo "messages: $(ls "$out/maildir/new" | wc -l) in $out/maildir/new" >&2
