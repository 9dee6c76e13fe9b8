#!/usr/bin/env bash
# Builds every rule crate in guest-rules/ (all but the SDK) for wasm32-wasip2
# and copies each component to target/rules/<crate-name>.wasm, or to the
# directory given as the first argument. Installs the wasm32-wasip2 target
# when it is missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/target/rules}"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2 >&2
fi

crates=()
for manifest in "$root"/guest-rules/*/Cargo.toml; do
    name="$(sed -n 's/^name = "\(.*\)"/\1/p' "$manifest" | head -n1)"
    [ "$name" = "mailrules-sdk" ] || crates+=("$name")
done

packages=()
for crate in "${crates[@]}"; do packages+=(-p "$crate"); done
# Guests are small: no debug info, stripped. Their own target directory keeps
# this build from waiting on (or invalidating) the host's.
CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=true \
    cargo build --quiet --release --target wasm32-wasip2 \
    --manifest-path "$root/Cargo.toml" --target-dir "$root/target/guests" "${packages[@]}"

mkdir -p "$out"
for crate in "${crates[@]}"; do
    built="$root/target/guests/wasm32-wasip2/release"
    # Libraries are named with underscores, binaries as the crate.
    if [ -f "$built/${crate//-/_}.wasm" ]; then
        cp "$built/${crate//-/_}.wasm" "$out/$crate.wasm"
    else
        cp "$built/$crate.wasm" "$out/$crate.wasm"
    fi
done
echo "built ${#crates[@]} rules into $out: ${crates[*]}" >&2
