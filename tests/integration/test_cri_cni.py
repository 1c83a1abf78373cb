"""The runtime-side CNI library (through nodelet-cnitool) against real
plugins: the reference plugins in /usr/lib/cni and ours in build/bin when
built. ADD gives an IP, CHECK passes, DEL frees the lease; the result cache
is written as libcni writes it and lets DEL work after the conflist changed.
Every test runs in network namespaces of its own."""
import base64
import json
import os
import subprocess

import pytest

import harness
from harness import bin_path

REF_DIR = "/usr/lib/cni"


def plugin_dirs():
    out = []
    if os.path.exists(os.path.join(REF_DIR, "bridge")):
        out.append(pytest.param(REF_DIR, id="reference"))
    if all(os.path.exists(bin_path(p)) for p in ("bridge", "host-local", "loopback")):
        out.append(pytest.param(harness.BIN, id="nodelet"))
    return out


def write_conf(d, name, subnet, fname="10-net.conflist", bridge="cni-t0"):
    conf = {"cniVersion": "1.0.0", "name": name, "plugins": [
        {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False,
         "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                  "routes": [{"dst": "0.0.0.0/0"}]}}]}
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, fname), "w") as f:
        json.dump(conf, f)
    return conf


def cnitool(cmd, net, netns, conf_dir, bin_dir, cid="c0ffee", check=True, **env):
    e = dict(os.environ, NETCONFPATH=conf_dir, CNI_PATH=bin_dir, CNI_CONTAINERID=cid,
             CNI_IFNAME="eth0",
             CNI_ARGS="K8S_POD_NAMESPACE=default;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=%s;"
                      "K8S_POD_UID=u1;IgnoreUnknown=1" % cid)
    e.update(env)
    p = subprocess.run([bin_path("nodelet-cnitool"), cmd, net, netns], env=e,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def addrs(netns, ifname="eth0"):
    r = harness.nsrun(netns, ["ip", "-j", "addr", "show", "dev", ifname], check=False)
    if r.returncode != 0:
        return None
    return [a["local"] for a in json.loads(r.stdout)[0]["addr_info"] if a["family"] == "inet"]


@pytest.mark.network
@pytest.mark.parametrize("bin_dir", plugin_dirs())
def test_add_check_del(netns, tmp_path, bin_dir):
    conf_dir = str(tmp_path / "net.d")
    conf = write_conf(conf_dir, "podnet", "10.77.0.0/24")
    ns = netns.add_netns("pod1")
    p = cnitool("add", "podnet", ns, conf_dir, bin_dir)
    result = json.loads(p.stdout)
    ip = result["ips"][0]["address"].split("/")[0]
    assert ip.startswith("10.77.0.")
    assert addrs(ns) == [ip]
    # host-local lease on disk.
    assert os.path.exists(f"/var/lib/cni/networks/podnet/{ip}")
    # The cache as libcni writes it.
    cache_path = "/var/lib/cni/results/podnet-c0ffee-eth0"
    with open(cache_path) as f:
        cache = json.load(f)
    assert cache["kind"] == "cniCacheV1"
    assert cache["containerId"] == "c0ffee"
    assert cache["ifName"] == "eth0"
    assert cache["networkName"] == "podnet"
    assert json.loads(base64.b64decode(cache["config"])) == conf
    assert cache["result"] == result
    assert ["K8S_POD_NAMESPACE", "default"] in cache["cniArgs"]

    cnitool("check", "podnet", ns, conf_dir, bin_dir)

    cnitool("del", "podnet", ns, conf_dir, bin_dir)
    assert addrs(ns) is None  # eth0 gone
    assert not os.path.exists(f"/var/lib/cni/networks/podnet/{ip}")
    assert not os.path.exists(cache_path)
    # DEL is idempotent.
    cnitool("del", "podnet", ns, conf_dir, bin_dir)


@pytest.mark.network
@pytest.mark.parametrize("bin_dir", plugin_dirs())
def test_del_uses_cache_after_conf_change(netns, tmp_path, bin_dir):
    conf_dir = str(tmp_path / "net.d")
    write_conf(conf_dir, "podnet", "10.78.0.0/24")
    ns = netns.add_netns("pod2")
    ip = json.loads(cnitool("add", "podnet", ns, conf_dir, bin_dir).stdout)["ips"][0]["address"]
    ip = ip.split("/")[0]
    # The admin changes the subnet and bridge: DEL must still undo what ADD did.
    write_conf(conf_dir, "podnet", "10.99.0.0/24", bridge="cni-other")
    cnitool("del", "podnet", ns, conf_dir, bin_dir)
    assert not os.path.exists(f"/var/lib/cni/networks/podnet/{ip}")
    assert addrs(ns) is None


@pytest.mark.network
@pytest.mark.parametrize("bin_dir", plugin_dirs())
def test_two_pods_distinct_ips_and_connectivity(netns, tmp_path, bin_dir):
    conf_dir = str(tmp_path / "net.d")
    write_conf(conf_dir, "podnet", "10.79.0.0/24")
    a, b = netns.add_netns("pa"), netns.add_netns("pb")
    ipa = json.loads(cnitool("add", "podnet", a, conf_dir, bin_dir, cid="aaa").stdout)
    ipb = json.loads(cnitool("add", "podnet", b, conf_dir, bin_dir, cid="bbb").stdout)
    ipa = ipa["ips"][0]["address"].split("/")[0]
    ipb = ipb["ips"][0]["address"].split("/")[0]
    assert ipa != ipb
    harness.nsrun(a, ["ping", "-c", "1", "-W", "2", ipb])
    cnitool("del", "podnet", a, conf_dir, bin_dir, cid="aaa")
    cnitool("del", "podnet", b, conf_dir, bin_dir, cid="bbb")
    # Only bookkeeping files remain, no lease.
    assert [f for f in os.listdir("/var/lib/cni/networks/podnet") if f.startswith("10.")] == []


@pytest.mark.network
def test_plugin_error_surfaced_and_rolled_back(netns, tmp_path):
    conf_dir = str(tmp_path / "net.d")
    os.makedirs(conf_dir)
    # bridge succeeds, then a host-local with an exhausted range fails: the
    # CNI error code and message reach the caller and nothing is left.
    conf = {"cniVersion": "1.0.0", "name": "bad", "plugins": [
        {"type": "bridge", "bridge": "cni-bad",
         "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.80.0.0/30"}]]}},
        {"type": "host-local-missing"}]}
    with open(os.path.join(conf_dir, "10.conflist"), "w") as f:
        json.dump(conf, f)
    ns = netns.add_netns("pod3")
    p = cnitool("add", "bad", ns, conf_dir, REF_DIR, check=False)
    assert p.returncode == 1
    assert 'failed to find plugin "host-local-missing"' in p.stderr
    assert 'CNI ADD network "bad"' in p.stderr
    # Rolled back: no interface, no lease, no cache.
    assert addrs(ns) is None
    assert [f for f in os.listdir("/var/lib/cni/networks/bad") if f.startswith("10.")] == []
    assert not os.path.exists("/var/lib/cni/results/bad-c0ffee-eth0")

    # A plugin error with a CNI code: invalid subnet in IPAM.
    conf["plugins"] = [{"type": "bridge", "bridge": "cni-bad",
                        "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.0.0/8"}]]}}]
    with open(os.path.join(conf_dir, "10.conflist"), "w") as f:
        json.dump(conf, f)
    p = cnitool("add", "bad", ns, conf_dir, REF_DIR, check=False)
    assert p.returncode == 1
    assert 'plugin "bridge" ADD failed: code ' in p.stderr
    assert "10.0.0/8" in p.stderr


@pytest.mark.network
@pytest.mark.parametrize("bin_dir", plugin_dirs())
def test_ip_ranges_capability_from_pod_cidr(netns, tmp_path, bin_dir):
    """The pod CIDR from UpdateRuntimeConfig reaches host-local as the
    ipRanges capability (runtimeConfig), only because the plugin declares it."""
    conf_dir = str(tmp_path / "net.d")
    os.makedirs(conf_dir)
    with open(os.path.join(conf_dir, "10.conflist"), "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": "cidrnet", "plugins": [
            {"type": "bridge", "bridge": "cni-cidr",
             "capabilities": {"ipRanges": True},
             "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.81.0.0/24"}]]}}]}, f)
    ns = netns.add_netns("pod4")
    caps = json.dumps({"ipRanges": [[{"subnet": "10.82.5.0/24"}]]})
    res = json.loads(cnitool("add", "cidrnet", ns, conf_dir, bin_dir, CAP_ARGS=caps).stdout)
    assert res["ips"][0]["address"].startswith("10.82.5.")
    with open("/var/lib/cni/results/cidrnet-c0ffee-eth0") as f:
        assert json.load(f)["capabilityArgs"] == json.loads(caps)
    cnitool("del", "cidrnet", ns, conf_dir, bin_dir)
    assert [f for f in os.listdir("/var/lib/cni/networks/cidrnet") if f.startswith("10.")] == []


# ---- result versions through the daemon ----

VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]


def supported_versions(bin_dir):
    p = subprocess.run([os.path.join(bin_dir, "bridge")], env=dict(os.environ, CNI_COMMAND="VERSION"),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    return json.loads(p.stdout)["supportedVersions"]


def pod(name):
    return {"metadata": {"name": name, "uid": "u-" + name, "namespace": "default", "attempt": 0},
            "hostname": name, "log_directory": "/tmp/pod-logs-" + name,
            "linux": {"security_context": {"namespace_options": {"network": "POD",
                                                                 "pid": "CONTAINER",
                                                                 "ipc": "POD"}}}}


@pytest.mark.network
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("bin_dir", plugin_dirs())
def test_daemon_handles_result_version(netns, tmp_path, bin_dir, version):
    """A conflist of each CNI version: the daemon takes the pod IP from the
    plugin's result of that version (ips[].interface pointing at eth0; 0.x
    results also carry "version"), the address is on eth0 in the pod's netns,
    the cache keeps the result as the plugin gave it, and StopPodSandbox
    frees the lease. A version the plugins do not speak fails RunPodSandbox
    with the plugin's error and leaves nothing behind."""
    import criclient
    tmp = str(tmp_path)
    conf_dir, data_dir = os.path.join(tmp, "net.d"), os.path.join(tmp, "ipam")
    os.makedirs(conf_dir)
    with open(os.path.join(conf_dir, "10-v.conflist"), "w") as f:
        json.dump({"cniVersion": version, "name": "vnet", "plugins": [
            {"type": "bridge", "bridge": "cni-v0", "isGateway": True, "ipMasq": False,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.83.0.0/24"}]],
                      "dataDir": data_dir}}]}, f)
    d = criclient.Daemon(tmp, bin_dirs=bin_dir).start()
    results = os.path.join(d.cache_dir, "results")
    leases = os.path.join(data_dir, "vnet")

    def leased():
        return sorted(f for f in os.listdir(leases) if f.startswith("10.")) \
            if os.path.isdir(leases) else []
    try:
        with d.client() as c:
            if version not in supported_versions(bin_dir):
                with pytest.raises(criclient.CRIError) as e:
                    c.RunPodSandbox(config=pod("v"))
                assert "incompatible CNI versions" in e.value.details, e.value.details
                assert 'plugin "bridge" ADD failed' in e.value.details
                assert len(c.ListPodSandbox().items) == 0
                assert leased() == []
                assert not os.path.isdir(results) or os.listdir(results) == []
                return
            sid = c.RunPodSandbox(config=pod("v")).pod_sandbox_id
            st = c.PodSandboxStatus(pod_sandbox_id=sid).status
            ip = st.network.ip
            assert ip.startswith("10.83.0."), ip
            assert list(st.network.additional_ips) == []
            nsp = os.path.join(d.run_root, "sandboxes", sid, "ns", "net")
            assert addrs(nsp) == [ip]
            with open(os.path.join(results, f"vnet-{sid}-eth0")) as f:
                res = json.load(f)["result"]
            assert res["cniVersion"] == version
            eth0 = [i for i, x in enumerate(res["interfaces"]) if x["name"] == "eth0"]
            assert len(eth0) == 1 and res["interfaces"][eth0[0]]["sandbox"] == nsp
            assert res["ips"][0]["interface"] == eth0[0]
            assert res["ips"][0]["address"] == ip + "/24"
            if version.startswith("0."):  # "version" went away in 1.0.0
                assert res["ips"][0]["version"] == "4"
            else:
                assert "version" not in res["ips"][0]
            assert leased() == [ip]
            c.StopPodSandbox(pod_sandbox_id=sid)
            assert leased() == []
            assert not os.path.exists(os.path.join(results, f"vnet-{sid}-eth0"))
            c.RemovePodSandbox(pod_sandbox_id=sid)
    finally:
        d.stop()


@pytest.mark.network
def test_pod_loopback_is_up(netns, tmp_path):
    """A pod's own network namespace has lo up with 127.0.0.1 (containerd runs
    the loopback plugin for every pod), so its containers reach each other on
    localhost; the conflist's network is on eth0 next to it."""
    import criclient
    tmp = str(tmp_path)
    conf_dir = os.path.join(tmp, "net.d")
    os.makedirs(conf_dir)
    write_conf(conf_dir, "lonet", "10.84.0.0/24", bridge="cni-lo0")
    d = criclient.Daemon(tmp, bin_dirs=harness.BIN).start()
    try:
        with d.client() as c:
            sid = c.RunPodSandbox(config=pod("lo")).pod_sandbox_id
            nsp = os.path.join(d.run_root, "sandboxes", sid, "ns", "net")
            r = harness.nsrun(nsp, ["ip", "-j", "addr", "show", "dev", "lo"])
            lo = json.loads(r.stdout)[0]
            assert "UP" in lo["flags"], lo
            assert "127.0.0.1" in [a["local"] for a in lo["addr_info"]], lo
            assert addrs(nsp)[0].startswith("10.84.0.")
            c.StopPodSandbox(pod_sandbox_id=sid)
            c.RemovePodSandbox(pod_sandbox_id=sid)
    finally:
        d.stop()


# ---- STATUS and GC (CNI 1.1) through nodelet-cnitool, our plugins ----

def write_conf_11(d, name, subnet, data_dir, bridge="cni-g0"):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "10-net.conflist"), "w") as f:
        json.dump({"cniVersion": "1.1.0", "name": name, "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                      "dataDir": data_dir}}]}, f)


needs_ours_11 = pytest.mark.skipif(
    not all(os.path.exists(bin_path(p)) for p in ("bridge", "host-local")),
    reason="our plugins are not built")


@pytest.mark.network
@needs_ours_11
def test_status_reports_exhausted_range(netns, tmp_path):
    """STATUS runs each plugin of a 1.1.0 list; host-local answers code 50
    once its range is full, and the message names plugin and code."""
    conf_dir, data_dir = str(tmp_path / "net.d"), str(tmp_path / "ipam")
    # A /30 without the gateway leaves one address for pods.
    write_conf_11(conf_dir, "snet", "10.84.0.0/30", data_dir)
    ns = netns.add_netns("st1")
    p = subprocess.run([bin_path("nodelet-cnitool"), "status", "snet"],
                       env=dict(os.environ, NETCONFPATH=conf_dir, CNI_PATH=harness.BIN),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    cnitool("add", "snet", ns, conf_dir, harness.BIN, cid="c1")
    p = subprocess.run([bin_path("nodelet-cnitool"), "status", "snet"],
                       env=dict(os.environ, NETCONFPATH=conf_dir, CNI_PATH=harness.BIN),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode == 1
    assert 'CNI STATUS network "snet": plugin "bridge" STATUS failed: code 50:' in p.stderr
    assert "no IP addresses available" in p.stderr
    cnitool("del", "snet", ns, conf_dir, harness.BIN, cid="c1")
    p = subprocess.run([bin_path("nodelet-cnitool"), "status", "snet"],
                       env=dict(os.environ, NETCONFPATH=conf_dir, CNI_PATH=harness.BIN),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


@pytest.mark.network
@needs_ours_11
def test_gc_removes_stale_attachments_and_leases(netns, tmp_path):
    """GC with the attachments still in use: a cached attachment not in the
    list is DELeted (veth and lease gone, cache entry removed); a lease whose
    cache entry was lost is freed by the plugins' own GC; the valid one is
    untouched."""
    conf_dir, data_dir = str(tmp_path / "net.d"), str(tmp_path / "ipam")
    write_conf_11(conf_dir, "gnet", "10.85.0.0/24", data_dir)
    nss = {c: netns.add_netns("g" + c) for c in ("c1", "c2", "c3")}
    ips = {}
    for cid, ns in nss.items():
        res = json.loads(cnitool("add", "gnet", ns, conf_dir, harness.BIN, cid=cid).stdout)
        ips[cid] = res["ips"][0]["address"].split("/")[0]
    # c3's cache entry is lost (e.g. a runtime crash before it wrote it).
    os.unlink("/var/lib/cni/results/gnet-c3-eth0")
    leases = os.path.join(data_dir, "gnet")
    assert sorted(f for f in os.listdir(leases) if f.startswith("10.")) == sorted(ips.values())

    p = subprocess.run([bin_path("nodelet-cnitool"), "gc", "gnet"],
                       env=dict(os.environ, NETCONFPATH=conf_dir, CNI_PATH=harness.BIN,
                                CNI_VALID_ATTACHMENTS="c2/eth0"),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert sorted(f for f in os.listdir(leases) if f.startswith("10.")) == [ips["c2"]]
    assert addrs(nss["c1"]) is None  # DEL removed its eth0
    assert addrs(nss["c2"]) == [ips["c2"]]
    assert not os.path.exists("/var/lib/cni/results/gnet-c1-eth0")
    assert os.path.exists("/var/lib/cni/results/gnet-c2-eth0")
    # host-local refuses a GC without the list (it would free everything).
    p = subprocess.run([bin_path("nodelet-cnitool"), "gc", "gnet"],
                       env=dict(os.environ, NETCONFPATH=conf_dir, CNI_PATH=harness.BIN),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode == 1
    assert "cni.dev/valid-attachments" in p.stderr
