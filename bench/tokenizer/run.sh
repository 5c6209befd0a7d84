#!/usr/bin/env bash
# Tokenizer benchmark: genrt vs @huggingface/tokenizers (Node), same machine,
# same run, same text, single thread. Reports load time of tokenizer.json and
# encode throughput on ~3 MB of mixed text, checks that both give the same
# ids, and writes bench/results/tokenizer-<date>.md.
#   bench/tokenizer/run.sh [TOKENIZER_DIR ...]   (default: qwen3 llama3 llama2)
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${GENRT_TESTDATA:-../shared/testdata}
B=bench/tokenizer
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

if [ ! -d $B/node_modules/@huggingface/tokenizers ]; then
    (cd $B && npm install --no-audit --no-fund --loglevel=error)
fi
make -s -j2 build/libgenrt.a
${CC:-cc} -std=c11 -O2 -D_GNU_SOURCE -Iinclude $B/bench_tok.c build/libgenrt.a \
    -lcjson -lpcre2-8 -licuuc -lm -pthread -ldl -o "$W/bench_tok"
node $B/make_text.mjs "$W/text.txt" 3000000

if [ $# -eq 0 ]; then set -- "$DATA/tokenizers/qwen3" "$DATA/tokenizers/llama3" "$DATA/tokenizers/llama2"; fi
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src include || echo "+dirty")
mkdir -p bench/results
out=bench/results/tokenizer-$(date +%Y-%m-%d).md
{
    echo "# Tokenizer benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- command: \`bench/tokenizer/run.sh $*\`"
    echo "- commit: $commit; machine: $cpu ($(nproc) cores; both sides single-threaded)"
    echo "- reference: @huggingface/tokenizers $(node -p "require('./$B/node_modules/@huggingface/tokenizers/package.json').version") on Node $(node --version)"
    echo "- text: $(stat -c %s "$W/text.txt") bytes of mixed text ($B/make_text.mjs); load = median of 5, encode = median of 3"
    echo
    echo "| tokenizer | genrt load ms | node load ms | load speedup | genrt encode MB/s | node encode MB/s | encode speedup | same ids |"
    echo "|---|---|---|---|---|---|---|---|"
} >"$W/report.md"
for dir in "$@"; do
    name=$(basename "$dir")
    g=$("$W/bench_tok" "$dir/tokenizer.json" "$W/text.txt" "$W/ids_genrt.json" 5 3)
    n=$(node $B/bench_node.mjs "$dir" "$W/text.txt" "$W/ids_node.json" 5 3)
    same=no
    cmp -s "$W/ids_genrt.json" "$W/ids_node.json" && same=yes
    row=$(node -e '
        const g = JSON.parse(process.argv[1]), n = JSON.parse(process.argv[2]);
        const f = (x, d) => x.toFixed(d);
        console.log(`| ${process.argv[3]} | ${f(g.load_ms,1)} | ${f(n.load_ms,1)} | ${f(n.load_ms/g.load_ms,2)}x | ${f(g.mb_per_s,2)} | ${f(n.mb_per_s,2)} | ${f(g.mb_per_s/n.mb_per_s,2)}x | ${process.argv[4]} (${g.ids} ids) |`);
    ' "$g" "$n" "$name" "$same")
    echo "$row" | tee -a "$W/report.md"
    if [ $same = no ]; then
        echo "  ids differ for $name: first difference near id" \
            "$(node -e 'const a=require(process.argv[1]),b=require(process.argv[2]);let i=0;while(i<a.length&&a[i]===b[i])i++;console.log(i, "genrt", JSON.stringify(a.slice(i,i+6)), "node", JSON.stringify(b.slice(i,i+6)))' "$W/ids_genrt.json" "$W/ids_node.json")" \
            | tee -a "$W/report.md"
    fi
done
cat "$W/report.md" >"$out"
echo "wrote $out"
