"""Helpers for the nodelet (kubelet) integration tests: run the binary with
temporary root and manifest directories on free loopback ports, read its
structured log, query its HTTP endpoints. (No tests in this module.)"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import harness

NODELET = harness.bin_path("nodelet")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, method="GET"):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode(), r.headers.get("Content-Type")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers.get("Content-Type")


def run_nodelet_once(args, timeout=10):
    """Run nodelet expecting it to exit by itself (help, bad flags)."""
    return subprocess.run([NODELET] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)


def parse_line(line):
    """key=value pairs of one structured log line (values may be quoted)."""
    out = {}
    for m in re.finditer(r'(\w[\w.]*)=("(?:[^"\\]|\\.)*"|\S*)', line):
        v = m.group(2)
        if v.startswith('"'):
            v = json.loads(v)
        out[m.group(1)] = v
    return out


class Nodelet:
    """A running nodelet with its own temp dirs and ports."""

    def __init__(self, extra_args=(), manifests=True, read_only=True, healthz=True, node="Test-Node"):
        self.tmp = tempfile.mkdtemp(prefix="nodelet-test-")
        self.root = os.path.join(self.tmp, "root")
        self.manifests = os.path.join(self.tmp, "manifests")
        os.makedirs(self.manifests)
        self.healthz_port = free_port() if healthz else 0
        self.ro_port = free_port() if read_only else 0
        self.node = node.lower()
        self.args = [f"--root-dir={self.root}", f"--hostname-override={node}",
                     f"--healthz-port={self.healthz_port}", f"--read-only-port={self.ro_port}",
                     "--address=127.0.0.1"]
        if manifests:
            self.args.append(f"--pod-manifest-path={self.manifests}")
        # nodelet makes <cgroupRoot>/kubepods at start (as the kubelet
        # does): below a root of this test's own, removed by cleanup(), so
        # no test leaves /sys/fs/cgroup/*/kubepods on the machine. A caller
        # passing --cgroup-root owns its root.
        self.cgroot = None
        if not any(a.startswith("--cgroup-root") for a in extra_args):
            self.cgroot = "/nodelet-test-" + os.path.basename(self.tmp).rsplit("-", 1)[-1]
            self.args.append(f"--cgroup-root={self.cgroot}")
        self.args += list(extra_args)
        self.log_path = os.path.join(self.tmp, "nodelet.log")
        self.proc = None

    def start(self, wait_ready=True):
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([NODELET] + self.args, stdout=self._log, stderr=self._log)
        if wait_ready:
            harness.wait_for(lambda: "nodelet ready" in self.log() or self.proc.poll() is not None,
                             timeout=10, what="nodelet ready")
            assert self.proc.poll() is None, self.log()
        return self

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def lines(self, msg_substr=None):
        out = []
        for ln in self.log().split("\n"):
            if msg_substr is None or msg_substr in ln:
                out.append(parse_line(ln))
        return out

    def events(self):
        """(op, pod, uid, file) of every static pod event logged so far."""
        return [(d["op"], d["pod"], d["uid"], os.path.basename(d["file"]))
                for d in self.lines("msg=\"static pod ") if "op" in d]

    def errors(self):
        return [d for d in self.lines("invalid static pod manifest")]

    def wait_events(self, n, timeout=5):
        harness.wait_for(lambda: len(self.events()) >= n, timeout=timeout,
                         what=f"{n} static pod events; log:\n{self.log()}")
        return self.events()

    def pods(self):
        status, body, ctype = http_get(self.ro_port, "/pods")
        assert status == 200 and ctype == "application/json"
        return json.loads(body)

    def write(self, name, content, atomic=True):
        """Write a manifest; atomic = write a temp file elsewhere and rename in."""
        path = os.path.join(self.manifests, name)
        if atomic:
            tmp = os.path.join(self.tmp, name + ".tmp")
            with open(tmp, "w") as f:
                f.write(content)
            os.rename(tmp, path)
        else:
            with open(path, "w") as f:
                f.write(content)
        return path

    def stop(self):
        rc = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        elif self.proc:
            rc = self.proc.returncode
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None
        return rc

    def cleanup(self):
        self.stop()
        self.remove_cgroot()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def remove_cgroot(self):
        """Remove the cgroup root this object chose, bottom-up (only
        directories nodelet made there; a busy one stays and is reported)."""
        if not self.cgroot:
            return []
        left = []
        for ctrl in os.listdir("/sys/fs/cgroup"):
            top = os.path.join("/sys/fs/cgroup", ctrl, self.cgroot.lstrip("/"))
            if not os.path.isdir(top):
                continue
            for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -len(t[0])):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    left.append(dirpath)
        return left


def pod_yaml(name, image="localhost/nodelet-demo:latest", extra=""):
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n"
            f"  containers:\n  - name: c\n    image: {image}\n{extra}")
