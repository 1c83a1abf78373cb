#!/usr/bin/python3
"""CRI benchmark: nodelet-cri against containerd 1.6 + runc, side by side in
one run, through the same client (build/bin/cribench, the C CRI client; one
process, one channel per runtime). Run by bench/cri/run.sh inside private
net+mount namespaces; see bench/cri/README.md.

Per round (one CNI plugin set, used by both runtimes):
  1. build a busybox image and a pause image locally (umoci + skopeo) and
     import both into both runtimes (containerd: ctr import; ours: preload);
  2. start both daemons with temp roots/sockets and the same conflist
     (bridge + host-local; each runtime on its own bridge and subnet);
  3. idle daemon RSS;
  4. cribench: N pods, each one container running sleep, runtimes alternating
     who goes first per pod; per pod RunPodSandbox, CreateContainer,
     StartContainer;
  5. memory with N pods running: daemon RSS, and the RSS of what the runtime
     added per pod besides the container's own process (ours: one
     nodelet-shim per container plus the pod's init; containerd: one
     containerd-shim-runc-v2 per pod plus the pause process);
  6. StopPodSandbox + RemovePodSandbox per pod, alternating again.
Memory is RSS (VmRSS) throughout; PSS (smaps_rollup) is printed alongside
because shims of one runtime share their text pages."""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def pct(v, p):
    """Nearest-rank percentile (p99 of 50 samples is the largest)."""
    v = sorted(v)
    k = max(0, min(len(v) - 1, int(-(-p * len(v) // 100)) - 1))
    return v[k]


def proc_status(pid, key):
    """A kB field of /proc/PID/status (VmRSS, VmHWM) in KiB; 0 if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_pss(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_exe(pid):
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return ""


def proc_ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def proc_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def descendants(root):
    """PIDs below root (children by ppid, transitively)."""
    kids = {}
    for p in all_pids():
        kids.setdefault(proc_ppid(p), []).append(p)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def runtime_processes(rt):
    """(shims, sandbox processes) the runtime added for its pods, as PID
    lists. Shims: ours are nodelet-shim processes whose command line names
    this daemon's run root; containerd's are containerd-shim-runc-v2 whose
    command line names its socket. Sandbox processes: the pause container
    (containerd) or the pod init (ours), children of those shims that are
    not running the benchmark container's command."""
    shims = []
    for p in all_pids():
        cmd = proc_cmdline(p)
        if not cmd:
            continue
        exe = os.path.basename(cmd[0].decode(errors="replace"))
        if exe == rt.shim_name and any(rt.marker.encode() in a for a in cmd):
            shims.append(p)
    sandbox, containers = [], []
    for s in shims:
        for c in descendants(s):
            cmd = proc_cmdline(c)
            if os.path.basename(cmd[0].decode(errors="replace")) == rt.shim_name if cmd else False:
                continue
            if rt.is_container(c, cmd):
                containers.append(c)
            else:
                sandbox.append(c)
    # Our pod init is not a shim's child: it is found by the pods' pid files.
    sandbox += [p for p in rt.pod_inits() if p not in sandbox]
    return shims, sandbox, containers


def mem(pids, f):
    return sum(f(p) for p in pids)


def tmpfs(path):
    """A tmpfs on path (we are in the bench's private mount namespace)."""
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=711", "tmpfs", path], check=True)
    return path


class Ours:
    name = "nodelet-cri"
    shim_name = "nodelet-shim"

    def __init__(self, env, tmp, bin_dir, conflist):
        self.d = env.NodeletCRI(tmp, cni_bin_dir=bin_dir)
        for f in os.listdir(self.d.conf_dir):
            os.unlink(os.path.join(self.d.conf_dir, f))
        conflist(self.d.conf_dir)
        self.marker = os.path.join(tmp, "run")
        # As on a node: the run root on tmpfs (/run), the root on disk. The
        # CNI cache is on tmpfs for both runtimes (containerd's is the
        # bench's private /var/lib/cni).
        self.volatile = [tmpfs(self.marker), tmpfs(os.path.join(tmp, "cni-cache"))]

    def is_container(self, pid, cmd):
        return b"3600" in cmd

    def pod_inits(self):
        # Processes whose exe is nodelet-cri's pod init helper, other than
        # the daemon: anything left in the daemon's process tree.
        return [p for p in descendants(self.d.proc.pid)
                if proc_exe(p) != self.shim_name]


class Theirs:
    name = "containerd"
    shim_name = "containerd-shim-runc-v2"

    def __init__(self, env, tmp, bin_dir, conflist):
        self.d = env.Containerd(tmp, cni_bin_dir=bin_dir, conflist=conflist)
        self.marker = self.d.sock
        # containerd's state dir (bundles, shim sockets) is /run on a node.
        self.volatile = [tmpfs(self.d.state)]

    def is_container(self, pid, cmd):
        return b"3600" in cmd

    def pod_inits(self):
        return []


def conflist_writer(bridge, subnet):
    def write(conf_dir):
        os.makedirs(conf_dir, exist_ok=True)
        with open(os.path.join(conf_dir, "10-bench.conflist"), "w") as f:
            json.dump({"cniVersion": "1.0.0", "name": "bench", "plugins": [
                {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                          "dataDir": os.path.join(conf_dir, "ipam")}}]}, f)
    return write


def build_images(env, d):
    os.makedirs(d, exist_ok=True)
    return [env.build_image(d, env.PAUSE_REF, entrypoint=["/bin/sleep"], cmd=["2147483647"],
                            tag="pause"),
            env.build_image(d, env.BUSYBOX_REF, cmd=["sh"], tag="busybox")]


def one_round(a, env, images, plugins, bin_dir, tmp):
    # Short paths: the shims' control sockets live below the run root, and
    # a unix socket path has 107 bytes.
    rts = [Ours(env, os.path.join(tmp, "n"), bin_dir,
                conflist_writer("nlbench0", "10.91.0.0/24")),
           Theirs(env, os.path.join(tmp, "c"), bin_dir,
                  conflist_writer("cdbench0", "10.92.0.0/24"))]
    out = {"plugins": plugins, "runtimes": {}}
    try:
        for r in rts:
            r.d.start(images=images)
        time.sleep(a.settle)
        for r in rts:
            pid = r.d.proc.pid
            out["runtimes"][r.name] = {"idle_rss_kib": proc_status(pid, "VmRSS"),
                                       "idle_pss_kib": proc_pss(pid)}
        sb = {"metadata": {"name": "bench", "namespace": "bench", "attempt": 0},
              "log_directory": os.path.join(tmp, "logs"),
              "linux": {"cgroup_parent": "",
                        "security_context": {"namespace_options": {"network": "POD",
                                                                   "pid": "CONTAINER",
                                                                   "ipc": "POD"}}}}
        ct = {"metadata": {"name": "sleep"}, "image": {"image": env.BUSYBOX_REF},
              "command": ["/bin/sleep"], "args": ["3600"], "log_path": "sleep.log",
              "linux": {}}
        with open(os.path.join(tmp, "sb.json"), "w") as f:
            json.dump(sb, f)
        with open(os.path.join(tmp, "ct.json"), "w") as f:
            json.dump(ct, f)
        argv = [a.driver, "-n", str(a.n), "--sandbox", os.path.join(tmp, "sb.json"),
                "--container", os.path.join(tmp, "ct.json")]
        for r in rts:
            argv += ["--runtime", f"{r.name}={r.d.endpoint}"]
        drv = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        start, stop = {r.name: [] for r in rts}, {r.name: [] for r in rts}
        try:
            for line in drv.stdout:
                ev = json.loads(line)
                if ev["phase"] == "start":
                    start[ev["runtime"]].append(ev)
                elif ev["phase"] == "running":
                    time.sleep(a.settle)
                    for r in rts:
                        pid = r.d.proc.pid
                        shims, sandbox, containers = runtime_processes(r)
                        o = out["runtimes"][r.name]
                        o.update({
                            "loaded_rss_kib": proc_status(pid, "VmRSS"),
                            "loaded_pss_kib": proc_pss(pid),
                            "shims": len(shims), "sandbox_procs": len(sandbox),
                            "containers": len(containers),
                            "shim_rss_kib": mem(shims, lambda p: proc_status(p, "VmRSS")),
                            "shim_pss_kib": mem(shims, proc_pss),
                            "sandbox_rss_kib": mem(sandbox, lambda p: proc_status(p, "VmRSS")),
                            "sandbox_pss_kib": mem(sandbox, proc_pss),
                        })
                    drv.stdin.write("go\n")
                    drv.stdin.flush()
                elif ev["phase"] == "stop":
                    stop[ev["runtime"]].append(ev)
        finally:
            if drv.wait() != 0:
                raise RuntimeError(f"cribench failed (exit {drv.returncode})")
        for r in rts:
            o = out["runtimes"][r.name]
            o["peak_rss_kib"] = proc_status(r.d.proc.pid, "VmHWM")
            o["after_rss_kib"] = proc_status(r.d.proc.pid, "VmRSS")
            s = start[r.name]
            o["runp"] = [e["runp"] for e in s]
            o["create"] = [e["create"] for e in s]
            o["start"] = [e["start"] for e in s]
            o["pod_start"] = [e["runp"] + e["create"] + e["start"] for e in s]
            t = stop[r.name]
            o["stopp"] = [e["stopp"] for e in t]
            o["rmp"] = [e["rmp"] for e in t]
            o["pod_teardown"] = [e["stopp"] + e["rmp"] for e in t]
    finally:
        for r in rts:
            try:
                r.d.stop()
            except Exception as e:  # keep stopping the others
                print(f"bench/cri: stopping {r.name}: {e}", file=sys.stderr)
            for v in r.volatile:
                subprocess.run(["umount", "-l", v])
    return out


def mib(kib):
    return f"{kib / 1024:.1f}"


def report(res, n):
    ours, theirs = res["runtimes"]["nodelet-cri"], res["runtimes"]["containerd"]
    print(f"\n--- plugins: {res['plugins']} ({n} pods, ms; p99 = nearest rank) ---")
    print(f"{'step':<28}{'nodelet-cri med':>16}{'p99':>9}{'containerd med':>16}{'p99':>9}"
          f"{'ratio':>8}")
    for key, label in (("runp", "RunPodSandbox"), ("create", "CreateContainer"),
                       ("start", "StartContainer"), ("pod_start", "runp+create+start"),
                       ("stopp", "StopPodSandbox"), ("rmp", "RemovePodSandbox"),
                       ("pod_teardown", "stopp+rmp")):
        mo, mt = statistics.median(ours[key]), statistics.median(theirs[key])
        print(f"{label:<28}{mo:>16.1f}{pct(ours[key], 99):>9.1f}{mt:>16.1f}"
              f"{pct(theirs[key], 99):>9.1f}{mt / mo if mo else 0:>7.2f}x")
    print(f"\n{'memory (RSS, MiB; PSS in brackets)':<40}{'nodelet-cri':>20}{'containerd':>20}")
    rows = (("daemon idle", "idle_rss_kib", "idle_pss_kib", 1),
            (f"daemon with {n} pods", "loaded_rss_kib", "loaded_pss_kib", 1),
            ("daemon peak (VmHWM)", "peak_rss_kib", None, 1),
            ("per pod: shims", "shim_rss_kib", "shim_pss_kib", n),
            ("per pod: sandbox process", "sandbox_rss_kib", "sandbox_pss_kib", n))
    for label, rk, pk, div in rows:
        cells = []
        for o in (ours, theirs):
            c = mib(o[rk] / div)
            if pk:
                c += f" [{mib(o[pk] / div)}]"
            cells.append(c)
        print(f"{label:<40}{cells[0]:>20}{cells[1]:>20}")
    for name, o in (("nodelet-cri", ours), ("containerd", theirs)):
        print(f"  {name}: {o['shims']} shims, {o['sandbox_procs']} sandbox processes, "
              f"{o['containers']} container processes")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("-n", type=int, default=50, help="pods per runtime")
    ap.add_argument("--plugins", default="ours,ref",
                    help="comma list of plugin sets to run a round with: ours, ref")
    ap.add_argument("--ref-dir", default="/usr/lib/cni")
    ap.add_argument("--settle", type=float, default=2.0,
                    help="seconds to wait before memory samples")
    ap.add_argument("--json", help="also write the raw results here")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    os.environ["NODELET_BUILD"] = build
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    import containerd as env  # noqa: E402 (needs NODELET_BUILD first)
    a.driver = os.path.join(build, "bin", "cribench")
    for p in (a.driver, os.path.join(build, "bin", "nodelet-cri")):
        if not os.access(p, os.X_OK):
            sys.exit(f"bench/cri: {p} is not built (make all)")
    if not env.CONTAINERD or not shutil.which("runc"):
        sys.exit("bench/cri: containerd and runc are required (apt-get install containerd runc)")
    tmp = tempfile.mkdtemp(prefix="crb.")
    results = []
    try:
        images = build_images(env, os.path.join(tmp, "images"))
        for plugins in a.plugins.split(","):
            bin_dir = os.path.join(build, "bin") if plugins == "ours" else a.ref_dir
            rtmp = os.path.join(tmp, plugins[0])
            os.makedirs(rtmp)
            res = one_round(a, env, images, plugins, bin_dir, rtmp)
            results.append(res)
            report(res, a.n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
