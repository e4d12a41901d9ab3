"""TrivialAugmentWide fixtures from torchvision + Pillow, for Tests/DataTests/TrivialAugmentTests.swift.

Writes Tests/DataTests/Fixtures/trivial_augment.bin.gz: gzip of
    u64 little-endian N, N bytes of JSON header, then the payload (uint8 images, H x W x C, row-major).
The header holds the versions, torchvision's magnitude table (`_augmentation_space(31)`), the input
images and one entry per case: image, op, bin (null for ops without magnitude), negative, the
magnitude TrivialAugmentWide.forward would pass, flip (RandomHorizontalFlip applied first) and where
its output lies in the payload. Outputs come from `_apply_op` on PIL images exactly as forward calls
it (fill=None stays None for PIL images; NEAREST). Deterministic: run twice, get the same bytes.

Run with the reference venv (torchvision and Pillow installed):
    ~/.cache/wavemix-ref-venv/bin/python scripts/trivial_augment_fixtures.py
"""
import gzip
import json
import platform
import struct
import sys
from pathlib import Path

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from torchvision.transforms import InterpolationMode, TrivialAugmentWide
from torchvision.transforms.autoaugment import _apply_op

OUT = Path(__file__).resolve().parent.parent / "Tests/DataTests/Fixtures/trivial_augment.bin.gz"
BINS = 31
# Every bin for most images; a spread of bins for the rest keeps the file near 1 MB (bin 20 is the 90 degree rotation).
SOME_BINS = (0, 1, 2, 3, 7, 10, 15, 20, 25, 28, 29, 30)
FEWER_BINS = ("rgb_pattern", "rgb_wide")


def grey_garment(rng):
    """Fashion-MNIST-like: black background, a shaded shirt shape with a collar edge and weave."""
    y, x = np.mgrid[0:28, 0:28]
    body = (np.abs(x - 13.5) < 7) & (y > 3) & (y < 26)
    sleeves = (y > 4) & (y < 13) & (np.abs(x - 13.5) < 12 - (y - 4) * 0.4)
    shape = body | sleeves
    shade = 90 + 6 * y + 20 * np.cos(x / 3.0) + rng.normal(0, 4, (28, 28))
    image = np.where(shape, shade, 0)
    image[3:6, 10:18] = 255 * ((x[3:6, 10:18] + y[3:6, 10:18]) % 2)  # collar: hard alternating edge
    return np.clip(image, 0, 255).astype(np.uint8)


def grey_scene(rng):
    """Gradient background, a bright blob, a dark bar and a few saturated pixels."""
    y, x = np.mgrid[0:28, 0:28]
    image = 30 + 4 * x + 2 * y + rng.normal(0, 3, (28, 28))
    image += 160 * np.exp(-((x - 18) ** 2 + (y - 9) ** 2) / 18.0)
    image[16:21, 3:25] = 12
    image[24, 2:9] = 255
    return np.clip(image, 0, 255).astype(np.uint8)


def rgb_landscape(rng):
    """Sky gradient, green ground with texture, a red sun, a grey house with a sharp roof line."""
    y, x = np.mgrid[0:32, 0:32]
    image = np.zeros((32, 32, 3))
    image[..., 0] = 70 + 2 * y
    image[..., 1] = 120 + 2 * y
    image[..., 2] = 230 - 2 * y
    ground = y > 20 + 2 * np.sin(x / 4.0)
    image[ground] = np.stack([40 + 0 * x, 140 + 3 * (x % 5), 35 + 0 * x], -1)[ground]
    sun = (x - 24) ** 2 + (y - 7) ** 2 < 16
    image[sun] = [250, 60, 30]
    house = (x > 5) & (x < 14) & (y > 14) & (y < 24)
    roof = (y <= 14) & (y > 9) & (np.abs(x - 9.5) < 14 - y)
    image[house] = [150, 150, 155]
    image[roof] = [120, 30, 20]
    image += rng.normal(0, 3, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def rgb_pattern(rng):
    """Saturated colour bars, a diagonal sinusoid per channel and dark corners (auto-contrast, equalize)."""
    y, x = np.mgrid[0:32, 0:32]
    image = np.stack([128 + 100 * np.sin((x + y) / 5.0),
                      128 + 100 * np.sin((x - 2 * y) / 7.0),
                      128 + 100 * np.cos(x / 3.0)], -1)
    image[2:6, :, :] = [[255, 0, 0]]
    image[6:10, :, :] = [[0, 255, 64]]
    image[:4, :4] = 5
    image += rng.normal(0, 2, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def rgb_wide(rng):
    """12 x 20: horizontal colour ramps and a bright off-centre square."""
    y, x = np.mgrid[0:12, 0:20]
    image = np.stack([12 * x, 20 * y, 255 - 10 * x], -1).astype(float)
    image[3:7, 12:17] = [240, 240, 40]
    image += rng.normal(0, 3, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def images():
    rng = np.random.default_rng(20240607)
    return {
        "grey_garment": grey_garment(rng),
        "grey_scene": grey_scene(rng),
        "rgb_landscape": rgb_landscape(rng),
        "rgb_pattern": rgb_pattern(rng),
        # Edge cases: one value only (auto-contrast and equalize leave it; contrast's mean is it),
        # and a non-square image (rotate by 90 is no transpose there; translate's centre differs per axis).
        "grey_flat": np.full((28, 28), 77, np.uint8),
        "rgb_wide": rgb_wide(rng),
    }


def pil(array):
    return Image.fromarray(array, "L" if array.ndim == 2 else "RGB")


def cases(space, bins):
    """(op, bin or None, negative) for every op, each of `bins`, both signs where signed."""
    for op, (magnitudes, signed) in space.items():
        if magnitudes.ndim == 0:
            yield op, None, False
            continue
        for b in bins:
            for negative in ((False, True) if signed else (False,)):
                yield op, b, negative


def magnitude(space, op, b, negative):
    """The magnitude TrivialAugmentWide.forward passes for this draw."""
    magnitudes, _ = space[op]
    value = float(magnitudes[b].item()) if b is not None else 0.0
    return -value if negative else value


def pipeline_cases():
    """RandomHorizontalFlip, then the op (torchvision's Compose order): geometric ops, which do not commute with a
    flip and so pin the order, and a few others."""
    return [("ShearX", 12, False), ("ShearY", 30, True), ("TranslateX", 5, True), ("Rotate", 7, False),
            ("Rotate", 20, True), ("Sharpness", 30, False), ("Equalize", None, False), ("AutoContrast", None, False)]


def main():
    space = TrivialAugmentWide()._augmentation_space(BINS)
    inputs = images()
    payload = bytearray()
    header = {
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "torchvision": torchvision.__version__, "pillow": PIL.__version__, "numpy": np.__version__,
                     # torch.linspace's float32 values depend on its CPU kernel (AVX2 and AVX-512 fuse multiply-adds).
                     "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()},
        "ops": list(space),
        "magnitudes": {op: ([float(v) for v in m.tolist()] if m.ndim > 0 else []) for op, (m, _) in space.items()},
        "signed": {op: signed for op, (_, signed) in space.items()},
        "images": [],
        "cases": [],
    }

    def add(array):
        offset = len(payload)
        payload.extend(np.ascontiguousarray(array).tobytes())
        return offset

    for name, array in inputs.items():
        height, width = array.shape[:2]
        channels = 1 if array.ndim == 2 else 3
        header["images"].append({"name": name, "height": height, "width": width, "channels": channels,
                                 "offset": add(array)})
        bins = SOME_BINS if name in FEWER_BINS else range(BINS)
        selected = [(op, b, neg, False) for op, b, neg in cases(space, bins)]
        if name in ("grey_garment", "rgb_landscape"):
            selected += [(op, b, neg, True) for op, b, neg in pipeline_cases()]
        for op, b, negative, flip in selected:
            image = pil(array)
            if flip:
                image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            value = magnitude(space, op, b, negative)
            # forward's fill: None for PIL images (it converts fill only for tensors).
            output = np.asarray(_apply_op(image, op, value, interpolation=InterpolationMode.NEAREST, fill=None))
            assert output.shape == array.shape and output.dtype == np.uint8, (name, op, output.shape)
            header["cases"].append({"image": name, "op": op, "bin": b, "negative": negative, "magnitude": value,
                                    "flip": flip, "offset": add(output)})

    blob = json.dumps(header, separators=(",", ":")).encode()
    raw = struct.pack("<Q", len(blob)) + blob + bytes(payload)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    print(f"{OUT}: {len(header['cases'])} cases, {len(raw)} bytes raw, {OUT.stat().st_size} gzipped", file=sys.stderr)


if __name__ == "__main__":
    main()
