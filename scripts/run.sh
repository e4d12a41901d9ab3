#!/usr/bin/env bash
# The main job: set up (packages, release build), then train WaveMix-Lite on Fashion-MNIST with the
# official recipe on all cores. Extra arguments go to `wavemix train` (e.g. --epochs 10).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .build/release/wavemix train "$@"
