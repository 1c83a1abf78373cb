"""CRI runtimes for integration tests: a throwaway containerd 1.6 (Debian's)
with its own config/root/state/socket inside the test's network and mount
namespaces, and our nodelet-cri, plus locally built images (busybox-static,
no network). The containerd part follows test_cri_compat.py's fixture."""
import os
import shutil
import signal
import subprocess
import time

import criclient
import harness

CONTAINERD = shutil.which("containerd")
CTR = shutil.which("ctr")
PAUSE_REF = "nodelet.local/pause:1"
BUSYBOX_REF = "nodelet.local/busybox:1"


def _run(*a):
    subprocess.run(a, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)


def build_image(workdir, ref, entrypoint=None, cmd=None, tag="img"):
    """busybox-static with every applet linked in /bin, as an OCI layout and
    a docker-archive. Returns (oci_layout_dir, docker_archive_path)."""
    oci = os.path.join(workdir, "oci-" + tag)
    bundle = os.path.join(workdir, "bundle-" + tag)
    _run("umoci", "init", "--layout", oci)
    _run("umoci", "new", "--image", f"{oci}:{tag}")
    _run("umoci", "unpack", "--image", f"{oci}:{tag}", bundle)
    rootfs = os.path.join(bundle, "rootfs")
    for d in ("bin", "tmp", "etc", "proc", "sys", "dev"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
    shutil.copy("/bin/busybox", os.path.join(rootfs, "bin", "busybox"))
    applets = subprocess.run(["/bin/busybox", "--list"], check=True, stdout=subprocess.PIPE,
                             text=True).stdout.split()
    for a in applets:
        p = os.path.join(rootfs, "bin", a)
        if a != "busybox" and not os.path.lexists(p):
            os.symlink("busybox", p)
    _run("umoci", "repack", "--image", f"{oci}:{tag}", bundle)
    args = ["umoci", "config", "--image", f"{oci}:{tag}"]
    if entrypoint:
        for e in entrypoint:
            args += ["--config.entrypoint", e]
    if cmd:
        for c in cmd:
            args += ["--config.cmd", c]
    if len(args) > 4:
        _run(*args)
    tar = os.path.join(workdir, tag + ".tar")
    _run("skopeo", "--insecure-policy", "copy", f"oci:{oci}:{tag}", f"docker-archive:{tar}:{ref}")
    return oci, tar


def write_conflist(conf_dir, subnet="10.66.0.0/24", bridge="kl-br0"):
    import json
    os.makedirs(conf_dir, exist_ok=True)
    with open(os.path.join(conf_dir, "10-pods.conflist"), "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": "pods", "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                      "dataDir": os.path.join(conf_dir, "ipam")}},
            {"type": "portmap", "capabilities": {"portMappings": True}}]}, f)


class Containerd:
    name = "containerd"

    def __init__(self, tmp, cni_bin_dir="/usr/lib/cni", conflist=write_conflist):
        """conflist: a function writing the network config into the conf
        dir, or None for none (NetworkReady false)."""
        self.tmp = tmp
        self.root = os.path.join(tmp, "root")
        self.state = os.path.join(tmp, "state")
        self.sock = os.path.join(tmp, "containerd.sock")
        self.conf_dir = os.path.join(tmp, "net.d")
        os.makedirs(self.conf_dir, exist_ok=True)
        if conflist:
            conflist(self.conf_dir)
        self.config = os.path.join(tmp, "config.toml")
        with open(self.config, "w") as f:
            f.write(f"""version = 2
root = "{self.root}"
state = "{self.state}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{self.sock}"
[ttrpc]
  address = "{self.sock}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_REF}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin_dir}"
    conf_dir = "{self.conf_dir}"
""")
        self.log = open(os.path.join(tmp, "containerd.log"), "w+")
        self.proc = None

    @property
    def endpoint(self):
        return "unix://" + self.sock

    def start(self, images=()):
        self.proc = subprocess.Popen([CONTAINERD, "--config", self.config, "--log-level", "info"],
                                     stdout=self.log, stderr=subprocess.STDOUT)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("containerd exited:\n" + self.logtext()[-3000:])
            if not os.path.exists(self.sock):
                return False
            try:
                with criclient.Client(self.sock, timeout=2) as c:
                    c.Version()
                return True
            except criclient.CRIError:
                return False
        harness.wait_for(ready, timeout=30, interval=0.2, what="containerd CRI")
        for _oci, tar in images:
            self.ctr("images", "import", tar)
        return self

    def ctr(self, *args):
        return subprocess.run([CTR, "--address", self.sock, "-n", "k8s.io"] + list(args),
                              check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=120)

    def logtext(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def remove_all_sandboxes(self):
        try:
            with criclient.Client(self.sock, timeout=30) as c:
                for sb in c.ListPodSandbox().items:
                    try:
                        c.StopPodSandbox(pod_sandbox_id=sb.id)
                        c.RemovePodSandbox(pod_sandbox_id=sb.id)
                    except criclient.CRIError:
                        pass
        except criclient.CRIError:
            pass

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.remove_all_sandboxes()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Leftovers after a failure: this containerd's shims (our socket on
        # their command line) and task processes, by PID.
        task_dir = os.path.join(self.state, "io.containerd.runtime.v2.task", "k8s.io")
        ids = os.listdir(task_dir) if os.path.isdir(task_dir) else []
        pids = []
        for cid in ids:
            try:
                with open(os.path.join(task_dir, cid, "init.pid")) as f:
                    pids.append(int(f.read().strip()))
            except (OSError, ValueError):
                pass
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    cmd = f.read().split(b"\0")
            except OSError:
                continue
            if cmd and cmd[0].endswith(b"containerd-shim-runc-v2") and self.sock.encode() in cmd:
                pids.append(int(d))
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if pids:
            time.sleep(0.5)
        # Then their cgroups, and containerd's default parent when it is
        # left empty (rmdir refuses if anything else lives there).
        for ctrl in os.listdir("/sys/fs/cgroup"):
            for cid in ids:
                try:
                    os.rmdir(os.path.join("/sys/fs/cgroup", ctrl, "k8s.io", cid))
                except OSError:
                    pass
            try:
                os.rmdir(os.path.join("/sys/fs/cgroup", ctrl, "k8s.io"))
            except OSError:
                pass


class NodeletCRI:
    """Our CRI daemon with the same images preloaded."""
    name = "nodelet-cri"

    def __init__(self, tmp, cni_bin_dir=None):
        self.tmp = tmp
        self.sock = os.path.join(tmp, "cri.sock")
        self.conf_dir = os.path.join(tmp, "net.d")
        write_conflist(self.conf_dir)
        self.preload = os.path.join(tmp, "preload")
        os.makedirs(self.preload)
        self.cni_bin_dir = cni_bin_dir or (os.path.dirname(harness.bin_path("bridge"))
                                           + ":/usr/lib/cni")
        self.log = open(os.path.join(tmp, "nodelet-cri.log"), "w+")
        self.proc = None

    @property
    def endpoint(self):
        return "unix://" + self.sock

    def start(self, images=()):
        for _oci, tar in images:
            shutil.copy(tar, self.preload)
        self.proc = subprocess.Popen(
            [harness.bin_path("nodelet-cri"), "--listen", self.sock,
             "--root", os.path.join(self.tmp, "root"), "--run-root", os.path.join(self.tmp, "run"),
             "--cni-conf-dir", self.conf_dir, "--cni-bin-dir", self.cni_bin_dir,
             "--cni-cache-dir", os.path.join(self.tmp, "cni-cache"),
             "--image-preload-dir", self.preload],
            stdout=self.log, stderr=subprocess.STDOUT)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("nodelet-cri exited:\n" + self.logtext()[-3000:])
            if not os.path.exists(self.sock):
                return False
            try:
                with criclient.Client(self.sock, timeout=2) as c:
                    c.Version()
                return True
            except criclient.CRIError:
                return False
        harness.wait_for(ready, timeout=30, interval=0.1, what="nodelet-cri")
        return self

    def logtext(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                with criclient.Client(self.sock, timeout=30) as c:
                    for sb in c.ListPodSandbox().items:
                        try:
                            c.StopPodSandbox(pod_sandbox_id=sb.id)
                            c.RemovePodSandbox(pod_sandbox_id=sb.id)
                        except criclient.CRIError:
                            pass
            except criclient.CRIError:
                pass
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


RUNTIMES = {"containerd": Containerd, "nodelet-cri": NodeletCRI}
