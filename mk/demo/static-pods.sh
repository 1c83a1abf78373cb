#!/bin/bash
# make demo: the real main job. nodelet (standalone, static pods from a temp
# copy of static-pods/examples) runs pods on nodelet-cri, whose sandboxes are
# wired by our bridge + host-local plugins. Prints each pod's status and IP
# from the read-only /pods endpoint, fetches the web pod's page, shows the
# pods' logs and the crash-looping pod's back-off, then stops everything.
#
# Everything happens inside a network + mount namespace this script creates
# (unshare) with private /run/netns, /var/lib/cni and /run/cni; all state is
# in one temp dir. The machine's own network namespace is never touched.
#   bash mk/demo/static-pods.sh [builddir]
# DEMO_SECONDS=N: keep running N seconds after showing everything, then stop
# (default: until Ctrl-C on a terminal, 30 s when stdin is not a terminal).
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/../.."
repo=$(pwd)
bin=$(realpath "$build/bin")

if [ "$(id -u)" != 0 ]; then
	echo "demo: needs root (namespaces, cgroups, mounts)" >&2
	exit 1
fi
for p in nodelet nodelet-cri nodelet-shim bridge host-local loopback; do
	[ -x "$bin/$p" ] || { echo "demo: $bin/$p is not built (make all)" >&2; exit 1; }
done
for t in jq curl ip unshare umoci skopeo; do
	command -v "$t" >/dev/null || { echo "demo: $t is missing (make deps)" >&2; exit 1; }
done
[ -x /bin/busybox ] || { echo "demo: /bin/busybox missing (apt-get install busybox-static)" >&2; exit 1; }

if [ "${NDL_DEMO_INSIDE:-}" != 1 ]; then
	host_ns=$(stat -L -c %i /proc/self/ns/net)
	# Decide interactivity here, where stdin is still the caller's.
	if [ -z "${DEMO_SECONDS:-}" ] && [ ! -t 0 ]; then DEMO_SECONDS=30; fi
	exec env NDL_DEMO_INSIDE=1 NDL_DEMO_HOST_NS="$host_ns" DEMO_SECONDS="${DEMO_SECONDS:-}" \
		unshare --net --mount --propagation private /bin/bash "$0" "$build"
fi

# ---- from here on: inside the private namespaces ----------------------------
if [ "$(stat -L -c %i /proc/self/ns/net)" = "${NDL_DEMO_HOST_NS:-}" ]; then
	echo "demo: refusing to run in the machine's own network namespace" >&2
	exit 1
fi
for d in /run/netns /var/lib/cni /run/cni; do
	mkdir -p "$d"
	mount -t tmpfs -o mode=755 tmpfs "$d"
done
ip link set lo up

# Short path: nodelet-cri's shim sockets live below it (sun_path limit).
work=$(mktemp -d /tmp/ndemo.XXXXXX)
node=demo-node
cgroot=/nodelet-demo-${work##*.}
ro_port=10255
subnet=10.88.0.0/24
nodelet_pid= cri_pid=

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
step() { echo; bold "==> $*"; }
indent() { sed 's/^/    /'; }
pods_json() { curl -fsS --max-time 5 "http://127.0.0.1:$ro_port/pods"; }

# wait_for SECONDS WHAT CMD...: poll CMD every 0.5 s.
wait_for() {
	local secs=$1 what=$2 i
	shift 2
	for ((i = 0; i < secs * 2; i++)); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.5
	done
	echo "demo: timed out after ${secs}s waiting for $what" >&2
	return 1
}

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# stop_pid PID NAME SECONDS: SIGTERM, wait, then SIGKILL (only our own PIDs).
stop_pid() {
	local pid=$1 name=$2 secs=$3 i
	alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < secs * 10; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then
		echo "demo: $name ($pid) did not stop in ${secs}s, killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

crictl() { "$bin/nodelet-crictl" --runtime-endpoint "unix://$work/cri.sock" "$@"; }
# The pods are gone from /pods as soon as their manifests are; the kubelet
# still stops them: wait until the runtime has no running container and no
# ready sandbox left.
pods_stopped() {
	local n
	n=$( (crictl ps | jq '[.containers[]? | select(.state == "CONTAINER_RUNNING")] | length') 2>/dev/null) || return 1
	[ "$n" = 0 ] || return 1
	n=$( (crictl pods | jq '[.items[]? | select(.state == "SANDBOX_READY")] | length') 2>/dev/null) || return 1
	[ "$n" = 0 ]
}
no_shims_left() {
	local p
	for p in /proc/[0-9]*; do
		if [ "$(readlink "$p/exe" 2>/dev/null)" = "$bin/nodelet-shim" ] &&
			tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF "$work"; then
			return 1
		fi
	done
	return 0
}

cleaned=0
cleanup() {
	local rc=$?
	[ "$cleaned" = 1 ] && return
	cleaned=1
	trap '' INT TERM
	step "Stopping: pods (manifests removed), nodelet, nodelet-cri"
	if alive "$nodelet_pid"; then
		rm -f "$work/manifests/"*
		if wait_for 60 "the pods to stop" pods_stopped; then
			echo "pods stopped by nodelet" | indent
		fi
	fi
	stop_pid "$nodelet_pid" nodelet 15
	echo "nodelet stopped" | indent
	# What the kubelet leaves for its garbage collector (stopped sandboxes
	# and exited containers), or everything if it could not stop the pods:
	# remove through the CRI so nodelet-cri unmounts and deletes it all.
	if alive "$cri_pid"; then
		local id
		for id in $(crictl pods 2>/dev/null | jq -r '.items[]?.id'); do
			crictl call StopPodSandbox "{\"pod_sandbox_id\": \"$id\"}" >/dev/null || true
			crictl call RemovePodSandbox "{\"pod_sandbox_id\": \"$id\"}" >/dev/null || true
		done
		echo "sandboxes removed: $(crictl pods 2>/dev/null | jq '.items // [] | length')" | indent
	fi
	stop_pid "$cri_pid" nodelet-cri 20
	echo "nodelet-cri stopped" | indent
	if ! no_shims_left; then
		echo "demo: container shims are still running" >&2
		rc=1
	fi
	# Mounts nodelet-cri left (there should be none) are in our private mount
	# namespace; list them so a leak is visible, they vanish with it.
	local left
	left=$(awk -v w="$work" 'index($2, w) == 1 {print $2}' /proc/self/mounts)
	if [ -n "$left" ]; then
		echo "demo: mounts left under $work:" >&2
		echo "$left" | indent >&2
		rc=1
		awk -v w="$work" 'index($2, w) == 1 {print $2}' /proc/self/mounts | sort -r |
			while read -r m; do umount -l "$m" 2>/dev/null || true; done
	fi
	# Pod cgroups live below a demo-unique root: remove it bottom-up.
	local c
	for c in /sys/fs/cgroup/*/"${cgroot#/}"; do
		[ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true
	done
	# ASan/UBSan builds (make check SANITIZE=1) report into the daemons' logs.
	local f
	for f in "$work/nodelet.log" "$work/nodelet-cri.log"; do
		if [ -f "$f" ] && grep -qE 'Sanitizer|runtime error:' "$f"; then
			echo "demo: sanitizer report in $(basename "$f")" >&2
			rc=1
		fi
	done
	# On failure the daemons' last words say why (the temp dir goes away).
	if [ $rc != 0 ]; then
		for f in "$work/nodelet.log" "$work/nodelet-cri.log"; do
			[ -f "$f" ] || continue
			echo "--- last lines of $(basename "$f"):" >&2
			tail -n 25 "$f" >&2
		done
	fi
	if [ "${DEMO_KEEP:-}" != 1 ]; then rm -rf "$work"; fi
	if [ $rc = 0 ]; then bold "demo: stopped cleanly"; else echo "demo: FAILED (exit $rc)" >&2; fi
	exit $rc
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted"; exit 0' INT TERM

step "Image localhost/nodelet-demo:latest from Debian's busybox-static (no network)"
bash "$repo/mk/demo/build-image.sh" "$work/image" localhost/nodelet-demo:latest \
	"$work/preload/nodelet-demo.tar"
ls -l "$work/preload" | tail -n +2 | indent

step "CNI: bridge + host-local ($subnet) with our plugins in $bin"
mkdir -p "$work/net.d"
cat >"$work/net.d/10-demo.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "demo-pods",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "demo-br0",
      "isGateway": true,
      "ipMasq": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$subnet"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
JSON
jq -c '.plugins[0]' "$work/net.d/10-demo.conflist" | indent

step "Starting nodelet-cri (CRI v1 on unix://$work/cri.sock)"
"$bin/nodelet-cri" --listen "$work/cri.sock" --root "$work/cri-root" --run-root "$work/cri-run" \
	--cni-conf-dir "$work/net.d" --cni-bin-dir "$bin" --cni-cache-dir "$work/cni-cache" \
	--image-preload-dir "$work/preload" >"$work/nodelet-cri.log" 2>&1 &
cri_pid=$!
cri_up() { alive "$cri_pid" && crictl version; }
if ! wait_for 30 nodelet-cri cri_up; then
	tail -n 30 "$work/nodelet-cri.log" >&2
	exit 1
fi
echo "pid $cri_pid, log $work/nodelet-cri.log" | indent
crictl images | jq -r '.images[] | "\(.repo_tags[0]) \(.id) \(.size) bytes"' | indent

step "Starting nodelet (standalone: static pods from $work/manifests)"
mkdir -p "$work/manifests"
cp "$repo"/static-pods/examples/*.yaml "$work/manifests/"
ls "$work/manifests" | indent
cat >"$work/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
podLogsDir: $work/pods-logs
YAML
"$bin/nodelet" --config="$work/kubelet.yaml" --root-dir="$work/nodelet-root" \
	--hostname-override="$node" --pod-manifest-path="$work/manifests" \
	--container-runtime-endpoint="unix://$work/cri.sock" --cgroup-root="$cgroot" \
	--address=127.0.0.1 --read-only-port=$ro_port --healthz-port=0 --v=2 \
	>"$work/nodelet.log" 2>&1 &
nodelet_pid=$!
nodelet_up() { alive "$nodelet_pid" && pods_json; }
if ! wait_for 20 nodelet nodelet_up; then
	tail -n 30 "$work/nodelet.log" >&2
	exit 1
fi
echo "pid $nodelet_pid, log $work/nodelet.log, read-only API http://127.0.0.1:$ro_port/pods" | indent

# pod_field NAME JQ: a jq expression over the pod's object in /pods.
pod_field() { pods_json | jq -r --arg n "$1-$node" ".items[] | select(.metadata.name == \$n) | $2"; }
pod_ready() { [ "$(pod_field "$1" '[.status.conditions[]? | select(.type == "Ready") | .status][0]')" = True ]; }
crashloop_backoff() {
	[ "$(pod_field crashloop '[.status.containerStatuses[]? | select(.state.waiting.reason == "CrashLoopBackOff")] | length')" -gt 0 ]
}

step "Waiting for the pods (web ready, with-init ready, crashloop in back-off)"
wait_for 90 "web to be Ready" pod_ready web
wait_for 60 "with-init to be Ready" pod_ready with-init
wait_for 60 "crashloop to reach CrashLoopBackOff" crashloop_backoff

show_status() {
	pods_json | jq -r '
	  def cs: (.state | to_entries[0]) as $s |
	    "\(.name): \($s.key)" +
	    (if $s.value.reason then " (\($s.value.reason)" +
	        (if $s.value.exitCode != null then ", exit \($s.value.exitCode)" else "" end) + ")" else "" end) +
	    ", ready=\(.ready), restarts=\(.restartCount)";
	  .items | sort_by(.metadata.name)[] |
	  "\(.metadata.name): phase=\(.status.phase) ip=\(.status.podIP // "-") " +
	    "ready=\([.status.conditions[]? | select(.type == "Ready") | .status][0] // "-")" +
	    (if ([.status.conditions[]? | select(.type == "Ready" and .reason) | .reason][0]) then
	       " (\([.status.conditions[] | select(.type == "Ready") | .reason][0]))" else "" end),
	  ((.status.initContainerStatuses // [])[] | "    init " + cs),
	  ((.status.containerStatuses // [])[] | "    " + cs)'
}
step "Pod status (from http://127.0.0.1:$ro_port/pods)"
show_status | indent

web_ip=$(pod_field web '.status.podIP')
step "GET http://$web_ip:8080/ (the web pod, over the bridge)"
echo "$(curl -fsS --max-time 5 "http://$web_ip:8080/")" | indent

step "Logs ($work/pods-logs/<namespace>_<pod>_<uid>/<container>/<restart>.log, CRI format)"
for d in "$work"/pods-logs/*/; do
	echo "$(basename "$d"):"
	for f in "$d"*/*.log; do
		[ -f "$f" ] || continue
		echo "  ${f#"$d"}:"
		tail -n 4 "$f" | indent | indent
	done
done

step "Crash loop back-off (crashloop pod)"
pod_field crashloop '.status.containerStatuses[] |
	"restartCount=\(.restartCount) state=\(.state | keys[0]) reason=\(.state.waiting.reason // .state.terminated.reason // "-")" +
	(if .state.waiting.message then " message=\(.state.waiting.message)" else "" end) +
	(if .lastState.terminated then " lastState=terminated(\(.lastState.terminated.reason), exit \(.lastState.terminated.exitCode))" else "" end)' | indent
grep -E 'back-off|CrashLoopBackOff' "$work/nodelet.log" | tail -n 2 | cut -c1-200 | indent || true

echo
if [ -n "${DEMO_SECONDS:-}" ]; then
	bold "demo: everything is up; running ${DEMO_SECONDS}s more, then stopping (Ctrl-C stops now)"
	end=$((SECONDS + DEMO_SECONDS))
	while ((SECONDS < end)); do sleep 1; done
	step "Pod status after ${DEMO_SECONDS}s"
	show_status | indent
else
	bold "demo: everything is up; press Ctrl-C to stop (state in $work)"
	while :; do sleep 1; done
fi
exit 0
