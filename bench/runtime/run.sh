#!/bin/bash
# OCI runtime benchmark: nodelet-runtime vs runc, same bundle, one run.
#   bench/runtime/run.sh [builddir] [-n N]
set -euo pipefail
build=${1:-build}
shift || true
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 bench/runtime/bench.py --build "$build" "$@"
