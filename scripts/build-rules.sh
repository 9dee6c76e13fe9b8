#!/usr/bin/env bash
# Builds every rule crate in guest-rules/ (all but the SDK) and copies each
# component to target/rules/<crate-name>.wasm, or to the directory given as
# the first argument:
# - contract 0.1 crates for wasm32-wasip2 (the linker makes the component);
# - contract 0.2 crates (`[package.metadata.mailrules] contract = "0.2"`)
#   for wasm32-unknown-unknown, in a cargo run of their own (they turn on the
#   SDK's `v0_2` feature), then made components by tools/componentize.
# Installs the two targets when they are missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/target/rules}"

for target in wasm32-wasip2 wasm32-unknown-unknown; do
    if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
        rustup target add "$target" >&2
    fi
done

v01=()
v02=()
for manifest in "$root"/guest-rules/*/Cargo.toml; do
    name="$(sed -n 's/^name = "\(.*\)"/\1/p' "$manifest" | head -n1)"
    [ "$name" = "mailrules-sdk" ] && continue
    if grep -q '^contract = "0.2"' "$manifest"; then v02+=("$name"); else v01+=("$name"); fi
done

# Guests are small: no debug info, stripped. Their own target directory keeps
# this build from waiting on (or invalidating) the host's.
build() {
    local target="$1"
    shift
    local packages=()
    for crate in "$@"; do packages+=(-p "$crate"); done
    CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=true \
        cargo build --quiet --release --target "$target" \
        --manifest-path "$root/Cargo.toml" --target-dir "$root/target/guests" "${packages[@]}"
}

build wasm32-wasip2 "${v01[@]}"
build wasm32-unknown-unknown "${v02[@]}"
cargo build --quiet --release --manifest-path "$root/Cargo.toml" \
    --target-dir "$root/target/guests" -p mailrules-componentize
componentize="$root/target/guests/release/mailrules-componentize"

mkdir -p "$out"
for crate in "${v01[@]}"; do
    built="$root/target/guests/wasm32-wasip2/release"
    # Libraries are named with underscores, binaries as the crate.
    if [ -f "$built/${crate//-/_}.wasm" ]; then
        cp "$built/${crate//-/_}.wasm" "$out/$crate.wasm"
    else
        cp "$built/$crate.wasm" "$out/$crate.wasm"
    fi
done
for crate in "${v02[@]}"; do
    "$componentize" "$root/target/guests/wasm32-unknown-unknown/release/${crate//-/_}.wasm" \
        "$out/$crate.wasm"
done
echo "built ${#v01[@]} contract 0.1 rules and ${#v02[@]} contract 0.2 rules into $out:" \
    "${v01[*]} ${v02[*]}" >&2
