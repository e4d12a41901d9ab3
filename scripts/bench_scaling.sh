#!/usr/bin/env bash
# Data-parallel scaling on this host: `wavemix bench` with 1 rank and with N ranks (default 2),
# one thread each, the same per-rank batch, back to back so the ratio means something on a noisy
# host. Efficiency = (N-rank images/s) / (N x 1-rank images/s). Also prints the share of step time
# the N-rank job spent waiting for gradient all-reduces that backward did not hide.
#
#   scripts/bench_scaling.sh [--ranks N] [--steps S] [-- extra wavemix bench options]
# Default configuration: (a) final_dim 64, ff_channel 64, depth 4, level 1, 28x28, batch 128 per rank.
set -euo pipefail
cd "$(dirname "$0")/.."
ranks=2 steps=8
while (($#)); do
    case $1 in
        --ranks) ranks=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "bench_scaling: unknown option $1" >&2; exit 2 ;;
    esac
done
WAVEMIX=${WAVEMIX:-.build/release/wavemix}
args=(bench --final-dim 64 --ff-channel 64 --depth 4 --level 1 --batch-size 128 --steps "$steps" --json "$@")
one=$(scripts/wavemix-mpirun -n 1 --threads 1 -- "$WAVEMIX" "${args[@]}")
many=$(scripts/wavemix-mpirun -n "$ranks" --threads 1 -- "$WAVEMIX" "${args[@]}")
python3 - "$ranks" "$one" "$many" <<'PYEOF'
import json, sys
n, one, many = int(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
a, b = one["train_images_per_second"], many["train_images_per_second"]
print(f"1 rank x 1 thread: {a:.1f} img/s; {n} ranks x 1 thread: {b:.1f} img/s; "
      f"efficiency {b / (n * a):.3f}; all-reduce wait {100 * many['allreduce_wait_share']:.2f}% of step time")
PYEOF
