#!/usr/bin/env python3
"""Dump parity fixtures from the official PyTorch `wavemix` 0.2.4 package.

  python scripts/make_fixtures.py --out Tests/WaveMixTests/Fixtures   # the committed set
  python scripts/make_fixtures.py --unseen DIR                       # extra model cases, not committed

Model case `<dir>/<case>/`: config.json, weights.safetensors (state dict before the step),
batch.safetensors (input, labels, dropout masks), expected.safetensors (logits_eval, logits_train,
loss, grad.<param>, after.<BN buffer>). Optimizer, schedule and clipping fixtures: see optim_fixtures.py.
Everything is seeded and single-threaded, so a rerun gives identical bytes.
"""
import os

# wavemix puts its Haar filters on cuda:0 at import time when it sees a GPU: hide it first.
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import argparse
import json
import pathlib

import torch
import torch.nn as nn
import torch.nn.functional as F
from wavemix.classification import WaveMix

from optim_fixtures import write_optim_fixtures
from safetensors_io import write_safetensors

# Official constructor arguments, in the official order; the rest are the Swift test's extras.
OFFICIAL_ARGS = ["num_classes", "depth", "mult", "ff_channel", "final_dim", "dropout", "level",
                 "initial_conv", "patch_size", "stride"]


def case(seed, *, level, initial_conv, in_chans, image_size, final_dim, ff_channel, mult, depth,
         dropout, num_classes, batch_size, patch_size=4, stride=2):
    """A case's seed and config.json (patch_size/stride default to the official defaults)."""
    return seed, dict(num_classes=num_classes, depth=depth, mult=mult, ff_channel=ff_channel,
                      final_dim=final_dim, dropout=float(dropout), level=level,
                      initial_conv=initial_conv, patch_size=patch_size, stride=stride,
                      in_chans=in_chans, image_size=list(image_size), batch_size=batch_size)


COMMITTED = {
    "l1_strided_s1_in1": case(101, level=1, initial_conv="strided", stride=1, in_chans=1,
                              image_size=(28, 28), final_dim=16, ff_channel=16, mult=2, depth=2,
                              dropout=0, num_classes=10, batch_size=4),
    "l2_pachify": case(102, level=2, initial_conv="pachify", patch_size=4, in_chans=3,
                       image_size=(32, 32), final_dim=32, ff_channel=24, mult=2, depth=2,
                       dropout=0, num_classes=7, batch_size=3),
    "l3_strided_s2": case(103, level=3, initial_conv="strided", stride=2, in_chans=3,
                          image_size=(64, 64), final_dim=16, ff_channel=8, mult=1, depth=1,
                          dropout=0.5, num_classes=5, batch_size=2),
    "l4_strided_s1": case(104, level=4, initial_conv="strided", stride=1, in_chans=2,
                          image_size=(16, 32), final_dim=16, ff_channel=16, mult=2, depth=2,
                          dropout=0.1, num_classes=3, batch_size=2),
    "l4_pachify_p2": case(105, level=4, initial_conv="pachify", patch_size=2, in_chans=3,
                          image_size=(32, 32), final_dim=16, ff_channel=12, mult=2, depth=1,
                          dropout=0, num_classes=4, batch_size=2),
}

# Configurations the Swift tests never see: odd channel splits (c/4 = 5, 3, 7), ff_channel != final_dim,
# odd sizes inside the strided stem, a patch that does not divide the image, depth 3, batch 1.
UNSEEN = {
    "u_l1_pachify_p7": case(201, level=1, initial_conv="pachify", patch_size=7, in_chans=4,
                            image_size=(28, 28), final_dim=20, ff_channel=12, mult=3, depth=2,
                            dropout=0.3, num_classes=100, batch_size=5),
    "u_l1_strided_s2_odd": case(202, level=1, initial_conv="strided", stride=2, in_chans=3,
                                image_size=(29, 30), final_dim=16, ff_channel=32, mult=4, depth=1,
                                dropout=0.1, num_classes=11, batch_size=3),
    "u_l2_strided_s2": case(203, level=2, initial_conv="strided", stride=2, in_chans=3,
                            image_size=(32, 48), final_dim=24, ff_channel=16, mult=2, depth=2,
                            dropout=0.2, num_classes=6, batch_size=3),
    "u_l2_pachify_p3": case(204, level=2, initial_conv="pachify", patch_size=3, in_chans=2,
                            image_size=(25, 26), final_dim=28, ff_channel=8, mult=2, depth=1,
                            dropout=0, num_classes=5, batch_size=2),
    "u_l3_pachify_p2": case(205, level=3, initial_conv="pachify", patch_size=2, in_chans=1,
                            image_size=(32, 48), final_dim=12, ff_channel=20, mult=1, depth=2,
                            dropout=0, num_classes=9, batch_size=2),
    "u_l3_strided_s1_b1": case(206, level=3, initial_conv="strided", stride=1, in_chans=3,
                               image_size=(16, 8), final_dim=8, ff_channel=4, mult=2, depth=2,
                               dropout=0.25, num_classes=4, batch_size=1),
    "u_l4_strided_depth3": case(207, level=4, initial_conv="strided", stride=1, in_chans=3,
                                image_size=(32, 16), final_dim=8, ff_channel=8, mult=2, depth=3,
                                dropout=0.5, num_classes=2, batch_size=2),
}


def stem_output_size(cfg):
    """Spatial size after the official stem (strided: two 3x3 convs, padding 1; pachify: two
    size-preserving 3x3 convs, then a patch_size x patch_size conv with stride patch_size)."""
    def one(n):
        if cfg["initial_conv"] == "strided":
            for _ in range(2):
                n = (n + 2 - 3) // cfg["stride"] + 1
            return n
        return (n - cfg["patch_size"]) // cfg["patch_size"] + 1
    return [one(n) for n in cfg["image_size"]]


def build_model(cfg):
    """The official WaveMix; its stem hard-codes 3 input channels, so for other in_chans the first
    conv is replaced by one with the same output channels, kernel, stride and padding."""
    assert cfg["final_dim"] % 4 == 0, "final_dim must be divisible by 4 (the waveblocks reshape by c/4)"
    h, w = stem_output_size(cfg)
    step = 2 ** cfg["level"]
    assert h % step == 0 and w % step == 0, f"stem output {h}x{w} is not divisible by 2^level = {step}"
    model = WaveMix(**{k: cfg[k] for k in OFFICIAL_ARGS})
    if cfg["in_chans"] != 3:
        old = model.conv[0]
        model.conv[0] = nn.Conv2d(cfg["in_chans"], old.out_channels, old.kernel_size, old.stride,
                                  old.padding)
    return model


def randomise_batchnorm(model):
    """Fresh BatchNorm is the identity in eval mode (gamma 1, beta 0, mean 0, var 1); random values
    make the eval-mode forward a real test."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_().mul_(0.1)
                m.running_mean.normal_().mul_(0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.num_batches_tracked.fill_(3)


def record_dropout_masks(model, masks):
    """Replace each nn.Dropout's forward by ATen's CPU dropout written out (draw keep ~ Bernoulli(1-p),
    return x * keep / (1-p)), recording keep as `dropout.<module name>`. check_dropout_is_aten()
    proves the two agree bit for bit; Dropout(0) is skipped, as ATen returns its input unchanged."""
    for name, m in model.named_modules():
        if isinstance(m, nn.Dropout) and m.p > 0:
            def forward(x, name=name, p=m.p):
                key = f"dropout.{name}"
                assert key not in masks, f"{name} ran twice in one forward"
                keep = torch.empty_like(x).bernoulli_(1 - p)
                masks[key] = keep.clone()
                return x * keep.div(1 - p)
            m.forward = forward


def check_dropout_is_aten():
    x = torch.randn(2, 6, 5, 7)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        want = F.dropout(x, 0.3, training=True)
        torch.manual_seed(0)
        drop = nn.Dropout(0.3)
        record_dropout_masks(drop, {})
        got = drop(x)
    assert torch.equal(got, want), "the recording dropout differs from torch's CPU dropout"


def to_numpy(tensors):
    return {k: v.detach().contiguous().numpy() for k, v in tensors.items()}


def make_model_case(out_dir, seed, cfg):
    torch.manual_seed(seed)
    model = build_model(cfg)
    randomise_batchnorm(model)
    b, (h, w) = cfg["batch_size"], cfg["image_size"]
    x = torch.randn(b, cfg["in_chans"], h, w)
    labels = torch.randint(0, cfg["num_classes"], (b,))
    weights = {k: v.clone() for k, v in model.state_dict().items()}

    model.eval()
    with torch.no_grad():
        logits_eval = model(x)

    masks = {}
    record_dropout_masks(model, masks)
    model.train()
    logits_train = model(x)
    loss = F.cross_entropy(logits_train, labels)
    loss.backward()

    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    assert set(weights) == set(params) | set(buffers), "state dict is not parameters + buffers"
    assert all(k.rsplit(".", 1)[1] in ("running_mean", "running_var", "num_batches_tracked")
               for k in buffers), "a buffer that is not a BatchNorm statistic"
    assert all(p.grad is not None for p in params.values()), "a parameter got no gradient"
    assert logits_eval.shape == logits_train.shape == (b, cfg["num_classes"])
    n_dropout = sum(isinstance(m, nn.Dropout) for m in model.modules())
    assert len(masks) == (n_dropout if cfg["dropout"] > 0 else 0), "a dropout mask is missing"

    expected = {"logits_eval": logits_eval, "logits_train": logits_train, "loss": loss}
    expected.update({f"grad.{k}": p.grad for k, p in params.items()})
    expected.update({f"after.{k}": v for k, v in buffers.items()})

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    write_safetensors(out_dir / "weights.safetensors", to_numpy(weights))
    write_safetensors(out_dir / "batch.safetensors", to_numpy({"input": x, "labels": labels, **masks}))
    write_safetensors(out_dir / "expected.safetensors", to_numpy(expected))
    print(f"{out_dir}: loss {loss.item():.6f}, {len(params)} parameters, {len(masks)} dropout masks")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=pathlib.Path,
                    help="write the committed set: OUT/model/<case>/ and OUT/optim/")
    ap.add_argument("--unseen", type=pathlib.Path,
                    help="write the extra model cases the Swift tests never see: UNSEEN/<case>/")
    args = ap.parse_args()
    if args.out is None and args.unseen is None:
        ap.error("nothing to do: give --out DIR and/or --unseen DIR")

    torch.set_num_threads(1)  # one thread: reductions in a fixed order, so reruns are bit-identical
    check_dropout_is_aten()
    if args.out is not None:
        for name, (seed, cfg) in COMMITTED.items():
            make_model_case(args.out / "model" / name, seed, cfg)
        write_optim_fixtures(args.out / "optim")
    if args.unseen is not None:
        for name, (seed, cfg) in UNSEEN.items():
            make_model_case(args.unseen / name, seed, cfg)


if __name__ == "__main__":
    main()
