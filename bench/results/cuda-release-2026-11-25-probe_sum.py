#!/usr/bin/env python3
"""Summarise a -DMV_PROBE dump (GENRT_CUDA_PROBE_OUT, src/device/cuda/cuda_ops.cu):
one row per kernel boundary of the decode layer (producer -> consumer), over
the records after the first 10%. Times in microseconds: median (mean).
b0: the consumer's block 0. A kernel's exit: its latest block's.
Usage: python3 bench/results/cuda-release-2026-11-25-probe_sum.py DUMP"""
import struct, sys, statistics as st

PRO = {0: "", 1: "norm", 2: "glu"}

def load(path):
    b = open(path, "rb").read()
    n = struct.unpack_from("<I", b, 0)[0]
    recs = []
    for i in range(n):
        f = struct.unpack_from("<12Q", b, 4 + 96 * i)
        node, prev = f[0] & 0xffffffff, f[0] >> 32
        tag, rows = f[1] & 0xffffffff, f[1] >> 32
        recs.append(dict(node=node, prev=None if prev == 0xffffffff else prev, tag=tag, rows=rows,
                         t0=f[2], t1=f[3], t2=f[4], t3=f[5], pexit=f[6], pwait=f[7], pentry=f[8], grid=f[9]))
    return recs

def kind(r, prevr):
    t = r["tag"]
    if t & 0x80: return "attn"
    nm, pro, acc, glu = t & 3, (t >> 2) & 3, bool(t & 0x10), bool(t & 0x20)
    if nm == 3: return "qkv"
    if nm == 2: return "gate_up" + ("+glu" if glu else "")
    if pro == 1 and not acc: return "lm_head"
    if prevr is not None and prevr["k"] == "attn": return "o"
    if pro == 2 or (prevr is not None and prevr["k"].startswith("gate_up")): return "down"
    return "mv1(%s,%s)" % (PRO.get(pro, pro), "acc" if acc else "")

def med(xs):
    xs = [x for x in xs if x is not None]
    if not xs: return "-"
    return "%.2f (%.2f)" % (st.median(xs), st.mean(xs))

def main(path, skip=0.1):
    recs = load(path)
    by_node = {}
    for r in recs:
        prevr = by_node.get(r["prev"]) if r["prev"] is not None else None
        r["k"] = kind(r, prevr)
        if r["tag"] & 0x200: r["k"] += "[sig]"  # the GENRT_CUDA_SIG prototype's consumers (ee57378)
        r["pk"] = prevr["k"] if prevr else "-"
        r["prevr"] = prevr
        by_node[r["node"]] = r
    # the exit of kernel i (latest block) is in the record of the kernel after it
    for i in range(len(recs) - 1):
        if recs[i + 1]["prev"] == recs[i]["node"]:
            recs[i]["exit"] = recs[i + 1]["pexit"]
            recs[i]["exit_wait"] = recs[i + 1]["pwait"]
    lo = int(len(recs) * skip)
    use = recs[lo:]
    ts = [r[k] for r in use for k in ("t0", "t1", "t3") if r[k]]
    res = 0
    for q in (1000, 500, 256, 128, 64, 32, 16, 8, 4, 2, 1):
        if all(t % q == 0 for t in ts[:5000]): res = q; break
    print("%s: %d records, %d used; globaltimer values all multiples of %d ns" % (path, len(recs), len(use), res))
    groups = {}
    for r in use:
        if r["prev"] is None or not r["pexit"] or not r["t1"]: continue
        groups.setdefault((r["pk"], r["k"]), []).append(r)
    us = lambda x: x / 1000.0
    hdr = ("producer -> consumer", "n", "consumer blocks", "release: b0 wait return - producer's last exit",
           "latest block's wait return - producer's last exit", "b0 entry - producer's last exit",
           "% b0 entered before", "b0 staging", "b0 staged to exit", "b0 exit to last exit",
           "increment: last exit - producer's last exit")
    print("| " + " | ".join(hdr) + " |")
    print("|" + " --- |" * len(hdr))
    for (pk, k), rs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        rel = [us(r["t1"] - r["pexit"]) for r in rs]
        ent = [us(r["t0"] - r["pexit"]) for r in rs]
        before = 100.0 * sum(1 for r in rs if r["t0"] < r["pexit"]) / len(rs)
        lastw = [us(r["exit_wait"] - r["pexit"]) if r.get("exit_wait") else None for r in rs]
        stg = [us(r["t2"] - r["t1"]) if r["t2"] else None for r in rs]
        cmp_ = [us(r["t3"] - r["t2"]) if r["t2"] else None for r in rs]
        tail = [us(r["exit"] - r["t3"]) if r.get("exit") else None for r in rs]
        inc = [us(r["exit"] - r["pexit"]) if r.get("exit") else None for r in rs]
        print("| %s -> %s | %d | %d | %s | %s | %s | %.0f | %s | %s | %s | %s |" % (
            pk, k, len(rs), rs[0]["grid"], med(rel), med(lastw), med(ent), before, med(stg), med(cmp_), med(tail),
            med(inc)))

if __name__ == "__main__":
    main(sys.argv[1])
