#!/usr/bin/env bash
# The whole test suite: set up (packages, release build), then every test in release mode
# (numeric tests are 25-50x slower in debug). MPI tests launch mpirun themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
swift test -c release "$@"
