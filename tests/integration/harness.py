"""Shared integration-test harness.

Network rule: a test that creates interfaces, addresses, routes, bridges or
iptables rules must run in network and mount namespaces of its own. Mark it
`@pytest.mark.network` (or use the `netns` fixture): the harness then moves
the test process into fresh net+mount namespaces with a private /run/netns
for the duration of the test, and back afterwards. Every helper here that
touches the network calls `require_private_netns()`, which refuses to run in
the machine's own namespace. In addition, the machine's links, addresses,
routes and iptables rules are snapshotted around every test and a test that
changed them fails.
"""
import ctypes
import ctypes.util
import gc
import json
import os
import shutil
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("NODELET_BUILD", os.path.join(ROOT, "build"))
BIN = os.path.join(BUILD, "bin")
SANITIZE = os.environ.get("NODELET_SANITIZE", "0") == "1"

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_REC = 16384
MS_PRIVATE = 1 << 18

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)

# The namespace this pytest process started in: the machine's own.
HOST_NETNS_INO = os.stat("/proc/self/ns/net").st_ino
HOST_MNTNS_INO = os.stat("/proc/self/ns/mnt").st_ino


def bin_path(name):
    """Path of one of our built binaries."""
    return os.path.join(BIN, name)


def _check(ret, what):
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def in_host_netns():
    return os.stat("/proc/self/ns/net").st_ino == HOST_NETNS_INO


def require_private_netns():
    """Refuse to go on in the machine's own network namespace."""
    if in_host_netns():
        raise RuntimeError(
            "network rule: this test must run in a network namespace it created "
            "(mark it @pytest.mark.network or use the netns fixture)")


def thread_names():
    names = []
    for t in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{t}/comm") as f:
                names.append(f.read().strip())
        except OSError:
            pass
    return names


def wait_single_threaded(timeout=20.0):
    """Wait until this process has one thread (lingering grpcio threads exit
    once their channels are collected); raises with the threads' names."""
    deadline = time.monotonic() + timeout
    while len(os.listdir("/proc/self/task")) > 1:
        if time.monotonic() > deadline:
            raise RuntimeError("threads still running, cannot leave the mount namespace: "
                               + ", ".join(thread_names()))
        gc.collect()
        time.sleep(0.02)


class Sandbox:
    """Fresh net+mount namespaces for the calling process, with /run/netns
    on a private tmpfs. enter() / leave() restore the original namespaces."""

    def __init__(self):
        self._net = None
        self._mnt = None
        self._procs = []

    def enter(self):
        self._net = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self._mnt = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        _check(_libc.unshare(CLONE_NEWNET | CLONE_NEWNS), "unshare(net|mnt)")
        _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
        os.makedirs("/run/netns", exist_ok=True)
        _check(_libc.mount(b"tmpfs", b"/run/netns", b"tmpfs", 0, b"mode=755"), "tmpfs /run/netns")
        # Plugins and runtimes also keep state here; keep it private too.
        for d in ("/var/lib/cni", "/run/cni"):
            os.makedirs(d, exist_ok=True)
            _check(_libc.mount(b"tmpfs", d.encode(), b"tmpfs", 0, b"mode=755"), f"tmpfs {d}")
        require_private_netns()
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

    def spawn(self, args, **kw):
        """Start a background process that is stopped (by PID) at leave()."""
        p = subprocess.Popen(args, **kw)
        self._procs.append(p)
        return p

    def add_netns(self, name):
        """`ip netns add` inside the sandbox; returns the pinned path."""
        require_private_netns()
        subprocess.run(["ip", "netns", "add", name], check=True)
        return f"/run/netns/{name}"

    def leave(self):
        for p in self._procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self._procs = []
        # Namespaces pinned under /run/netns vanish with our private tmpfs
        # once nothing else references them.
        if self._net is not None:
            _check(_libc.setns(self._net, CLONE_NEWNET), "setns back to original net")
            os.close(self._net)
            self._net = None
        if self._mnt is not None:
            # The kernel refuses a mount-namespace switch (EINVAL) while the
            # process has other threads sharing its fs_struct. grpcio's
            # threads outlive a closed channel by up to a second or so.
            wait_single_threaded()
            _check(_libc.setns(self._mnt, CLONE_NEWNS), "setns back to original mnt")
            os.close(self._mnt)
            self._mnt = None


def nsrun(netns, args, check=True, **kw):
    """Run a command inside a pinned netns (nsenter, not `ip netns exec`,
    which remounts /sys and hides the cgroup v1 mounts)."""
    require_private_netns()
    cmd = ["nsenter", f"--net={netns}"] + list(args) if netns else list(args)
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("text", True)
    return subprocess.run(cmd, check=check, **kw)


def host_network_state():
    """What the network rule protects in the machine's own namespace."""
    out = []
    for cmd in (["ip", "-o", "link", "show"], ["ip", "-o", "addr", "show"],
                ["ip", "route", "show", "table", "all"], ["ip", "-6", "route", "show", "table", "all"]):
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines = []
        for ln in r.stdout.splitlines():
            # Counters and link state flaps are not changes we care about.
            lines.append(" ".join(w for w in ln.split() if not w.startswith("valid_lft")
                                  and not w.startswith("preferred_lft")))
        out.append("\n".join(sorted(lines)))
    if shutil.which("iptables-save"):
        for tool in ("iptables-save", "ip6tables-save"):
            r = subprocess.run([tool], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            out.append("\n".join(sorted(l for l in r.stdout.splitlines()
                                        if l and not l.startswith("#") and not l.startswith(":"))))
    return out


def wait_for(pred, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


def json_out(proc):
    return json.loads(proc.stdout)
