#!/usr/bin/python3
"""make check-vm: run pytest files inside a cgroup-v2-only VM.

Boots Debian's kernel (linux-image-amd64) under qemu-system-x86_64 -enable-kvm
with `systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all`, so the kernel
offers nothing but cgroup2, on a root filesystem that lives entirely in an
initramfs built here from the host's own Debian files:

  base image (cached in build/vm/base-<key>.cpio): busybox-static, python3
      with its standard library and pytest, runc, kernel modules (--modules);
      the key covers the package versions, the kernel and this script.
  run image (rebuilt every time, small): build/bin/*, tests/integration/*.py,
      the requested test files, extra repo files (--files), and /init.

Linux unpacks concatenated cpio archives in order, so qemu gets
base + run as one initrd. /init mounts cgroup2 on /sys/fs/cgroup, enables
every controller in the root's subtree_control (the VM is ours: we are its
init system), runs pytest on the files and prints a result line on the serial
console; the VM has no network (-nic none) and powers off at the end. This
script streams the console, parses that line and prints the closing
"N passed, N failed, N skipped".

Adding tests (e.g. the runtime's): in your own module.mk append to the make
variables that cgroups/module.mk hands to this script --
    VM_TESTS   += tests/integration/test_runtime.py   # pytest files, repo-relative
    VM_MODULES += overlay veth                        # kernel modules to insmod at boot
    VM_FILES   += tests/integration/data              # other repo paths the tests read
    VM_HOST_BINS += /usr/sbin/ip /usr/sbin/iptables   # host programs (+ their libraries)
Busybox provides the usual shell tools; python3, pytest and runc are always in.
Tests see the repo at /nodelet (NODELET_BUILD=/nodelet/build) and run as root
in the VM's only (and throwaway) namespaces; they find the mode "v2" there.
"""
import argparse
import glob
import hashlib
import os
import re
import select
import shutil
import stat
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GUEST_REPO = "nodelet"
PY_PKGS = ["pytest", "_pytest", "pluggy", "iniconfig", "packaging", "py", "py.py",
           "attr", "more_itertools", "exceptiongroup", "pkg_resources"]
DEB_PKGS = ["busybox-static", "python3", "python3.11-minimal", "libpython3.11-stdlib",
            "python3-pytest", "python3-pluggy", "python3-iniconfig", "python3-packaging",
            "python3-py", "runc", "linux-image-amd64"]
STDLIB_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data",
               "unittest/test", "distutils/tests", "ctypes/test", "sqlite3/test"}
RESULT_RE = re.compile(r"NODELET-VM-RESULT passed=(\d+) failed=(\d+) skipped=(\d+)")


class Cpio:
    """newc writer that mirrors host paths, symlinks included, and always
    emits a file's parent directories first (the kernel does not make them)."""

    def __init__(self, path):
        self.f = open(path, "wb")
        self.seen = set()
        self.ino = 1

    def _entry(self, name, mode, data=b""):
        nb = name.encode() + b"\0"
        self.ino += 1
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0]
        hdr = b"070701" + b"".join(b"%08X" % v for v in fields)
        self.f.write(hdr + nb)
        self.f.write(b"\0" * ((4 - (len(hdr) + len(nb)) % 4) % 4))
        self.f.write(data)
        self.f.write(b"\0" * ((4 - len(data) % 4) % 4))

    def dir(self, guest):
        guest = guest.strip("/")
        if not guest or guest in self.seen:
            return
        self.dir(os.path.dirname(guest))
        self.seen.add(guest)
        self._entry(guest, stat.S_IFDIR | 0o755)

    def symlink(self, guest, target):
        guest = guest.strip("/")
        if guest in self.seen:
            return
        self.dir(os.path.dirname(guest))
        self.seen.add(guest)
        self._entry(guest, stat.S_IFLNK | 0o777, target.encode())

    def data(self, guest, content, mode=0o644):
        guest = guest.strip("/")
        self.dir(os.path.dirname(guest))
        self.seen.add(guest)
        self._entry(guest, stat.S_IFREG | mode, content)

    def host(self, path, guest=None):
        """Copy a host path at the same place (or at guest), following the
        host's symlinks component by component so /lib -> usr/lib etc. are
        reproduced."""
        if guest is None:
            path = self._resolve_dirs(path)
            guest = path
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(path)
            self.symlink(guest, target)
            if guest == path:
                self.host(os.path.normpath(os.path.join(os.path.dirname(path), target)))
            return
        if stat.S_ISDIR(st.st_mode):
            self.dir(guest)
            return
        if guest.strip("/") in self.seen:
            return
        with open(path, "rb") as f:
            self.data(guest, f.read(), stat.S_IMODE(st.st_mode))

    def _resolve_dirs(self, path):
        """Emit symlinked parent directories as symlinks and return the path
        with its directory part resolved."""
        parts = os.path.abspath(path).strip("/").split("/")
        cur = ""
        for i, p in enumerate(parts[:-1]):
            nxt = cur + "/" + p
            if os.path.islink(nxt):
                target = os.readlink(nxt)
                self.symlink(nxt, target)
                resolved = os.path.normpath(os.path.join(os.path.dirname(nxt), target))
                return self._resolve_dirs(resolved + "/" + "/".join(parts[i + 1:]))
            cur = nxt
        return "/" + "/".join(parts)

    def tree(self, src, guest, skip=lambda rel: False):
        for dirpath, dirnames, filenames in os.walk(src):
            rel = os.path.relpath(dirpath, src)
            if rel != "." and skip(rel):
                dirnames[:] = []
                continue
            g = os.path.normpath(os.path.join(guest, rel))
            self.dir(g)
            for n in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
                self.host(os.path.join(dirpath, n), os.path.join(g, n))

    def close(self):
        self._entry("TRAILER!!!", 0)
        self.f.close()


def elf_libs(paths):
    """Shared libraries (and the loader) the ELF files need, from ldd."""
    libs = set()
    for p in paths:
        r = subprocess.run(["ldd", p], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for line in r.stdout.splitlines():
            m = re.search(r"(/\S+) \(0x", line)
            if m:
                libs.add(m.group(1))
    return sorted(libs)


def is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def kernel():
    ks = sorted(glob.glob("/boot/vmlinuz-*"), key=lambda p: [int(x) if x.isdigit() else x
                                                            for x in re.split(r"[.-]", p)])
    if not ks:
        raise SystemExit("check-vm: no /boot/vmlinuz-* (apt-get install linux-image-amd64)")
    return ks[-1], ks[-1].split("vmlinuz-", 1)[1]


def module_files(kver, names):
    """Module files for names plus their dependencies, dependencies first."""
    if not names:
        return []
    base = f"/lib/modules/{kver}"
    deps = {}
    with open(f"{base}/modules.dep") as f:
        for line in f:
            mod, _, rest = line.partition(":")
            deps[mod] = rest.split()
    by_name = {re.sub(r"\.ko(\.\w+)?$", "", os.path.basename(m)).replace("-", "_"): m for m in deps}
    order = []

    def visit(m):
        for d in deps.get(m, []):
            visit(d)
        if m not in order:
            order.append(m)

    for n in names:
        m = by_name.get(n.replace("-", "_"))
        if m is None:
            if os.path.exists(f"{base}/modules.builtin") and \
                    any(l.strip().endswith(f"/{n}.ko") for l in open(f"{base}/modules.builtin")):
                continue  # built in
            raise SystemExit(f"check-vm: kernel module {n} not found for {kver}")
        visit(m)
    return [f"{base}/{m}" for m in order]


def pkg_versions():
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Package}=${Version}\n", *DEB_PKGS],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return r.stdout


def build_base(out, kver, modules, host_bins):
    c = Cpio(out + ".tmp")
    for d in ("proc", "sys", "dev", "tmp", "run", "root", "etc", "var/tmp"):
        c.dir(d)
    for top in ("bin", "sbin", "lib", "lib64"):
        if os.path.islink("/" + top):
            c.symlink(top, os.readlink("/" + top))
    c.host("/bin/busybox")
    for b in host_bins:  # before the applets, so a real program wins over busybox's
        c.host(b)
    applets = subprocess.run(["/bin/busybox", "--list"], stdout=subprocess.PIPE, text=True).stdout.split()
    bb = os.path.realpath("/bin/busybox")
    for a in applets:
        if a not in ("busybox", "python3"):
            c.symlink(os.path.join(os.path.dirname(bb), a), "busybox")
    py = os.path.realpath("/usr/bin/python3")
    elves = [py, "/usr/sbin/runc"] + [os.path.realpath(b) for b in host_bins if is_elf(b)]
    stdlib = os.path.dirname(os.__file__)
    for so in glob.glob(os.path.join(stdlib, "lib-dynload", "*.so")):
        elves.append(so)
    for lib in elf_libs(elves):
        c.host(lib)
    c.host(py)
    c.host("/usr/bin/python3")
    c.host("/usr/sbin/runc")
    c.tree(stdlib, stdlib, skip=lambda rel: rel in STDLIB_SKIP or rel.startswith("config-")
           or rel == "site-packages")
    dist = "/usr/lib/python3/dist-packages"
    for name in os.listdir(dist):
        stem = re.split(r"[-.]", name)[0] if not name.endswith(".py") else name[:-3]
        if stem in PY_PKGS or name in PY_PKGS:
            p = os.path.join(dist, name)
            if os.path.isdir(p):
                c.tree(p, p)
            else:
                c.host(p)
    mods = module_files(kver, modules)
    for m in mods:
        c.host(m)
    c.data("etc/vm-modules", "".join(m + "\n" for m in mods).encode())
    c.data("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    c.data("etc/group", b"root:x:0:\n")
    c.close()
    os.replace(out + ".tmp", out)


INIT = r"""#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
if [ ! -e /.stage2 ]; then
	# pivot_root (runc, our runtime) refuses the initramfs root: move
	# everything onto a tmpfs and make that the root.
	mkdir -p /newroot
	mount -t tmpfs -o mode=755 tmpfs /newroot
	for e in /* /.[!.]*; do
		case "$e" in /newroot|/proc|/sys|/dev|"/.[!.]*") continue ;; esac
		cp -a "$e" /newroot/
	done
	mkdir -p /newroot/proc /newroot/sys /newroot/dev
	: > /newroot/.stage2
	exec switch_root /newroot /init
fi
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /dev/pts /dev/shm /sys/fs/cgroup
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t cgroup2 cgroup2 /sys/fs/cgroup
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
	echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control || echo "vm: cannot enable $c"
done
while read -r m; do insmod "$m" || echo "vm: insmod $m failed"; done < /etc/vm-modules
ip link set lo up 2>/dev/null
echo "vm: kernel $(uname -r), cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
cd /@REPO@
NODELET_BUILD=/@REPO@/build NODELET_SANITIZE=@SAN@ ASAN_OPTIONS=detect_leaks=0 \
	python3 -m pytest -q -rfEs --color=no -p no:cacheprovider --junitxml=/tmp/junit.xml @TESTS@ 2>&1
python3 - <<'PY'
import xml.etree.ElementTree as ET
p = f = s = 0
try:
    for suite in ET.parse("/tmp/junit.xml").getroot().iter("testsuite"):
        t = int(suite.get("tests", 0)); ff = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        ss = int(suite.get("skipped", 0)); p += t - ff - ss; f += ff; s += ss
except Exception as e:
    print("vm: no junit result:", e); f = max(f, 1)
print(f"NODELET-VM-RESULT passed={p} failed={f} skipped={s}", flush=True)
PY
sync
poweroff -f
"""


def build_run(out, build, tests, files, sanitize):
    c = Cpio(out + ".tmp")
    bins = sorted(glob.glob(os.path.join(ROOT, build, "bin", "*")))
    for lib in elf_libs([b for b in bins if is_elf(b)]):
        c.host(lib)
    for b in bins:
        c.host(b, f"/{GUEST_REPO}/build/bin/{os.path.basename(b)}")
    paths = sorted(glob.glob(os.path.join(ROOT, "tests", "integration", "*.py"))) + \
        [os.path.join(ROOT, t) for t in tests] + [os.path.join(ROOT, f) for f in files]
    for p in paths:
        rel = os.path.relpath(p, ROOT)
        if os.path.isdir(p):
            c.tree(p, f"/{GUEST_REPO}/{rel}")
        else:
            c.host(p, f"/{GUEST_REPO}/{rel}")
    init = INIT.replace("@REPO@", GUEST_REPO).replace("@SAN@", "1" if sanitize else "0") \
               .replace("@TESTS@", " ".join(tests))
    c.data("init", init.encode(), 0o755)
    c.close()
    os.replace(out + ".tmp", out)


def kvm_present():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
        os.close(fd)
        return True
    except OSError:
        return False


PROBE_INIT = b"#!/bin/sh\necho NODELET-VM-PROBE-OK\npoweroff -f\n"


def kvm_boots(vmdir, kpath, kver):
    """Can KVM here boot a stock kernel? /dev/kvm may be a paravirtual
    flavour (e.g. PVM on a nested host) that only runs specially built
    guests and hangs on Debian's. Boot a tiny initramfs once and remember
    the answer per guest kernel and host kernel."""
    key = f"{kver}-{os.uname().release}-{','.join(sorted(m for m in os.listdir('/sys/module') if m.startswith('kvm')))}"
    cache = os.path.join(vmdir, "kvm-probe")
    try:
        with open(cache) as f:
            k, v = f.read().split("\n")[:2]
            if k == key:
                return v == "ok"
    except (OSError, ValueError):
        pass
    img = os.path.join(vmdir, "probe.cpio")
    c = Cpio(img)
    for top in ("bin", "lib", "lib64"):
        if os.path.islink("/" + top):
            c.symlink(top, os.readlink("/" + top))
    c.host("/bin/busybox")
    bb = os.path.realpath("/bin/busybox")
    for a in ("sh", "echo", "poweroff"):
        c.symlink(os.path.join(os.path.dirname(bb), a), "busybox")
    c.data("init", PROBE_INIT, 0o755)
    c.close()
    qemu = ["qemu-system-x86_64", "-enable-kvm", "-cpu", "host", "-smp", "1", "-m", "256",
            "-nodefaults", "-display", "none", "-nic", "none", "-no-reboot", "-serial", "stdio",
            "-kernel", kpath, "-initrd", img, "-append", "console=ttyS0 rdinit=/init panic=-1 quiet"]
    try:
        p = subprocess.run(qemu, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        ok = b"NODELET-VM-PROBE-OK" in p.stdout
    except subprocess.TimeoutExpired:
        ok = False
    with open(cache, "w") as f:
        f.write(f"{key}\n{'ok' if ok else 'hang'}\n")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--tests", default="tests/integration/test_cgroups.py")
    ap.add_argument("--modules", default="")
    ap.add_argument("--files", default="")
    ap.add_argument("--host-bins", default="")
    ap.add_argument("--sanitize", default="0")
    ap.add_argument("--if-kvm", action="store_true", help="report skipped instead of failing without KVM")
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--accel", choices=["auto", "kvm", "tcg"], default=os.environ.get("VM_ACCEL", "auto"),
                    help="auto: KVM when it boots a stock kernel, else TCG (check-vm) or skip (--if-kvm)")
    ap.add_argument("--mem", default="2048")
    a = ap.parse_args()
    tests = a.tests.split()

    def skipped(why):
        print(f"check-vm: skipped: {why}")
        print(f"0 passed, 0 failed, {len(tests)} skipped")
        return 0

    if not shutil.which("qemu-system-x86_64"):
        return skipped("qemu-system-x86_64 missing") if a.if_kvm else 1
    vmdir = os.path.join(ROOT, a.build, "vm")
    os.makedirs(vmdir, exist_ok=True)
    kpath, kver = kernel()
    accel = a.accel
    if accel == "auto":
        if kvm_present() and kvm_boots(vmdir, kpath, kver):
            accel = "kvm"
        elif a.if_kvm:
            return skipped("/dev/kvm is missing or cannot boot a stock kernel (see build/vm/kvm-probe)")
        else:
            print("check-vm: KVM unusable here (missing, or a paravirtual /dev/kvm that hangs a stock "
                  "kernel); falling back to TCG emulation, which is slower", flush=True)
            accel = "tcg"
    modules = sorted(set(a.modules.split()))
    host_bins = sorted(set(a.host_bins.split()))
    for b in host_bins:
        if not os.path.isabs(b) or not os.path.exists(b):
            print(f"check-vm: VM_HOST_BINS: {b}: not an absolute path to an existing file")
            print(f"0 passed, 1 failed, 0 skipped")
            return 1
    with open(os.path.abspath(__file__), "rb") as f:
        me = f.read()
    key = hashlib.sha256(me + pkg_versions().encode() + kver.encode() + " ".join(modules + host_bins).encode()
                         + sys.version.encode()).hexdigest()[:16]
    base = os.path.join(vmdir, f"base-{key}.cpio")
    t0 = time.monotonic()
    if not os.path.exists(base):
        for old in glob.glob(os.path.join(vmdir, "base-*.cpio")):
            os.unlink(old)
        print(f"check-vm: building base image {os.path.relpath(base, ROOT)}", flush=True)
        build_base(base, kver, modules, host_bins)
    run = os.path.join(vmdir, "run.cpio")
    build_run(run, a.build, tests, a.files.split(), a.sanitize == "1")
    initrd = os.path.join(vmdir, "initrd.cpio")
    with open(initrd + ".tmp", "wb") as out:
        for part in (base, run):
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
    os.replace(initrd + ".tmp", initrd)
    print(f"check-vm: image ready in {time.monotonic() - t0:.1f}s; booting {kpath} ({accel})", flush=True)
    cmdline = ("console=ttyS0 rdinit=/init panic=-1 quiet loglevel=3 "
               "systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all")
    accel_args = ["-enable-kvm", "-cpu", "host"] if accel == "kvm" else ["-accel", "tcg", "-cpu", "max"]
    qemu = ["qemu-system-x86_64", *accel_args, "-smp", "2", "-m", a.mem,
            "-nodefaults", "-display", "none", "-nic", "none", "-no-reboot",
            "-serial", "stdio", "-kernel", kpath, "-initrd", initrd, "-append", cmdline]
    log_path = os.path.join(vmdir, "console.log")
    result = None
    with open(log_path, "w") as log:
        p = subprocess.Popen(qemu, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        deadline = time.monotonic() + a.timeout
        buf = b""
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    print(f"check-vm: timed out after {a.timeout}s", flush=True)
                    break
                r, _, _ = select.select([p.stdout], [], [], min(left, 5))
                if not r:
                    continue
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    text = line.decode(errors="replace").rstrip("\r")
                    log.write(text + "\n")
                    print(text, flush=True)
                    m = RESULT_RE.search(text)
                    if m:
                        result = tuple(int(x) for x in m.groups())
        finally:
            if p.poll() is None:
                try:
                    p.wait(timeout=20 if result else 0.1)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
    print(f"check-vm: {time.monotonic() - t0:.1f}s total; console log in {os.path.relpath(log_path, ROOT)}")
    if result is None:
        print("check-vm: no result line from the VM")
        print("0 passed, 1 failed, 0 skipped")
        return 1
    passed, failed, skipped = result
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
