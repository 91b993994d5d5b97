#!/usr/bin/env python3
"""Figures of a load run against two nodes at once (loads.sh NODES=2): each node's run-loads.sh
result dir had half the clients; throughputs are summed run by run (the runs of both dirs ran at
the same time), latencies are shown per node. Medians over the runs.

Usage: sum_nodes.py NODE_A_DIR NODE_B_DIR    (Markdown on stdout)
"""
import json
import os
import re
import statistics
import sys


def runs(d, group):
    out = {}
    for name in os.listdir(d):
        m = re.fullmatch(re.escape(group) + r"-(\d+)\.json", name)
        if m:
            out[int(m.group(1))] = json.load(open(os.path.join(d, name)))
    return out


def get(doc, path):
    for k in path.split("."):
        doc = doc.get(k) if isinstance(doc, dict) else None
    return doc if isinstance(doc, (int, float)) else None


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(x):
    return "-" if x is None else f"{x:.2f}" if x < 100 else f"{x:.0f}"


THROUGHPUT = [
    ("IMAP session mix, own INBOX: ops/s", "imap-own", "ops_per_s"),
    ("IMAP session mix, delegated: ops/s", "imap-delegated", "ops_per_s"),
    ("submission, own From: accepted msgs/s", "smtp-own", "accepted_per_s"),
    ("submission, half From another: attempted msgs/s", "smtp-mixed", "attempted_per_s"),
]
LATENCY = [
    ("IMAP own: SELECT p50 ms", "imap-own", "ops.select.p50_ms"),
    ("IMAP own: FETCH 1:* p50 ms", "imap-own", "ops.fetch_all.p50_ms"),
    ("IMAP delegated: SELECT p50 ms", "imap-delegated", "ops.select.p50_ms"),
    ("submission, own From: txn p50 ms", "smtp-own", "txn_accepted.p50_ms"),
]


def main():
    a, b = sys.argv[1], sys.argv[2]
    print("| figure (median over the runs) | node A | node B | both |")
    print("|---|---:|---:|---:|")
    for label, group, path in THROUGHPUT:
        ra, rb = runs(a, group), runs(b, group)
        both = [get(ra[i], path) + get(rb[i], path) for i in sorted(ra) if i in rb
                and get(ra[i], path) is not None and get(rb[i], path) is not None]
        print(f"| {label} | {fmt(med(get(d, path) for d in ra.values()))} | "
              f"{fmt(med(get(d, path) for d in rb.values()))} | {fmt(med(both))} |")
    for label, group, path in LATENCY:
        ra, rb = runs(a, group), runs(b, group)
        print(f"| {label} | {fmt(med(get(d, path) for d in ra.values()))} | "
              f"{fmt(med(get(d, path) for d in rb.values()))} | |")


if __name__ == "__main__":
    main()
