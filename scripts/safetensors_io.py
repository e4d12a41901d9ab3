"""Byte-deterministic safetensors writer for the parity fixtures.

The `safetensors` package keeps `__metadata__` in a Rust HashMap, so its key order (and the file's
bytes) change from one process to the next. This writer emits the same format with a canonical
header: `__metadata__` first with sorted keys, then tensors sorted by (element size descending, name)
so every tensor's data is aligned to its element size, as the official writer does. Each file is
read back with the official `safetensors` loader to prove it is valid.
"""
import json
import struct

import numpy as np
from safetensors import safe_open

_DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}


def write_safetensors(path, tensors, metadata=None):
    """tensors: name -> numpy array (float32 or int64); metadata: str -> str."""
    # np.asarray keeps 0-d scalars (the loss) 0-d; np.ascontiguousarray would make them shape [1].
    arrays = {name: np.asarray(a) for name, a in tensors.items()}
    for name, a in arrays.items():
        if a.dtype not in _DTYPES:
            raise TypeError(f"{name}: unsupported dtype {a.dtype} (only float32, int64)")
    order = sorted(arrays, key=lambda n: (-arrays[n].dtype.itemsize, n))
    header, offset = {}, 0
    if metadata:
        header["__metadata__"] = {k: metadata[k] for k in sorted(metadata)}
    for name in order:
        a = arrays[name]
        header[name] = {"dtype": _DTYPES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # pad the header with spaces so the data starts 8-aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for name in order:
            a = arrays[name]
            f.write(a.astype(a.dtype.newbyteorder("<")).tobytes(order="C"))  # little-endian, row-major
    _check_roundtrip(path, arrays, metadata or {})


def _check_roundtrip(path, arrays, metadata):
    with safe_open(path, framework="np") as f:
        assert (f.metadata() or {}) == metadata, f"{path}: metadata did not round-trip"
        assert set(f.keys()) == set(arrays), f"{path}: tensor names did not round-trip"
        for name, a in arrays.items():
            b = f.get_tensor(name)
            assert b.dtype == a.dtype and b.shape == a.shape and b.tobytes() == a.tobytes(), \
                f"{path}: tensor {name} did not round-trip"
