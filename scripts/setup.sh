#!/usr/bin/env bash
# Installs what genrt needs on Debian 12 and builds it. Idempotent.
#   scripts/setup.sh            packages + build
# Packages: a C compiler and make, cJSON (JSON), PCRE2 (Unicode regex for the
# tokenizer's pre-tokenizers), ICU (Unicode normalization, NFC/NFKC).
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS="gcc make libc6-dev libcjson-dev libpcre2-dev libicu-dev"
missing=""
for p in $PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup: installing$missing"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
make -j"$(nproc)"
