#!/usr/bin/env bash
# Installs what genrt needs on Debian 12 and builds it. Idempotent.
#   scripts/setup.sh            packages, the WebGPU runtime (Dawn, lavapipe), build
# The WebGPU backend is optional at run time: if fetching Dawn fails, genrt
# still builds and runs on the CPU, unless GENRT_REQUIRE_WEBGPU=1 (CI sets it).
# Packages: a C compiler and make, cJSON (JSON), PCRE2 (Unicode regex for the
# tokenizer's pre-tokenizers), ICU (Unicode normalization, NFC/NFKC).
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS="gcc make libc6-dev libcjson-dev libpcre2-dev libicu-dev"
command -v npm >/dev/null || PKGS="$PKGS npm"   # fetches Dawn (WebGPU)
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
lavapipe=""
command -v nvidia-smi >/dev/null && lavapipe="SKIP_LAVAPIPE=1"   # a real Vulkan driver is there
if ! env $lavapipe scripts/setup_webgpu.sh; then
    [ "${GENRT_REQUIRE_WEBGPU:-0}" = 1 ] && exit 1
    echo "setup: WebGPU runtime not fetched; genrt will run on the CPU (and CUDA)" >&2
fi
make -j"$(nproc)"
