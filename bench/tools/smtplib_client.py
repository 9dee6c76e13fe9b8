#!/usr/bin/env python3
"""A plain external SMTP client for scale: Python's smtplib sending one
message file to COUNT recipients over one connection.

usage: smtplib_client.py HOST PORT MESSAGE_FILE COUNT
prints: the seconds spent sending (connection set-up included)
"""
import smtplib
import sys
import time


def main():
    host, port, path, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    with open(path, "rb") as f:
        message = f.read()
    started = time.perf_counter()
    with smtplib.SMTP(host, port) as client:
        client.ehlo("bench.localhost")
        for i in range(count):
            client.sendmail("news@shop.example", [f"r{i}@example.com"], message)
    print(f"{time.perf_counter() - started:.6f}")


if __name__ == "__main__":
    main()
