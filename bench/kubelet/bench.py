#!/usr/bin/python3
"""Kubelet benchmark (issue 6): static pod manifest renamed into the
directory -> container running.

Two stacks run side by side in one run, each a nodelet with its own manifest
dir, read-only port and pod cgroup root, over its own runtime started here
with temp roots: our nodelet-cri, and containerd 1.6 (Debian's). Both use our
bridge/host-local/loopback CNI plugins (one bridge and /16 range per stack)
and a busybox image built locally. The real kubelet is not installable here:
its numbers, measured earlier on this machine with containerd 1.6, are
printed as the anchor column and are not re-run.

For each stack one persistent CRI client polls ListPodSandbox +
ListContainers every 20 ms and one keep-alive HTTP client polls /pods
(readOnlyPort) every 20 ms, while that stack is under test. A pod counts as
running in the CRI when its sandbox is READY and its container RUNNING, and
in /pods when its phase is Running with its container running; each
observation is stamped when the poll's response arrived (so it includes up
to one poll period plus the poll's own time).

Phases, per stack (the single-pod phase alternates the stacks pod by pod so
both see the same machine load; batch phases run one stack at a time):
  single  50 pods written one by one with random gaps: per pod rename ->
          running (CRI), rename -> Running (/pods), and the difference
  batch   20 and 100 manifests renamed in at once: time until all run
  remove  manifests deleted (grace period 1 s; `sleep` as PID 1 ignores
          SIGTERM, so the grace period is spent in full): time until every
          container and sandbox is gone from the CRI
  rss     nodelet VmRSS (and VmHWM, its peak) at 0 and 100 pods; the whole
          node (nodelet + runtime daemon + every shim; not the containers'
          own processes) RSS and PSS per pod between 0 and 100 pods

Must run inside a private net+mount namespace with private /run/netns,
/var/lib/cni and /run/cni (bench/kubelet/run.sh arranges that).
"""
import argparse
import http.client
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import containerd as rt  # noqa: E402
import criclient  # noqa: E402
import harness  # noqa: E402
from test_kubelet_lib import Nodelet  # noqa: E402

NODE = "bench"
POLL = 0.020
SANDBOX_READY = 0
CONTAINER_RUNNING = 1

# The real kubelet v1.28 on containerd 1.6, measured on this machine before
# this bench existed (issue 6); not installable here, so not re-run.
ANCHOR = {
    "cri_p50": "163 ms", "cri_p99": "186 ms (max)", "cri_max": "186 ms",
    "pods_p50": "700 ms (1 s relist)", "batch20": "1.7-1.95 s", "batch100": "-",
    "rss0": "62 MiB", "rss100": "76 MiB (at 40 pods)", "node_pp": "16.8 MiB (shim 13.4)",
}
TARGET = {
    "cri_p50": "<= 50 ms", "cri_p99": "<= 100 ms", "delta_p50": "<= 50 ms",
    "delta_p99": "<= 50 ms", "batch20": "<= 0.5 s", "batch100": "<= 5 s",
    "rss100": "<= 20 MB", "node_pp": "<= 1.5 MB",
}


def refuse_host_namespace():
    host = os.environ.get("NDL_BENCH_HOST_NETNS")
    if not host or os.stat("/proc/self/ns/net").st_ino == int(host):
        sys.exit("bench/kubelet: refusing to run in the machine's own network namespace "
                 "(use bench/kubelet/run.sh)")


def status_kib(pid, key):
    """VmRSS / VmHWM of a process in KiB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for ln in f:
                if ln.startswith(key + ":"):
                    return int(ln.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for ln in f:
                if ln.startswith("Pss:"):
                    return int(ln.split()[1])
    except OSError:
        pass
    return 0


def cmdlines():
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0]:
            yield int(d), cmd


def pct(values, p):
    """Nearest-rank percentile."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


# --probes: what each container gets besides its command (a probe worker
# each in nodelet, an ExecSync every 10 s each in the runtime).
PROBE_SPEC = """    readinessProbe: {exec: {command: ["true"]}, periodSeconds: 10}
    livenessProbe: {exec: {command: ["true"]}, periodSeconds: 10}
"""
PROBES = ""

class Observer:
    """Polls one stack's CRI and /pods every 20 ms while `active` is set and
    remembers, per pod name, when it was first seen running."""

    def __init__(self, sock, ro_port):
        self.sock = sock
        self.ro_port = ro_port
        self.lock = threading.Lock()
        self.cri_running = {}
        self.pods_running = {}
        self.cri_present = set()
        self.cri_polls = 0
        self.pods_polls = 0
        self.errors = []
        self.active = threading.Event()
        self.stopping = False
        self.threads = [threading.Thread(target=self._cri_loop, daemon=True),
                        threading.Thread(target=self._pods_loop, daemon=True)]
        for t in self.threads:
            t.start()

    def _pace(self, started):
        left = POLL - (time.monotonic() - started)
        if left > 0:
            time.sleep(left)

    def _cri_loop(self):
        client = criclient.Client(self.sock, timeout=10)
        try:
            while not self.stopping:
                if not self.active.wait(0.1):
                    continue
                t0 = time.monotonic()
                try:
                    sbs = client.ListPodSandbox().items
                    ctrs = client.ListContainers().containers
                except criclient.CRIError as e:
                    self.errors.append(f"CRI poll: {e}")
                    self._pace(t0)
                    continue
                now = time.monotonic()
                by_sb = {}
                for c in ctrs:
                    by_sb.setdefault(c.pod_sandbox_id, []).append(c)
                present = set()
                running = []
                for sb in sbs:
                    name = sb.metadata.name
                    present.add(name)
                    cs = by_sb.get(sb.id, [])
                    if sb.state == SANDBOX_READY and cs and \
                            all(c.state == CONTAINER_RUNNING for c in cs):
                        running.append(name)
                for c in ctrs:
                    n = c.labels.get("io.kubernetes.pod.name")
                    if n:
                        present.add(n)
                with self.lock:
                    self.cri_present = present
                    self.cri_polls += 1
                    for n in running:
                        self.cri_running.setdefault(n, now)
                self._pace(t0)
        finally:
            client.close()

    def _pods_loop(self):
        conn = None
        while not self.stopping:
            if not self.active.wait(0.1):
                continue
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.ro_port, timeout=5)
                conn.request("GET", "/pods")
                r = conn.getresponse()
                body = r.read()
                if r.status != 200:
                    raise OSError(f"/pods: HTTP {r.status}")
                items = json.loads(body)["items"]
            except (OSError, http.client.HTTPException, ValueError) as e:
                self.errors.append(f"/pods poll: {e}")
                if conn:
                    conn.close()
                conn = None
                self._pace(t0)
                continue
            now = time.monotonic()
            running = []
            for p in items:
                st = p.get("status") or {}
                css = st.get("containerStatuses") or []
                if st.get("phase") == "Running" and css and \
                        all("running" in (cs.get("state") or {}) for cs in css):
                    running.append(p["metadata"]["name"])
            with self.lock:
                self.pods_polls += 1
                for n in running:
                    self.pods_running.setdefault(n, now)
            self._pace(t0)
        if conn:
            conn.close()

    def wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if pred(self):
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.005)

    def forget(self, names):
        with self.lock:
            for n in names:
                self.cri_running.pop(n, None)
                self.pods_running.pop(n, None)

    def stop(self):
        self.stopping = True
        self.active.set()
        for t in self.threads:
            t.join(5)


def conflist_writer(subnet, bridge):
    """Our bridge + host-local, one bridge and /16 range per stack (100
    pods at once), leases in the stack's own conf dir."""
    def write(conf_dir):
        os.makedirs(conf_dir, exist_ok=True)
        with open(os.path.join(conf_dir, "10-pods.conflist"), "w") as f:
            json.dump({"cniVersion": "1.0.0", "name": "pods", "plugins": [
                {"type": "bridge", "bridge": bridge, "isGateway": True,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                          "dataDir": os.path.join(conf_dir, "ipam")}}]}, f)
    return write


class Stack:
    def __init__(self, kind, idx, images, cni_bin, verbosity):
        self.kind = kind
        self.label = f"nodelet+{kind}"
        # Short: the runtimes' unix sockets live below it (sun_path).
        self.rt_dir = tempfile.mkdtemp(prefix=f"kb{idx}-")
        writer = conflist_writer(f"10.{70 + idx}.0.0/16", f"kb-br{idx}")
        if kind == "containerd":
            self.runtime = rt.Containerd(self.rt_dir, cni_bin_dir=cni_bin, conflist=writer)
        else:
            self.runtime = rt.NodeletCRI(self.rt_dir, cni_bin_dir=cni_bin)
            writer(self.runtime.conf_dir)  # replaces its default /24 conflist
        self.images = images
        self.cgroot = "/nodelet-bench-" + uuid.uuid4().hex[:8]
        self.cfg_dir = tempfile.mkdtemp(prefix="kb-cfg-")
        cfg = os.path.join(self.cfg_dir, "kubelet.yaml")
        with open(cfg, "w") as f:
            f.write("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                    f"podLogsDir: {os.path.join(self.cfg_dir, 'logs')}\nmaxPods: 110\n")
        self.node = Nodelet(extra_args=[f"--config={cfg}",
                                        f"--container-runtime-endpoint={self.runtime.endpoint}",
                                        f"--cgroup-root={self.cgroot}", f"--v={verbosity}"],
                            node=NODE)
        self.obs = None
        self.res = {}

    def start(self):
        self.runtime.start(self.images)
        self.node.start()
        self.obs = Observer(self.runtime.sock, self.node.ro_port)

    # Manifests: written as a dotfile in the directory (ignored), then
    # renamed to its final name; the clock starts at the rename.
    def stage(self, name):
        tmp = os.path.join(self.node.manifests, f".{name}.yaml")
        with open(tmp, "w") as f:
            f.write(f"""apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: default
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: {rt.BUSYBOX_REF}
    command: [sleep, "3600"]
""" + PROBES)
        return tmp

    def publish(self, name, tmp):
        t = time.monotonic()
        os.rename(tmp, os.path.join(self.node.manifests, f"{name}.yaml"))
        return t

    def remove(self, names):
        for n in names:
            os.unlink(os.path.join(self.node.manifests, f"{n}.yaml"))

    def pids(self):
        """nodelet, the runtime daemon, and this runtime's shims."""
        daemon = [self.node.proc.pid, self.runtime.proc.pid]
        shims = []
        key = self.rt_dir.encode()
        for pid, cmd in cmdlines():
            base = os.path.basename(cmd[0])
            if base in (b"nodelet-shim", b"containerd-shim-runc-v2") and \
                    any(key in a for a in cmd[1:]):
                shims.append(pid)
        return daemon, shims

    def node_memory(self):
        daemon, shims = self.pids()
        procs = daemon + shims
        return {"nodelet_rss": status_kib(self.node.proc.pid, "VmRSS"),
                "nodelet_hwm": status_kib(self.node.proc.pid, "VmHWM"),
                "nodelet_anon": status_kib(self.node.proc.pid, "RssAnon"),
                "nodelet_file": status_kib(self.node.proc.pid, "RssFile"),
                "nodelet_pss": pss_kib(self.node.proc.pid),
                "runtime_rss": status_kib(self.runtime.proc.pid, "VmRSS"),
                "shims": len(shims),
                "shim_rss": sum(status_kib(p, "VmRSS") for p in shims),
                "node_rss": sum(status_kib(p, "VmRSS") for p in procs),
                "node_pss": sum(pss_kib(p) for p in procs)}

    def stop(self):
        if self.obs:
            self.obs.stop()
        self.node.stop()
        self.runtime.stop()
        for ctrl in os.listdir("/sys/fs/cgroup"):
            top = os.path.join("/sys/fs/cgroup", ctrl, self.cgroot.lstrip("/"))
            if not os.path.isdir(top):
                continue
            for dirpath, _d, _f in sorted(os.walk(top), key=lambda t: -len(t[0])):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass
        self.node.cleanup()
        shutil.rmtree(self.rt_dir, ignore_errors=True)
        shutil.rmtree(self.cfg_dir, ignore_errors=True)


def full(name):
    return f"{name}-{NODE}"


def run_batch(s, prefix, n, timeout):
    """n manifests renamed in at once; returns (seconds until all running in
    the CRI, until all Running in /pods, per-pod CRI latencies)."""
    names = [f"{prefix}-{i}" for i in range(n)]
    staged = [(nm, s.stage(nm)) for nm in names]
    fulls = [full(nm) for nm in names]
    s.obs.forget(fulls)
    t0 = None
    for nm, tmp in staged:
        t = s.publish(nm, tmp)
        t0 = t0 if t0 is not None else t
    s.obs.wait(lambda o: all(f in o.cri_running and f in o.pods_running for f in fulls),
               timeout, f"{n} pods running on {s.label}")
    with s.obs.lock:
        cri_all = max(s.obs.cri_running[f] for f in fulls) - t0
        pods_all = max(s.obs.pods_running[f] for f in fulls) - t0
        per = [s.obs.cri_running[f] - t0 for f in fulls]
    return names, cri_all, pods_all, per


def run_remove(s, names, timeout):
    fulls = set(full(n) for n in names)
    t0 = time.monotonic()
    s.remove(names)
    s.obs.wait(lambda o: not (fulls & o.cri_present), timeout,
               f"{len(names)} pods gone on {s.label}")
    return time.monotonic() - t0


def settle(seconds=2.0):
    time.sleep(seconds)


def main():
    refuse_host_namespace()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=50, help="pods in the one-by-one phase")
    ap.add_argument("--batches", default="20,100", help="pods written at once, per batch")
    ap.add_argument("--runtimes", default="nodelet-cri,containerd")
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--gap-ms", default="50,300", help="random gap range between pods")
    ap.add_argument("--v", type=int, default=0, help="nodelet log verbosity")
    ap.add_argument("--probes", action="store_true",
                    help="give every container an exec readiness and liveness probe (10 s)")
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--logs", help="copy nodelet's and the runtimes' logs into this dir")
    a = ap.parse_args()
    global PROBES
    if a.probes:
        PROBES = PROBE_SPEC
    batches = [int(x) for x in a.batches.split(",") if x]
    gap_lo, gap_hi = (int(x) / 1000 for x in a.gap_ms.split(","))
    rnd = random.Random(a.seed)

    work = tempfile.mkdtemp(prefix="kbench-")
    stacks = []
    status = 0
    try:
        print("bench/kubelet: building the busybox image ...", flush=True)
        images = [rt.build_image(work, rt.PAUSE_REF, entrypoint=["/bin/sleep"],
                                 cmd=["2147483647"], tag="pause"),
                  rt.build_image(work, rt.BUSYBOX_REF, cmd=["sh"], tag="busybox")]
        cni_bin = os.path.join(work, "cni-bin")
        os.makedirs(cni_bin)
        for p in ("bridge", "host-local", "loopback"):
            os.symlink(harness.bin_path(p), os.path.join(cni_bin, p))
        for i, kind in enumerate(a.runtimes.split(",")):
            if kind == "containerd" and not (rt.CONTAINERD and rt.CTR):
                print("bench/kubelet: containerd not installed; skipped", flush=True)
                continue
            s = Stack(kind, i, images, cni_bin, a.v)
            stacks.append(s)
            s.start()
        settle()
        for s in stacks:
            s.res["fresh"] = s.node_memory()

        # One by one, the stacks alternating pod by pod.
        print(f"bench/kubelet: {a.n} pods one by one ...", flush=True)
        for s in stacks:
            s.res["single"] = []
        for i in range(a.n):
            order = stacks if i % 2 == 0 else list(reversed(stacks))
            for s in order:
                nm = f"one-{i}"
                tmp = s.stage(nm)
                s.obs.active.set()
                t0 = s.publish(nm, tmp)
                f = full(nm)
                s.obs.wait(lambda o: f in o.cri_running and f in o.pods_running, 60,
                           f"{nm} running on {s.label}")
                s.obs.active.clear()
                with s.obs.lock:
                    s.res["single"].append((s.obs.cri_running[f] - t0,
                                            s.obs.pods_running[f] - t0))
                time.sleep(rnd.uniform(gap_lo, gap_hi))
        for s in stacks:
            s.obs.active.set()
            s.res["remove_single"] = run_remove(s, [f"one-{i}" for i in range(a.n)], 120)
            s.obs.active.clear()
        settle()

        for n in batches:
            print(f"bench/kubelet: {n} pods at once ...", flush=True)
            for s in stacks:
                mem0 = s.node_memory()
                s.obs.active.set()
                names, cri_all, pods_all, per = run_batch(s, f"b{n}", n, 60 + 3 * n)
                s.obs.active.clear()
                settle()
                mem1 = s.node_memory()
                s.obs.active.set()
                rm = run_remove(s, names, 60 + 3 * n)
                s.obs.active.clear()
                s.res[f"batch{n}"] = {"cri_all": cri_all, "pods_all": pods_all,
                                      "cri_p50": statistics.median(per), "remove": rm,
                                      "mem0": mem0, "mem1": mem1}
                settle()
    except Exception as e:
        print(f"bench/kubelet: FAILED: {e}", flush=True)
        for s in stacks:
            if s.obs and s.obs.errors:
                print(f"  {s.label} poll errors (last 5): {s.obs.errors[-5:]}")
            print(f"--- {s.label}: nodelet log tail\n{s.node.log()[-2000:]}")
            print(f"--- {s.label}: runtime log tail\n{s.runtime.logtext()[-2000:]}")
        status = 1
    finally:
        for s in stacks:
            if a.logs:
                os.makedirs(a.logs, exist_ok=True)
                shutil.copy(s.node.log_path, os.path.join(a.logs, f"{s.label}.nodelet.log"))
                shutil.copy(s.runtime.log.name, os.path.join(a.logs, f"{s.label}.runtime.log"))
            try:
                s.stop()
            except Exception as e:  # keep stopping the others
                print(f"bench/kubelet: stopping {s.label}: {e}")
                status = 1
        shutil.rmtree(work, ignore_errors=True)
    if status == 0:
        report(stacks, a, batches)
    return status


def ms(x):
    return f"{x * 1000:.0f} ms"


def report(stacks, a, batches):
    load = open("/proc/loadavg").read().split()[:3]
    print(f"\nbench/kubelet: {a.n} pods one by one (gaps {a.gap_ms} ms), batches "
          f"{a.batches}; polls every {POLL * 1000:.0f} ms; load average {' '.join(load)}")
    print("anchor = the real kubelet v1.28 on containerd 1.6, measured earlier on this "
          "machine (issue 6); not installable here, not re-run\n")
    rows = []

    def add(key, title, fn):
        vals = []
        for s in stacks:
            try:
                vals.append(fn(s))
            except (KeyError, ValueError, ZeroDivisionError):
                vals.append(None)
        rows.append((title, ANCHOR.get(key, "-"), vals, TARGET.get(key, "")))

    def single(s, i):
        return [v[i] for v in s.res["single"]]

    add("cri_p50", "rename -> running (CRI) p50", lambda s: statistics.median(single(s, 0)))
    add("cri_p99", "rename -> running (CRI) p99", lambda s: pct(single(s, 0), 99))
    add("cri_max", "rename -> running (CRI) max", lambda s: max(single(s, 0)))
    add("pods_p50", "rename -> Running (/pods) p50", lambda s: statistics.median(single(s, 1)))
    add("pods_p99", "rename -> Running (/pods) p99", lambda s: pct(single(s, 1), 99))
    add("delta_p50", "/pods after CRI p50",
        lambda s: statistics.median([p - c for c, p in s.res["single"]]))
    add("delta_p99", "/pods after CRI p99",
        lambda s: pct([p - c for c, p in s.res["single"]], 99))
    add("remove_single", f"remove {a.n} (grace 1 s) until gone",
        lambda s: s.res["remove_single"])
    for n in batches:
        add(f"batch{n}", f"{n} at once: all running (CRI)", lambda s, n=n: s.res[f"batch{n}"]["cri_all"])
        add(f"batch{n}_pods", f"{n} at once: all Running (/pods)",
            lambda s, n=n: s.res[f"batch{n}"]["pods_all"])
        add(f"batch{n}_rm", f"{n} at once: removal until gone",
            lambda s, n=n: s.res[f"batch{n}"]["remove"])
    big = max(batches) if batches else None
    kib = 1024.0
    rss_rows = [
        ("rss_fresh", "nodelet RSS, fresh start", lambda s: s.res["fresh"]["nodelet_rss"] / kib),
    ]
    if big:
        rss_rows += [
            ("rss0", "nodelet RSS at 0 pods", lambda s: s.res[f"batch{big}"]["mem0"]["nodelet_rss"] / kib),
            ("rss100", f"nodelet RSS at {big} pods",
             lambda s: s.res[f"batch{big}"]["mem1"]["nodelet_rss"] / kib),
            ("anon", "  of which anonymous (RssAnon)",
             lambda s: s.res[f"batch{big}"]["mem1"]["nodelet_anon"] / kib),
            ("file", "  of which file-backed (RssFile)",
             lambda s: s.res[f"batch{big}"]["mem1"]["nodelet_file"] / kib),
            ("pss", f"nodelet PSS at {big} pods",
             lambda s: s.res[f"batch{big}"]["mem1"]["nodelet_pss"] / kib),
            ("hwm", "nodelet peak RSS (VmHWM)", lambda s: s.res[f"batch{big}"]["mem1"]["nodelet_hwm"] / kib),
            ("runtime", f"runtime daemon RSS at {big} pods",
             lambda s: s.res[f"batch{big}"]["mem1"]["runtime_rss"] / kib),
            ("node_pp", "whole node RSS per pod",
             lambda s: (s.res[f"batch{big}"]["mem1"]["node_rss"] - s.res[f"batch{big}"]["mem0"]["node_rss"])
             / big / kib),
            ("node_pss_pp", "whole node PSS per pod",
             lambda s: (s.res[f"batch{big}"]["mem1"]["node_pss"] - s.res[f"batch{big}"]["mem0"]["node_pss"])
             / big / kib),
            ("shim_pp", "shim RSS per pod",
             lambda s: s.res[f"batch{big}"]["mem1"]["shim_rss"] / max(1, s.res[f"batch{big}"]["mem1"]["shims"]) / kib),
        ]
    head = ["metric", "kubelet (anchor)"] + [s.label for s in stacks]
    if len(stacks) == 2:
        head.append("ratio")
    head.append("target (nodelet-cri)")
    table = []
    for title, anchor, vals, target in rows:
        cells = [title, anchor] + ["-" if v is None else ms(v) for v in vals]
        if len(stacks) == 2:
            cells.append(f"{vals[1] / vals[0]:.1f}x" if None not in vals and vals[0] > 0 else "-")
        table.append(cells + [target])
    for key, title, fn in rss_rows:
        vals = []
        for s in stacks:
            try:
                vals.append(fn(s))
            except (KeyError, ZeroDivisionError):
                vals.append(None)
        cells = [title, ANCHOR.get(key, "-")] + ["-" if v is None else f"{v:.1f} MiB" for v in vals]
        if len(stacks) == 2:
            cells.append(f"{vals[1] / vals[0]:.1f}x" if None not in vals and vals[0] > 0 else "-")
        table.append(cells + [TARGET.get(key, "")])
    widths = [max(len(r[i]) for r in table + [head]) for i in range(len(head))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in table:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    print("(ratio = containerd / nodelet-cri, each under nodelet; RSS sums over-count pages "
          "the shims share, PSS does not)")
    for s in stacks:
        m = s.res.get(f"batch{big}", {}).get("mem1") if big else None
        if m:
            print(f"{s.label} at {big} pods: {m['shims']} shims, shim RSS total "
                  f"{m['shim_rss'] / kib:.1f} MiB, node RSS {m['node_rss'] / kib:.1f} MiB, "
                  f"node PSS {m['node_pss'] / kib:.1f} MiB")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({s.label: s.res for s in stacks}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
