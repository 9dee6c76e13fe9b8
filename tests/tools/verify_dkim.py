#!/usr/bin/env python3
"""Verifies the DKIM signature of every message in a Maildir delivered to
DOMAIN with dkimpy (an implementation independent of the signer), using
PUBKEY (base64: DER for RSA, the raw 32 bytes for Ed25519) as the DNS
record of SELECTOR._domainkey.SIGNING_DOMAIN, of key type KEY_TYPE (`rsa`,
the default, or `ed25519`). Prints a JSON list of
{"to": ..., "verified": bool, "signed_headers": ..., "algorithm": ...}.

usage: verify_dkim.py MAILDIR DOMAIN SELECTOR SIGNING_DOMAIN PUBKEY_FILE [KEY_TYPE]
"""
import json
import os
import sys

import dkim


def main():
    maildir, domain, selector, signing_domain, pubkey_file = sys.argv[1:6]
    key_type = sys.argv[6] if len(sys.argv) > 6 else "rsa"
    public = open(pubkey_file).read().strip()
    expected_name = f"{selector}._domainkey.{signing_domain}.".encode()

    def dns(name, timeout=5):
        return (f"v=DKIM1; k={key_type}; p=" + public).encode() if name == expected_name else None

    results = []
    for sub in ("new", "cur"):
        folder = os.path.join(maildir, sub)
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            try:
                with open(os.path.join(folder, name), "rb") as f:
                    raw = f.read()
            except FileNotFoundError:
                continue  # another test, sharing the Maildir, removed its own mail
            if f"@{domain}".encode() not in raw[:4096].lower():
                continue
            checker = dkim.DKIM(raw)
            verified = bool(checker.verify(dnsfunc=dns))
            fields = getattr(checker, "signature_fields", {}) or {}
            results.append({"file": name, "verified": verified,
                            "signed_headers": fields.get(b"h", b"").decode(),
                            "algorithm": fields.get(b"a", b"").decode()})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
