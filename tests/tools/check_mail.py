#!/usr/bin/env python3
"""Reads every message in a Maildir that was delivered to DOMAIN and prints
one JSON object per message: the headers the tests check and the decoded
parts. Parsing uses the standard library's strict policy, so any defect in
a message is an error (reported as {"error": ...}), independent of the Rust
code that wrote it. A message whose header section is not ASCII must be
UTF-8 throughout (RFC 6532, sent with SMTPUTF8) and is parsed as such.

usage: check_mail.py MAILDIR DOMAIN
"""
import email
import email.policy
import json
import os
import sys


def describe(path):
    with open(path, "rb") as f:
        raw = f.read()
    end = raw.find(b"\r\n\r\n")
    header_section = raw if end < 0 else raw[:end]
    if header_section.isascii():
        msg = email.message_from_bytes(raw, policy=email.policy.strict)
    else:
        # RFC 6532: UTF-8 header fields; anything else is an error.
        msg = email.message_from_string(raw.decode("utf-8"), policy=email.policy.strict)
    out = {
        "file": os.path.basename(path),
        "header_names": [name.lower() for name in msg.keys()],
        "delivered_to": str(msg.get("Delivered-To", "")),
        "message_id": str(msg.get("Message-ID", "")),
        "subject": str(msg.get("Subject", "")),
        "from": str(msg.get("From", "")),
        "to": str(msg.get("To", "")),
        "to_addresses": [a.addr_spec for a in msg["To"].addresses] if msg["To"] else [],
        "to_names": [a.display_name for a in msg["To"].addresses] if msg["To"] else [],
        "reply_to": str(msg.get("Reply-To", "")),
        "date": str(msg.get("Date", "")),
        "list_unsubscribe": str(msg.get("List-Unsubscribe", "")),
        "list_unsubscribe_post": str(msg.get("List-Unsubscribe-Post", "")),
        "feedback_id": str(msg.get("Feedback-ID", "")),
        "content_type": msg.get_content_type(),
        "parts": [],
        "defects": [str(d) for d in msg.defects],
    }
    for part in msg.iter_parts():
        out["parts"].append({"content_type": part.get_content_type(), "charset": part.get_content_charset(),
                             "body": part.get_content()})
        out["defects"].extend(str(d) for d in part.defects)
    return out


def main():
    maildir, domain = sys.argv[1], sys.argv[2].lower()
    results = []
    for sub in ("new", "cur"):
        folder = os.path.join(maildir, sub)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            try:
                with open(path, "rb") as f:
                    head = f.read(4096)
            except FileNotFoundError:
                continue  # another test, sharing the Maildir, removed its own mail
            # Delivered-To is Postfix's first header lines; match the domain cheaply.
            if f"@{domain}".encode() not in head.lower():
                continue
            try:
                results.append(describe(path))
            except Exception as error:  # any parse failure is a finding
                results.append({"file": name, "error": f"{type(error).__name__}: {error}"})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
