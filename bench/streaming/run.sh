#!/bin/bash
# bench/streaming: CRI Exec / Attach / PortForward through the streaming
# servers of nodelet-cri and containerd 1.6, side by side (alternating).
#   bash bench/streaming/run.sh [build] [-n 30]
# Runs in a private net+mount namespace (pods get bridge + host-local there).
set -euo pipefail
build=${1:-build}
shift || true
cd "$(dirname "$0")/../.."
export NODELET_BUILD=$(readlink -f "$build")
exec unshare --net --mount /bin/sh -c '
	mount --make-rprivate /
	mkdir -p /run/netns /var/lib/cni /run/cni
	mount -t tmpfs none /run/netns && mount -t tmpfs none /var/lib/cni && mount -t tmpfs none /run/cni
	ip link set lo up
	exec /usr/bin/python3 bench/streaming/bench.py "$@"' sh "$@"
