#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs the
# wasm32-wasip2 and wasm32-unknown-unknown targets when missing, builds the
# guest rules from source (the integration tests' build script does that), then runs the host's unit
# tests, the guest SDK's tests and the integration tests (the mail path
# through a real Postfix, which scripts/postfix-loopback.sh installs and
# starts on 127.0.0.1:2525, with STARTTLS + AUTH on :2587 and implicit
# TLS + AUTH on :2465), in the release
# profile (the one the CLI uses, so wasmtime is built once).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

for target in wasm32-wasip2 wasm32-unknown-unknown; do
    if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
        rustup target add "$target"
    fi
done

# The mail-path tests deliver through a real Postfix on 127.0.0.1:2525, and
# check DKIM signatures with dkimpy (PyNaCl for Ed25519) and keys made by
# openssl.
scripts/postfix-loopback.sh
python3 -c "import dkim" 2>/dev/null || python3 -m pip install --quiet dkimpy
python3 -c "import nacl" 2>/dev/null || python3 -m pip install --quiet pynacl
command -v openssl >/dev/null || { apt-get install -y -qq openssl >/dev/null; }
# The tenant's page is checked in a real browser: Debian's Chromium, headless.
command -v chromium >/dev/null || {
    apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null
}

cargo test --release --workspace --no-fail-fast "$@"
