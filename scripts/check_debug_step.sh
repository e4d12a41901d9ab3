#!/usr/bin/env bash
# Parity check of the Swift `wavemix debug-step` against the official PyTorch package.
#
#   scripts/check_debug_step.sh [CASE_DIR...]
#
# Each CASE_DIR holds config.json, weights.safetensors, batch.safetensors and expected.safetensors
# (written by make_fixtures.py). Without arguments: a fresh --unseen set (configurations the Swift
# tests never saw, generated with the reference venv) plus the committed model fixtures.
# Environment: WAVEMIX (binary, default .build/release/wavemix), WAVEMIX_REF_VENV (reference venv,
# default ~/.cache/wavemix-ref-venv), PYTHON (interpreter for the scripts, default the venv's).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WAVEMIX="${WAVEMIX:-$ROOT/.build/release/wavemix}"
PYTHON="${PYTHON:-${WAVEMIX_REF_VENV:-$HOME/.cache/wavemix-ref-venv}/bin/python}"

if [[ ! -x "$WAVEMIX" ]]; then
    echo "error: no wavemix binary at $WAVEMIX (run 'swift build -c release', or set WAVEMIX)" >&2
    exit 2
fi
if [[ ! -x "$PYTHON" ]]; then
    echo "error: no Python at $PYTHON (run scripts/setup_reference.sh, or set PYTHON)" >&2
    exit 2
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

if [[ $# -eq 0 ]]; then
    echo "generating unseen cases with $PYTHON"
    "$PYTHON" "$ROOT/scripts/make_fixtures.py" --unseen "$TMP/unseen"
    set -- "$TMP"/unseen/*/ "$ROOT"/Tests/WaveMixTests/Fixtures/model/*/
fi

passed=0
failed=()
for dir in "$@"; do
    dir="${dir%/}"
    name="$(basename "$dir")"
    out="$TMP/out.safetensors"
    rm -f "$out"  # never compare a previous case's output
    echo "== $name ($dir)"
    if "$WAVEMIX" debug-step --config "$dir/config.json" --weights "$dir/weights.safetensors" \
            --batch "$dir/batch.safetensors" --out "$out" &&
        "$PYTHON" "$ROOT/scripts/compare_outputs.py" "$out" "$dir/expected.safetensors"; then
        passed=$((passed + 1))
    else
        echo "!! $name FAILED"
        failed+=("$name")
    fi
done

echo "debug-step parity: $passed passed, ${#failed[@]} failed${failed:+ (${failed[*]})}"
[[ ${#failed[@]} -eq 0 ]]
