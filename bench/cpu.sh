#!/usr/bin/env bash
# CPU decode benchmark: SmolLM2-135M shape (random weights, speed does not
# depend on values) in BF16 and Q8_0, prompt 128, 256 new tokens, next to the
# machine's measured memory read bandwidth. Writes bench/results/cpu-<date>.md.
set -euo pipefail
cd "$(dirname "$0")/.."
make -j"$(nproc)" build/genrt >/dev/null
cc -O2 -march=native -fopenmp bench/membw.c -o build/membw
out=bench/results/cpu-$(date +%Y-%m-%d).md
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
bw=$(build/membw 1024)
{
    echo "# CPU decode benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo "- commit: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with local changes)')"
    echo "- machine: $cpu, $(nproc) cores"
    echo "- memory read bandwidth (bench/membw.c, all cores): $bw"
    echo "- command: build/genrt bench -m bench/configs/smollm2-135m/config.json --random-weights --dtype T --prompt-len 128 -n 256 --json"
    echo
    echo '```'
    for t in bf16 q8_0 q4_0 f32; do
        build/genrt bench -m bench/configs/smollm2-135m/config.json --random-weights --dtype $t --prompt-len 128 -n 256 --json
    done
    echo '```'
} | tee "$out"
