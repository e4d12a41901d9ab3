#!/usr/bin/env bash
# Side-by-side throughput of wavemix-swift and the official PyTorch WaveMix on this machine: the
# same configuration, batch, image size and thread count, run back to back so the ratio is
# meaningful on a noisy host. Prints a Markdown table (images/s and peak RSS; ratio = Swift/PyTorch).
#
#   scripts/bench_compare.sh [--threads "1 2"] [--steps N] [--configs "a b"] [--repeat R]
#
# Each cell runs both sides R times (default 3), alternating, and keeps each side's best run: on a
# shared host the best run is the one least disturbed by neighbours.
#
# Configurations (Fashion-MNIST-sized input, 28x28, 1 channel, batch 128, 10 classes):
#   a: final_dim 64, ff_channel 64, depth 4, mult 2, level 1, strided stem, stride 1
#   b: final_dim 128, ff_channel 128, depth 7, mult 2, level 1, strided stem, stride 1
# Needs the reference venv (scripts/setup_reference.sh) and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."

threads="1 2" steps=10 configs="a b" repeat=3
while (($#)); do
    case $1 in
        --threads) threads=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --configs) configs=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "bench_compare: unknown option $1" >&2; exit 2 ;;
    esac
done

PY=${PYTHON:-$(scripts/setup_reference.sh)}
WAVEMIX=${WAVEMIX:-.build/release/wavemix}
[ -x "$WAVEMIX" ] || { echo "bench_compare: $WAVEMIX not built (swift build -c release)" >&2; exit 1; }

shape() {
    case $1 in
        a) echo "--final-dim 64 --ff-channel 64 --depth 4" ;;
        b) echo "--final-dim 128 --ff-channel 128 --depth 7" ;;
        *) echo "bench_compare: unknown config $1" >&2; exit 2 ;;
    esac
}
common="--mult 2 --level 1 --stride 1 --num-classes 10 --batch-size 128 --image-size 28 --in-chans 1"

# The machine and the kernels each side runs: ratios are only comparable on the same CPU.
kernels=$("$WAVEMIX" bench --final-dim 8 --ff-channel 8 --depth 1 --batch-size 2 --steps 1 --warmup 0 --threads 1 --json |
          python3 -c 'import json, sys; r = json.load(sys.stdin); print("%s; wavemix: OpenBLAS %s kernels, element loops %s" % (r["cpu"], r["blas_core"], r["element_loops"]))')
torch_version=$("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo "?")
echo "CPU: $kernels; PyTorch $torch_version; $(nproc) cores available"
echo

echo "| config | threads | train img/s (Swift) | train img/s (PyTorch) | ratio | forward img/s (Swift) | forward img/s (PyTorch) | ratio | peak RSS MiB (Swift / PyTorch) |"
echo "|---|---|---|---|---|---|---|---|---|"
for c in $configs; do
    for t in $threads; do
        runs=()
        for ((r = 0; r < repeat; r++)); do
            runs+=("$("$WAVEMIX" bench $(shape "$c") $common --stem strided --dropout 0.5 --threads "$t" --steps "$steps" --json)")
            runs+=("$(OMP_NUM_THREADS=$t "$PY" scripts/bench_pytorch.py $(shape "$c") $common --stem strided --dropout 0.5 --threads "$t" --steps "$steps")")
        done
        python3 - "$c" "$t" "${runs[@]}" <<'PYEOF'
import json, sys
c, t, runs = sys.argv[1], sys.argv[2], [json.loads(r) for r in sys.argv[3:]]
swift, torch = runs[0::2], runs[1::2]
best = lambda rs, key: max(r[key] for r in rs)
s = {"peak_rss_bytes": max(r["peak_rss_bytes"] for r in swift)}
p = {"peak_rss_bytes": max(r["peak_rss_bytes"] for r in torch)}
st, pt = best(swift, "train_images_per_second"), best(torch, "train_images_per_second")
sf, pf = best(swift, "forward_images_per_second"), best(torch, "forward_images_per_second")
print(f"| ({c}) | {t} | {st:.1f} | {pt:.1f} | {st/pt:.2f}x | {sf:.1f} | {pf:.1f} | {sf/pf:.2f}x | "
      f"{s['peak_rss_bytes']/2**20:.0f} / {p['peak_rss_bytes']/2**20:.0f} |")
PYEOF
    done
done
