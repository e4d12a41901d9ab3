#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks for wavemix-swift (apt packages, including the
# Fashion-MNIST data set) and builds the release binary. Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libopenmpi-dev openmpi-bin libopenblas-dev libzstd-dev libturbojpeg0-dev libpng-dev zlib1g-dev
          pkg-config dataset-fashion-mnist)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v swift >/dev/null || { echo "setup: swift is not on PATH (Swift 6.1 or newer is needed)" >&2; exit 1; }
echo "setup: building (release)" >&2
log=$(mktemp)
if ! swift build -c release >"$log" 2>&1; then
    grep -E "error" "$log" | head -20 >&2 || tail -20 "$log" >&2
    echo "setup: the release build failed (full log: $log)" >&2
    exit 1
fi
rm -f "$log"
