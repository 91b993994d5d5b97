#!/usr/bin/env python3
"""Headline figures of two run-loads.sh result dirs side by side: ours / the peer's.

Usage: compare.py OURS_DIR PEER_DIR    (Markdown on stdout; medians over the runs)
"""
import json
import os
import re
import statistics
import sys


def runs(d, group):
    out = []
    for name in sorted(os.listdir(d)):
        if re.fullmatch(re.escape(group) + r"-\d+\.json", name):
            out.append(json.load(open(os.path.join(d, name))))
    return out


def median(docs, path):
    vals = []
    for doc in docs:
        v = doc
        for k in path.split("."):
            v = v.get(k) if isinstance(v, dict) else None
        if isinstance(v, (int, float)):
            vals.append(v)
    return statistics.median(vals) if vals else None


ROWS = [
    ("IMAP session mix, own INBOX: ops/s", "imap-own", "ops_per_s", True),
    ("IMAP own: SELECT p50 ms", "imap-own", "ops.select.p50_ms", False),
    ("IMAP own: FETCH 1:* (10k, ENVELOPE etc.) p50 ms", "imap-own", "ops.fetch_all.p50_ms", False),
    ("IMAP own: UID SEARCH p50 ms", "imap-own", "ops.search.p50_ms", False),
    ("IMAP own: UID STORE p50 ms", "imap-own", "ops.store.p50_ms", False),
    ("IMAP session mix, delegated: ops/s", "imap-delegated", "ops_per_s", True),
    ("IMAP delegated: SELECT p50 ms", "imap-delegated", "ops.select.p50_ms", False),
    ("IMAP delegated: FETCH 1:* p50 ms", "imap-delegated", "ops.fetch_all.p50_ms", False),
    ("APPEND of the 10k corpus: APPENDs/s", "seed", "appends_per_s", True),
    ("submission, own From: accepted msgs/s", "smtp-own", "accepted_per_s", True),
    ("submission, own From: txn p50 ms", "smtp-own", "txn_accepted.p50_ms", False),
    ("submission, half From another: attempted msgs/s", "smtp-mixed", "attempted_per_s", True),
]


def fmt(x):
    if x is None:
        return "-"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def main():
    ours, peer = sys.argv[1], sys.argv[2]
    print("| figure (median of runs) | mailgate | peer | mailgate is |")
    print("|---|---:|---:|---:|")
    for label, group, path, higher in ROWS:
        a, b = median(runs(ours, group), path), median(runs(peer, group), path)
        if a is None and b is None:
            continue
        ratio = "-"
        if a and b:
            r = a / b if higher else b / a
            ratio = f"{r:.2f}× {'faster' if r >= 1 else 'slower'}"
        print(f"| {label} | {fmt(a)} | {fmt(b)} | {ratio} |")


if __name__ == "__main__":
    main()
