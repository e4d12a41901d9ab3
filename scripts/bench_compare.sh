#!/usr/bin/env bash
# Side-by-side throughput of wavemix-swift and the official PyTorch WaveMix on this machine: the
# same configuration, batch, image size and thread count, run back to back so the ratio is
# meaningful on a noisy host. Prints a Markdown table (images/s and peak RSS; ratio = Swift/PyTorch).
#
#   scripts/bench_compare.sh [--threads "1 2"] [--steps N] [--configs "a b"]
#
# Configurations (Fashion-MNIST-sized input, 28x28, 1 channel, batch 128, 10 classes):
#   a: final_dim 64, ff_channel 64, depth 4, mult 2, level 1, strided stem, stride 1
#   b: final_dim 128, ff_channel 128, depth 7, mult 2, level 1, strided stem, stride 1
# Needs the reference venv (scripts/setup_reference.sh) and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."

threads="1 2" steps=10 configs="a b"
while (($#)); do
    case $1 in
        --threads) threads=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --configs) configs=$2; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
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

echo "| config | threads | train img/s (Swift) | train img/s (PyTorch) | ratio | forward img/s (Swift) | forward img/s (PyTorch) | ratio | peak RSS MiB (Swift / PyTorch) |"
echo "|---|---|---|---|---|---|---|---|---|"
for c in $configs; do
    for t in $threads; do
        s=$("$WAVEMIX" bench $(shape "$c") $common --stem strided --dropout 0.5 --threads "$t" --steps "$steps" --json)
        p=$(OMP_NUM_THREADS=$t "$PY" scripts/bench_pytorch.py $(shape "$c") $common --stem strided --dropout 0.5 --threads "$t" --steps "$steps")
        python3 - "$c" "$t" "$s" "$p" <<'PYEOF'
import json, sys
c, t, s, p = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
st, pt = s["train_images_per_second"], p["train_images_per_second"]
sf, pf = s["forward_images_per_second"], p["forward_images_per_second"]
print(f"| ({c}) | {t} | {st:.1f} | {pt:.1f} | {st/pt:.2f}x | {sf:.1f} | {pf:.1f} | {sf/pf:.2f}x | "
      f"{s['peak_rss_bytes']/2**20:.0f} / {p['peak_rss_bytes']/2**20:.0f} |")
PYEOF
    done
done
