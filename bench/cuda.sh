#!/usr/bin/env bash
# CUDA decode benchmark (run on the GPU machine): Llama-3.2-1B shape in BF16,
# Q8_0 and Q4_0 and SmolLM2-135M shape in BF16, Q8_0 and Q4_0 (rows of 576:
# GGUF block layout, not repacked) (random weights: speed does not depend on
# values), prompt 128, 256 new tokens, batch 1, EOS ignored, greedy,
# with graph capture on and off. Writes bench/results/cuda-<date>.md.
#   BW_TBS: the device's measured read bandwidth in TB/s (default 3.1, the
#   H100 figure in ../shared/GPU.md).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
G=$BUILD/genrt
BW_TBS=${BW_TBS:-3.1}
out=${OUT_MD:-bench/results/cuda-$(date +%Y-%m-%d).md}
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1 || echo unknown)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo "${GENRT_COMMIT:-unknown}")
run() { # model dtype capture
    $G bench -m "bench/configs/$1/config.json" --random-weights --dtype "$2" --prompt-len 128 -n 256 \
        --device cuda --graph-capture "$3" --json
}
field() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p"; }
{
    echo "# CUDA decode benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo "- commit: $commit"
    echo "- device: $gpu; read bandwidth taken as $BW_TBS TB/s"
    echo "- command: $G bench -m bench/configs/MODEL/config.json --random-weights --dtype T --prompt-len 128 -n 256 --device cuda --graph-capture on|off --json"
    echo
    echo "| model | type | decode tok/s | ms/token | prefill tok/s | GB/s | % of BW | host us/token | blocking waits | capture off tok/s | on/off |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    for mt in "llama-3.2-1b bf16" "llama-3.2-1b q8_0" "llama-3.2-1b q4_0" "smollm2-135m bf16" "smollm2-135m q8_0" \
        "smollm2-135m q4_0"; do
        set -- $mt
        on=$(run "$1" "$2" on)
        off=$(run "$1" "$2" off)
        echo "$on" >&2
        echo "$off" >&2
        tps=$(echo "$on" | field decode_tokens_per_s)
        tps_off=$(echo "$off" | field decode_tokens_per_s)
        awk -v m="$1" -v t="$2" -v tps="$tps" -v ms="$(echo "$on" | field ms_per_token)" \
            -v pre="$(echo "$on" | field prefill_tokens_per_s)" -v gbs="$(echo "$on" | field effective_gb_per_s)" \
            -v host="$(echo "$on" | field host_us_per_step)" -v waits="$(echo "$on" | field blocking_waits)" \
            -v off="$tps_off" -v bw="$BW_TBS" \
            'BEGIN { printf "| %s | %s | %.0f | %.3f | %.0f | %.0f | %.0f%% | %.1f | %s | %.0f | %.2fx |\n",
                     m, t, tps, ms, pre, gbs, gbs / (bw * 10), host, waits, off, tps / off }'
    done
} | tee "$out"
