#!/usr/bin/env bash
# The whole test suite: set up (packages, release build), then every test in release mode
# (numeric tests are 25-50x slower in debug). MPI tests launch mpirun themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

# The local Slurm test (Tests/CLITests/SlurmTests.swift) starts a private Slurm cluster, which needs
# root and the Debian packages slurm-wlm and munge; where it cannot install them it skips, saying so.
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    missing=()
    for p in slurm-wlm munge; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "test: installing ${missing[*]} for the local Slurm test" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } \
            || echo "test: could not install ${missing[*]}: the local Slurm test will be skipped" >&2
    fi
fi

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
swift test -c release "$@"
