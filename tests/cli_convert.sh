#!/usr/bin/env bash
# genrt convert: exit statuses and messages (0 ok, 1 runtime failure, 2 usage).
set -u
GENRT=${GENRT:-build/genrt}
DATA=${GENRT_TESTDATA:-../shared/testdata}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1: $2"; }

"$GENRT" convert "$DATA/hf-goldens/qwen3-tiny" "$tmp/q.gguf" --type q8_0 2>"$tmp/err"
rc=$?
if [ $rc -eq 0 ] && [ "$(head -c 4 "$tmp/q.gguf")" = "GGUF" ]; then ok cli_convert_q8_0
else bad cli_convert_q8_0 "rc=$rc $(cat "$tmp/err")"; fi

"$GENRT" convert "$DATA/hf-goldens/qwen3-tiny" "$tmp/k.gguf" 2>"$tmp/err"
rc=$?
if [ $rc -eq 0 ] && [ -s "$tmp/k.gguf" ]; then ok cli_convert_keep_types
else bad cli_convert_keep_types "rc=$rc $(cat "$tmp/err")"; fi

"$GENRT" convert "$tmp/missing-model" "$tmp/x.gguf" 2>"$tmp/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "missing-model" "$tmp/err"; then ok cli_convert_missing_source
else bad cli_convert_missing_source "rc=$rc $(cat "$tmp/err")"; fi

"$GENRT" convert "$DATA/hf-goldens/qwen3-tiny" "$tmp/x.gguf" --type q3_k 2>"$tmp/err"
rc=$?
if [ $rc -eq 2 ] && grep -q "q3_k" "$tmp/err"; then ok cli_convert_bad_type
else bad cli_convert_bad_type "rc=$rc $(cat "$tmp/err")"; fi

"$GENRT" convert "$DATA/hf-goldens/qwen3-tiny" 2>"$tmp/err"
rc=$?
if [ $rc -eq 2 ] && grep -q "usage" "$tmp/err"; then ok cli_convert_usage
else bad cli_convert_usage "rc=$rc $(cat "$tmp/err")"; fi
