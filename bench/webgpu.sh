#!/usr/bin/env bash
# WebGPU decode/prefill benchmark: Llama-3.2-1B shape in F16, BF16, Q8_0,
# Q4_0 and SmolLM2-135M in F16 with graph capture on and off, and in Q8_0 and
# Q4_0 (rows of 576: GGUF block layout) captured; random
# weights (speed does not depend on values), prompt 128, 256 new tokens,
# greedy. Prints one JSON line per run (genrt bench --json), then a trace of
# a short Llama run that reads tokens one step behind (genrt's way) and right
# after each step's submit (--read-compare), with device spans where
# timestamps exist.
# Usage: bench/webgpu.sh [OUTDIR]   (GENRT: the binary, default build/genrt)
# Each model and weight type runs once briefly first (-n 8): the first
# captured step creates its pipelines, which costs the driver's shader
# compilation on a cold cache (tens of ms each) inside the decode timing.
# The A/B lines name the environment switch they flip (webgpu.h).
set -uo pipefail
cd "$(dirname "$0")/.."
G=${GENRT:-build/genrt}
out=${1:-}
S=bench/configs/smollm2-135m/config.json
B=bench/configs/llama-3.2-1b/config.json
b() {
    echo "== $* $(env | grep '^GENRT_WEBGPU' | tr '\n' ' ')" >&2
    timeout "${BENCH_TIMEOUT:-60}" "$G" bench --random-weights --device webgpu --prompt-len 128 -n 256 --json "$@"
}
for m in "$S f16" "$S q8_0" "$S q4_0" "$B f16" "$B bf16" "$B q8_0" "$B q4_0"; do
    set -- $m
    b -m $1 --dtype $2 --graph-capture on -n 8 >/dev/null
done
GENRT_WEBGPU_OLD_MV=1 b -m $B --dtype f16 --graph-capture on -n 8 >/dev/null
b -m $B --dtype f16 --graph-capture on
b -m $B --dtype f16 --graph-capture off
b -m $B --dtype bf16 --graph-capture on
b -m $B --dtype q8_0 --graph-capture on
b -m $B --dtype q4_0 --graph-capture on
b -m $S --dtype f16 --graph-capture on
b -m $S --dtype f16 --graph-capture off
b -m $S --dtype f16 --graph-capture on --steps-per-submit 4
b -m $S --dtype q8_0 --graph-capture on
b -m $S --dtype q4_0 --graph-capture on
# A/B: the old matvec kernels and merges, each merge off
GENRT_WEBGPU_OLD_MV=1 b -m $B --dtype f16 --graph-capture on
GENRT_WEBGPU_NO_GLU_MERGE=1 b -m $B --dtype f16 --graph-capture on
GENRT_WEBGPU_NO_ROPE_KV_MERGE=1 b -m $S --dtype f16 --graph-capture on
GENRT_WEBGPU_NORM_MAX_WORK=0 b -m $S --dtype f16 --graph-capture on
GENRT_WEBGPU_NO_MERGE=1 b -m $S --dtype f16 --graph-capture on
# A/B: the split attention (two dispatches per head), rope_kv not folded into it
GENRT_WEBGPU_OLD_ATTN=1 b -m $B --dtype f16 --graph-capture on
GENRT_WEBGPU_NO_ATTN_ROPE_MERGE=1 b -m $B --dtype f16 --graph-capture on
GENRT_WEBGPU_NO_ATTN_ROPE_MERGE=1 b -m $S --dtype f16 --graph-capture on
# A/B: the chain kernels (attn_o: attention + o-proj (+ norm); mvx3: gate/up (+ norm) + down
# + next q/k/v; mvx2: down + next q/k/v): all off; session 7's list (mvx2, attn_o's norm tail)
GENRT_WEBGPU_NO_ATTN_O_MERGE=1 GENRT_WEBGPU_NO_MVX3_MERGE=1 GENRT_WEBGPU_NO_MVX2_MERGE=1 b -m $S --dtype f16 --graph-capture on
GENRT_WEBGPU_NO_MVX3_MERGE=1 GENRT_WEBGPU_NORM_MAX_WORK=262144 b -m $S --dtype f16 --graph-capture on
GENRT_WEBGPU_CHAIN_NO_PREFETCH=1 b -m $S --dtype f16 --graph-capture on
if [ -n "$out" ]; then
    # device spans (timestamp-query) and both read modes in one trace
    b -m $B --dtype f16 --graph-capture on -n 64 --read-compare --trace "$out/trace_llama1b_f16.json"
fi
