#!/usr/bin/env python3
"""Pairs of ARTn events run two ways (bench/artn.sh sets grow, growtight2).

Usage: artn_pairs.py SET LABEL A.log B.log

Reads the 'done atom' lines that artn_bench writes to stderr for two runs
of the same events, keeps the events that end ok in both with the same
cluster saddle (equal dq_local: the same search, refined two ways), and
prints one JSON line with their number and the statistics of
dq(A) - dq(B) in eV under LABEL.
"""
import json
import re
import statistics as st
import sys


def load(path):
    """atom -> (status, dq, dq_local) of a local-mode artn_bench log."""
    d = {}
    for line in open(path):
        m = re.match(r"done atom (\d+): .*\| local (\S+) dq (\S+) dq_local (\S+)", line)
        if m:
            d[int(m.group(1))] = (m.group(2), float(m.group(3)), float(m.group(4)))
    return d


def main():
    name, label, pa, pb = sys.argv[1:5]
    a, b = load(pa), load(pb)
    diff = [a[k][1] - b[k][1] for k in a
            if k in b and a[k][0] == b[k][0] == "ok" and a[k][2] == b[k][2]]
    out = {"set": name, "pairs_same_cluster_saddle": len(diff)}
    if diff:
        ab = [abs(x) for x in diff]
        out[label] = {k: round(v, 4) for k, v in (
            ("mean", st.mean(diff)), ("median", st.median(diff)), ("min", min(diff)),
            ("max", max(diff)), ("mean_abs", st.mean(ab)), ("median_abs", st.median(ab)),
            ("max_abs", max(ab)))}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
