#!/usr/bin/env bash
# genrt tokenize / detokenize: ids against Hugging Face's (reference_encodings.json),
# the --jsonl mode, GGUF and directory paths, and exit statuses
# (0 ok, 1 runtime failure, 2 usage).
set -u
GENRT=${GENRT:-build/genrt}
DATA=${GENRT_TESTDATA:-../shared/testdata}
T=$DATA/tokenizers
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1: $2"; }

if [ ! -x "$GENRT" ] || ! "$GENRT" tokenize --help >/dev/null 2>&1; then
    echo "SKIP cli_tokenize: $GENRT has no tokenize command"
    exit 0
fi

out=$("$GENRT" tokenize -m "$T/llama2/tokenizer.json" --special "Hello, world!" 2>"$tmp/err")
if [ "$out" = "[1, 22557, 28725, 1526, 28808]" ]; then ok cli_tokenize_special
else bad cli_tokenize_special "got '$out' $(cat "$tmp/err")"; fi

out=$("$GENRT" tokenize -m "$T/qwen3" "Hello, world!" 2>"$tmp/err")
if [ "$out" = "[9707, 11, 1879, 0]" ]; then ok cli_tokenize_directory
else bad cli_tokenize_directory "got '$out' $(cat "$tmp/err")"; fi

# every reference string, in one --jsonl run per tokenizer
if command -v python3 >/dev/null; then
    for name in llama2 llama3 qwen3; do
        for sp in "" --special; do
            key=ids; [ -n "$sp" ] && key=ids_special
            python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); [print(json.dumps(s)) for s in d["corpus"]]' \
                "$T/reference_encodings.json" >"$tmp/in.jsonl"
            python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); [print(json.dumps(r[sys.argv[3]])) for r in d["tokenizers"][sys.argv[2]]]' \
                "$T/reference_encodings.json" "$name" "$key" >"$tmp/want.jsonl"
            "$GENRT" tokenize -m "$T/$name/tokenizer.json" $sp --jsonl <"$tmp/in.jsonl" >"$tmp/got.jsonl" 2>"$tmp/err"
            rc=$?
            if [ $rc -eq 0 ] && cmp -s "$tmp/got.jsonl" "$tmp/want.jsonl"; then ok "cli_tokenize_jsonl_${name}${sp}"
            else bad "cli_tokenize_jsonl_${name}${sp}" "rc=$rc $(diff "$tmp/got.jsonl" "$tmp/want.jsonl" | head -4) $(cat "$tmp/err")"; fi
        done
    done
else
    echo "SKIP cli_tokenize_jsonl: no python3 to read the references"
fi

out=$("$GENRT" detokenize -m "$T/llama2" 1,22557,28725,1526,28808 2>"$tmp/err")
if [ "$out" = "<s> Hello, world!" ]; then ok cli_detokenize
else bad cli_detokenize "got '$out' $(cat "$tmp/err")"; fi

out=$("$GENRT" detokenize -m "$T/qwen3/tokenizer.json" "[9707, 11, 1879, 0]" 2>"$tmp/err")
if [ "$out" = "Hello, world!" ]; then ok cli_detokenize_json_array
else bad cli_detokenize_json_array "got '$out' $(cat "$tmp/err")"; fi

"$GENRT" detokenize -m "$T/llama2" 1,32000 >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "32000" "$tmp/err"; then ok cli_detokenize_out_of_vocab
else bad cli_detokenize_out_of_vocab "rc=$rc $(cat "$tmp/err")"; fi

"$GENRT" detokenize -m "$T/llama2" 1,two >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc -eq 2 ]; then ok cli_detokenize_bad_ids
else bad cli_detokenize_bad_ids "rc=$rc $(cat "$tmp/err")"; fi

"$GENRT" tokenize "text" >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc -eq 2 ] && grep -q -- "-m" "$tmp/err"; then ok cli_tokenize_usage
else bad cli_tokenize_usage "rc=$rc $(cat "$tmp/err")"; fi

"$GENRT" tokenize -m "$tmp/missing.json" "text" >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "missing.json" "$tmp/err"; then ok cli_tokenize_missing_file
else bad cli_tokenize_missing_file "rc=$rc $(cat "$tmp/err")"; fi

printf '{"model": ' >"$tmp/broken.json"
"$GENRT" tokenize -m "$tmp/broken.json" "text" >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "broken.json: not valid JSON" "$tmp/err"; then ok cli_tokenize_bad_json
else bad cli_tokenize_bad_json "rc=$rc $(cat "$tmp/err")"; fi

printf '"ok"\nnot json\n' | "$GENRT" tokenize -m "$T/qwen3" --jsonl >/dev/null 2>"$tmp/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "line 2" "$tmp/err"; then ok cli_tokenize_jsonl_bad_line
else bad cli_tokenize_jsonl_bad_line "rc=$rc $(cat "$tmp/err")"; fi

# invalid UTF-8 from a file: the ids of its lossy decoding "abc\ufffd"
printf 'abc\xff' >"$tmp/inv.txt"
out=$("$GENRT" tokenize -m "$T/qwen3" -f "$tmp/inv.txt" 2>"$tmp/err")
want=$("$GENRT" tokenize -m "$T/qwen3" "$(printf 'abc\xef\xbf\xbd')" 2>&1)
if [ -n "$out" ] && [ "$out" = "$want" ]; then ok cli_tokenize_invalid_utf8
else bad cli_tokenize_invalid_utf8 "got '$out' want '$want' $(cat "$tmp/err")"; fi

# genrt convert writes the tokenizer into the GGUF: the same ids from the
# directory, from its GGUF, and from a re-typed copy of that GGUF
mkdir -p "$tmp/m"
cp "$DATA"/hf-goldens/qwen3-tiny/* "$tmp/m/" 2>/dev/null
cp "$T"/qwen3/tokenizer.json "$T"/qwen3/tokenizer_config.json "$tmp/m/"
chmod -R u+w "$tmp/m"
if "$GENRT" convert --help >/dev/null 2>&1 && "$GENRT" convert "$tmp/m" "$tmp/q.gguf" >/dev/null 2>"$tmp/err"; then
    text='Hello, world! <|im_start|>user café 12345 👍🏽'
    a=$("$GENRT" tokenize -m "$tmp/m" --special "$text" 2>&1)
    b=$("$GENRT" tokenize -m "$tmp/q.gguf" --special "$text" 2>&1)
    if [ "$a" = "$b" ] && [ "${a:0:1}" = "[" ]; then ok cli_tokenize_converted_gguf
    else bad cli_tokenize_converted_gguf "json '$a' gguf '$b'"; fi
    if "$GENRT" convert "$tmp/q.gguf" "$tmp/q8.gguf" --type q8_0 >/dev/null 2>"$tmp/err"; then
        c=$("$GENRT" tokenize -m "$tmp/q8.gguf" --special "$text" 2>&1)
        if [ "$a" = "$c" ]; then ok cli_tokenize_retyped_gguf
        else bad cli_tokenize_retyped_gguf "json '$a' re-typed gguf '$c'"; fi
    else
        echo "SKIP cli_tokenize_retyped_gguf: convert cannot re-type a GGUF: $(cat "$tmp/err")"
    fi
    d=$("$GENRT" detokenize -m "$tmp/q.gguf" "$(echo "$a" | tr -d '[]')" 2>&1)
    if [ "$d" = "$text" ]; then ok cli_detokenize_converted_gguf
    else bad cli_detokenize_converted_gguf "got '$d'"; fi
else
    echo "SKIP cli_tokenize_converted_gguf: genrt convert unavailable or failed: $(cat "$tmp/err" 2>/dev/null)"
fi
