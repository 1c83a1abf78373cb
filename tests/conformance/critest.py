"""Run a user-provided critest binary against containerd 1.6 and/or
nodelet-cri, offline. Started by run-critest.sh inside fresh network, mount,
IPC and UTS namespaces: critest reaches pods by their IPs and host ports,
creates IPC segments on "the host" and the runtimes create bridges, veths
and iptables rules, so all of that must stay out of the machine's own
namespaces.

Steps: loopback up, private tmpfs on /run/netns, /var/lib/cni, /run/cni;
a local docker-registry with critest's images (images.py) configured as the
mirror of registry.k8s.io and gcr.io; then per runtime: start it with its
own root/state/socket, run critest, stop it and its leftovers, print the
ginkgo summary. Exit status 0 when every selected run had no failure.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import containerd  # noqa: E402
import criclient  # noqa: E402
import harness  # noqa: E402
import images  # noqa: E402
import registry  # noqa: E402

# Specs that cannot pass offline for any runtime, with the reason.
OFFLINE_SKIPS = {
    "public image with digest": "pulls test-image-digest by its upstream manifest digest; "
                                "a local rebuild has another digest",
    "should support MaskedPaths": "masks /bin/ls and expects `sh -c ls` to fail, but Debian's "
                                  "busybox-static runs applets inside its shell "
                                  "(FEATURE_SH_STANDALONE), never through /bin/ls",
}


def setup_namespaces(host_netns_ino):
    if os.stat("/proc/self/ns/net").st_ino == host_netns_ino:
        sys.exit("critest.py: run me through run-critest.sh (needs its own network namespace)")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for d in ("/run/netns", "/var/lib/cni", "/run/cni"):
        os.makedirs(d, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", d], check=True)


class MirroredContainerd(containerd.Containerd):
    def __init__(self, tmp, reg_addr):
        super().__init__(tmp)
        with open(self.config) as f:
            cfg = f.read()
        # our pause image, pulled through the mirror like every other image
        cfg = cfg.replace(f'sandbox_image = "{containerd.PAUSE_REF}"', f'sandbox_image = "{images.PAUSE}"')
        for host in images.MIRRORED_REGISTRIES:
            cfg += (f'[plugins."io.containerd.grpc.v1.cri".registry.mirrors."{host}"]\n'
                    f'  endpoint = ["http://{reg_addr}"]\n')
        with open(self.config, "w") as f:
            f.write(cfg)


class MirroredNodeletCRI:
    """nodelet-cri (criclient.Daemon) with the registry as its mirror, on the
    same conflist as containerd, our bridge and host-local first."""
    name = "nodelet-cri"
    # The default run root, on a tmpfs private to our mount namespace: the
    # shims' control sockets under it must fit a unix socket path, which a
    # run root under a temp dir does not.
    RUN_ROOT = "/run/nodelet-cri"

    def __init__(self, tmp, reg_addr):
        conf_dir = os.path.join(tmp, "net.d")
        containerd.write_conflist(conf_dir)
        regcfg = os.path.join(tmp, "registries.yaml")
        with open(regcfg, "w") as f:
            json.dump({"mirrors": {h: {"endpoint": [f"http://{reg_addr}"]}
                                   for h in images.MIRRORED_REGISTRIES}}, f)  # JSON is YAML
        bins = os.path.dirname(harness.bin_path("bridge")) + ":/usr/lib/cni"
        self.daemon = criclient.Daemon(tmp, extra=["--registry-config", regcfg], conf_dir=conf_dir,
                                       bin_dirs=bins, run_root=self.RUN_ROOT)
        self.sock = self.daemon.sock
        self.log = self.daemon.log

    @property
    def endpoint(self):
        return "unix://" + self.sock

    def start(self):
        os.makedirs(self.RUN_ROOT, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=700", "tmpfs", self.RUN_ROOT], check=True)
        self.daemon.start()
        return self

    def stop(self):
        if self.daemon.proc and self.daemon.proc.poll() is None:
            try:
                with self.daemon.client() as c:
                    for sb in c.ListPodSandbox().items:
                        try:
                            c.StopPodSandbox(pod_sandbox_id=sb.id)
                            c.RemovePodSandbox(pod_sandbox_id=sb.id)
                        except criclient.CRIError:
                            pass
            except criclient.CRIError:
                pass
        self.daemon.stop()


RUNTIMES = {"containerd": MirroredContainerd, "nodelet-cri": MirroredNodeletCRI}

SUMMARY = re.compile(r"(\d+) Passed \| (\d+) Failed \| (\d+) Pending \| (\d+) Skipped")


def run_critest(critest, rt, outdir, focus, skip, parallel, extra):
    report = os.path.join(outdir, f"{rt.name}-report.json")
    cmd = [critest, f"--runtime-endpoint={rt.endpoint}", f"--image-endpoint={rt.endpoint}",
           "--ginkgo.no-color", f"--ginkgo.json-report={report}"]
    if focus:
        cmd.append(f"--ginkgo.focus={focus}")
    if skip:
        cmd.append(f"--ginkgo.skip={skip}")
    if parallel > 1:
        cmd.append(f"--parallel={parallel}")
    cmd += extra
    log = os.path.join(outdir, f"{rt.name}-critest.log")
    print(f"== {rt.name}: {' '.join(cmd)}", flush=True)
    t0 = time.monotonic()
    with open(log, "w") as f:
        p = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=outdir)
    dt = time.monotonic() - t0
    with open(log) as f:
        text = f.read()
    m = None
    for m in SUMMARY.finditer(text):
        pass
    failed = []
    try:
        with open(report) as f:
            for suite in json.load(f):
                for spec in suite.get("SpecReports") or []:
                    if spec.get("State") in ("failed", "panicked", "timedout", "interrupted"):
                        failed.append(" ".join(spec.get("ContainerHierarchyTexts") or [])
                                      + " " + spec.get("LeafNodeText", ""))
    except (OSError, ValueError):
        pass
    if m:
        print(f"== {rt.name}: {m.group(1)} passed, {m.group(2)} failed, {m.group(4)} skipped "
              f"({dt:.0f}s; log {log})", flush=True)
    else:
        print(f"== {rt.name}: no ginkgo summary (exit {p.returncode}); log {log}", flush=True)
    for name in failed:
        print(f"   FAILED: {name}")
    return p.returncode == 0 and m is not None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--critest", default="")
    ap.add_argument("--exec", default="",
                    help="instead of critest, run this shell command with CONTAINER_RUNTIME_ENDPOINT "
                         "set to the runtime (e.g. a crictl session on the same images)")
    ap.add_argument("--runtime", action="append", choices=sorted(RUNTIMES),
                    help="runtime(s) to test (default: both, containerd first)")
    ap.add_argument("--focus", default="")
    ap.add_argument("--skip", default="", help="extra ginkgo skip regex (OR-ed with the offline skips)")
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--outdir", default="", help="keep logs and reports here (default: a temp dir)")
    ap.add_argument("--host-netns-ino", type=int, required=True)
    ap.add_argument("extra", nargs="*", help="more critest flags (after --)")
    a = ap.parse_args()
    setup_namespaces(a.host_netns_ino)
    critest = os.path.abspath(a.critest) if a.critest else ""
    if not a.exec and not os.access(critest, os.X_OK):
        sys.exit(f"critest.py: critest {critest!r} is not executable")
    work = tempfile.mkdtemp(prefix="nodelet-critest-")
    outdir = os.path.abspath(a.outdir) if a.outdir else tempfile.mkdtemp(prefix="nodelet-critest-logs-")
    os.makedirs(outdir, exist_ok=True)
    skip = "|".join([re.escape(s) for s in OFFLINE_SKIPS] + ([a.skip] if a.skip else []))
    for s, why in OFFLINE_SKIPS.items():
        print(f"skipping '{s}': {why}")
    ok = True
    reg = registry.Registry(work)
    try:
        images.push_all(os.path.join(work, "images"), reg.addr, log=lambda *_: None)
        print(f"images pushed to {reg.addr} (mirror of {', '.join(images.MIRRORED_REGISTRIES)})",
              flush=True)
        for name in a.runtime or ["containerd", "nodelet-cri"]:
            tmp = os.path.join(work, name)
            os.makedirs(tmp)
            rt = RUNTIMES[name](tmp, reg.addr)
            try:
                rt.start()
                if a.exec:
                    env = dict(os.environ, CONTAINER_RUNTIME_ENDPOINT=rt.endpoint,
                               IMAGE_SERVICE_ENDPOINT=rt.endpoint)
                    ok = subprocess.run(["sh", "-c", a.exec], env=env).returncode == 0 and ok
                    continue
                ok = run_critest(critest, rt, outdir, a.focus, skip, a.parallel, a.extra) and ok
            finally:
                rt.stop()
                if name == "nodelet-cri":
                    shutil.copy(rt.log.name, os.path.join(outdir, "nodelet-cri.log"))
                else:
                    shutil.copy(rt.log.name, os.path.join(outdir, "containerd.log"))
    finally:
        reg.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"logs and reports: {outdir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
