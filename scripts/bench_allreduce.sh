#!/usr/bin/env bash
# bench_allreduce.sh [RANKS]: Comm's all-reduce bandwidth on RANKS ranks (default 2) of this host,
# once with wavemix-mpirun's settings and once with Open MPI's defaults (plain mpirun). The
# benchmark is CommTests.BenchWorkerTests/testAllreduceBandwidth; rank 0 prints the tables.
set -euo pipefail
cd "$(dirname "$0")/.."
ranks=${1:-2}

# `swift test` builds the test binary with testable imports (the benchmark itself skips there).
swift test -c release --filter CommTests.BenchWorkerTests >/dev/null
binary=$(ls -d "$(swift build -c release --show-bin-path)"/*PackageTests.xctest)
test=CommTests.BenchWorkerTests/testAllreduceBandwidth
# The host is shared: say how busy it was just before, so the numbers can be judged.
a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
total=0; for k in 1 2 3 4 5 6 7 8; do total=$((total + b[k] - a[k])); done
echo "CPU busy in the second before the run: $((100 - 100 * (b[4] - a[4]) / total))% of $(nproc) CPUs"

export WAVEMIX_MPI_WORKER=1 WAVEMIX_BENCH=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

WAVEMIX_BENCH_LABEL="wavemix-mpirun" scripts/wavemix-mpirun -n "$ranks" --timeout 300 -- "$binary" "$test" | grep -v "^Test \|Executed"
echo
oversubscribe=()
((ranks > $(nproc))) && oversubscribe=(--oversubscribe)
WAVEMIX_BENCH_LABEL="Open MPI defaults" mpirun -np "$ranks" "${oversubscribe[@]}" --timeout 300 "$binary" "$test" | grep -v "^Test \|Executed"
