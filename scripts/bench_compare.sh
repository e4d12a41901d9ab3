#!/usr/bin/env bash
# Side-by-side throughput of wavemix-swift and the official PyTorch WaveMix on this machine: the
# same configuration, batch, image size and thread count, run back to back so the ratio is
# meaningful on a noisy host. Prints the CPU, then a Markdown table (images/s and peak RSS).
#
#   scripts/bench_compare.sh [--threads "1 2"] [--steps N] [--configs "a b i"] [--repeat R]
#                            [--pytorch "eager compile"]
#
# Each cell runs every side R times (default 3), alternating, and keeps each side's best run: on a
# shared host the best run is the one least disturbed by neighbours. PyTorch runs eagerly and with
# torch.compile (inductor); the ratio is Swift against the faster of the two.
#
# Configurations:
#   a: final_dim 64, ff_channel 64, depth 4, mult 2, level 1, strided stem, stride 1;
#      28x28, 1 channel, 10 classes, batch 128 (Fashion-MNIST-sized)
#   b: the same with final_dim 128, ff_channel 128, depth 7
#   f: the Fashion-MNIST reproduction's WaveMix-Lite-144/7 (final_dim and ff_channel 144, depth 7),
#      batch 512 (scripts/reproduce_fashion_mnist.sh)
#   i: WaveMix-192/16 for ImageNet (preset imagenet-192-16): level 3, pachify stem, patch 4;
#      224x224, 3 channels, 1000 classes, batch 16
# Needs the reference venv (scripts/setup_reference.sh) and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."

threads="1 2" steps=10 configs="a b" repeat=3 pytorch="eager compile"
while (($#)); do
    case $1 in
        --threads) threads=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --configs) configs=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        --pytorch) pytorch=$2; shift 2 ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "bench_compare: unknown option $1" >&2; exit 2 ;;
    esac
done

PY=${PYTHON:-$(scripts/setup_reference.sh)}
WAVEMIX=${WAVEMIX:-.build/release/wavemix}
[ -x "$WAVEMIX" ] || { echo "bench_compare: $WAVEMIX not built (swift build -c release)" >&2; exit 1; }

# Every option of a configuration, the same for both sides.
shape() {
    local lite="--mult 2 --level 1 --stem strided --stride 1 --num-classes 10 --image-size 28 --in-chans 1 --dropout 0.5"
    case $1 in
        a) echo "--final-dim 64 --ff-channel 64 --depth 4 --batch-size 128 $lite" ;;
        b) echo "--final-dim 128 --ff-channel 128 --depth 7 --batch-size 128 $lite" ;;
        f) echo "--final-dim 144 --ff-channel 144 --depth 7 --batch-size 512 $lite" ;;
        i) echo "--final-dim 192 --ff-channel 192 --depth 16 --mult 2 --level 3 --stem pachify --patch-size 4 --dropout 0.5 --num-classes 1000 --batch-size 16 --image-size 224 --in-chans 3" ;;
        *) echo "bench_compare: unknown config $1" >&2; exit 2 ;;
    esac
}

# The machine and the kernels each side runs: ratios are only comparable on the same CPU.
kernels=$("$WAVEMIX" bench --final-dim 8 --ff-channel 8 --depth 1 --batch-size 2 --steps 1 --warmup 0 --threads 1 --json |
          python3 -c 'import json, sys; r = json.load(sys.stdin); print("%s; wavemix: OpenBLAS %s kernels, element loops %s" % (r["cpu"], r["blas_core"], r["element_loops"]))')
torch_version=$("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo "?")
echo "CPU: $kernels; PyTorch $torch_version; $(nproc) cores available"
echo

echo "| config | threads | train img/s: Swift | PyTorch ($pytorch) | ratio | forward img/s: Swift | PyTorch ($pytorch) | ratio | peak RSS MiB: Swift / PyTorch |"
echo "|---|---|---|---|---|---|---|---|---|"
for c in $configs; do
    shape "$c" >/dev/null
    for t in $threads; do
        runs=()
        for ((r = 0; r < repeat; r++)); do
            runs+=("swift $("$WAVEMIX" bench $(shape "$c") --threads "$t" --steps "$steps" --json)")
            for mode in $pytorch; do
                flag=""; [ "$mode" = compile ] && flag="--compile"
                runs+=("$mode $(OMP_NUM_THREADS=$t "$PY" scripts/bench_pytorch.py $(shape "$c") $flag --threads "$t" --steps "$steps" | tail -1)")
            done
        done
        python3 - "$c" "$t" "$pytorch" "${runs[@]}" <<'PYEOF'
import json, sys
c, t, modes = sys.argv[1], sys.argv[2], sys.argv[3].split()
runs = {}
for run in sys.argv[4:]:
    side, text = run.split(" ", 1)
    runs.setdefault(side, []).append(json.loads(text))
best = lambda side, key: max(r[key] for r in runs[side])
def cells(key):
    swift = best("swift", key)
    torch = {m: best(m, key) for m in modes}
    fastest = max(torch.values())
    return f"{swift:.1f} | " + " / ".join(f"{torch[m]:.1f}" for m in modes) + f" | {swift / fastest:.2f}x"
rss = lambda side: max(r["peak_rss_bytes"] for r in runs[side]) / 2**20
torch_rss = max(rss(m) for m in modes)
print(f"| ({c}) | {t} | {cells('train_images_per_second')} | {cells('forward_images_per_second')} | "
      f"{rss('swift'):.0f} / {torch_rss:.0f} ({rss('swift') / torch_rss:.2f}) |")
PYEOF
    done
done
