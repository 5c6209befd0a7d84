#!/bin/sh
# Extract the King James Bible (Debian package bible-kjv, public domain) as
# plain text for the toy model: one verse per line, verse numbers and chapter
# headings dropped, chapters separated by one empty line.
# Usage: scripts/toy/extract_corpus.sh [OUT]   (default build/toy/kjv.txt)
# Idempotent: installs bible-kjv when `bible` is missing, rewrites OUT.
set -eu
out=${1:-build/toy/kjv.txt}

if ! command -v bible >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get install -y bible-kjv >/dev/null || {
        $sudo apt-get update >/dev/null && $sudo apt-get install -y bible-kjv >/dev/null; }
fi

mkdir -p "$(dirname "$out")"
tmp="$out.tmp"
# -l 100000: a line width wider than any verse, so no verse is wrapped.
# bible prints "Book N" headings, empty lines and "  N text" verse lines.
bible -l 100000 "Genesis1:1-Revelation22:21" | awk '
    /^  [0-9]+ / { sub(/^  [0-9]+ /, ""); sub(/[ \t\r]+$/, "");
                   if (newch && nv > 0) print "";
                   newch = 0; nv++; print; next }
    /^$/         { next }
                 { newch = 1; nch++ }
    END          { if (nv != 31102 || nch != 1189) {
                       printf "extract_corpus: got %d verses in %d chapters, want 31102 in 1189\n",
                              nv, nch > "/dev/stderr"; exit 1 } }' > "$tmp"
mv "$tmp" "$out"
echo "extract_corpus: $out: $(wc -c < "$out") bytes, sha256 $(sha256sum "$out" | cut -d' ' -f1)"
