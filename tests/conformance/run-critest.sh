#!/bin/sh
# Run a critest binary you provide (cri-tools is not part of nodelet; build
# it from its own repository) against containerd 1.6 and nodelet-cri, with
# locally built copies of critest's images served by a local registry.
#
#   tests/conformance/run-critest.sh CRITEST=/path/to/critest \
#       [RUNTIME=containerd|nodelet-cri] [FOCUS=regex] [SKIP=regex] [PARALLEL=n] \
#       [OUTDIR=dir] [-- more critest flags]
#   tests/conformance/run-critest.sh EXEC='crictl pull busybox; ...' [RUNTIME=...]
#       runs a shell command instead, with CONTAINER_RUNTIME_ENDPOINT set
#       (crictl reads it), against the same runtimes, images and namespaces.
#
# Needs root, docker-registry, skopeo, containerd (for its run) and a built
# tree (make; NODELET_BUILD selects build/ or build-asan/). Everything runs
# in new network, mount, IPC and UTS namespaces: pods, bridges, iptables
# rules and IPC segments never touch the machine's own.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
CRITEST= EXEC= RUNTIME= FOCUS= SKIP= PARALLEL=1 OUTDIR=
while [ $# -gt 0 ]; do
	case "$1" in
	CRITEST=*) CRITEST=${1#CRITEST=} ;;
	EXEC=*) EXEC=${1#EXEC=} ;;
	RUNTIME=*) RUNTIME=${1#RUNTIME=} ;;
	FOCUS=*) FOCUS=${1#FOCUS=} ;;
	SKIP=*) SKIP=${1#SKIP=} ;;
	PARALLEL=*) PARALLEL=${1#PARALLEL=} ;;
	OUTDIR=*) OUTDIR=${1#OUTDIR=} ;;
	--) shift; break ;;
	*) echo "run-critest.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
if [ -z "$CRITEST" ] && [ -z "$EXEC" ]; then
	echo "usage: run-critest.sh CRITEST=/path/to/critest [RUNTIME=...] [FOCUS=...] [SKIP=...] [PARALLEL=n] [OUTDIR=dir] [-- critest flags]" >&2
	exit 2
fi
set -- --critest "$CRITEST" --exec "$EXEC" --parallel "$PARALLEL" --focus "$FOCUS" --skip "$SKIP" --outdir "$OUTDIR" \
	--host-netns-ino "$(stat -L -c %i /proc/self/ns/net)" ${RUNTIME:+--runtime "$RUNTIME"} -- "$@"
exec unshare --net --mount --ipc --uts --propagation private /usr/bin/python3 "$here/critest.py" "$@"
