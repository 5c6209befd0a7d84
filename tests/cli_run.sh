#!/usr/bin/env bash
# The CLI's run / eval / bench / info on a reference model, and its errors:
# each bad input gets a message naming what is wrong and a non-zero exit.
set -u
G=${GENRT:-build/genrt}
D=${GENRT_TESTDATA:-../shared/testdata}/hf-goldens
M=$D/llama3-tiny
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
if [ ! -d "$M" ]; then echo "SKIP cli: no reference model at $M"; exit 0; fi

# expect NAME STATUS PATTERN -- CMD...: exit status and a stderr pattern
expect() {
    local name=$1 want=$2 pat=$3; shift 4
    "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ "$rc" -ne "$want" ]; then echo "FAIL $name: exit $rc, expected $want"; sed 's/^/  /' "$T/err" | head -5; return; fi
    if [ -n "$pat" ] && ! grep -q -- "$pat" "$T/err"; then
        echo "FAIL $name: stderr lacks '$pat'"; sed 's/^/  /' "$T/err" | head -5; return
    fi
    echo "PASS $name"
}

ids=$(sed -n '/input_ids/,/]/p' "$M/golden.json" | tr -d ' \n' | sed 's/.*\[//; s/\].*//')
want=$(sed -n '/greedy_new_ids/,/]/p' "$M/golden.json" | tr -d ' \n' | sed 's/.*\[//; s/\].*//; s/,/ /g')
expect "run --temp 0 --print-ids" 0 "tokens/s" -- $G run -m "$M" --ids "$ids" -n 28 --temp 0 --print-ids
got=$(head -1 "$T/out")
if [ "$got" = "$want" ]; then echo "PASS run reproduces greedy_new_ids"; else echo "FAIL run greedy ids: got '$got' want '$want'"; fi
expect "run --graph-capture off" 0 "capture off" -- $G run -m "$M" --ids "$ids" -n 28 --temp 0 --print-ids --graph-capture off
got2=$(head -1 "$T/out")
if [ "$got2" = "$got" ]; then echo "PASS capture off prints the same ids"; else echo "FAIL capture off ids differ"; fi
expect "run with sampling and a seed" 0 "" -- $G run -m "$M" --ids "$ids" -n 40 --temp 0.9 --top-k 20 --top-p 0.9 --min-p 0.02 --repeat-penalty 1.2 --seed 7 --print-ids
s1=$(head -1 "$T/out")
$G run -m "$M" --ids "$ids" -n 40 --temp 0.9 --top-k 20 --top-p 0.9 --min-p 0.02 --repeat-penalty 1.2 --seed 7 --print-ids >"$T/out2" 2>/dev/null
if [ "$s1" = "$(head -1 "$T/out2")" ]; then echo "PASS same seed, same tokens"; else echo "FAIL same seed gave different tokens"; fi
expect "eval writes logits" 0 "wrote 12 x 512" -- $G eval -m "$M" --ids "$ids" --logits "$T/l.f32"
if cmp -s <(stat -c %s "$T/l.f32") <(stat -c %s "$M/logits.f32"); then echo "PASS eval logits file size"; else echo "FAIL eval logits size"; fi
expect "info" 0 "" -- $G info "$M"
grep -q "llama" "$T/out" && echo "PASS info names the architecture" || echo "FAIL info output"
expect "bench --json" 0 "" -- $G bench -m "$M" --prompt-len 16 -n 16 --json
grep -q '"decode_tokens_per_s"' "$T/out" && echo "PASS bench json" || echo "FAIL bench json"
expect "bench --random-weights on a config.json" 0 "" -- $G bench -m "$M/config.json" --random-weights --dtype q8_0 --prompt-len 8 -n 8
expect "run --trace" 0 "" -- $G run -m "$M" --ids "$ids" -n 8 --temp 0 --print-ids --trace "$T/trace.json"
grep -q '"traceEvents"' "$T/trace.json" && grep -q '"prefill"' "$T/trace.json" && grep -q '"read token"' "$T/trace.json" \
    && echo "PASS trace has prefill, steps and readback" || echo "FAIL trace content"
expect "context limit stops cleanly" 0 "context" -- $G run -m "$M" --ids "$ids" -n 100 --temp 0 --print-ids --max-context 20

# the bundled toy model when -m is not given
expect "run without -m uses the bundled model" 0 "bundled toy model" -- $G run -p "In the beginning" -n 12 --temp 0
grep -q "^In the beginning of the" "$T/out" && echo "PASS the bundled model writes the prompt and its continuation" || echo "FAIL bundled model output: $(cat "$T/out")"

# bad input
expect "missing model path" 1 "/nonexistent" -- $G run -m /nonexistent --ids 1,2
expect "-n -1" 2 "\-n" -- $G run -m "$M" --ids 1,2 -n -1
expect "--top-p 2" 2 "top-p" -- $G run -m "$M" --ids 1,2 --top-p 2
expect "--temp -1" 2 "temp" -- $G run -m "$M" --ids 1,2 --temp -1
expect "--threads abc" 2 "threads" -- $G run -m "$M" --ids 1,2 --threads abc
expect "unknown option" 2 "unknown option" -- $G run -m "$M" --ids 1,2 --frobnicate
expect "bad --ids" 2 "ids" -- $G run -m "$M" --ids 1,x,2
expect "id outside the vocabulary" 1 "outside the vocabulary" -- $G run -m "$M" --ids 1,512,2
expect "prompt longer than the context" 1 "context" -- $G run -m "$M" --ids 1,2,3,4,5,6 --max-context 4
if $G run -m "$M" --ids 1,2 --device cuda >/dev/null 2>&1; then
    echo "SKIP unavailable device: this machine has a CUDA device"
else
    expect "unavailable device" 1 "not available" -- $G run -m "$M" --ids 1,2 --device cuda
fi
expect "unknown device" 1 "tpu" -- $G run -m "$M" --ids 1,2 --device tpu
expect "eval without --logits" 2 "logits" -- $G eval -m "$M" --ids 1,2
expect "unknown command" 2 "unknown command" -- $G frob
# a model without a vocabulary: converted with tokenizer.ggml.model = "none"
$G convert "$M" "$T/novocab.gguf" --type f32 >/dev/null 2>&1
expect "tokenize a model with no vocabulary" 1 "no vocabulary" -- $G tokenize -m "$T/novocab.gguf" "hi"
expect "text prompt to a model with no tokenizer" 1 "use --ids" -- $G run -m "$T/novocab.gguf" -p "hi"
expect "ids to a model with no tokenizer" 0 "" -- $G run -m "$T/novocab.gguf" --ids "$ids" -n 4 --temp 0 --print-ids
