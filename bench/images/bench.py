#!/usr/bin/python3
"""Pull and unpack of a ~100 MB multi-layer image from a local registry.

Each tool gets a fresh store per run (cold store, warm page cache for the
registry's files). Times are wall clock for the complete pull + unpack;
peak RSS is the largest resident set of the processes doing the work
(for containerd: the daemon's VmHWM for that run plus ctr's own).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import imagebuild as ib  # noqa: E402
from registry import Registry  # noqa: E402


def build_image(work):
    """~100 MB uncompressed: busybox + 2 x 25 MB random + 25 MB text + 5000 small files."""
    rnd = lambda n: os.urandom(n)
    words = b" ".join(b"%x-lorem-ipsum-%d" % (i * 7919 % 65521, i) for i in range(2_000_000))
    img = ib.Image()
    img.add_layer(ib.busybox_entries())
    img.add_layer([ib.D("data"), ib.F("data/random1.bin", rnd(25 << 20))])
    img.add_layer([ib.D("data"), ib.F("data/random2.bin", rnd(25 << 20))])
    img.add_layer([ib.D("text"), ib.F("text/words1.txt", words[:25 << 20])])
    files = [ib.D("many")] + [ib.F(f"many/f{i:05d}", words[i * 5000:(i + 1) * 5000]) for i in range(5000)]
    img.add_layer(files)
    return ib.write_layout(os.path.join(work, "layout"), {"v1": img})


def timed(cmd, **kw):
    """(seconds, peak RSS KiB of the process). RSS comes from GNU time: a
    child forked straight from this (large) Python process would report the
    parent's pages in its ru_maxrss."""
    out = tempfile.mktemp(prefix="time-")
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out] + cmd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, **kw)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {p.stderr.decode(errors='replace')}")
    with open(out) as f:
        rss = int(f.read().split()[-1])
    os.unlink(out)
    return dt, rss


def vm_hwm(pid):
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            if ln.startswith("VmHWM:"):
                return int(ln.split()[1])
    return 0


def run_ours(build, ref, work, i):
    root = os.path.join(work, f"ours-{i}")
    t, rss = timed([os.path.join(build, "bin", "nodelet-cri"), "image", "--root", root, "pull", ref])
    shutil.rmtree(root)
    return t, rss


def run_containerd(ref, work, i):
    d = os.path.join(work, f"ctrd-{i}")
    os.makedirs(d)
    sock = os.path.join(d, "containerd.sock")
    cfg = os.path.join(d, "config.toml")
    # toml: disabled_plugins must be top-level, before tables
    with open(cfg, "w") as f:
        f.write('version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",'
                ' "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",'
                ' "io.containerd.snapshotter.v1.aufs"]\n'
                f'root = "{d}/root"\nstate = "{d}/state"\n'
                f'[grpc]\n  address = "{sock}"\n'
                f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{d}/opt"\n')
    log = open(os.path.join(d, "containerd.log"), "wb")
    daemon = subprocess.Popen(["containerd", "--config", cfg], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(sock):
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("containerd did not start: " + open(os.path.join(d, "containerd.log")).read()[-2000:])
            time.sleep(0.05)
        time.sleep(0.2)
        base = vm_hwm(daemon.pid)
        t, ctr_rss = timed(["ctr", "--address", sock, "-n", "bench", "images", "pull", "--plain-http", ref])
        rss = vm_hwm(daemon.pid) + ctr_rss
        return t, rss, base
    finally:
        daemon.terminate()
        try:
            daemon.wait(10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
        subprocess.run(["sh", "-c", f"grep ' {d}/' /proc/self/mounts | cut -d' ' -f2 | xargs -r -n1 umount -l"],
                       check=False)
        shutil.rmtree(d, ignore_errors=True)


def run_skopeo_umoci(ref, work, i):
    d = os.path.join(work, f"sk-{i}")
    os.makedirs(d)
    t1, r1 = timed(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{ref}", f"oci:{d}/oci:v1"])
    t2, r2 = timed(["umoci", "unpack", "--image", f"{d}/oci:v1", f"{d}/bundle"])
    shutil.rmtree(d)
    return t1 + t2, max(r1, r2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    work = tempfile.mkdtemp(prefix="bench-images-", dir="/var/tmp")
    reg = None
    try:
        layout = build_image(work)
        size = sum(os.path.getsize(os.path.join(layout, "blobs", "sha256", b))
                   for b in os.listdir(os.path.join(layout, "blobs", "sha256")))
        reg = Registry(work)
        ref = f"{reg.addr}/bench/img:v1"
        ib.push(layout, "v1", ref)
        # the binary's resident baseline (shared libraries, before any work)
        base_t, base_rss = timed([os.path.join(build, "bin", "nodelet-cri"), "image", "--root",
                                  os.path.join(work, "empty"), "list"])
        results = {"nodelet-cri": [], "containerd 1.6 (ctr pull)": [], "skopeo + umoci": []}
        for i in range(a.runs):
            # interleaved, so drift on the shared machine hits every tool alike
            results["nodelet-cri"].append(run_ours(build, ref, work, i))
            results["containerd 1.6 (ctr pull)"].append(run_containerd(ref, work, i)[:2])
            results["skopeo + umoci"].append(run_skopeo_umoci(ref, work, i))
        print(f"image: 5 layers, {size / 1e6:.1f} MB compressed blobs, ~100 MB unpacked; {a.runs} runs each")
        print(f"{'tool':28} {'median s':>9} {'min s':>7} {'max s':>7} {'peak RSS MiB':>13}")
        med = {}
        for k, v in results.items():
            ts = [x[0] for x in v]
            rs = [x[1] for x in v]
            med[k] = statistics.median(ts)
            print(f"{k:28} {med[k]:9.2f} {min(ts):7.2f} {max(ts):7.2f} {max(rs) / 1024:13.1f}")
        print(f"nodelet-cri idle baseline (image list on an empty store): {base_rss / 1024:.1f} MiB")
        ctrd = med["containerd 1.6 (ctr pull)"]
        print(f"speedup vs containerd: {ctrd / med['nodelet-cri']:.2f}x; "
              f"vs skopeo+umoci: {med['skopeo + umoci'] / med['nodelet-cri']:.2f}x")
    finally:
        if reg:
            reg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
