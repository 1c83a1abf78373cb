#!/bin/bash
# Image pull + unpack benchmark: nodelet-cri vs containerd 1.6 (ctr pull
# --plain-http, overlayfs unpack) vs skopeo copy + umoci unpack, from a local
# docker-registry on 127.0.0.1. Runs in its own mount namespace so every
# overlay mount disappears with it.
#   bench/images/run.sh <builddir> [runs]
set -euo pipefail
build=${1:-build}
runs=${2:-5}
cd "$(dirname "$0")/../.."
exec unshare --mount --propagation private /usr/bin/python3 bench/images/bench.py --build "$build" --runs "$runs"
