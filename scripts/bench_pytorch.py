"""Training and inference images/s of the official PyTorch WaveMix (wavemix 0.2.4) on CPU, for the
same configuration, batch, image size and thread count as `wavemix bench`; with --ranks N, of
DistributedDataParallel (gloo) over N local processes. Prints one JSON line.

Used by scripts/bench_compare.sh; run it with the reference venv (scripts/setup_reference.sh)."""
import argparse
import json
import os
import resource
import time

os.environ["CUDA_VISIBLE_DEVICES"] = ""  # wavemix puts its Haar filters on a GPU if it sees one

import numpy  # noqa: E402

if not hasattr(numpy.lib, "function_base"):
    # wavemix 0.2.4 imports `hamming` (unused) from numpy.lib.function_base, which numpy 2 made
    # private; give it the public function so the benchmark also runs where torch needs numpy 2.
    import sys
    import types
    sys.modules["numpy.lib.function_base"] = types.SimpleNamespace(hamming=numpy.hamming)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from wavemix.classification import WaveMix  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--final-dim", type=int, default=64)
    p.add_argument("--ff-channel", type=int, default=64)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--mult", type=int, default=2)
    p.add_argument("--level", type=int, default=1)
    p.add_argument("--stem", choices=["strided", "pachify"], default="strided")
    p.add_argument("--stride", type=int, default=1)
    p.add_argument("--patch-size", type=int, default=4)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--in-chans", type=int, default=1)
    p.add_argument("--image-size", type=int, default=28)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the model (inductor), PyTorch's fastest CPU path; the warm-up steps absorb the compilation")
    p.add_argument("--ranks", type=int, default=1,
                   help="DistributedDataParallel over this many local processes (gloo), each with "
                        "--threads threads and its own --batch-size; prints the job's images/s")
    a = p.parse_args()
    if a.ranks > 1:
        import torch.multiprocessing as mp
        mp.spawn(ddp_worker, args=(a,), nprocs=a.ranks)
    else:
        run(a, rank=0)


def ddp_worker(rank, a):
    import torch.distributed as dist
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29517")
    dist.init_process_group("gloo", rank=rank, world_size=a.ranks)
    run(a, rank)
    dist.destroy_process_group()


def run(a, rank):
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = WaveMix(num_classes=a.num_classes, depth=a.depth, mult=a.mult, ff_channel=a.ff_channel,
                    final_dim=a.final_dim, dropout=a.dropout, level=a.level, initial_conv=a.stem,
                    patch_size=a.patch_size, stride=a.stride)
    if a.in_chans != 3:
        old = model.conv[0]
        model.conv[0] = nn.Conv2d(a.in_chans, old.out_channels, old.kernel_size, old.stride, old.padding)
    if a.ranks > 1:
        model = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    if a.compile:
        model = torch.compile(model)
    x = torch.randn(a.batch_size, a.in_chans, a.image_size, a.image_size)
    y = torch.randint(0, a.num_classes, (a.batch_size,))

    model.train()
    times = []
    for step in range(a.warmup + a.steps):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if step >= a.warmup:
            times.append(time.perf_counter() - t)
    times.sort()
    train = a.ranks * a.batch_size / times[len(times) // 2]
    if a.ranks > 1:
        model = getattr(model, "_orig_mod", model).module  # eval forward without DDP's hooks, on every rank at once

    model.eval()
    with torch.no_grad():
        for _ in range(a.warmup):
            model(x)
        t = time.perf_counter()
        for _ in range(a.steps):
            model(x)
        forward = a.ranks * a.batch_size * a.steps / (time.perf_counter() - t)  # ranks run concurrently

    if rank != 0:
        return
    print(json.dumps({"train_images_per_second": train, "forward_images_per_second": forward,
                      "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "threads": a.threads, "ranks": a.ranks, "compiled": a.compile, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
