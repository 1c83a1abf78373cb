"""cgroups library, for real: v1/hybrid on the build machine, v2 in the VM
(make check-vm). Drives the library through nodelet-cgctl and checks what the
kernel shows in the cgroup files and /proc. Every cgroup lives under a unique
/nodelet-test-<pid>-<n> parent that is killed and removed afterwards; the
root cgroup, PID 1's cgroup and process_api are never touched."""
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

CGCTL = harness.bin_path("nodelet-cgctl")
_seq = itertools.count()


def cgctl(*args, check=True, timeout=30):
    p = subprocess.run([CGCTL, *map(str, args)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"nodelet-cgctl {' '.join(map(str, args))}: rc={p.returncode} {p.stderr}")
    return p


MODE = None


def mode():
    global MODE
    if MODE is None:
        MODE = cgctl("mode").stdout.strip()
    return MODE


class CG:
    """One test cgroup: its path and the per-controller directories."""

    def __init__(self, path):
        self.path = path
        self.dirs = json.loads(cgctl("create", path).stdout)

    def dir(self, controller):
        if mode() == "v2":
            return self.dirs["unified"]
        for k, v in self.dirs.items():
            if controller in k.split(","):
                return v
        raise KeyError(controller)

    def read(self, controller, name):
        with open(os.path.join(self.dir(controller), name)) as f:
            return f.read().strip()

    def apply(self, res, check=True):
        return cgctl("apply", self.path, json.dumps(res), check=check)

    def stats(self):
        return json.loads(cgctl("stats", self.path).stdout)

    def pids(self):
        return [int(x) for x in cgctl("pids", self.path).stdout.split()]

    def spawn(self, args, **kw):
        return subprocess.Popen([CGCTL, "exec", self.path, *args], **kw)


@pytest.fixture
def parent():
    """A unique parent path; everything below it is killed and removed."""
    path = f"/nodelet-test-{os.getpid()}-{next(_seq)}"
    yield path
    cgctl("kill", path, check=False)
    cgctl("destroy", path, 5000, check=False)
    for d in cgroup_dirs(path):
        assert not os.path.exists(d), f"left behind: {d}"


def cgroup_dirs(path):
    """Where path would live in every mounted hierarchy."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, post = line.split(" - ", 1)
            fstype = post.split()[0]
            if fstype in ("cgroup", "cgroup2"):
                out.append(pre.split()[4] + path)
    return out


def wait_for(pred, timeout=10.0, step=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def test_mode_detected_from_mounts():
    types = set()
    v1_ctrls = False
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, post = line.split(" - ", 1)
            fields = post.split()
            if fields[0] == "cgroup2":
                types.add("cgroup2")
            elif fields[0] == "cgroup":
                opts = fields[2].split(",")
                if any(not o.startswith("name=") and o not in ("rw", "ro", "relatime") for o in opts):
                    v1_ctrls = True
    want = ("hybrid" if "cgroup2" in types else "v1") if v1_ctrls else "v2"
    assert mode() == want


def test_create_enter_pids_destroy(parent):
    cg = CG(parent + "/ctr")
    for d in cg.dirs.values():
        assert os.path.isdir(d)
    p = cg.spawn(["sleep", "30"])
    try:
        assert wait_for(lambda: p.pid in cg.pids())
        with open(f"/proc/{p.pid}/cgroup") as f:
            lines = f.read().splitlines()
        for line in lines:
            _, ctrls, path = line.split(":", 2)
            if mode() == "v2" or ctrls != "" or "unified" in cg.dirs:
                assert path == parent + "/ctr", line
        # the parent lists its children's processes too
        assert p.pid in [int(x) for x in cgctl("pids", parent).stdout.split()]
        assert cgctl("of-pid", p.pid).stdout.strip() == parent + "/ctr"
    finally:
        p.kill()
        p.wait()
    cgctl("destroy", parent + "/ctr")
    for d in cg.dirs.values():
        assert not os.path.exists(d)
    assert os.path.isdir(os.path.dirname(cg.dir("memory")))  # the parent stays


def own_cgroup(ctrl_key):
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if ctrls == ctrl_key:
                return path
    return None


def test_relative_path_is_below_own_cgroup():
    """OCI: a relative cgroupsPath is below the runtime's own cgroup (runc)."""
    if mode() != "v2" and any(p not in ("/", None) for p in
                              (own_cgroup(c) for c in ("memory", "cpu", "pids", "freezer"))):
        pytest.skip("our own v1 cgroup here is the machine's service's (process_api): "
                    "not creating cgroups inside it")
    name = f"nodelet-rel-{os.getpid()}"
    cg = CG(name)
    try:
        own = own_cgroup("") if mode() == "v2" else own_cgroup("memory")
        mnt = None
        with open("/proc/self/mountinfo") as f:
            for line in f:
                pre, post = line.split(" - ", 1)
                fstype, _, opts = post.split()[:3]
                if (mode() == "v2" and fstype == "cgroup2") or \
                        (mode() != "v2" and fstype == "cgroup" and "memory" in opts.split(",")):
                    mnt = pre.split()[4]
                    break
        want = os.path.normpath(f"{mnt}/{own}/{name}")
        assert cg.dir("memory") == want
        assert os.path.isdir(want)
    finally:
        cgctl("destroy", name)
    assert not os.path.exists(cg.dir("memory"))


def test_apply_and_read_back(parent):
    cg = CG(parent + "/ctr")
    mib = 1 << 20
    cg.apply({"memory": {"limit": 64 * mib, "swap": 96 * mib, "reservation": 32 * mib},
              "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
              "pids": {"limit": 42}})
    assert cg.read("pids", "pids.max") == "42"
    assert cg.read("cpuset", "cpuset.cpus") == "0"
    assert cg.read("cpuset", "cpuset.mems") == "0"
    if mode() == "v2":
        assert cg.read("memory", "memory.max") == str(64 * mib)
        assert cg.read("memory", "memory.low") == str(32 * mib)
        if os.path.exists(os.path.join(cg.dir("memory"), "memory.swap.max")):
            assert cg.read("memory", "memory.swap.max") == str(32 * mib)  # swap - memory
        assert cg.read("cpu", "cpu.weight") == str(1 + ((512 - 2) * 9999) // 262142)
        assert cg.read("cpu", "cpu.max") == "50000 100000"
    else:
        assert cg.read("memory", "memory.limit_in_bytes") == str(64 * mib)
        assert cg.read("memory", "memory.memsw.limit_in_bytes") == str(96 * mib)
        assert cg.read("memory", "memory.soft_limit_in_bytes") == str(32 * mib)
        assert cg.read("cpu", "cpu.shares") == "512"
        assert cg.read("cpu", "cpu.cfs_quota_us") == "50000"
        assert cg.read("cpu", "cpu.cfs_period_us") == "100000"
    # unlimited
    cg.apply({"memory": {"limit": -1}, "cpu": {"quota": -1}, "pids": {"limit": -1}})
    assert cg.read("pids", "pids.max") == "max"
    if mode() == "v2":
        assert cg.read("memory", "memory.max") == "max"
        assert cg.read("cpu", "cpu.max") == "max 100000"
    else:
        assert int(cg.read("memory", "memory.limit_in_bytes")) >= 1 << 62
        assert int(cg.read("memory", "memory.memsw.limit_in_bytes")) >= 1 << 62
        assert cg.read("cpu", "cpu.cfs_quota_us") == "-1"


def test_clamped_cpu_shares_are_an_error(parent):
    """The kernel clamps v1 cpu.shares silently; runc reports it, so do we.
    v2 converts to a cpu.weight in range instead."""
    cg = CG(parent + "/ctr")
    r = cg.apply({"cpu": {"shares": 1}}, check=False)
    if mode() == "v2":
        assert r.returncode == 0, r.stderr
        assert cg.read("cpu", "cpu.weight") == "1"
    else:
        assert r.returncode != 0 and "minimum allowed cpu-shares is 2" in r.stderr
        r = cg.apply({"cpu": {"shares": 1 << 20}}, check=False)
        assert r.returncode != 0 and "maximum allowed cpu-shares is 262144" in r.stderr


def test_hugetlb_and_io_weight_where_present(parent):
    cg = CG(parent + "/ctr")
    v2 = mode() == "v2"
    try:
        hdir = cg.dir("hugetlb")
    except KeyError:
        hdir = None
    hfile = "hugetlb.2MB.max" if v2 else "hugetlb.2MB.limit_in_bytes"
    wdir = cg.dir("io" if v2 else "blkio") if v2 or any("blkio" in k for k in cg.dirs) else None
    wfile = "io.weight" if v2 else "blkio.weight"
    have_h = hdir is not None and os.path.exists(os.path.join(hdir, hfile))
    have_w = wdir is not None and os.path.exists(os.path.join(wdir, wfile))
    if not have_h and not have_w:
        pytest.skip("no hugetlb controller and no io/blkio weight file here")
    if have_h:
        cg.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": 8 << 20}]})
        assert cg.read("hugetlb", hfile) == str(8 << 20)
    if have_w:
        cg.apply({"blockIO": {"weight": 500}})
        got = cg.read("io" if v2 else "blkio", wfile)
        if v2:
            assert got.split("\n")[0] == f"default {1 + (500 - 10) * 9999 // 990}"
        else:
            assert got == "500"


def test_update_memory_up_and_down(parent):
    """Raising and lowering memory+swap needs runc's write order on v1."""
    cg = CG(parent + "/ctr")
    mib = 1 << 20
    for mem, swap in ((64, 64), (256, 512), (32, 48), (128, 128)):
        cg.apply({"memory": {"limit": mem * mib, "swap": swap * mib}})
        if mode() == "v2":
            assert cg.read("memory", "memory.max") == str(mem * mib)
        else:
            assert cg.read("memory", "memory.limit_in_bytes") == str(mem * mib)
            assert cg.read("memory", "memory.memsw.limit_in_bytes") == str(swap * mib)


def test_oom_kill_is_reported(parent):
    cg = CG(parent + "/ctr")
    mib = 1 << 20
    cg.apply({"memory": {"limit": 32 * mib, "swap": 32 * mib}})
    watcher = subprocess.Popen([CGCTL, "oom-wait", cg.path, "20000"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        first = watcher.stdout.readline()
        assert first.startswith("ready 0"), first + watcher.stderr.read()
        hog = cg.spawn([sys.executable, "-c", "b = bytearray(256 << 20); print(len(b))"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        hog.communicate(timeout=30)
        assert hog.returncode == -signal.SIGKILL
        out, err = watcher.communicate(timeout=25)
        assert watcher.returncode == 0, err
        assert out.strip().startswith("oom_kill ")
        assert int(out.split()[1]) >= 1
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    st = cg.stats()
    assert st["memory"]["oom_kill"] >= 1
    assert st["memory"]["limit"] == 32 * mib


def test_pids_limit_stops_fork_bomb(parent, tmp_path):
    cg = CG(parent + "/ctr")
    cg.apply({"pids": {"limit": 8}})
    # stderr to a file: the surviving sleeps would hold a pipe open
    with open(tmp_path / "err", "w") as ef:
        bomb = cg.spawn(["sh", "-c", "i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done; wait"],
                        stdout=subprocess.DEVNULL, stderr=ef)
    try:
        bomb.wait(timeout=20)
        err = (tmp_path / "err").read_text()
        assert bomb.returncode != 0
        assert "fork" in err.lower(), err
        st = cg.stats()
        assert st["pids"]["limit"] == 8
        assert 1 <= st["pids"]["current"] <= 8
        assert 1 <= len(cg.pids()) <= 8
    finally:
        cgctl("kill", cg.path)
        if bomb.poll() is None:
            bomb.kill()
            bomb.wait()
    assert wait_for(lambda: cg.pids() == [])


def test_freeze_and_thaw(parent, tmp_path):
    cg = CG(parent + "/ctr")
    counter = tmp_path / "n"
    p = cg.spawn(["sh", "-c", f"i=0; while :; do i=$((i+1)); echo $i > {counter}.t; "
                  f"mv {counter}.t {counter}; sleep 0.02; done"])
    try:
        assert wait_for(lambda: counter.exists())
        cgctl("freeze", cg.path)
        assert cgctl("frozen", cg.path).stdout.strip() == "true"
        a = counter.read_text()
        time.sleep(0.4)
        assert counter.read_text() == a, "process ran while frozen"
        cgctl("thaw", cg.path)
        assert cgctl("frozen", cg.path).stdout.strip() == "false"
        assert wait_for(lambda: counter.read_text() != a, timeout=5)
    finally:
        p.kill()
        p.wait()


def test_kill_all_gets_every_process(parent):
    # processes only in leaves: v2 forbids them in a cgroup with children
    cg = CG(parent + "/ctr")
    leaf = CG(parent + "/ctr/leaf")
    sub = CG(parent + "/ctr/sub")
    a = leaf.spawn(["sh", "-c", "sleep 60 & sleep 60 & sleep 60 & wait"])
    b = sub.spawn(["sleep", "60"])
    try:
        assert wait_for(lambda: len(cg.pids()) >= 5)
        # SIGTERM first (freeze + signal + thaw), then SIGKILL
        cgctl("kill", cg.path, int(signal.SIGTERM))
        assert wait_for(lambda: cg.pids() == [], timeout=10), cg.pids()
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
            p.wait()
    assert a.returncode != 0 and b.returncode == -signal.SIGTERM
    assert cgctl("frozen", cg.path).stdout.strip() == "false"
    c = leaf.spawn(["sh", "-c", "sleep 60 & sleep 60 & wait"])
    assert wait_for(lambda: len(cg.pids()) >= 3)
    cgctl("kill", cg.path)
    c.wait()
    assert c.returncode == -signal.SIGKILL
    # destroy removes the child cgroup too
    cgctl("destroy", cg.path)
    assert not os.path.exists(sub.dir("pids"))


def test_destroy_waits_for_tasks_to_drain(parent):
    cg = CG(parent + "/ctr")
    p = cg.spawn(["sleep", "60"])
    assert wait_for(lambda: p.pid in cg.pids())
    r = cgctl("destroy", cg.path, 200, check=False)
    assert r.returncode != 0 and "did not drain" in r.stderr
    assert os.path.isdir(cg.dir("pids"))
    p.kill()  # not yet reaped: the exiting task lingers; destroy must retry
    cgctl("destroy", cg.path, 5000)
    p.wait()
    for d in cg.dirs.values():
        assert not os.path.exists(d)


def test_stats_are_sane(parent):
    cg = CG(parent + "/ctr")
    cg.apply({"memory": {"limit": 256 << 20}, "pids": {"limit": 100}})
    p = cg.spawn([sys.executable, "-c",
                  "import time\nb = bytearray(24 << 20)\nt = time.time()\n"
                  "while time.time() - t < 0.3: pass\nprint('ok', flush=True)\ntime.sleep(30)"],
                 stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ok"
        st = cg.stats()
    finally:
        p.kill()
        p.wait()
    cpu, mem = st["cpu"], st["memory"]
    assert cpu["usage_ns"] >= 100_000_000
    assert cpu["user_ns"] + cpu["system_ns"] > 0
    assert cpu["user_ns"] + cpu["system_ns"] <= cpu["usage_ns"] * 1.2 + 50_000_000
    assert mem["usage"] >= 24 << 20
    assert mem["working_set"] <= mem["usage"]
    assert mem["working_set"] == mem["usage"] - min(mem["usage"], mem["inactive_file"])
    assert mem["rss"] >= 20 << 20
    assert mem["pgfault"] > 0
    assert mem["limit"] == 256 << 20
    assert st["pids"] == {"current": 1, "limit": 100}


def test_device_rules_confine(parent):
    """v1 devices.allow/deny, v2 a BPF device program: same verdicts."""
    cg = CG(parent + "/ctr")
    probe = ("import os\nos.close(os.open('/dev/null', os.O_WRONLY))\n"
             "try:\n    os.close(os.open('/dev/zero', os.O_RDONLY))\n    print('zero-open')\n"
             "except PermissionError:\n    print('zero-denied')\n")

    def run():
        p = cg.spawn([sys.executable, "-c", probe], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        return out.strip()

    assert run() == "zero-open"
    cg.apply({"devices": [{"allow": False, "access": "rwm"},
                          {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]})
    assert run() == "zero-denied"
    # an update replaces the rules (v2: the old program is detached)
    cg.apply({"devices": [{"allow": True, "access": "rwm"}]})
    assert run() == "zero-open"
    cg.apply({"devices": [{"allow": True, "access": "rwm"},
                          {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "r"}]})
    assert run() == "zero-denied"


def test_bad_input_is_rejected_and_leaves_nothing(parent):
    r = cgctl("create", "system.slice:nodelet:abc", check=False)
    assert r.returncode != 0 and "systemd" in r.stderr
    r = cgctl("create", parent + "/../x", check=False)
    assert r.returncode != 0 and '".."' in r.stderr
    r = cgctl("create", "/", check=False)
    assert r.returncode != 0 and "root cgroup" in r.stderr
    # a failing mkdir below a fresh parent removes the parent again
    r = cgctl("create", parent + "/cgroup.procs/x", check=False)
    assert r.returncode != 0 and "Not a directory" in r.stderr
    for d in cgroup_dirs(parent):
        assert not os.path.exists(d)
    cg = CG(parent + "/ctr")
    r = cg.apply({"memory": {"limit": "1G"}}, check=False)
    assert r.returncode != 0 and 'field "linux.resources.memory.limit"' in r.stderr
    r = cg.apply({"hugepageLimits": [{"pageSize": "../2MB", "limit": 1}]}, check=False)
    assert r.returncode != 0 and "pageSize" in r.stderr
    if mode() != "v2":
        r = cg.apply({"unified": {"memory.high": "1M"}}, check=False)
        assert r.returncode != 0 and "cgroup v2" in r.stderr
    else:
        cg.apply({"unified": {"memory.high": "8388608"}})
        assert cg.read("memory", "memory.high") == "8388608"
        r = cg.apply({"unified": {"cgroup.procs": "1"}}, check=False)
        assert r.returncode != 0 and "cgroup.procs" in r.stderr


RUNC = shutil.which("runc")


@pytest.mark.skipif(RUNC is None or not os.path.exists("/bin/busybox"), reason="needs runc and busybox")
def test_same_files_as_runc(parent, tmp_path):
    """runc and we apply the same linux.resources: the cgroup files agree."""
    mib = 1 << 20
    res = {"memory": {"limit": 48 * mib, "swap": 64 * mib, "reservation": 16 * mib},
           "cpu": {"shares": 300, "quota": 30000, "period": 60000, "cpus": "0"},
           "pids": {"limit": 17}}
    bundle = tmp_path / "bundle"
    rootfs = bundle / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", rootfs / "bin" / "busybox")
    os.symlink("busybox", rootfs / "bin" / "sleep")
    subprocess.run([RUNC, "spec"], cwd=bundle, check=True)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["/bin/sleep", "30"]
    cfg["linux"]["cgroupsPath"] = parent + "/runc"
    cfg["linux"]["resources"] = dict(res, devices=[{"allow": False, "access": "rwm"}])
    (bundle / "config.json").write_text(json.dumps(cfg))
    cid = f"nodelet-cg-{os.getpid()}"
    state = tmp_path / "state"
    try:
        # no pipes: the container's init keeps runc's stdio open
        with open(tmp_path / "runc.err", "w") as ef:
            r = subprocess.run([RUNC, "--root", str(state), "create", "--bundle", str(bundle), cid],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=ef,
                               timeout=30)
        assert r.returncode == 0, (tmp_path / "runc.err").read_text()
        ours = CG(parent + "/ours")
        ours.apply(res)
        if mode() == "v2":
            files = [("memory", "memory.max"), ("memory", "memory.low"), ("memory", "memory.swap.max"),
                     ("cpu", "cpu.weight"), ("cpu", "cpu.max"), ("cpuset", "cpuset.cpus"), ("pids", "pids.max")]
        else:
            files = [("memory", "memory.limit_in_bytes"), ("memory", "memory.memsw.limit_in_bytes"),
                     ("memory", "memory.soft_limit_in_bytes"), ("cpu", "cpu.shares"),
                     ("cpu", "cpu.cfs_quota_us"), ("cpu", "cpu.cfs_period_us"),
                     ("cpuset", "cpuset.cpus"), ("cpuset", "cpuset.mems"), ("pids", "pids.max")]
        for ctrl, name in files:
            theirs_dir = ours.dir(ctrl).replace("/ours", "/runc")
            if not os.path.exists(os.path.join(theirs_dir, name)):
                continue
            with open(os.path.join(theirs_dir, name)) as f:
                theirs = f.read().strip()
            assert ours.read(ctrl, name) == theirs, f"{ctrl}/{name}"
    finally:
        subprocess.run([RUNC, "--root", str(state), "delete", "-f", cid], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
