#!/usr/bin/env python3
"""Compare a `wavemix debug-step` output with the official package's expected tensors.

  python scripts/compare_outputs.py OUT.safetensors EXPECTED.safetensors

Every tensor of EXPECTED must be in OUT under the same name and shape. Float tensors pass when
max|out - expected| <= 1e-4 * max|expected| + 1e-6; integer tensors (BatchNorm num_batches_tracked)
must hold exactly the same values (OUT may store them as floats). Tensors only in OUT are ignored.
Gradients that are zero by construction -- the bias of each feed-forward's transposed convolution
(`...feedforward*.4.bias`), which feeds a training-mode BatchNorm that removes any constant shift --
hold only rounding noise in both implementations; they are compared absolutely (|a-b| <= 1e-5),
after checking that the reference is indeed that small.
Prints one line per tensor and exits 1 if any is missing or fails.
"""
import re
import sys

import numpy as np
from safetensors.numpy import load_file

RTOL, ATOL = 1e-4, 1e-6
ZERO_ATOL = 1e-5
ZERO_BY_CONSTRUCTION = re.compile(r"^grad\.layers\.\d+\.feedforward\d?\.4\.bias$")


def compare(name, a, b):
    """(ok, line) for OUT tensor a (None if missing) against EXPECTED tensor b."""
    shape = "x".join(map(str, b.shape)) or "scalar"
    if a is None:
        return False, f"{name:60s} {shape:>14s}  missing from OUT  FAIL"
    if a.shape != b.shape:
        return False, f"{name:60s} {shape:>14s}  OUT has shape {list(a.shape)}  FAIL"
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    diff = float(np.max(np.abs(a64 - b64))) if b.size else 0.0
    scale = float(np.max(np.abs(b64))) if b.size else 0.0
    if np.issubdtype(b.dtype, np.integer):
        ok = bool(np.array_equal(a64, b64))
    elif ZERO_BY_CONSTRUCTION.match(name) and scale <= ZERO_ATOL:
        ok = diff <= ZERO_ATOL  # False for NaN
    else:
        ok = diff <= RTOL * scale + ATOL  # False for NaN
    return ok, f"{name:60s} {shape:>14s}  max|a-b| {diff:.3e}  max|b| {scale:.3e}  {'ok' if ok else 'FAIL'}"


def main():
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} OUT.safetensors EXPECTED.safetensors")
    out, expected = load_file(sys.argv[1]), load_file(sys.argv[2])
    failed = 0
    for name in sorted(expected):
        ok, line = compare(name, out.get(name), expected[name])
        print(line)
        failed += not ok
    print(f"{len(expected) - failed}/{len(expected)} tensors ok" + (f", {failed} FAILED" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
