#!/usr/bin/env bash
# Scaling on one many-core node, side by side with the PyTorch reference: config (a) (final_dim 64,
# ff_channel 64, depth 4, 28x28, batch 128 per rank) with 1, 2, 4, ... up to the node's cores ranks
# of 1 thread and with one rank of all threads; config (b) (128/128/depth 7) with all cores as
# ranks and as threads. Each line is printed as it is measured; a Markdown table follows.
#
#   scripts/bench_node.sh [--steps S] [--no-pytorch]
# Env: WAVEMIX (default .build/release/wavemix), PYTHON (default: the reference venv's, else python3),
#      CORES (default nproc). Used for docs/scaling.md on the lent 16-core machine (scripts/make_bundle.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=8 pytorch=1
while (($#)); do
    case $1 in
        --steps) steps=$2; shift 2 ;;
        --no-pytorch) pytorch=0; shift ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "bench_node: unknown option $1" >&2; exit 2 ;;
    esac
done
WAVEMIX=${WAVEMIX:-.build/release/wavemix}
PYTHON=${PYTHON:-$( [[ -x /root/.cache/wavemix-ref-venv/bin/python ]] && echo /root/.cache/wavemix-ref-venv/bin/python || echo python3)}
cores=${CORES:-$(nproc)}
a=(--final-dim 64 --ff-channel 64 --depth 4 --level 1)
b=(--final-dim 128 --ff-channel 128 --depth 7 --level 1)
results=$(mktemp)

swift_run() { # LABEL RANKS THREADS STEPS CONFIG...
    local label=$1 ranks=$2 threads=$3 s=$4; shift 4
    local json
    json=$(scripts/wavemix-mpirun -n "$ranks" --threads "$threads" -- "$WAVEMIX" bench "$@" --batch-size 128 \
           --steps "$s" --warmup 1 --json) || { echo "$label swift ${ranks}x$threads: failed"; return; }
    echo "$label swift $ranks $threads $json" | tee -a "$results"
}
torch_run() { # LABEL RANKS THREADS STEPS CONFIG...
    ((pytorch)) || return 0
    local label=$1 ranks=$2 threads=$3 s=$4; shift 4
    local json
    json=$(OMP_NUM_THREADS=$threads "$PYTHON" scripts/bench_pytorch.py "$@" --batch-size 128 --steps "$s" --warmup 1 \
           --threads "$threads" --ranks "$ranks" 2>/dev/null | tail -1) || { echo "$label pytorch ${ranks}x$threads: failed"; return; }
    echo "$label pytorch $ranks $threads $json" | tee -a "$results"
}

counts=(1)
for ((n = 2; n <= cores; n *= 2)); do counts+=("$n"); done
((counts[-1] == cores)) || counts+=("$cores")
for n in "${counts[@]}"; do swift_run a "$n" 1 "$steps" "${a[@]}"; done
swift_run a 1 "$cores" "$steps" "${a[@]}"
torch_run a 1 1 "$steps" "${a[@]}"
torch_run a "$cores" 1 "$steps" "${a[@]}"
torch_run a 1 "$cores" "$steps" "${a[@]}"
bsteps=$(((steps + 1) / 2))
swift_run b "$cores" 1 "$bsteps" "${b[@]}"
swift_run b 1 "$cores" "$bsteps" "${b[@]}"
torch_run b 1 "$cores" "$bsteps" "${b[@]}"

python3 - "$results" <<'PYEOF'
import json, sys
rows = []
for line in open(sys.argv[1]):
    label, who, ranks, threads, js = line.split(" ", 4)
    rows.append((label, who, int(ranks), int(threads), json.loads(js)))
base = {(l, w): r[4]["train_images_per_second"] for r in rows for l, w in [(r[0], r[1])] if r[2] == 1 and r[3] == 1}
print("\n| config | program | ranks x threads | train img/s | efficiency vs 1x1 | all-reduce wait | forward img/s | peak RSS/rank MiB |")
print("|---|---|---|---|---|---|---|---|")
for label, who, ranks, threads, r in rows:
    t = r["train_images_per_second"]
    one = base.get((label, who))
    eff = f"{t / (one * ranks * threads):.2f}" if one else ""
    wait = f"{100 * r['allreduce_wait_share']:.1f}%" if "allreduce_wait_share" in r and ranks > 1 else ""
    print(f"| ({label}) | {who} | {ranks} x {threads} | {t:.1f} | {eff} | {wait} | {r['forward_images_per_second']:.1f} | {r['peak_rss_bytes'] / 2**20:.0f} |")
PYEOF
rm -f "$results"
