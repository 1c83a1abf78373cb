#!/bin/bash
# OCI runtime benchmark: nodelet-runtime vs runc, same bundle, one run.
#   bench/runtime/run.sh [builddir] [-n N] [--state-dir DIR] [--also NAME=PATH]...
# State roots go on a tmpfs (/run if it is one, else /dev/shm) unless
# --state-dir says otherwise; --also interleaves another build for A/B.
set -euo pipefail
build=${1:-build}
shift || true
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 bench/runtime/bench.py --build "$build" "$@"
