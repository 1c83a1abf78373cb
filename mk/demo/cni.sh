#!/bin/bash
# The CNI-only demo (was `make demo` before the static-pods one): our CNI plugins
# wire two network namespaces onto a bridge the way a container runtime would,
# they ping each other and the gateway, then DEL leaves nothing behind.
#
# Everything happens inside a network + mount namespace this script creates
# (unshare), with private /run/netns, /var/lib/cni and /run/cni: the machine's
# own network is never touched, and whatever is left if a step fails vanishes
# with that namespace when the script exits.
#   bash mk/demo/cni.sh [builddir]
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/../.."
bin=$(realpath "$build/bin")

if [ "$(id -u)" != 0 ]; then
	echo "demo: needs root (it creates namespaces, a bridge and veths)" >&2
	exit 1
fi
for p in bridge host-local loopback; do
	if [ ! -x "$bin/$p" ]; then
		echo "demo: our plugin $bin/$p is not built (make all)" >&2
		exit 1
	fi
done
for t in jq ip unshare nsenter ping; do
	command -v "$t" >/dev/null || { echo "demo: $t is missing (make deps)" >&2; exit 1; }
done

if [ "${NDL_DEMO_INSIDE:-}" != 1 ]; then
	host_ns=$(stat -L -c %i /proc/self/ns/net)
	exec env NDL_DEMO_INSIDE=1 NDL_DEMO_HOST_NS="$host_ns" \
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

NET=demo-net
BR=demo0
SUBNET=10.22.0.0/24
GW=10.22.0.1
work=$(mktemp -d /run/cni/demo.XXXXXX)

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
step() { echo; bold "==> $*"; }
indent() { sed 's/^/    /'; }

# The network configuration, as a runtime would find it in /etc/cni/net.d.
cat >"$work/10-demo.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$NET",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BR",
      "isGateway": true,
      "ipMasq": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$SUBNET", "gateway": "$GW"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF
cat >"$work/99-loopback.conf" <<EOF
{"cniVersion": "1.0.0", "name": "lo", "type": "loopback"}
EOF

# cni CMD CONTAINER IFNAME PLUGIN STDIN-FILE: one plugin invocation as the
# spec defines it (CNI_* environment, config on stdin, result on stdout).
cni() {
	local cmd=$1 id=$2 ifname=$3 plugin=$4 conf=$5 rc=0
	CNI_COMMAND=$cmd CNI_CONTAINERID=$id CNI_NETNS=/run/netns/$id CNI_IFNAME=$ifname \
		CNI_PATH=$bin "$bin/$plugin" <"$conf" >"$work/out" 2>"$work/err" || rc=$?
	if [ $rc != 0 ]; then
		echo "demo: $plugin $cmd for $id failed (exit $rc):" >&2
		cat "$work/out" "$work/err" >&2
		exit 1
	fi
	cat "$work/out"
}

# The single-plugin config a runtime derives from the conflist: name and
# cniVersion injected, and for CHECK/DEL the cached ADD result as prevResult.
bridge_conf() {
	local prev=${1:-}
	if [ -n "$prev" ]; then
		jq -c --slurpfile prev "$prev" '.plugins[0] + {name, cniVersion, prevResult: $prev[0]}' \
			"$work/10-demo.conflist"
	else
		jq -c '.plugins[0] + {name, cniVersion}' "$work/10-demo.conflist"
	fi
}

step "Plugins: $bin/{bridge,host-local,loopback}"
echo "Network configuration ($work/10-demo.conflist):"
jq -c '.plugins[0]' "$work/10-demo.conflist" | indent

step "Two network namespaces: pod-a and pod-b"
for id in pod-a pod-b; do
	ip netns add "$id"
done
ls /run/netns | indent

declare -A IP
for id in pod-a pod-b; do
	step "ADD $id: loopback (lo), then bridge + host-local (eth0)"
	cni ADD "$id" lo loopback "$work/99-loopback.conf" >/dev/null
	bridge_conf >"$work/conf-$id"
	cni ADD "$id" eth0 bridge "$work/conf-$id" >"$work/result-$id.json"
	IP[$id]=$(jq -r '.ips[0].address' "$work/result-$id.json")
	echo "result: ip ${IP[$id]}, gateway $(jq -r '.ips[0].gateway' "$work/result-$id.json"), interfaces: $(jq -r '[.interfaces[] | .name + (if .sandbox then "@" + (.sandbox | split("/") | last) else "" end)] | join(" ")' "$work/result-$id.json")"
	echo "inside $id:"
	nsenter --net=/run/netns/$id ip -br addr | indent
	nsenter --net=/run/netns/$id ip route | indent
done

step "CHECK both (the runtime's periodic verification)"
for id in pod-a pod-b; do
	bridge_conf "$work/result-$id.json" >"$work/conf-$id"
	cni CHECK "$id" eth0 bridge "$work/conf-$id" >/dev/null
	echo "$id: ok"
done

step "Host side: bridge $BR, its veths, host-local leases, masquerade rules"
ip -br addr show dev "$BR" | indent
echo "veths on $BR: $(ip -o link show master "$BR" | awk -F': ' '{print $2}' | cut -d@ -f1 | tr '\n' ' ')"
echo "leases in /var/lib/cni/networks/$NET:"
for f in /var/lib/cni/networks/$NET/*; do
	[ -f "$f" ] || continue
	case $(basename "$f") in
	[0-9]*) # host-local's layout: "<container id>\r\n<ifname>"
		printf '%s: container %s, ifname %s\n' "$(basename "$f")" \
			"$(head -n1 "$f" | tr -d '\r')" "$(sed -n 2p "$f")" ;;
	*) printf '%s: %s\n' "$(basename "$f")" "$(cat "$f")" ;;
	esac
done | indent
echo "nat rules: $(iptables-save -t nat 2>/dev/null | grep -c '^-A.*CNI-' || true)"

a=${IP[pod-a]%/*}
b=${IP[pod-b]%/*}
step "Ping: pod-a -> pod-b ($b), pod-b -> pod-a ($a), both -> gateway $GW"
ping_from() {
	local from=$1 to=$2
	if out=$(nsenter --net=/run/netns/$from ping -c 2 -i 0.2 -W 2 "$to" 2>&1); then
		echo "$from -> $to: $(echo "$out" | grep -E 'packets transmitted' )"
	else
		echo "$from -> $to: FAILED"
		echo "$out" | indent
		exit 1
	fi
}
ping_from pod-a "$b"
ping_from pod-b "$a"
ping_from pod-a "$GW"
ping_from pod-b "$GW"

for id in pod-a pod-b; do
	step "DEL $id: bridge (eth0), then loopback (lo)"
	bridge_conf "$work/result-$id.json" >"$work/conf-$id"
	cni DEL "$id" eth0 bridge "$work/conf-$id" >/dev/null
	cni DEL "$id" lo loopback "$work/99-loopback.conf" >/dev/null
	echo "done"
done

step "What is left"
veths=$(ip -o link show type veth | wc -l)
leases=$(find /var/lib/cni/networks/$NET -maxdepth 1 -type f -name '[0-9]*' | wc -l)
rules=$(iptables-save -t nat 2>/dev/null | grep -c '^-A.*CNI-' || true)
echo "veths: $veths"
echo "leases: $leases"
echo "nat rules: $rules"
for id in pod-a pod-b; do
	echo "$id: $(nsenter --net=/run/netns/$id ip -br addr | awk '{print $1}' | tr '\n' ' ')"
done
if [ "$veths" != 0 ] || [ "$leases" != 0 ] || [ "$rules" != 0 ]; then
	echo "demo: DEL left state behind" >&2
	exit 1
fi
for id in pod-a pod-b; do
	ip netns del "$id"
done
echo
bold "demo: ok (the bridge $BR stays, as with the reference plugin; the namespaces go when this demo exits)"
