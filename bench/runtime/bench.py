#!/usr/bin/python3
"""OCI runtime benchmark: nodelet-runtime vs runc on the same busybox bundle,
interleaved in one run. Measures `run` of /bin/true, `create`, `start` and
`delete` (of the stopped container) separately, and `state` and `kill`
(SIGKILL) of a running `sleep` container, the calls a shim and the CRI make
most: wall-clock median/p99 over N runs, and peak RSS as ru_maxrss from
wait4() on the runtime process (which covers its waited-for children, i.e.
the whole runtime process tree).

State roots go on a tmpfs, as /run is in production: where /run is a disk
(this VM's ext4 issues a synchronous discard when a directory is removed,
0.3-2 ms per `delete` for either runtime) /dev/shm is used instead, and the
choice is printed. --state-dir DIR measures elsewhere."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

TMPFS_MAGIC = 0x01021994

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import rtbundle  # noqa: E402


SPAWN = None


def spawn(argv):
    """Run argv through rtspawn, return (seconds, exit status, ru_maxrss KiB)."""
    out = subprocess.run([SPAWN] + argv, stdout=subprocess.PIPE, text=True, check=True).stdout
    ns, code, rss = out.split()
    return int(ns) / 1e9, int(code), int(rss)


def pct(v, p):
    v = sorted(v)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def fs_type(path):
    """"tmpfs" or the mount's type from /proc/self/mounts (longest prefix)."""
    best, typ = "", "?"
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mnt, t = line.split()[:3]
            mnt = mnt.replace("\\040", " ")
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                best, typ = mnt, t
    return typ


def state_parent(given):
    if given:
        return given
    for d in ("/run", "/dev/shm"):
        if os.path.isdir(d) and fs_type(d) == "tmpfs":
            return d
    return "/run"


OPS = ("run", "create", "start", "state", "kill", "delete")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--state-dir", help="parent of the state roots (default: a tmpfs)")
    ap.add_argument("--also", action="append", default=[], metavar="NAME=PATH",
                    help="another runtime binary to interleave (e.g. an older build, for A/B)")
    a = ap.parse_args()
    global SPAWN
    SPAWN = os.path.join(os.path.abspath(a.build), "bench", "rtspawn")
    os.makedirs(os.path.dirname(SPAWN), exist_ok=True)
    subprocess.run(["cc", "-O2", "-static", "-o", SPAWN, os.path.join(HERE, "rtspawn.c")],
                   check=True)
    ours = os.path.join(os.path.abspath(a.build), "bin", "nodelet-runtime")
    runc = next((p for p in ("/usr/sbin/runc", "/usr/bin/runc") if os.path.exists(p)), None)
    rts = [("nodelet-runtime", ours)] + ([("runc", runc)] if runc else [])
    rts += [tuple(x.split("=", 1)) for x in a.also]
    tmp = tempfile.mkdtemp(prefix="rtbench.")
    # State roots on tmpfs, as in production (/run).
    sparent = state_parent(a.state_dir)
    state = tempfile.mkdtemp(prefix="rtbench.", dir=sparent)
    if not a.json:
        print(f"state roots in {sparent} ({fs_type(state)}), N={a.n}, "
              f"load average {os.getloadavg()[0]:.2f} at start")
    b = rtbundle.make_bundle(os.path.join(tmp, "bundle"), args=["true"])
    b.config["linux"]["cgroupsPath"] = "/nodelet-rtbench/c"
    b.write()
    res = {name: {k: [] for k in OPS} for name, _ in rts}
    rss = {name: {k: 0 for k in OPS} for name, _ in rts}

    def timed(name, step, argv):
        dt, rc, mx = spawn(argv)
        if rc != 0:
            sys.exit(f"{name} {step} failed: {rc}")
        res[name][step].append(dt)
        rss[name][step] = max(rss[name][step], mx)

    def wait_stopped(path, root, cid):
        for _ in range(500):
            st = os.popen(f"{path} --root {root} state {cid}").read()
            if '"stopped"' in st:
                return
            time.sleep(0.002)
        sys.exit(f"{path}: {cid} did not stop")

    for i in range(a.n):
        for name, path in rts:
            root = os.path.join(state, name)
            base = [path, "--root", root]
            cid = f"b{i}"
            b.config["linux"]["cgroupsPath"] = f"/nodelet-rtbench/{name}-{cid}"
            b.config["process"]["args"] = ["true"]
            b.write()
            timed(name, "run", base + ["run", "--bundle", b.path, cid])
            cid = f"c{i}"
            b.config["linux"]["cgroupsPath"] = f"/nodelet-rtbench/{name}-{cid}"
            b.write()
            timed(name, "create", base + ["create", "--bundle", b.path, cid])
            timed(name, "start", base + ["start", cid])
            # wait for /bin/true to finish before delete (not timed)
            wait_stopped(path, root, cid)
            timed(name, "delete", base + ["delete", cid])
            # state and kill of a running container (create/start/delete
            # of this one are not timed)
            cid = f"s{i}"
            b.config["linux"]["cgroupsPath"] = f"/nodelet-rtbench/{name}-{cid}"
            b.config["process"]["args"] = ["sleep", "10"]
            b.write()
            for argv in (["create", "--bundle", b.path, cid], ["start", cid]):
                if spawn(base + argv)[1] != 0:
                    sys.exit(f"{name} {argv[0]} {cid} failed")
            timed(name, "state", base + ["state", cid])
            timed(name, "kill", base + ["kill", cid, "KILL"])
            wait_stopped(path, root, cid)
            if spawn(base + ["delete", cid])[1] != 0:
                sys.exit(f"{name} delete {cid} failed")
    out = {}
    for name, _ in rts:
        out[name] = {}
        for k, v in res[name].items():
            out[name][k] = {"median_ms": round(statistics.median(v) * 1000, 2),
                            "p99_ms": round(pct(v, 99) * 1000, 2),
                            "peak_rss_kb": rss[name][k], "n": len(v)}
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{'runtime':16} {'op':7} {'median ms':>10} {'p99 ms':>8} {'peak RSS KiB':>13}")
        for name in out:
            for k, v in out[name].items():
                print(f"{name:16} {k:7} {v['median_ms']:10.2f} {v['p99_ms']:8.2f} "
                      f"{v['peak_rss_kb']:13d}")
        if "runc" in out:
            o, r = out["nodelet-runtime"], out["runc"]
            for k in OPS:
                print(f"speedup {k}: {r[k]['median_ms'] / o[k]['median_ms']:.1f}x")
        print(f"load average {os.getloadavg()[0]:.2f} at end")
    os.system(f"rm -rf {tmp} {state}")
    cleanup_cgroups()


def cleanup_cgroups():
    """Remove /nodelet-rtbench everywhere. runc's delete right after a kill
    can give up on cgroups whose tasks are still draining (it warns and
    exits 0): retry those here for a few seconds."""
    deadline = time.monotonic() + 5
    for h in os.listdir("/sys/fs/cgroup"):
        top = os.path.join("/sys/fs/cgroup", h, "nodelet-rtbench")
        if os.path.islink(os.path.join("/sys/fs/cgroup", h)) or not os.path.isdir(top):
            continue
        subs = [os.path.join(top, d) for d in os.listdir(top)
                if os.path.isdir(os.path.join(top, d))]
        for d in subs + [top]:
            while True:
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if time.monotonic() > deadline:
                        print(f"cannot remove {d}: {e}", file=sys.stderr)
                        break
                    time.sleep(0.05)


if __name__ == "__main__":
    main()
