#!/usr/bin/env bash
# Fetches what the WebGPU backend needs at run time, into git-ignored folders
# under .deps/ (no system change). Idempotent: verified files are kept.
#   .deps/webgpu/libwebgpu_wrapper.so   Dawn, from npm bun-webgpu-linux-x64@0.1.7
#                                       (both SHA-256s checked)
#   .deps/lavapipe/mesa/...             Mesa 25 lavapipe (Vulkan on the CPU)
#                                       from Debian bookworm-backports, with an
#                                       ICD manifest at .deps/lavapipe/lvp_icd.json
# SKIP_LAVAPIPE=1 skips the second part (machines with a GPU driver).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PKG=bun-webgpu-linux-x64@0.1.7
TGZ_SHA=8badfecdad4e726ac12be4f29771f4cbd7ce7683b4418316a547c5bda94fb798
SO_SHA=3190c3777f2c07fcf6a0640833cbf5d0cde859dc53aed6d9083946d093198788
W=.deps/webgpu
mkdir -p "$W"
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

if sha_ok "$W/libwebgpu_wrapper.so" "$SO_SHA"; then
    echo "setup_webgpu: $W/libwebgpu_wrapper.so present and verified"
else
    command -v npm >/dev/null || { echo "setup_webgpu: npm is needed to fetch $PKG" >&2; exit 1; }
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack --silent "$PKG" >/dev/null)
    tgz=$(ls "$tmp"/*.tgz)
    sha_ok "$tgz" "$TGZ_SHA" || { echo "setup_webgpu: $PKG tarball SHA-256 mismatch" >&2; exit 1; }
    tar -xzf "$tgz" -C "$tmp" package/libwebgpu_wrapper.so
    sha_ok "$tmp/package/libwebgpu_wrapper.so" "$SO_SHA" ||
        { echo "setup_webgpu: libwebgpu_wrapper.so SHA-256 mismatch" >&2; exit 1; }
    mv "$tmp/package/libwebgpu_wrapper.so" "$W/libwebgpu_wrapper.so"
    echo "setup_webgpu: fetched and verified $W/libwebgpu_wrapper.so"
fi

[ "${SKIP_LAVAPIPE:-0}" = 1 ] && exit 0
L=.deps/lavapipe
LVP=$L/mesa/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so
if [ ! -f "$LVP" ]; then
    # Debian 12's own lavapipe (Mesa 22.3) lacks features Dawn requires; Mesa 25
    # from bookworm-backports works. apt runs with private lists and cache.
    MIRROR="${DEBIAN_MIRROR:-}"
    if [ -z "$MIRROR" ]; then
        MIRROR=$(grep -hoE '^(URIs:|deb)[[:space:]]+[^[:space:]]+' /etc/apt/sources.list.d/*.sources \
                 /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v -- '-security' |
                 grep -E '/debian/?$' | head -n 1 || true)
    fi
    [ -n "$MIRROR" ] || { echo "setup_webgpu: no Debian mirror in the apt sources; set DEBIAN_MIRROR" >&2; exit 1; }
    A=$L/apt
    mkdir -p "$A/lists/partial" "$A/archives/partial" "$L/debs"
    K=/usr/share/keyrings/debian-archive-keyring.gpg
    printf 'deb [signed-by=%s] %s bookworm main\ndeb [signed-by=%s] %s bookworm-backports main\n' \
        "$K" "$MIRROR" "$K" "$MIRROR" > "$A/sources.list"
    O=(-o Dir::Etc::SourceList="$ROOT/$A/sources.list" -o Dir::Etc::SourceParts=/dev/null
       -o Dir::State::Lists="$ROOT/$A/lists" -o Dir::Cache="$ROOT/$A" -o APT::Sandbox::User=root
       -o Debug::NoLocking=1)
    apt-get "${O[@]}" update >/dev/null
    # libdrm from backports too (Mesa 25 lavapipe needs >= 2.4.121), and the Vulkan
    # loader, which Dawn dlopens (libvulkan.so.1) and Debian does not install by default.
    (cd "$L/debs" && apt-get "${O[@]}" download mesa-vulkan-drivers/bookworm-backports libdrm2/bookworm-backports \
        libdrm-amdgpu1/bookworm-backports libvulkan1 >/dev/null)
    rm -rf "$L/mesa"
    mkdir -p "$L/mesa"
    for f in "$L"/debs/*.deb; do dpkg -x "$f" "$L/mesa"; done
    [ -f "$LVP" ] || { echo "setup_webgpu: lavapipe missing after unpacking" >&2; exit 1; }
    rm -rf "$A"
    echo "setup_webgpu: unpacked Mesa lavapipe into $L/mesa ($(ls "$L/debs" | tr '\n' ' '))"
else
    echo "setup_webgpu: lavapipe present in $L/mesa"
fi
# The manifest names the library by absolute path; rewrite it each run so a
# moved checkout still works.
printf '{ "file_format_version": "1.0.0", "ICD": { "library_path": "%s", "api_version": "1.3.0" } }\n' \
    "$ROOT/$LVP" > "$L/lvp_icd.json"
