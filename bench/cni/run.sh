#!/bin/bash
# CNI benchmark: our bridge + host-local against the reference plugins, side
# by side in one run (see bench/cni/bench.py). Runs in a private net+mount
# namespace with private /run/netns, /var/lib/cni and /run/cni, so nothing it
# creates (bridges, veths, leases, iptables rules) reaches the machine's own.
#   bash bench/cni/run.sh [builddir] [bench.py args...]
set -euo pipefail
build=${1:-build}
shift || true
cd "$(dirname "$0")/../.."
ours=$(realpath "$build/bin")
ref=${CNI_REF_DIR:-/usr/lib/cni}
for p in bridge host-local; do
	[ -x "$ours/$p" ] || { echo "bench/cni: $ours/$p is not built (make all)" >&2; exit 1; }
	[ -x "$ref/$p" ] || { echo "bench/cni: reference $ref/$p missing (apt-get install containernetworking-plugins)" >&2; exit 1; }
done
# The timing helper is built here, statically, so that its own footprint
# (which the kernel folds into the child's ru_maxrss) stays far below 1 MB.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -std=gnu17 -O2 -Wall -Wextra -Werror -static -o "$tmp/spawn-timer" bench/cni/spawn_timer.c
NDL_BENCH_HOST_NETNS=$(stat -L -c %i /proc/self/ns/net)
export NDL_BENCH_HOST_NETNS
unshare --net --mount --propagation private /bin/bash -c '
	set -euo pipefail
	mkdir -p /run/netns /var/lib/cni /run/cni
	for d in /run/netns /var/lib/cni /run/cni; do mount -t tmpfs -o mode=755 tmpfs "$d"; done
	ip link set lo up
	exec /usr/bin/python3 bench/cni/bench.py --ours "$0" --ref "$1" --timer "$2" "${@:3}"
' "$ours" "$ref" "$tmp/spawn-timer" "$@"
