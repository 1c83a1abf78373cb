#!/bin/bash
# Kubelet benchmark: nodelet on nodelet-cri and nodelet on containerd 1.6,
# side by side in one run (see bench/kubelet/bench.py), with the real
# kubelet's numbers measured earlier on this machine as the anchor.
# Everything runs in a private net+mount namespace with private /run/netns,
# /var/lib/cni and /run/cni, so no bridge, veth, lease or iptables rule
# reaches the machine's own.
#   bash bench/kubelet/run.sh [builddir] [bench.py args...]
set -euo pipefail
build=${1:-build}
shift || true
cd "$(dirname "$0")/../.."
NODELET_BUILD=$(realpath "$build")
export NODELET_BUILD
for b in nodelet nodelet-cri nodelet-shim bridge host-local loopback; do
	[ -x "$NODELET_BUILD/bin/$b" ] || { echo "bench/kubelet: $NODELET_BUILD/bin/$b is not built (make all)" >&2; exit 1; }
done
# 100 pods at once: up to 32 pod-worker threads and a termination thread
# per removed pod in nodelet, a shim per container, gRPC and CNI fds in the
# runtimes.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NDL_BENCH_HOST_NETNS=$(stat -L -c %i /proc/self/ns/net)
export NDL_BENCH_HOST_NETNS
exec unshare --net --mount --propagation private /bin/bash -c '
	set -euo pipefail
	mkdir -p /run/netns /var/lib/cni /run/cni
	for d in /run/netns /var/lib/cni /run/cni; do mount -t tmpfs -o mode=755 tmpfs "$d"; done
	ip link set lo up
	exec /usr/bin/python3 bench/kubelet/bench.py "$@"
' bench-kubelet "$@"
