#!/usr/bin/python3
"""CNI benchmark: our bridge + host-local against the reference plugins.

For each of N containers (each with its own network namespace) it runs ADD,
then CHECK (with the ADD result as prevResult), then DEL, for both
implementations on two bridges of the same shape, interleaved so both see the
same machine load. Each invocation is timed by spawn_timer.c from vfork to the
reap of the plugin (stdin/stdout files are written and read outside the timed
window), and its peak RSS is wait4()'s ru_maxrss of that direct child (which
also covers any IPAM child the bridge runs and reaps: the reference's
host-local; our bridge runs our host-local in its own process, unless
--ours-ipam-exec makes it exec a copy of it).

Must run inside a private net+mount namespace with private /run/netns and
/var/lib/cni (bench/cni/run.sh arranges that); it refuses the machine's own
network namespace.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def refuse_host_namespace():
    # run.sh records the namespace it started in before unsharing a new one.
    host = os.environ.get("NDL_BENCH_HOST_NETNS")
    if not host or os.stat("/proc/self/ns/net").st_ino == int(host):
        sys.exit("bench/cni: refusing to run in the machine's own network namespace "
                 "(use bench/cni/run.sh)")


class Impl:
    def __init__(self, label, plugin_dir, idx, masq):
        self.label = label
        self.dir = os.path.abspath(plugin_dir)
        self.bridge_bin = os.path.join(self.dir, "bridge")
        for p in ("bridge", "host-local"):
            path = os.path.join(self.dir, p)
            if not os.access(path, os.X_OK):
                sys.exit(f"bench/cni: {label}: {path} is missing or not executable")
        self.net = f"bench-{label}"
        self.bridge = f"bnch{idx}"
        self.subnet = f"10.{200 + idx}.0.0/16"
        self.conf = {
            "cniVersion": "1.0.0",
            "name": self.net,
            "type": "bridge",
            "bridge": self.bridge,
            "isGateway": True,
            "ipMasq": masq,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": self.subnet}]],
                     "routes": [{"dst": "0.0.0.0/0"}]},
        }
        self.results = {}
        self.times = {"ADD": [], "CHECK": [], "DEL": []}
        self.rss = {"ADD": [], "CHECK": [], "DEL": []}


TIMER = None
IO_DIR = "/run/cni/bench-io"


def spawn_timed(path, env, stdin_bytes):
    """Run one plugin under spawn-timer; returns (ns, exit code, ru_maxrss KiB,
    stdout, stderr). Files live on the sandbox's private tmpfs."""
    fin, fout, ferr = (os.path.join(IO_DIR, n) for n in ("in", "out", "err"))
    with open(fin, "wb") as f:
        f.write(stdin_bytes)
    p = subprocess.run([TIMER, fin, fout, ferr, path], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.exit(f"bench/cni: spawn-timer failed: {p.stderr.decode(errors='replace')}")
    ns, rc, rss = (int(x) for x in p.stdout.split())
    with open(fout, "rb") as f:
        out = f.read()
    with open(ferr, "rb") as f:
        err = f.read()
    return ns, rc, rss, out, err


def invoke(impl, cmd, i, netns, conf):
    env = {
        "CNI_COMMAND": cmd,
        "CNI_CONTAINERID": f"bench{i:05d}",
        "CNI_NETNS": netns,
        "CNI_IFNAME": "eth0",
        "CNI_PATH": impl.dir,
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }
    # A sanitizer build (make SANITIZE=1) reads its options from here.
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    ns, rc, rss, out, err = spawn_timed(impl.bridge_bin, env, json.dumps(conf).encode())
    if rc != 0:
        sys.exit(f"bench/cni: {impl.label} {cmd} container {i} exited {rc}:\n"
                 f"{out.decode(errors='replace')}{err.decode(errors='replace')}")
    impl.times[cmd].append(ns)
    impl.rss[cmd].append(rss)
    return out


def floor_spawn(n):
    """What the timing harness itself costs: spawn+reap of /bin/true (time
    and ru_maxrss, a dynamically linked C program doing nothing)."""
    ts, rs = [], []
    for _ in range(n):
        ns, _, rss, _, _ = spawn_timed("/bin/true", {}, b"")
        ts.append(ns)
        rs.append(rss)
    # The helper run on itself (it exits at once on bad usage): the least
    # ru_maxrss this harness can report for any statically linked program.
    _, _, static_rss, _, _ = spawn_timed(TIMER, {}, b"")
    return statistics.median(ts), max(rs), static_rss


def kernel_veth_floor(n=20):
    """What the kernel alone charges for the veth work every bridge ADD/DEL
    does: `ip link add` of a veth pair with its peer in a netns and `ip link
    del` of it, next to a no-op `ip link show` (the ip tool's own cost).
    On DEL the kernel waits in rtnl_dellink -> netdev_run_todo -> rcu_barrier
    before it answers, whoever sends the request."""
    def run_ms(argv):
        t0 = time.perf_counter_ns()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        return (time.perf_counter_ns() - t0) / 1e6
    add, dele, noop = [], [], []
    for i in range(n):
        subprocess.run(["ip", "netns", "add", f"floor{i}"], check=True)
    try:
        for i in range(n):
            add.append(run_ms(["ip", "link", "add", f"flv{i}", "type", "veth", "peer",
                               "name", "eth0", "netns", f"floor{i}"]))
            noop.append(run_ms(["ip", "-n", f"floor{i}", "link", "show", "eth0"]))
            dele.append(run_ms(["ip", "-n", f"floor{i}", "link", "del", "eth0"]))
    finally:
        for i in range(n):
            subprocess.run(["ip", "netns", "del", f"floor{i}"], stderr=subprocess.DEVNULL)
    return statistics.median(add), statistics.median(dele), statistics.median(noop)


def pct(xs, p):
    s = sorted(xs)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def ms(ns):
    return f"{ns / 1e6:8.2f} ms"


def mb(kib):
    return f"{kib / 1024:6.2f} MB"


def run_variant(args, masq):
    impls = [Impl("ref", args.ref, 1, masq), Impl("ours", args.ours, 2, masq)]
    n = args.containers
    for impl in impls:
        for i in range(n):
            subprocess.run(["ip", "netns", "add", f"{impl.label}{i}"], check=True)
    try:
        for cmd in ("ADD", "CHECK", "DEL"):
            for i in range(n):
                # Alternate who goes first so neither always runs on a cache
                # the other warmed.
                order = impls if i % 2 == 0 else impls[::-1]
                for impl in order:
                    netns = f"/run/netns/{impl.label}{i}"
                    conf = dict(impl.conf)
                    if cmd == "ADD":
                        out = invoke(impl, "ADD", i, netns, conf)
                        res = json.loads(out)
                        if not res.get("ips"):
                            sys.exit(f"bench/cni: {impl.label} ADD {i}: no ips in {out!r}")
                        impl.results[i] = res
                    else:
                        conf["prevResult"] = impl.results[i]
                        invoke(impl, cmd, i, netns, conf)
        left = leftovers(impls)
        if left:
            sys.exit(f"bench/cni: state left after DEL: {left}")
    finally:
        for impl in impls:
            for i in range(n):
                subprocess.run(["ip", "netns", "del", f"{impl.label}{i}"],
                               stderr=subprocess.DEVNULL)
            subprocess.run(["ip", "link", "del", impl.bridge], stderr=subprocess.DEVNULL)
    return impls


def leftovers(impls):
    left = []
    links = subprocess.run(["ip", "-o", "link", "show", "type", "veth"],
                           stdout=subprocess.PIPE, text=True).stdout.strip()
    if links:
        left.append(f"{len(links.splitlines())} veths")
    for impl in impls:
        d = f"/var/lib/cni/networks/{impl.net}"
        if os.path.isdir(d):
            ips = [f for f in os.listdir(d) if f[0].isdigit()]
            if ips:
                left.append(f"{impl.label}: {len(ips)} leases")
    nat = subprocess.run(["iptables-save", "-t", "nat"], stdout=subprocess.PIPE,
                         text=True).stdout
    rules = [l for l in nat.splitlines() if l.startswith("-A") and "CNI-" in l]
    if rules:
        left.append(f"{len(rules)} iptables rules")
    return left


def report(impls, masq, n, floor, kfloor, out):
    ref, ours = impls
    title = (f"bridge + host-local, {n} containers (own netns each), "
             f"isGateway, ipMasq={'true' if masq else 'false'}, cniVersion 1.0.0")
    lines = [title, ""]
    hdr = (f"{'op':<6} {'':<5} {'reference':>11} {'ours':>11} {'ref/ours':>9}")
    lines.append(hdr)
    lines.append("-" * len(hdr))
    summary = {}
    for cmd in ("ADD", "CHECK", "DEL"):
        rm, om = statistics.median(ref.times[cmd]), statistics.median(ours.times[cmd])
        rp, op = pct(ref.times[cmd], 99), pct(ours.times[cmd], 99)
        lines.append(f"{cmd:<6} {'p50':<5} {ms(rm):>11} {ms(om):>11} {rm / om:8.1f}x")
        lines.append(f"{'':<6} {'p99':<5} {ms(rp):>11} {ms(op):>11} {rp / op:8.1f}x")
        rr, orr = max(ref.rss[cmd]), max(ours.rss[cmd])
        rmed, omed = statistics.median(ref.rss[cmd]), statistics.median(ours.rss[cmd])
        lines.append(f"{'':<6} {'RSSmx':<5} {mb(rr):>11} {mb(orr):>11} {rr / orr:8.1f}x")
        lines.append(f"{'':<6} {'RSSmd':<5} {mb(rmed):>11} {mb(omed):>11} {rmed / omed:8.1f}x")
        summary[cmd] = {"ref_p50_ms": rm / 1e6, "ours_p50_ms": om / 1e6,
                        "ref_p99_ms": rp / 1e6, "ours_p99_ms": op / 1e6,
                        "ref_rss_max_kib": rr, "ours_rss_max_kib": orr,
                        "ref_rss_median_kib": rmed, "ours_rss_median_kib": omed}
    lines.append("")
    lines.append(f"floor (vfork+exec+wait4 of /bin/true): {floor[0] / 1e6:.2f} ms, "
                 f"ru_maxrss {floor[1] / 1024:.2f} MB (a static do-nothing program: "
                 f"{floor[2] / 1024:.2f} MB); the time is included in both columns")
    lines.append(f"kernel floor: `ip link add` veth pair {kfloor[0]:.2f} ms, `ip link del` "
                 f"{kfloor[1]:.2f} ms, no-op `ip link show` {kfloor[2]:.2f} ms (medians)")
    lines.append("RSSmx/RSSmd: max/median of wait4() ru_maxrss over the invocations "
                 "(bridge process, incl. an exec'd host-local child)")
    add = summary["ADD"]["ref_p50_ms"] / summary["ADD"]["ours_p50_ms"]
    dele = summary["DEL"]["ref_p50_ms"] / summary["DEL"]["ours_p50_ms"]
    rss = max(summary[c]["ours_rss_max_kib"] for c in summary) / 1024
    verdict = []
    verdict.append(f"ADD {add:.1f}x {'>=' if add >= 5 else '<'} 5x target")
    verdict.append(f"DEL {dele:.1f}x {'>=' if dele >= 5 else '<'} 5x target")
    verdict.append(f"peak RSS {rss:.2f} MB {'<=' if rss <= 1.0 else '>'} 1 MB target")
    lines.append("targets: " + "; ".join(verdict))
    text = "\n".join(lines)
    print(text, file=out)
    out.flush()
    return {"masq": masq, "containers": n, "summary": summary}


def strace_profile(args, masq):
    """One ADD and one DEL of each implementation under `strace -f -c`: where
    the time goes in syscalls, and which programs each one executes."""
    impls = [Impl("ref", args.ref, 1, masq), Impl("ours", args.ours, 2, masq)]
    for impl in impls:
        ns = f"/run/netns/prof-{impl.label}"
        subprocess.run(["ip", "netns", "add", f"prof-{impl.label}"], check=True)
        env = {"CNI_CONTAINERID": "profile", "CNI_NETNS": ns, "CNI_IFNAME": "eth0",
               "CNI_PATH": impl.dir, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        try:
            prev = None
            for cmd in ("ADD", "DEL"):
                conf = dict(impl.conf)
                if prev is not None:
                    conf["prevResult"] = prev
                trace = os.path.join(IO_DIR, "strace")
                p = subprocess.run(
                    ["strace", "-f", "-qq", "-o", trace, "-e", "trace=execve", "-e", "signal=none",
                     impl.bridge_bin],
                    input=json.dumps(conf).encode(), env=dict(env, CNI_COMMAND=cmd),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                if p.returncode != 0:
                    sys.exit(f"bench/cni: strace {impl.label} {cmd}: {p.stderr.decode()}")
                if cmd == "ADD":
                    prev = json.loads(p.stdout)
                with open(trace) as f:
                    execs = [l.split('"')[1] for l in f if "execve(" in l and "= 0" in l]
                # Summary counts in a second run would change state, so count
                # syscalls on the same invocation kind with -c afterwards.
                counts = {}
                for e in execs:
                    counts[os.path.basename(e)] = counts.get(os.path.basename(e), 0) + 1
                print(f"{impl.label} {cmd}: programs executed: "
                      + ", ".join(f"{k} x{v}" for k, v in counts.items()))
            # -c on a fresh ADD/DEL pair for syscall totals.
            for cmd in ("ADD", "DEL"):
                conf = dict(impl.conf)
                if cmd == "DEL":
                    conf["prevResult"] = prev
                trace = os.path.join(IO_DIR, "strace-c")
                p = subprocess.run(["strace", "-f", "-c", "-w", "-o", trace, impl.bridge_bin],
                                   input=json.dumps(conf).encode(),
                                   env=dict(env, CNI_COMMAND=cmd),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                if p.returncode != 0:
                    sys.exit(f"bench/cni: strace -c {impl.label} {cmd}: {p.stderr.decode()}")
                if cmd == "ADD":
                    prev = json.loads(p.stdout)
                with open(trace) as f:
                    lines = f.read().splitlines()
                print(f"{impl.label} {cmd}: strace -f -c -w (top 8 by wall time)")
                body = [l for l in lines[2:] if l.strip() and not l.startswith("-")]
                total = [l for l in body if l.rstrip().endswith("total")]
                for l in [l for l in body if l not in total][:8] + total:
                    print("    " + l)
        finally:
            subprocess.run(["ip", "netns", "del", f"prof-{impl.label}"],
                           stderr=subprocess.DEVNULL)
            subprocess.run(["ip", "link", "del", impl.bridge], stderr=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ours", required=True, help="dir with our bridge and host-local")
    ap.add_argument("--ref", default="/usr/lib/cni", help="dir with the reference plugins")
    ap.add_argument("-n", "--containers", type=int, default=200)
    ap.add_argument("--masq", choices=["true", "false", "both"], default="both")
    ap.add_argument("--timer", required=True, help="the spawn-timer helper (spawn_timer.c)")
    ap.add_argument("--json", help="also write the numbers here")
    ap.add_argument("--strace", action="store_true",
                    help="also profile one ADD/DEL of each under strace")
    ap.add_argument("--ours-ipam-exec", action="store_true",
                    help="our bridge execs a copy of our host-local without its ELF note "
                         "(the path taken for any host-local that is not ours) instead of "
                         "running it in-process")
    a = ap.parse_args()
    refuse_host_namespace()
    if a.ours_ipam_exec:
        d = "/run/cni/bench-ours-exec"
        os.makedirs(d, exist_ok=True)
        os.symlink(os.path.join(os.path.abspath(a.ours), "bridge"), os.path.join(d, "bridge"))
        subprocess.run(["objcopy", "--remove-section=.note.nodelet",
                        os.path.join(a.ours, "host-local"), os.path.join(d, "host-local")],
                       check=True)
        a.ours = d
    global TIMER
    TIMER = os.path.abspath(a.timer)
    os.makedirs(IO_DIR, exist_ok=True)
    if a.containers < 1 or a.containers > 4000:
        sys.exit("bench/cni: --containers must be 1..4000")
    floor = floor_spawn(200)
    variants = {"true": [True], "false": [False], "both": [True, False]}[a.masq]
    out = []
    for masq in variants:
        impls = run_variant(a, masq)
        out.append(report(impls, masq, a.containers, floor, kernel_veth_floor(),
                          sys.stdout))
        print()
    if a.strace:
        for masq in variants:
            print(f"== strace profile, ipMasq={'true' if masq else 'false'}")
            strace_profile(a, masq)
            print()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
