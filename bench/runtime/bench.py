#!/usr/bin/python3
"""OCI runtime benchmark: nodelet-runtime vs runc on the same busybox bundle,
interleaved in one run. Measures `run` of /bin/true, and `create`, `start`,
`delete` separately: wall-clock median/p99 over N runs, and peak RSS as
ru_maxrss from wait4() on the runtime process (which covers its waited-for
children, i.e. the whole runtime process tree)."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    global SPAWN
    SPAWN = os.path.join(os.path.abspath(a.build), "bench", "rtspawn")
    os.makedirs(os.path.dirname(SPAWN), exist_ok=True)
    subprocess.run(["cc", "-O2", "-static", "-o", SPAWN, os.path.join(HERE, "rtspawn.c")],
                   check=True)
    ours = os.path.join(os.path.abspath(a.build), "bin", "nodelet-runtime")
    runc = next((p for p in ("/usr/sbin/runc", "/usr/bin/runc") if os.path.exists(p)), None)
    rts = [("nodelet-runtime", ours)] + ([("runc", runc)] if runc else [])
    tmp = tempfile.mkdtemp(prefix="rtbench.")
    # State roots on tmpfs, as in production (/run).
    state = tempfile.mkdtemp(prefix="rtbench.", dir="/run")
    b = rtbundle.make_bundle(os.path.join(tmp, "bundle"), args=["true"])
    b.config["linux"]["cgroupsPath"] = "/nodelet-rtbench/c"
    b.write()
    res = {name: {k: [] for k in ("run", "create", "start", "delete")} for name, _ in rts}
    rss = {name: {k: 0 for k in ("run", "create", "start", "delete")} for name, _ in rts}
    for i in range(a.n):
        for name, path in rts:
            root = os.path.join(state, name)
            base = [path, "--root", root]
            cid = f"b{i}"
            b.config["linux"]["cgroupsPath"] = f"/nodelet-rtbench/{name}-{cid}"
            b.write()
            dt, rc, mx = spawn(base + ["run", "--bundle", b.path, cid])
            if rc != 0:
                sys.exit(f"{name} run failed: {rc}")
            res[name]["run"].append(dt)
            rss[name]["run"] = max(rss[name]["run"], mx)
            cid = f"c{i}"
            b.config["linux"]["cgroupsPath"] = f"/nodelet-rtbench/{name}-{cid}"
            b.write()
            for step, argv in (("create", ["create", "--bundle", b.path, cid]),
                               ("start", ["start", cid])):
                dt, rc, mx = spawn(base + argv)
                if rc != 0:
                    sys.exit(f"{name} {step} failed: {rc}")
                res[name][step].append(dt)
                rss[name][step] = max(rss[name][step], mx)
            # wait for /bin/true to finish before delete (not timed)
            for _ in range(500):
                st = os.popen(f"{path} --root {root} state {cid}").read()
                if '"stopped"' in st:
                    break
                time.sleep(0.002)
            dt, rc, mx = spawn(base + ["delete", cid])
            if rc != 0:
                sys.exit(f"{name} delete failed: {rc}")
            res[name]["delete"].append(dt)
            rss[name]["delete"] = max(rss[name]["delete"], mx)
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
        if len(out) == 2:
            o, r = out["nodelet-runtime"], out["runc"]
            for k in ("run", "create", "start", "delete"):
                print(f"speedup {k}: {r[k]['median_ms'] / o[k]['median_ms']:.1f}x")
    os.system(f"rm -rf {tmp} {state}")
    os.system("rmdir /sys/fs/cgroup/*/nodelet-rtbench /sys/fs/cgroup/unified/nodelet-rtbench "
              "2>/dev/null")


if __name__ == "__main__":
    main()
