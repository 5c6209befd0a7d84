#!/usr/bin/env python3
"""Per-kernel times of one decode layer from a bench/cuda_ktrace.c trace.

usage: ktrace_summary.py TRACE [LAYERS]
Kernels are ordered by start; for each fused-attention launch of the last
LAYERS layers (default 3000: the decode steps' layers), the kernels from
one before it to three after it are listed with their mean duration (start
to end, which with PDL includes time spent launched but waiting) and their
mean increment (end minus the latest end before it: what the kernel adds
to the step). The layer period is the mean start-to-start distance of
consecutive attention launches within a step."""
import re
import sys


def short(name):
    m = re.match(r"_Z(?:L)?(\d+)", name)
    if not m:
        return name[:40]
    n = int(m.group(1))
    base = name[m.end():m.end() + n]
    targs = re.findall(r"Li(\d+)E", name[m.end() + n:])
    return base + ("<" + ",".join(targs) + ">" if targs else "")


def main():
    path = sys.argv[1]
    layers = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    recs = []
    for line in open(path):
        p = line.split(" ", 2)
        if len(p) == 3:
            recs.append((int(p[0]), int(p[1]), p[2].strip()))
    recs.sort()
    ends, latest = [], 0
    for s, e, n in recs:
        ends.append(e - max(latest, s) if latest < e else 0)
        latest = max(latest, e)
    att = [i for i, r in enumerate(recs) if "attn_dec" in r[2] or "k_attention" in r[2]]
    att = att[-layers:]
    if not att:
        print("no attention kernels in", path)
        return
    rows = {}
    for i in att:
        for off in range(-1, 4):
            j = i + off
            if 0 <= j < len(recs):
                s, e, n = recs[j]
                d = rows.setdefault(off, {"n": 0, "dur": 0.0, "inc": 0.0, "names": {}})
                d["n"] += 1
                d["dur"] += (e - s) / 1000.0
                d["inc"] += ends[j] / 1000.0
                k = short(n)
                d["names"][k] = d["names"].get(k, 0) + 1
    periods = [recs[b][0] - recs[a][0] for a, b in zip(att, att[1:])]
    periods.sort()
    med = periods[len(periods) // 2] / 1000.0 if periods else 0
    inl = [p for p in periods if p < 3 * periods[len(periods) // 2]]
    print(f"{path}: {len(att)} attention launches; layer period median {med:.2f} us, mean {sum(inl)/len(inl)/1000:.2f} us")
    print("| offset | kernel | mean duration us | mean increment us |")
    print("| --- | --- | --- | --- |")
    for off in sorted(rows):
        d = rows[off]
        name = max(d["names"], key=d["names"].get)
        print(f"| {off:+d} | {name} | {d['dur']/d['n']:.2f} | {d['inc']/d['n']:.2f} |")


if __name__ == "__main__":
    main()
