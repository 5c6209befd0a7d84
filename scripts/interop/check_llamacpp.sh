#!/usr/bin/env bash
# Interoperability check: llama.cpp (node-llama-cpp's prebuilt CPU build, from
# npm, into .deps/llamacpp; ~700 MB, so not part of CI) reads the GGUFs that
# `genrt convert` writes, for every reference architecture and weight type,
# and its greedy continuation is compared with genrt's on the same file.
# Prints one PASS/FAIL line per file and a summary.
#   scripts/interop/check_llamacpp.sh [OUT.md]
set -uo pipefail
cd "$(dirname "$0")/../.."
D=.deps/llamacpp
if [ ! -d "$D/node_modules/node-llama-cpp" ]; then
    mkdir -p "$D" && (cd "$D" && npm init -y >/dev/null && npm install --ignore-scripts --silent node-llama-cpp@3.22.1) || exit 1
fi
cp scripts/interop/llamacpp_greedy.mjs "$D/"
G=build/genrt
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
# check NAME GGUF IDS N MODE: MODE exact (f32/f16: the same greedy ids) or
# prefix (Q8_0/Q4_0: llama.cpp rounds activations its own way, and these
# random-weight models amplify any difference, so the run is reported, not judged)
check() {
    local want got same=0
    want=$($G run -m "$2" --ids "$3" -n "$4" --temp 0 --print-ids --ignore-eos 2>/dev/null | head -1)
    got=$(node "$D/llamacpp_greedy.mjs" "$(realpath "$2")" "[$3]" "$4" 2>"$T/err" | tail -1)
    local a=($want) b=($got)
    while [ $same -lt ${#a[@]} ] && [ "${a[$same]}" = "${b[$same]:-x}" ]; do same=$((same+1)); done
    if [ "$5" = prefix ]; then
        echo "INFO $1: first $same of $4 greedy ids equal"
    elif [ -n "$want" ] && [ "$want" = "$got" ]; then echo "PASS $1"; pass=$((pass+1));
    else
        echo "FAIL $1 (first $same equal)"; echo "  genrt:     $want"; echo "  llama.cpp: $got"
        grep -v '^ *at ' "$T/err" | head -3 | sed 's/^/  /'; fail=$((fail+1))
    fi
}
check "toy-bf16.gguf (shipped)" models/toy/toy-bf16.gguf 0,1131,259,1787,1230 40 exact
for src in ../shared/testdata/hf-goldens/* tests/data/hf-goldens/*; do
    [ -f "$src/golden.json" ] || continue
    name=$(basename "$src")
    # the reference models have no tokenizer: give each one of its vocabulary size
    dir=$T/$name
    mkdir -p "$dir"
    for f in "$src"/*; do ln -sf "$(realpath "$f")" "$dir/"; done
    vocab=$(tr -d ' \n' < "$src/config.json" | sed 's/.*"vocab_size":\([0-9]*\).*/\1/')
    specials=""
    [ "$name" = phi3-tiny ] && specials="<|endoftext|> <|end|> </s> <s> <unk>"   # llama.cpp looks these up by text for Phi-3
    node scripts/interop/make_tokenizer.mjs "$vocab" $specials > "$dir/tokenizer.json"
    ids=$(tr -d ' \n' < "$src/golden.json" | sed 's/.*"input_ids":\[\([0-9,]*\)\].*/\1/')
    for t in f32 f16 q8_0 q4_0; do
        $G convert "$dir" "$T/m.gguf" --type $t >/dev/null 2>&1 || { echo "FAIL $name $t: convert"; fail=$((fail+1)); continue; }
        mode=exact
        case $t in q*) mode=prefix ;; esac
        # llama.cpp's llama architecture ignores the sliding window (a known
        # difference from transformers, which genrt follows)
        [ "$name" = mistral-swa-tiny ] && mode=prefix
        check "$name $t" "$T/m.gguf" "$ids" 28 $mode
    done
done
echo "$pass passed, $fail failed"
