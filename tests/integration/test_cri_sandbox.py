"""nodelet-cri pod sandboxes end to end: RunPodSandbox pins namespaces, sets
the hostname and sysctls inside them, writes hosts/resolv.conf/hostname,
mounts a /dev/shm tmpfs and attaches the network with our bridge +
host-local plugins (pod CIDR from UpdateRuntimeConfig, IP reachable from the
test's namespace, two pods reach each other); PodSandboxStatus/List with
filters; Stop (CNI DEL, idempotent) and Remove (nothing left, idempotent);
failures roll back; records survive a kill -9 of the daemon."""
import json
import os
import subprocess

import pytest

import criclient
import harness
from harness import bin_path


@pytest.fixture(autouse=True)
def _stop_daemons():
    yield
    criclient.Daemon.stop_all()


def write_conflist(conf_dir, name="podnet", subnet=None, bridge="cri0"):
    ipam = {"type": "host-local", "routes": [{"dst": "0.0.0.0/0"}]}
    if subnet:
        ipam["ranges"] = [[{"subnet": subnet}]]
    # Without a subnet the range comes from the pod CIDR (ipRanges capability,
    # declared by the plugin as containerd's conflist templates do).
    conf = {"cniVersion": "1.0.0", "name": name, "plugins": [
        {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False,
         "capabilities": {"ipRanges": True}, "ipam": ipam}]}
    os.makedirs(conf_dir, exist_ok=True)
    with open(os.path.join(conf_dir, "10-pod.conflist"), "w") as f:
        json.dump(conf, f)


def pod_config(name, uid, ns="default", **over):
    cfg = {
        "metadata": {"name": name, "uid": uid, "namespace": ns, "attempt": 0},
        "hostname": name,
        "log_directory": "/tmp/pod-logs-" + uid,
        "labels": {"app": name},
        "annotations": {"a": "b"},
        "linux": {"cgroup_parent": "/kubepods/pod" + uid,
                  "sysctls": {"net.ipv4.ip_unprivileged_port_start": "100",
                              "kernel.shmmni": "1234"},
                  "security_context": {"namespace_options": {"network": "POD", "pid": "CONTAINER",
                                                             "ipc": "POD"}}},
    }
    cfg.update(over)
    return cfg


def daemon(tmp_path):
    conf = os.path.join(str(tmp_path), "net.d")
    write_conflist(conf)
    d = criclient.Daemon(tmp_path, bin_dirs=harness.BIN).start()
    with d.client() as c:
        c.UpdateRuntimeConfig(runtime_config={"network_config": {"pod_cidr": "10.99.0.0/24"}})
    return d


def nsenter(path_flags, cmd):
    return subprocess.run(["nsenter"] + path_flags + cmd, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, check=True).stdout


def mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


@pytest.mark.network
def test_sandbox_lifecycle(netns, tmp_path):
    d = daemon(tmp_path)
    pb = criclient.pb()
    with d.client() as c:
        sid = c.RunPodSandbox(config=pod_config("web", "u1")).pod_sandbox_id
        assert len(sid) == 64
        s = c.PodSandboxStatus(pod_sandbox_id=sid, verbose=True)
        st = s.status
        assert st.state == pb.SANDBOX_READY
        assert st.metadata.name == "web" and st.metadata.namespace == "default"
        assert st.labels["app"] == "web" and st.annotations["a"] == "b"
        assert st.network.ip.startswith("10.99.0."), st.network
        assert st.linux.namespaces.options.pid == pb.CONTAINER
        assert st.created_at > 0
        info = json.loads(s.info["info"])
        assert info["config"]["hostname"] == "web"
        nsp = info["namespacePaths"]
        assert set(nsp) == {"net", "ipc", "uts"}
        for p in nsp.values():
            assert mounted(p), p
        # hostname and sysctls live in the pod's namespaces.
        assert nsenter([f"--uts={nsp['uts']}"], ["hostname"]).strip() == "web"
        assert nsenter([f"--net={nsp['net']}"],
                       ["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"]).strip() == "100"
        assert nsenter([f"--ipc={nsp['ipc']}"], ["cat", "/proc/sys/kernel/shmmni"]).strip() == "1234"
        # The IP is on eth0 in the pod and reachable from here (bridge gateway).
        out = nsenter([f"--net={nsp['net']}"], ["ip", "-j", "addr", "show", "eth0"])
        assert st.network.ip in out
        subprocess.run(["ping", "-c", "1", "-W", "2", st.network.ip], check=True,
                       stdout=subprocess.PIPE)
        sdir = info["sandboxDir"]
        assert open(os.path.join(sdir, "hostname")).read() == "web\n"
        assert mounted(os.path.join(sdir, "shm"))
        # Lists and filters.
        assert [x.id for x in c.ListPodSandbox().items] == [sid]
        assert [x.id for x in c.ListPodSandbox(filter={"id": sid[:12]}).items] == [sid]
        assert [x.id for x in c.ListPodSandbox(filter={"label_selector": {"app": "web"}}).items] == [sid]
        assert list(c.ListPodSandbox(filter={"label_selector": {"app": "x"}}).items) == []
        assert list(c.ListPodSandbox(filter={"state": {"state": "SANDBOX_NOTREADY"}}).items) == []
        # Same name again is refused.
        with pytest.raises(criclient.CRIError) as e:
            c.RunPodSandbox(config=pod_config("web", "u1"))
        assert e.value.code.name == "ALREADY_EXISTS"
        # The C client reads the same status.
        p = subprocess.run([bin_path("nodelet-crictl"), "-r", "unix://" + d.sock, "call",
                            "PodSandboxStatus", json.dumps({"pod_sandbox_id": sid})],
                           stdout=subprocess.PIPE, text=True, check=True)
        assert json.loads(p.stdout)["status"] == criclient.to_dict(st)

        # Stop: network gone (lease freed), NOTREADY; twice is fine.
        cache = os.path.join(d.cache_dir, "results", f"podnet-{sid}-eth0")
        assert os.path.exists(cache)
        c.StopPodSandbox(pod_sandbox_id=sid)
        c.StopPodSandbox(pod_sandbox_id=sid)
        assert not os.path.exists(cache)
        assert c.PodSandboxStatus(pod_sandbox_id=sid).status.state == pb.SANDBOX_NOTREADY
        assert [x.id for x in c.ListPodSandbox(
            filter={"state": {"state": "SANDBOX_NOTREADY"}}).items] == [sid]
        leases = os.listdir("/var/lib/cni/networks/podnet")
        assert st.network.ip not in leases
        # Remove: unpinned, dir gone, record gone; again is OK.
        c.RemovePodSandbox(pod_sandbox_id=sid)
        for p in nsp.values():
            assert not mounted(p)
        assert not os.path.exists(sdir)
        assert list(c.ListPodSandbox().items) == []
        c.RemovePodSandbox(pod_sandbox_id=sid)
        with pytest.raises(criclient.CRIError) as e:
            c.PodSandboxStatus(pod_sandbox_id=sid)
        assert e.value.code.name == "NOT_FOUND"
        with pytest.raises(criclient.CRIError) as e:
            c.StopPodSandbox(pod_sandbox_id=sid)
        assert e.value.code.name == "NOT_FOUND"
        # The name is free again.
        sid2 = c.RunPodSandbox(config=pod_config("web", "u1")).pod_sandbox_id
        c.RemovePodSandbox(pod_sandbox_id=sid2)


@pytest.mark.network
def test_two_pods_reach_each_other_and_restart(netns, tmp_path):
    d = daemon(tmp_path)
    with d.client() as c:
        a = c.RunPodSandbox(config=pod_config("a", "ua")).pod_sandbox_id
        b = c.RunPodSandbox(config=pod_config("b", "ub", linux={
            "security_context": {"namespace_options": {"pid": "POD"}}},
            dns_config={"servers": ["10.99.0.53"], "searches": ["svc.local"],
                        "options": ["ndots:5"]})).pod_sandbox_id
        sa = json.loads(c.PodSandboxStatus(pod_sandbox_id=a, verbose=True).info["info"])
        sb = c.PodSandboxStatus(pod_sandbox_id=b, verbose=True)
        ib = json.loads(sb.info["info"])
        assert "pid" in ib["namespacePaths"]
        # The pod's init (the only process of its pid namespace yet) shows as
        # "pause", not as a copy of the daemon's command line.
        pin = os.stat(ib["namespacePaths"]["pid"])
        inits = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                ns = os.stat(f"/proc/{pid}/ns/pid")
                if (ns.st_ino, ns.st_dev) == (pin.st_ino, pin.st_dev):
                    inits.append((open(f"/proc/{pid}/comm").read(),
                                  open(f"/proc/{pid}/cmdline", "rb").read().rstrip(b"\0")))
            except OSError:
                pass
        assert inits == [("pause\n", b"pause")]
        assert open(os.path.join(ib["sandboxDir"], "resolv.conf")).read() == \
            "search svc.local\nnameserver 10.99.0.53\noptions ndots:5\n"
        subprocess.run(["nsenter", f"--net={sa['netNamespacePath']}", "ping", "-c", "1", "-W",
                        "2", sb.status.network.ip], check=True, stdout=subprocess.PIPE)
    # kill -9 and restart: both listed with their state and IPs.
    d.kill()
    d.start()
    with d.client() as c:
        items = {x.id: x for x in c.ListPodSandbox().items}
        assert set(items) == {a, b}
        assert c.PodSandboxStatus(pod_sandbox_id=b).status.network.ip == sb.status.network.ip
        c.StopPodSandbox(pod_sandbox_id=a)
        c.RemovePodSandbox(pod_sandbox_id=a)
        c.RemovePodSandbox(pod_sandbox_id=b)
        assert list(c.ListPodSandbox().items) == []


@pytest.mark.network
def test_host_network_pod(netns, tmp_path):
    d = daemon(tmp_path)
    with d.client() as c:
        sid = c.RunPodSandbox(config=pod_config("h", "uh", linux={
            "security_context": {"namespace_options": {"network": "NODE", "pid": "NODE",
                                                       "ipc": "NODE"}}})).pod_sandbox_id
        s = c.PodSandboxStatus(pod_sandbox_id=sid, verbose=True)
        assert s.status.network.ip == ""
        info = json.loads(s.info["info"])
        assert info["namespacePaths"] == {}
        assert not os.path.exists(os.path.join(d.cache_dir, "results", f"podnet-{sid}-eth0"))
        c.StopPodSandbox(pod_sandbox_id=sid)
        c.RemovePodSandbox(pod_sandbox_id=sid)


@pytest.mark.network
def test_failures_roll_back(netns, tmp_path):
    d = daemon(tmp_path)
    sdir = os.path.join(d.run_root, "sandboxes")
    with d.client() as c:
        for bad, field in [({"metadata": {"uid": "u", "namespace": "n"}}, "config.metadata.name"),
                           ({"metadata": {"name": "x", "namespace": "n"}}, "config.metadata.uid"),
                           ({}, "config.metadata")]:
            with pytest.raises(criclient.CRIError) as e:
                c.RunPodSandbox(config=bad)
            assert e.value.code.name == "UNKNOWN" and field in e.value.details
        # A sysctl outside the pod's namespaces is refused before anything exists.
        with pytest.raises(criclient.CRIError) as e:
            c.RunPodSandbox(config=pod_config("s", "us", linux={"sysctls": {"vm.swappiness": "1"}}))
        assert e.value.code.name == "UNKNOWN" and "vm.swappiness" in e.value.details
        # A failing CNI ADD (an IPAM plugin that does not exist) leaves nothing.
        with open(os.path.join(d.conf_dir, "10-pod.conflist"), "w") as f:
            json.dump({"cniVersion": "1.0.0", "name": "podnet", "plugins": [
                {"type": "bridge", "bridge": "cri0", "ipam": {"type": "no-such-ipam"}}]}, f)
        with pytest.raises(criclient.CRIError) as e:
            c.RunPodSandbox(config=pod_config("f", "uf"))
        assert "no-such-ipam" in e.value.details
        assert os.listdir(sdir) == []
        assert list(c.ListPodSandbox().items) == []
        with open("/proc/self/mountinfo") as f:
            assert sdir not in f.read()
        # The name was released.
        write_conflist(d.conf_dir)
        sid = c.RunPodSandbox(config=pod_config("f", "uf")).pod_sandbox_id
        c.RemovePodSandbox(pod_sandbox_id=sid)
        assert os.listdir(sdir) == []


@pytest.mark.network
def test_port_mappings_reach_portmap(netns, tmp_path):
    """portMappings capability: only mappings with a host port, protocol in
    lower case, reach a plugin that declares the capability (the reference
    portmap here, after our bridge)."""
    if not os.path.exists("/usr/lib/cni/portmap"):
        pytest.skip("reference portmap plugin not installed")
    conf = os.path.join(str(tmp_path), "net.d")
    os.makedirs(conf)
    with open(os.path.join(conf, "10-pod.conflist"), "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": "podnet", "plugins": [
            {"type": "bridge", "bridge": "cri0", "isGateway": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.96.0.0/24"}]]}},
            {"type": "portmap", "capabilities": {"portMappings": True}}]}, f)
    d = criclient.Daemon(tmp_path, bin_dirs=harness.BIN + ":/usr/lib/cni").start()
    with d.client() as c:
        sid = c.RunPodSandbox(config=pod_config("pm", "upm", port_mappings=[
            {"protocol": "UDP", "container_port": 53, "host_port": 5353},
            {"protocol": "TCP", "container_port": 80}])).pod_sandbox_id
        ip = c.PodSandboxStatus(pod_sandbox_id=sid).status.network.ip
        rules = subprocess.run(["iptables-save", "-t", "nat"], stdout=subprocess.PIPE,
                               text=True, check=True).stdout
        dnat = [r for r in rules.splitlines() if "DNAT" in r and ip in r]
        assert len(dnat) == 1 and "-p udp" in dnat[0] and "5353" in dnat[0], dnat
        c.StopPodSandbox(pod_sandbox_id=sid)
        rules = subprocess.run(["iptables-save", "-t", "nat"], stdout=subprocess.PIPE,
                               text=True, check=True).stdout
        assert not [r for r in rules.splitlines() if "DNAT" in r and ip in r]
        c.RemovePodSandbox(pod_sandbox_id=sid)


@pytest.mark.network
def test_orphans_of_a_crash_are_undone(netns, tmp_path):
    """A sandbox whose record is missing after a crash (the daemon died
    between pinning and persisting) is torn down at the next start:
    CNI DEL (lease freed), pod init killed, pins unmounted, dir removed."""
    d = daemon(tmp_path)
    with d.client() as c:
        sid = c.RunPodSandbox(config=pod_config("o", "uo", linux={
            "security_context": {"namespace_options": {"pid": "POD"}}})).pod_sandbox_id
        info = json.loads(c.PodSandboxStatus(pod_sandbox_id=sid, verbose=True).info["info"])
        ip = c.PodSandboxStatus(pod_sandbox_id=sid).status.network.ip
    pid_pin = info["namespacePaths"]["pid"]
    pin_ino = os.stat(pid_pin).st_ino
    inits = [p for p in os.listdir("/proc") if p.isdigit() and
             _ns_ino(p) == pin_ino]
    assert len(inits) == 1
    d.kill()
    os.remove(os.path.join(d.root, "sandboxes", sid + ".json"))
    d.start()
    assert "removed orphan sandbox" in d.logtext()
    assert not os.path.exists(info["sandboxDir"])
    for p in info["namespacePaths"].values():
        assert not mounted(p)
    assert ip not in os.listdir("/var/lib/cni/networks/podnet")
    assert not os.path.exists(os.path.join(d.cache_dir, "results", f"podnet-{sid}-eth0"))
    harness.wait_for(lambda: not os.path.exists(f"/proc/{inits[0]}/ns"), what="pod init gone")


def _ns_ino(pid):
    try:
        return os.stat(f"/proc/{pid}/ns/pid").st_ino
    except OSError:
        return None


def write_conflist_11(conf_dir, name, subnet, data_dir, bridge="cri11"):
    """A CNI 1.1.0 list (STATUS and GC run the plugins) with a fixed range
    and host-local leases under data_dir."""
    os.makedirs(conf_dir, exist_ok=True)
    with open(os.path.join(conf_dir, "10-pod.conflist"), "w") as f:
        json.dump({"cniVersion": "1.1.0", "name": name, "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                      "dataDir": data_dir}}]}, f)


needs_our_plugins = pytest.mark.skipif(
    not all(os.path.exists(bin_path(p)) for p in ("bridge", "host-local", "nodelet-cnitool")),
    reason="our CNI plugins are not built")


def network_ready(c):
    conds = {x.type: x for x in c.Status().status.conditions}
    return conds["NetworkReady"]


@pytest.mark.network
@needs_our_plugins
def test_status_network_ready_follows_cni_status(netns, tmp_path):
    """Status runs the 1.1.0 list's STATUS: a full host-local range makes
    NetworkReady false with containerd's reason and wording; freeing the
    address makes it ready again. A pre-1.1.0 list runs nothing and is ready."""
    conf = os.path.join(str(tmp_path), "net.d")
    data = os.path.join(str(tmp_path), "ipam")
    # A /30 without the gateway leaves one address for pods.
    write_conflist_11(conf, "snet", "10.86.0.0/30", data)
    d = criclient.Daemon(tmp_path, bin_dirs=harness.BIN).start()
    with d.client() as c:
        nr = network_ready(c)
        assert nr.status is True and nr.reason == "" and nr.message == ""
        sid = c.RunPodSandbox(config=pod_config("full", "uf")).pod_sandbox_id
        nr = network_ready(c)
        assert nr.status is False
        assert nr.reason == "NetworkPluginNotReady"
        assert nr.message.startswith("Network plugin returns error: "), nr.message
        assert "code 50" in nr.message and "no IP addresses available" in nr.message, nr.message
        c.StopPodSandbox(pod_sandbox_id=sid)
        nr = network_ready(c)
        assert nr.status is True, nr.message
        c.RemovePodSandbox(pod_sandbox_id=sid)
        # An older list has no STATUS: ready without running a plugin, even
        # when its plugin binary is not there at all.
        with open(os.path.join(conf, "10-pod.conflist"), "w") as f:
            json.dump({"cniVersion": "1.0.0", "name": "old",
                       "plugins": [{"type": "no-such-plugin"}]}, f)
        nr = network_ready(c)
        assert nr.status is True, nr.message


@pytest.mark.network
@needs_our_plugins
def test_cni_gc_at_start(netns, tmp_path):
    """At start the daemon GCs the network with the sandboxes whose network is
    up: an attachment cached for a sandbox it does not know is DELeted (cache
    entry and lease gone), a lease without any attachment is freed by
    host-local's GC, the running sandbox keeps its lease and cache entry."""
    conf = os.path.join(str(tmp_path), "net.d")
    data = os.path.join(str(tmp_path), "ipam")
    cache = "/var/lib/cni"  # private to this test (network marker)
    write_conflist_11(conf, "gcnet", "10.87.0.0/24", data)
    d = criclient.Daemon(tmp_path, bin_dirs=harness.BIN, cache_dir=cache).start()
    with d.client() as c:
        sid = c.RunPodSandbox(config=pod_config("keep", "uk")).pod_sandbox_id
        ip = c.PodSandboxStatus(pod_sandbox_id=sid).status.network.ip
    d.stop()
    # While the daemon is down, something attached a "ghost" sandbox it never
    # knew, and another attachment lost its cache entry.
    env = dict(os.environ, NETCONFPATH=conf, CNI_PATH=harness.BIN, CNI_IFNAME="eth0",
               CNI_CACHE_DIR=cache,
               CNI_ARGS="K8S_POD_NAMESPACE=default;K8S_POD_NAME=g;IgnoreUnknown=1")
    ghost_ips = {}
    for cid in ("ghost1", "ghost2"):
        ns = netns.add_netns(cid)
        p = subprocess.run([bin_path("nodelet-cnitool"), "add", "gcnet", ns],
                           env=dict(env, CNI_CONTAINERID=cid), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        ghost_ips[cid] = json.loads(p.stdout)["ips"][0]["address"].split("/")[0]
    os.unlink(os.path.join(cache, "results", "gcnet-ghost2-eth0"))
    leases = os.path.join(data, "gcnet")

    def lease_ips():
        return sorted(f for f in os.listdir(leases) if f.startswith("10."))

    assert lease_ips() == sorted([ip] + list(ghost_ips.values()))
    results = os.path.join(cache, "results")
    assert sorted(os.listdir(results)) == sorted(
        [f"gcnet-{sid}-eth0", "gcnet-ghost1-eth0"] + [
            x for x in os.listdir(results) if x.startswith("cni-loopback-")])
    d.start()
    assert lease_ips() == [ip]
    assert "gcnet-ghost1-eth0" not in os.listdir(results)
    assert f"gcnet-{sid}-eth0" in os.listdir(results)
    # The known pod is untouched: still ready with its address on eth0.
    with d.client() as c:
        st = c.PodSandboxStatus(pod_sandbox_id=sid, verbose=True)
        assert st.status.state == criclient.pb().SANDBOX_READY
        assert st.status.network.ip == ip
        nsp = json.loads(st.info["info"])["namespacePaths"]["net"]
        assert ip in nsenter([f"--net={nsp}"], ["ip", "-j", "addr", "show", "eth0"])
        c.StopPodSandbox(pod_sandbox_id=sid)
        c.RemovePodSandbox(pod_sandbox_id=sid)
    assert lease_ips() == []
