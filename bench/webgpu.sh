#!/usr/bin/env bash
# WebGPU decode/prefill benchmark: Llama-3.2-1B shape in F16, Q8_0, Q4_0 and
# SmolLM2-135M in F16 with graph capture on and off; random weights (speed
# does not depend on values), prompt 128, 256 new tokens, greedy. Prints one
# JSON line per run (genrt bench --json), then a trace of a short Llama run
# that reads tokens one step behind (genrt's way) and right after each
# step's submit (--read-compare), with device spans where timestamps exist.
# Usage: bench/webgpu.sh [OUTDIR]   (GENRT: the binary, default build/genrt)
# The first run pays the driver's shader compilation (cold cache): its
# prefill figure reads low.
set -uo pipefail
cd "$(dirname "$0")/.."
G=${GENRT:-build/genrt}
out=${1:-}
S=bench/configs/smollm2-135m/config.json
B=bench/configs/llama-3.2-1b/config.json
b() {
    echo "== $*" >&2
    timeout "${BENCH_TIMEOUT:-60}" "$G" bench --random-weights --device webgpu --prompt-len 128 -n 256 --json "$@"
}
b -m $S --dtype f16 --graph-capture on -n 16 >/dev/null  # warm the driver shader cache
b -m $B --dtype f16 --graph-capture on
b -m $B --dtype f16 --graph-capture off
b -m $B --dtype q8_0 --graph-capture on
b -m $B --dtype q4_0 --graph-capture on
b -m $S --dtype f16 --graph-capture on
b -m $S --dtype f16 --graph-capture off
b -m $S --dtype f16 --graph-capture on --steps-per-submit 4
GENRT_WEBGPU_NO_MERGE=1 b -m $S --dtype f16 --graph-capture on
GENRT_WEBGPU_F16=1 b -m $B --dtype f16 --graph-capture on
GENRT_WEBGPU_SKIP_VALIDATION=1 b -m $S --dtype f16 --graph-capture on
if [ -n "$out" ]; then
    # device spans (timestamp-query) and both read modes in one trace
    b -m $B --dtype f16 --graph-capture on -n 64 --read-compare --trace "$out/trace_llama1b_f16.json"
fi
