"""Busybox OCI bundles for runtime tests (ours and runc), built from Debian's
busybox-static: rootfs/bin/busybox plus one symlink per applet, and a
config.json shaped like `runc spec` (non-terminal). Importable by other
tests (the CRI engineer's too).

    b = rtbundle.make_bundle(tmp_path, args=["true"])
    b.config["process"]["env"].append("X=1"); b.write()
"""
import copy
import json
import os
import shutil
import subprocess
import uuid

BUSYBOX = "/bin/busybox"

DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]

MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
          "/proc/scsi"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def runtimes():
    """Runtimes to compare: ours always, runc when installed."""
    import harness
    out = [("nodelet", harness.bin_path("nodelet-runtime"))]
    for p in ("/usr/sbin/runc", "/usr/bin/runc"):
        if os.path.exists(p):
            out.append(("runc", p))
            break
    return out


_applets = None


def _applet_list():
    global _applets
    if _applets is None:
        r = subprocess.run([BUSYBOX, "--list-full"], stdout=subprocess.PIPE, text=True, check=True)
        _applets = [l.strip() for l in r.stdout.splitlines() if l.strip()]
    return _applets


def make_rootfs(path):
    """Populate path with busybox and its applet symlinks (busybox --install
    layout), /etc/passwd and /etc/group, and the usual empty dirs."""
    os.makedirs(os.path.join(path, "bin"), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(path, "bin", "busybox"))
    for a in _applet_list():
        dst = os.path.join(path, a.lstrip("/"))
        if os.path.basename(dst) == "busybox":
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not os.path.lexists(dst):
            os.symlink("/bin/busybox", dst)
    for d in ("proc", "sys", "dev", "tmp", "etc", "root", "home", "var", "run"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    os.chmod(os.path.join(path, "tmp"), 0o1777)
    with open(os.path.join(path, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    with open(os.path.join(path, "etc", "group"), "w") as f:
        f.write("root:x:0:\nnogroup:x:65534:\n")
    return path


def default_config(args):
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": list(args),
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(DEFAULT_CAPS)
                             for k in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                         "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            # Absolute, so a test that does not set its own never creates
            # cgroups below ours (on this host: the machine's service).
            "cgroupsPath": f"/nodelet-test-bundles/{uuid.uuid4().hex[:16]}",
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": list(MASKED),
            "readonlyPaths": list(READONLY),
        },
    }


class Bundle:
    def __init__(self, path, config):
        self.path = str(path)
        self.rootfs = os.path.join(self.path, "rootfs")
        self.config = config

    def write(self):
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(self.config, f, indent=2)
        return self

    def clone(self, path):
        """A second bundle sharing the same rootfs (for runc vs ours)."""
        os.makedirs(path, exist_ok=True)
        cfg = copy.deepcopy(self.config)
        cfg["root"]["path"] = self.rootfs
        return Bundle(path, cfg).write()


def make_bundle(path, args=("sh",), rootfs=None):
    """A bundle at path with a busybox rootfs (or an existing rootfs dir)."""
    path = str(path)
    os.makedirs(path, exist_ok=True)
    cfg = default_config(args)
    if rootfs:
        cfg["root"]["path"] = os.path.abspath(rootfs)
        b = Bundle(path, cfg)
        b.rootfs = os.path.abspath(rootfs)
    else:
        make_rootfs(os.path.join(path, "rootfs"))
        b = Bundle(path, cfg)
    return b.write()
