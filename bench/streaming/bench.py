"""Streaming benchmark: the same operations against nodelet-cri and
containerd 1.6 (+runc), alternating per iteration:

  exec        Exec RPC + SPDY v4 session running `true` (URL to exit status)
  exec-tty    the same with a pty and a resize stream
  exec-pipe   16 MiB through `cat` (stdin -> stdout), MiB/s
  attach-rtt  one line echoed by `cat` attached with stdin (round trip)
  pf-connect  PortForward RPC + SPDY session + one TCP exchange in the pod

Prints median and p99 per runtime, the ratio containerd/ours, and peak RSS
(VmHWM) of each daemon and of one container monitor (nodelet-shim vs
containerd-shim-runc-v2) after the run."""
import argparse
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import criclient  # noqa: E402
import harness  # noqa: E402
from containerd import (BUSYBOX_REF, CONTAINERD, PAUSE_REF, Containerd, NodeletCRI,  # noqa: E402
                        build_image)
import test_cri_streaming as ts  # noqa: E402  (the SPDY client)


def hwm_kb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def monitors(name, marker):
    """PIDs of processes called name whose command line names marker (this
    run's temp dir or socket), not other users' on a shared machine."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if (open(f"/proc/{d}/comm").read().strip() == name and
                        marker.encode() in open(f"/proc/{d}/cmdline", "rb").read()):
                    out.append(int(d))
            except OSError:
                pass
    return out


class Target:
    def __init__(self, name, cls, work, images):
        self.name = name
        self.d = cls(tempfile.mkdtemp(prefix="sb-", dir="/tmp")).start(images)
        self.c = criclient.Client(self.d.sock, timeout=60)
        uid = os.urandom(4).hex()
        self.pc = {"metadata": {"name": "b" + uid, "uid": uid, "namespace": "bench",
                                "attempt": 0},
                   "log_directory": os.path.join(work, "logs-" + uid),
                   "linux": {"security_context": {"namespace_options": {"network": "POD"}}}}
        self.sid = self.c.RunPodSandbox(config=self.pc).pod_sandbox_id
        self.sleeper = self.run("sleeper", ["/bin/sleep", "100000"])
        self.cat = self.run("cat", ["/bin/cat"], stdin=True)
        # A persistent server in the pod: busybox httpd.
        self.run("srv", ["/bin/sh", "-c", "mkdir -p /tmp/www && echo pong > /tmp/www/index.html "
                         "&& exec httpd -f -p 8080 -h /tmp/www"])
        time.sleep(1)

    def run(self, name, cmd, **kw):
        cfg = {"metadata": {"name": name}, "image": {"image": BUSYBOX_REF}, "command": cmd,
               "log_path": name + ".log"}
        cfg.update(kw)
        cid = self.c.CreateContainer(pod_sandbox_id=self.sid, config=cfg,
                                     sandbox_config=self.pc).container_id
        self.c.StartContainer(container_id=cid)
        return cid

    # --- operations (each returns seconds, or MiB/s for exec-pipe) ---
    def exec(self):
        t = time.perf_counter()
        url = self.c.Exec(container_id=self.sleeper, cmd=["true"], stdout=True).url
        _, _, st, _ = ts.remotecommand(url, stderr=False)
        assert b"Success" in st
        return time.perf_counter() - t

    def exec_tty(self):
        t = time.perf_counter()
        url = self.c.Exec(container_id=self.sleeper, cmd=["true"], stdout=True, tty=True).url
        ts.remotecommand(url, stderr=False, tty=True, resize=(80, 24))
        return time.perf_counter() - t

    def exec_pipe(self):
        data = os.urandom(16 << 20)
        url = self.c.Exec(container_id=self.sleeper, cmd=["cat"], stdin=True, stdout=True).url
        t = time.perf_counter()
        out, _, _, _ = ts.remotecommand(url, stdin=data, stderr=False)
        dt = time.perf_counter() - t
        assert out == data
        return 16 / dt

    def attach_rtt(self):
        url = self.c.Attach(container_id=self.cat, stdin=True, stdout=True).url
        res = []

        def interact(conn, si, so):
            t = time.perf_counter()
            si.write(b"x\n")
            assert conn.wait(lambda: b"x\n" in so.data)
            res.append(time.perf_counter() - t)
        ts.remotecommand(url, stdin=b"", stderr=False, keep_open=interact)
        return res[0]

    def pf_connect(self):
        t = time.perf_counter()
        url = self.c.PortForward(pod_sandbox_id=self.sid, port=[8080]).url
        conn = ts.SpdyConn(url, ["portforward.k8s.io"])
        conn.create_stream({"streamType": "error", "port": "8080", "requestID": "0"})
        ds = conn.create_stream({"streamType": "data", "port": "8080", "requestID": "0"})
        ds.write(b"GET / HTTP/1.0\r\n\r\n")
        assert conn.wait(lambda: b"pong" in ds.data), ds.data
        dt = time.perf_counter() - t
        conn.close()
        return dt

    def stop(self):
        self.c.close()
        self.d.stop()


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=30)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="sbench-")
    images = [build_image(work, PAUSE_REF, entrypoint=["/bin/sleep"], cmd=["1000000"], tag="pause"),
              build_image(work, BUSYBOX_REF, cmd=["/bin/sh"], tag="bb")]
    targets = [Target("nodelet-cri", NodeletCRI, work, images)]
    if CONTAINERD:
        targets.append(Target("containerd", Containerd, work, images))
    ops = [("exec", "s", "exec"), ("exec-tty", "s", "exec_tty"), ("exec-pipe", "MiB/s", "exec_pipe"),
           ("attach-rtt", "s", "attach_rtt"), ("pf-connect", "s", "pf_connect")]
    res = {(t.name, o[0]): [] for t in targets for o in ops}
    try:
        for op, _unit, fn in ops:
            n = max(3, a.n // 5) if op == "exec-pipe" else a.n
            for _ in range(n):
                for t in targets:  # alternating
                    res[(t.name, op)].append(getattr(t, fn)())
        print(f"{'op':12} {'runtime':12} {'median':>10} {'p99':>10}")
        for op, unit, _ in ops:
            med = {}
            for t in targets:
                v = res[(t.name, op)]
                med[t.name] = statistics.median(v)
                scale, u = (1000, "ms") if unit == "s" else (1, unit)
                print(f"{op:12} {t.name:12} {med[t.name] * scale:9.2f}{u:>3} "
                      f"{pct(v, 99) * scale:9.2f}{u:>3}")
            if "containerd" in med:
                r = (med["containerd"] / med["nodelet-cri"] if unit == "s"
                     else med["nodelet-cri"] / med["containerd"])
                print(f"{op:12} {'ratio':12} {r:9.2f}x  (>1: nodelet-cri better)")
        print("peak RSS (VmHWM):")
        for t in targets:
            print(f"  {t.name} daemon: {hwm_kb(t.d.proc.pid)} kB")
        for t in targets:
            name = "nodelet-shim" if t.name == "nodelet-cri" else "containerd-shim"
            pids = monitors(name, t.d.tmp)
            if pids:
                print(f"  {name} (max of {len(pids)}): {max(hwm_kb(p) for p in pids)} kB")
    finally:
        for t in targets:
            t.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
