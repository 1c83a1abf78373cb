"""Our CNI plugins under a real runtime: podman 4.3 with its CNI backend.

podman (crun, cgroups disabled) runs busybox containers on a network whose
conflist uses only bridge + host-local + loopback, with cni_plugin_dirs pointing
at a directory that holds nothing but our three binaries. The same scenario runs
against the reference plugins (/usr/lib/cni) and the two are compared; a mixed
run checks that either implementation tears down what the other set up.

Everything happens in the harness's private net+mount namespaces. crun refuses
the machine's hybrid cgroup layout, so a cgroup2-only view is mounted over
/sys/fs/cgroup inside that private mount namespace (it never reaches the host).
podman's storage, run state and network config live in a temp dir; the image is
imported from a tar of Debian's busybox-static, so nothing touches the network.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

import harness

# Every podman test runs in the harness's private namespaces (marked network);
# the demo and benchmark smoke tests at the end run from the machine's own
# namespace on purpose, so the harness's guard proves the scripts isolate
# themselves.

REF_DIR = "/usr/lib/cni"
PLUGINS = ("bridge", "host-local", "loopback")
NET = "ndlpodman"
BRIDGE = "ndlpm0"
SUBNET = "10.88.57.0/24"
GATEWAY = "10.88.57.1"
IMAGE = "localhost/ndl-busybox:test"
MARKER = "served-by-nodelet-podman-test"
RUN_FLAGS = ["--cgroups=disabled", "--ulimit", "nofile=4096:4096",
             "--ulimit", "nproc=4096:4096"]


SUBNET6 = "fd00:88:57::/64"
GATEWAY6 = "fd00:88:57::1"


def _conflist(dual=False):
    # ipMasq so that the iptables side (CNI-* chains) is exercised too;
    # loopback chained last passes the bridge result through unchanged.
    conf = {
        "cniVersion": "1.0.0",
        "name": NET,
        "plugins": [
            {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": True,
             "hairpinMode": True,
             "ipam": {"type": "host-local",
                      "ranges": [[{"subnet": SUBNET, "gateway": GATEWAY}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "loopback"},
        ],
    }
    if dual:
        ipam = conf["plugins"][0]["ipam"]
        ipam["ranges"].append([{"subnet": SUBNET6, "gateway": GATEWAY6}])
        ipam["routes"].append({"dst": "::/0"})
    return conf


def _require_tools():
    for tool in ("podman", "crun", "conmon", "iptables-save", "busybox"):
        assert shutil.which(tool), f"{tool} is not installed (make deps installs it)"


def _our_plugin_dir(tmp):
    """A dir holding only our three plugins, so podman cannot fall back to
    anything else."""
    d = os.path.join(tmp, "ours-bin")
    os.makedirs(d, exist_ok=True)
    for p in PLUGINS:
        src = harness.bin_path(p)
        assert os.access(src, os.X_OK), f"our plugin {src} is not built (make all)"
        os.symlink(src, os.path.join(d, p))
    return d


@pytest.fixture(scope="module")
def image_tar(tmp_path_factory):
    """A busybox-static rootfs as a tar for `podman import`."""
    _require_tools()
    base = tmp_path_factory.mktemp("image")
    root = base / "rootfs"
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "www"):
        (root / d).mkdir(parents=True)
    shutil.copy(shutil.which("busybox"), root / "bin" / "busybox")
    for applet in ("sh", "ping", "nc", "httpd", "ip", "sleep", "cat", "hostname"):
        os.symlink("busybox", root / "bin" / applet)
    (root / "www" / "index.html").write_text(MARKER + "\n")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    tar = base / "rootfs.tar"
    subprocess.run(["tar", "-C", str(root), "-cf", str(tar), "."], check=True)
    return str(tar)


class Podman:
    """podman with all of its state under one temp dir, inside the sandbox."""

    def __init__(self, work, image_tar):
        self.work = work
        self.netdir = os.path.join(work, "net.d")
        os.makedirs(self.netdir)
        self.conmon_pids = []
        self.set_conflist(_conflist())
        self.use(REF_DIR)
        self.run("import", image_tar, IMAGE)

    def set_conflist(self, conf):
        with open(os.path.join(self.netdir, f"{NET}.conflist"), "w") as f:
            json.dump(conf, f)

    def use(self, plugin_dir):
        """Point podman at a plugin dir; podman reads containers.conf anew on
        every invocation, so this switches implementations between calls."""
        self.conf = os.path.join(self.work, "containers.conf")
        with open(self.conf, "w") as f:
            f.write(f"""[engine]
runtime = "crun"
cgroup_manager = "cgroupfs"
events_logger = "none"
[network]
network_backend = "cni"
cni_plugin_dirs = ["{plugin_dir}"]
network_config_dir = "{self.netdir}"
default_network = "{NET}"
""")

    def run(self, *args, check=True, timeout=60):
        env = dict(os.environ, CONTAINERS_CONF=self.conf)
        cmd = ["podman", "--root", os.path.join(self.work, "root"),
               "--runroot", os.path.join(self.work, "runroot"),
               "--tmpdir", os.path.join(self.work, "tmp"),
               "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs",
               "--log-level", "error"] + list(args)
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {p.returncode}:\n"
                                 f"{p.stdout}\n{p.stderr}")
        return p

    def start(self, name, *cmd):
        cid = self.run("run", "-d", "--name", name, "--network", NET, *RUN_FLAGS,
                       IMAGE, *cmd).stdout.strip()
        pid = self.run("inspect", "-f", "{{.State.ConmonPid}}", name).stdout.strip()
        if pid.isdigit() and int(pid) > 0:
            self.conmon_pids.append(int(pid))
        return cid

    def ip_of(self, name):
        return self.run("inspect", "-f",
                        "{{(index .NetworkSettings.Networks \"%s\").IPAddress}}" % NET,
                        name).stdout.strip()

    def exec(self, name, *cmd, check=True):
        return self.run("exec", name, *cmd, check=check)

    def cleanup(self):
        # Best effort on the failure path; the success path removes explicitly.
        self.run("rm", "-f", "-t", "0", "-a", check=False)
        for pid in self.conmon_pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            # Still there after rm: ours to stop (we started it).
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass


@pytest.fixture
def podman(netns, tmp_path, image_tar):
    _require_tools()
    # crun needs a pure cgroup2 view; this mount lives and dies with the
    # test's private mount namespace.
    subprocess.run(["mount", "-t", "cgroup2", "none", "/sys/fs/cgroup"], check=True)
    # podman refuses a runroot longer than 50 characters: pytest's tmp_path
    # is too deep, so take a short dir of our own.
    work = tempfile.mkdtemp(prefix="ndlpm-", dir="/tmp")
    try:
        pm = Podman(work, image_tar)
        try:
            yield pm
        finally:
            pm.cleanup()
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---- observations --------------------------------------------------------


def host_links():
    out = subprocess.run(["ip", "-j", "link", "show"], stdout=subprocess.PIPE,
                         text=True, check=True).stdout
    return json.loads(out)


def veths_on_bridge():
    return sorted(l["ifname"] for l in host_links() if l.get("master") == BRIDGE)


def all_veths():
    return sorted(l["ifname"] for l in host_links()
                  if l.get("linkinfo", {}).get("info_kind") == "veth"
                  or l.get("ifname", "").startswith("veth"))


def lease_dir():
    return f"/var/lib/cni/networks/{NET}"


def leases():
    """{ip: file content} for the host-local lease files of our network."""
    d = lease_dir()
    if not os.path.isdir(d):
        return {}
    out = {}
    for f in os.listdir(d):
        if re.match(r"^[0-9.]+$", f) or ":" in f:
            with open(os.path.join(d, f), newline="") as fh:
                out[f] = fh.read()
    return out


def nat_rules(tool="iptables-save"):
    out = subprocess.run([tool, "-t", "nat"], stdout=subprocess.PIPE,
                         text=True, check=True).stdout
    return [l for l in out.splitlines() if l.startswith(("-A", ":CNI-"))]


def chain_name(network, cid):
    """The per-container nat chain name the reference bridge uses (and so a
    drop-in must use, or the other implementation could not clean it up)."""
    return ("CNI-" + hashlib.sha512((network + cid).encode()).hexdigest())[:28]


def normalize_rules(rules, ids):
    """Replace container ids and their chain names by stable tokens so runs
    with different ids compare equal."""
    out = []
    for r in rules:
        for n, cid in enumerate(ids):
            r = r.replace(chain_name(NET, cid), f"<CHAIN{n}>").replace(cid, f"<ID{n}>")
        out.append(r)
    return sorted(out)


def container_view(pm, name):
    addr = pm.exec(name, "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout
    route = pm.exec(name, "ip", "-4", "route").stdout
    lo = pm.exec(name, "ip", "-o", "link", "show", "dev", "lo").stdout
    return {
        "addr": sorted(re.findall(r"inet (\S+)", addr)),
        "routes": sorted(" ".join(l.split()) for l in route.splitlines() if l.strip()),
        "lo_up": "UP" in lo.split(">")[0],
    }


def scenario(pm, plugin_dir):
    """Two containers on our network reach each other; removing them frees
    every veth, lease and iptables rule. Returns what it saw, normalised."""
    pm.use(plugin_dir)
    obs = {}
    id1 = pm.start("c1", "sleep", "600")
    id2 = pm.start("c2", "httpd", "-f", "-p", "8080", "-h", "/www")
    ip1, ip2 = pm.ip_of("c1"), pm.ip_of("c2")
    obs["ips"] = [ip1, ip2]
    assert ip1 != ip2
    for ip in (ip1, ip2):
        assert ip.startswith("10.88.57.") and ip != GATEWAY, ip

    # Host side: gateway address on the bridge, one veth per container on it.
    br = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", BRIDGE],
                        stdout=subprocess.PIPE, text=True, check=True).stdout
    obs["bridge_addr"] = re.findall(r"inet (\S+)", br)
    assert obs["bridge_addr"] == [f"{GATEWAY}/24"]
    assert len(veths_on_bridge()) == 2

    # host-local's on-disk layout: one file per IP holding "<id>\r\n<ifname>".
    lz = leases()
    assert lz == {ip1: f"{id1}\r\neth0", ip2: f"{id2}\r\neth0"}, lz
    obs["lease_files"] = sorted(os.listdir(lease_dir()))

    # Container side.
    v1, v2 = container_view(pm, "c1"), container_view(pm, "c2")
    assert v1["addr"] == [f"{ip1}/24"] and v2["addr"] == [f"{ip2}/24"]
    assert f"default via {GATEWAY} dev eth0" in v1["routes"], v1["routes"]
    assert v1["lo_up"] and v2["lo_up"]
    obs["view"] = {"routes": v1["routes"], "lo_up": v1["lo_up"]}

    # Reachability both ways, to the gateway, and TCP over the bridge.
    pm.exec("c1", "ping", "-c", "1", "-W", "3", ip2)
    pm.exec("c2", "ping", "-c", "1", "-W", "3", ip1)
    pm.exec("c1", "ping", "-c", "1", "-W", "3", GATEWAY)
    # (busybox-static's wget crashes in its static resolver; nc does not.)
    get = f'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc {ip2} 8080'
    page = harness.wait_for(
        lambda: pm.exec("c1", "sh", "-c", get, check=False).stdout,
        timeout=10, what="httpd in c2 answering")
    assert MARKER in page

    # ipMasq: one chain per container, jumped to from POSTROUTING.
    rules = nat_rules()
    assert sum(1 for r in rules if r.startswith("-A POSTROUTING") and id1 in r) == 1
    assert sum(1 for r in rules if r.startswith("-A POSTROUTING") and id2 in r) == 1
    for cid in (id1, id2):
        assert f":{chain_name(NET, cid)} - [0:0]" in rules, (cid, rules)
    obs["nat"] = normalize_rules(rules, [id1, id2])
    assert not [r for r in obs["nat"] if re.search(r"CNI-[0-9a-f]", r)], obs["nat"]

    # Removal calls DEL on the whole chain: nothing of ours may stay.
    pm.run("rm", "-f", "-t", "0", "c1", "c2")
    assert veths_on_bridge() == []
    assert [v for v in all_veths()] == []
    assert leases() == {}
    left = [r for r in nat_rules() if "CNI-" in r or NET in r]
    assert left == [], left
    assert os.listdir("/run/netns") == [], os.listdir("/run/netns")
    obs["lease_files_after"] = sorted(os.listdir(lease_dir()))
    return obs


def reset_network_state():
    """Between two implementations: drop the bridge and host-local's dir so the
    second run starts from the same clean state as the first."""
    subprocess.run(["ip", "link", "del", BRIDGE], check=False,
                   stderr=subprocess.DEVNULL)
    shutil.rmtree(lease_dir(), ignore_errors=True)


# ---- tests ---------------------------------------------------------------


@pytest.mark.network
@pytest.mark.slow
def test_podman_two_containers_ours(podman, tmp_path):
    scenario(podman, _our_plugin_dir(str(tmp_path)))


@pytest.mark.network
@pytest.mark.slow
def test_podman_two_containers_reference(podman):
    # Validates the scenario itself against the implementation ours replaces.
    scenario(podman, REF_DIR)


@pytest.mark.network
@pytest.mark.slow
def test_podman_ours_matches_reference(podman, tmp_path):
    ours_dir = _our_plugin_dir(str(tmp_path))
    ref = scenario(podman, REF_DIR)
    reset_network_state()
    ours = scenario(podman, ours_dir)
    assert ours == ref


@pytest.mark.network
@pytest.mark.slow
def test_podman_mixed_add_and_del(podman, tmp_path):
    """c1 set up by the reference, c2 by ours (which must honour the
    reference's leases); then each is torn down by the other implementation."""
    ours_dir = _our_plugin_dir(str(tmp_path))
    podman.use(REF_DIR)
    id1 = podman.start("c1", "sleep", "600")
    podman.use(ours_dir)
    id2 = podman.start("c2", "sleep", "600")
    ip1, ip2 = podman.ip_of("c1"), podman.ip_of("c2")
    assert ip1 != ip2
    assert leases() == {ip1: f"{id1}\r\neth0", ip2: f"{id2}\r\neth0"}
    podman.exec("c2", "ping", "-c", "1", "-W", "3", ip1)
    podman.exec("c1", "ping", "-c", "1", "-W", "3", ip2)

    # Ours removes what the reference added ...
    podman.run("rm", "-f", "-t", "0", "c1")
    assert leases() == {ip2: f"{id2}\r\neth0"}
    assert len(veths_on_bridge()) == 1
    assert not [r for r in nat_rules() if id1 in r]
    # ... and the reference removes what ours added.
    podman.use(REF_DIR)
    podman.run("rm", "-f", "-t", "0", "c2")
    assert leases() == {}
    assert veths_on_bridge() == []
    assert [r for r in nat_rules() if "CNI-" in r] == []


@pytest.mark.network
@pytest.mark.slow
def test_podman_restart_keeps_connectivity(podman, tmp_path):
    """stop/start runs DEL then ADD for the same container: the old lease is
    released, a new one taken, and the peers reach each other again."""
    podman.use(_our_plugin_dir(str(tmp_path)))
    id1 = podman.start("c1", "sleep", "600")
    podman.start("c2", "sleep", "600")
    ip2 = podman.ip_of("c2")
    podman.run("stop", "-t", "0", "c1")
    assert len(veths_on_bridge()) == 1
    assert id1 not in "".join(leases().values())
    assert not [r for r in nat_rules() if id1 in r]
    podman.run("start", "c1")
    ip1 = podman.ip_of("c1")
    assert leases().get(ip1) == f"{id1}\r\neth0"
    assert len(veths_on_bridge()) == 2
    podman.exec("c1", "ping", "-c", "1", "-W", "3", ip2)
    podman.exec("c2", "ping", "-c", "1", "-W", "3", ip1)
    podman.run("rm", "-f", "-t", "0", "c1", "c2")
    assert leases() == {} and veths_on_bridge() == []
    # Give podman's netns cleanup a moment (it unmounts after DEL returns).
    harness.wait_for(lambda: os.listdir("/run/netns") == [], timeout=5,
                     what="podman netns pins removed")


# ---- make demo and make bench on our plugins -------------------------------


def _build_arg():
    return os.path.relpath(harness.BUILD, harness.ROOT) \
        if harness.BUILD.startswith(harness.ROOT + "/") else harness.BUILD


def test_demo_script_runs_on_our_plugins():
    """The CNI-only demo (mk/demo/cni.sh; `make demo` runs the static pods
    demo, tested in test_demo.py)."""
    assert harness.in_host_netns()
    p = subprocess.run(["bash", os.path.join(harness.ROOT, "mk", "demo", "cni.sh"), _build_arg()],
                       cwd=harness.ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stdout
    out = p.stdout
    assert f"Plugins: {harness.BIN}/" in out
    assert re.search(r"pod-a -> 10\.22\.0\.\d+: 2 packets transmitted, 2 received", out), out
    assert re.search(r"pod-b -> 10\.22\.0\.1: 2 packets transmitted, 2 received", out), out
    assert "veths: 0\nleases: 0\nnat rules: 0" in out, out
    assert out.rstrip().splitlines()[-1].startswith("demo: ok")


def test_bench_script_smoke():
    """A few containers through bench/cni/run.sh: it runs both implementations,
    checks that DEL left nothing, and prints the comparison table."""
    assert harness.in_host_netns()
    p = subprocess.run(["bash", os.path.join(harness.ROOT, "bench", "cni", "run.sh"),
                        _build_arg(), "-n", "4", "--masq", "true"],
                       cwd=harness.ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stdout
    for row in ("ADD    p50", "CHECK  p50", "DEL    p50", "RSSmx", "targets: ADD"):
        assert row in p.stdout, p.stdout


def scenario_dual(pm, plugin_dir):
    """Dual-stack network: each container gets one address per family from
    host-local's two ranges, reaches the other over IPv6 too, and removal
    frees both families' leases and nat rules."""
    pm.use(plugin_dir)
    id1 = pm.start("c1", "sleep", "600")
    id2 = pm.start("c2", "sleep", "600")
    fmt = "{{(index .NetworkSettings.Networks \"%s\").GlobalIPv6Address}}" % NET
    v6 = [pm.run("inspect", "-f", fmt, c).stdout.strip() for c in ("c1", "c2")]
    v4 = [pm.ip_of("c1"), pm.ip_of("c2")]
    assert all(a.startswith("fd00:88:57::") for a in v6), v6
    lz = leases()
    assert lz == {v4[0]: f"{id1}\r\neth0", v4[1]: f"{id2}\r\neth0",
                  v6[0]: f"{id1}\r\neth0", v6[1]: f"{id2}\r\neth0"}, lz
    addr6 = pm.exec("c1", "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope",
                    "global").stdout
    route6 = pm.exec("c1", "ip", "-6", "route").stdout
    assert re.findall(r"inet6 (\S+)", addr6) == [f"{v6[0]}/64"]
    assert f"default via {GATEWAY6} dev eth0" in " ".join(route6.split())
    pm.exec("c1", "ping", "-6", "-c", "1", "-W", "3", v6[1])
    pm.exec("c2", "ping", "-6", "-c", "1", "-W", "3", v6[0])
    pm.exec("c1", "ping", "-c", "1", "-W", "3", v4[1])
    rules6 = nat_rules("ip6tables-save")
    for cid in (id1, id2):
        assert any(r.startswith("-A POSTROUTING") and cid in r for r in rules6), rules6
    obs = {"v4": v4, "v6": v6, "lease_files": sorted(os.listdir(lease_dir())),
           "nat4": normalize_rules(nat_rules(), [id1, id2]),
           "nat6": normalize_rules(rules6, [id1, id2]),
           "routes6": sorted(" ".join(l.split()) for l in route6.splitlines()
                             if "ff00::/8" not in l)}
    pm.run("rm", "-f", "-t", "0", "c1", "c2")
    assert leases() == {} and veths_on_bridge() == []
    for tool in ("iptables-save", "ip6tables-save"):
        left = [r for r in nat_rules(tool) if "CNI-" in r]
        assert left == [], (tool, left)
    return obs


@pytest.mark.network
@pytest.mark.slow
def test_podman_dual_stack_matches_reference(podman, tmp_path):
    ours_dir = _our_plugin_dir(str(tmp_path))
    podman.set_conflist(_conflist(dual=True))
    ref = scenario_dual(podman, REF_DIR)
    reset_network_state()
    ours = scenario_dual(podman, ours_dir)
    assert ours == ref
