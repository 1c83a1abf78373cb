#!/bin/bash
# CRI benchmark: nodelet-cri against containerd 1.6 + runc, side by side in
# one run, through one client (see bench/cri/bench.py and README.md). Runs in
# a private net+mount namespace with private /run/netns, /var/lib/cni and
# /run/cni, so nothing it creates (bridges, veths, leases, netns pins,
# mounts) reaches the machine's own.
#   bash bench/cri/run.sh [builddir] [bench.py args...]   (-n 50 --plugins ours,ref)
set -euo pipefail
build=${1:-build}
shift || true
cd "$(dirname "$0")/../.."
[ -x "$build/bin/cribench" ] || { echo "bench/cri: $build/bin/cribench is not built (make all)" >&2; exit 1; }
exec unshare --net --mount --propagation private /bin/bash -c '
	set -euo pipefail
	mkdir -p /run/netns /var/lib/cni /run/cni
	for d in /run/netns /var/lib/cni /run/cni; do mount -t tmpfs -o mode=755 tmpfs "$d"; done
	ip link set lo up
	exec /usr/bin/python3 bench/cri/bench.py --build "$0" "$@"
' "$build" "$@"
