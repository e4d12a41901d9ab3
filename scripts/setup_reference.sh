#!/usr/bin/env bash
# Create (or reuse) the PyTorch reference venv that dumps the parity fixtures: the official
# `wavemix` 0.2.4 package on torch's CPU path. It lives OUTSIDE the repository (PyPI's torch pulls
# ~5 GB of CUDA libraries): ${WAVEMIX_REF_VENV:-$HOME/.cache/wavemix-ref-venv}.
# Progress goes to stderr; stdout is only the venv's python path, so `PY=$(scripts/setup_reference.sh)`.
set -euo pipefail

VENV="${WAVEMIX_REF_VENV:-$HOME/.cache/wavemix-ref-venv}"
PY="$VENV/bin/python"

# True when the venv imports everything make_fixtures.py needs, at the versions it needs.
venv_works() {
    [[ -x "$PY" ]] && CUDA_VISIBLE_DEVICES="" "$PY" - >/dev/null 2>&1 <<'PYEOF'
import importlib.metadata as md
import einops, numpy, pywt, safetensors, torch
from wavemix.classification import WaveMix
assert md.version("wavemix") == "0.2.4", md.version("wavemix")
assert int(numpy.__version__.split(".")[0]) < 2, numpy.__version__
PYEOF
}

if venv_works; then
    echo "reusing the reference venv at $VENV" >&2
else
    if [[ ! -x "$PY" ]]; then
        echo "creating the reference venv at $VENV" >&2
        python3 -m venv "$VENV" >&2 ||
            { echo "error: 'python3 -m venv' failed (on Debian: apt-get install python3-venv)" >&2; exit 1; }
    fi
    echo "installing torch and friends into $VENV (a few minutes, ~5 GB)" >&2
    "$PY" -m pip install --quiet "numpy<2" einops pywavelets safetensors torch >&2 ||
        { echo "error: pip could not install torch and friends into $VENV (is PyPI reachable?)" >&2; exit 1; }
    # --no-deps: wavemix also requires torchvision, which it never imports.
    "$PY" -m pip install --quiet --no-deps wavemix==0.2.4 >&2 ||
        { echo "error: pip could not install wavemix==0.2.4 into $VENV" >&2; exit 1; }
    venv_works || { echo "error: $VENV still cannot import torch + wavemix 0.2.4; see pip's output above" >&2; exit 1; }
    echo "reference venv ready" >&2
fi
echo "$PY"
