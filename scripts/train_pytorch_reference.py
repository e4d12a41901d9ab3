"""Train the official PyTorch WaveMix (wavemix 0.2.4) on Fashion-MNIST with the same recipe as
`wavemix train`'s default: WaveMix-Lite lite-64-4 (final_dim 64, ff_channel 64, depth 4, mult 2,
level 1, strided stem, stride 1, dropout 0.5, 1 input channel), AdamW lr 1e-3 weight decay 0.01,
batch 128, inputs normalised with mean 0.2860 / std 0.3530, shuffled each epoch, last partial batch
dropped. Prints test top-1 after each epoch and the time per epoch, for the README's comparison.

  PY=$(scripts/setup_reference.sh); $PY scripts/train_pytorch_reference.py --epochs 2 --threads 2
"""
import argparse
import gzip
import os
import time

os.environ["CUDA_VISIBLE_DEVICES"] = ""

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from wavemix.classification import WaveMix  # noqa: E402


def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    def load(split):
        x = idx(f"{a.data}/{split}-images-idx3-ubyte.gz").astype(np.float32) / 255
        y = idx(f"{a.data}/{split}-labels-idx1-ubyte.gz").astype(np.int64)
        return torch.from_numpy((x - 0.2860) / 0.3530).unsqueeze(1), torch.from_numpy(y)

    xtr, ytr = load("train")
    xte, yte = load("t10k")
    model = WaveMix(num_classes=10, depth=4, mult=2, ff_channel=64, final_dim=64, dropout=a.dropout, level=1,
                    initial_conv="strided", patch_size=4, stride=1)
    model.conv[0] = nn.Conv2d(1, 32, 3, 1, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    for epoch in range(a.epochs):
        model.train()
        start = time.time()
        order = torch.randperm(len(xtr))
        for b in range(len(xtr) // 128):
            i = order[b * 128:(b + 1) * 128]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xtr[i]), ytr[i]).backward()
            opt.step()
        seconds = time.time() - start
        model.eval()
        correct = 0
        with torch.no_grad():
            for b in range(0, len(xte), 500):
                correct += (model(xte[b:b + 500]).argmax(1) == yte[b:b + 500]).sum().item()
        print(f"epoch {epoch + 1}: test top-1 {100 * correct / len(xte):.2f}%, {seconds:.0f} s training", flush=True)


if __name__ == "__main__":
    main()
