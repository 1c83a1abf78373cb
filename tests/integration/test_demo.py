"""`make demo` end to end, non-interactively: mk/demo.sh (stdin not a
terminal, DEMO_SECONDS=2) builds the busybox image, starts nodelet-cri and
nodelet on the example static pods inside namespaces it creates, and must
print each pod's status and IP, the web page fetched from the web pod's IP,
the pods' logs and the crash loop's back-off, then stop by itself leaving no
process, mount, cgroup or temp dir behind."""
import glob
import os
import re
import subprocess

import pytest

import harness

pytestmark = [pytest.mark.slow]

SCRIPT = os.path.join(harness.ROOT, "mk", "demo.sh")


def _our_procs(work_dirs):
    """PIDs whose command line names one of the demo's temp dirs."""
    out = []
    for p in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            cmd = open(p, "rb").read().decode(errors="replace")
        except OSError:
            continue
        if any(w in cmd for w in work_dirs):
            out.append((p, cmd.replace("\0", " ")))
    return out


@pytest.mark.network
def test_demo_runs_static_pods_and_stops_cleanly():
    env = dict(os.environ, DEMO_SECONDS="2")
    proc = subprocess.run(["bash", SCRIPT, harness.BUILD], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=240, env=env)
    out = proc.stdout
    assert proc.returncode == 0, out
    assert "demo: stopped cleanly" in out, out

    # The state dir the demo announced, gone afterwards.
    m = re.search(r"static pods from (/tmp/ndemo\.\w+)/manifests", out)
    assert m, out
    work = m.group(1)
    assert not os.path.exists(work)
    assert _our_procs([work]) == []
    cgname = "nodelet-demo-" + work.rsplit(".", 1)[1]
    assert [c for c in glob.glob("/sys/fs/cgroup/*/" + cgname)] == []

    # Status of each pod from /pods, with an IP on the demo subnet.
    status = out.split("==> Pod status (from", 1)[1].split("==>", 1)[0]
    ips = {}
    for name in ("web", "with-init", "crashloop"):
        m = re.search(rf"^    {name}-demo-node: phase=(\w+) ip=(10\.88\.0\.\d+) ready=(\w+)",
                      status, re.M)
        assert m, status
        ips[name] = m.group(2)
        if name != "crashloop":
            assert m.group(1) == "Running" and m.group(3) == "True", status
    assert len(set(ips.values())) == 3, ips
    assert re.search(r"^        httpd: running, ready=true, restarts=0$", status, re.M), status
    assert re.search(r"^        init prepare: terminated \(Completed, exit 0\)", status, re.M), status
    assert re.search(r"^        crash: waiting \(CrashLoopBackOff\), ready=false, restarts=[1-9]",
                     status, re.M), status

    # The page, fetched from the web pod's own IP.
    assert f"==> GET http://{ips['web']}:8080/" in out
    assert "    hello from web-demo-node on demo-node" in out

    # Logs in the /var/log/pods layout, CRI format.
    logs = out.split("==> Logs", 1)[1].split("==>", 1)[0]
    assert re.search(r"^default_web-demo-node_[0-9a-f]{32}:$", logs, re.M), logs
    assert re.search(r"^  crash/0\.log:\n(?:.*\n)*?\s+\S+Z stdout F starting$", logs, re.M), logs
    assert re.search(r"\S+Z stdout F prepared at ", logs), logs
    assert re.search(r"^  prepare/0\.log:\n\s+\S+Z stdout F preparing /work/ready$", logs, re.M), logs

    # The back-off: restart count, reason, the kubelet's message.
    backoff = out.split("==> Crash loop back-off", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"restartCount=[1-9]\d* state=waiting reason=CrashLoopBackOff "
                     r"message=back-off (\d+m)?\d+s restarting failed container=crash", backoff), backoff
    assert "lastState=terminated(Error, exit 1)" in backoff

    # Stopped in order: the pods by nodelet, then nodelet, then nodelet-cri.
    stop = out.split("==> Stopping", 1)[1]
    assert stop.index("pods stopped by nodelet") < stop.index("nodelet stopped") \
        < stop.index("nodelet-cri stopped"), stop
    assert "did not stop" not in stop and "still running" not in out, stop


@pytest.mark.network
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_demo_stops_cleanly_on_signal(sig):
    """Ctrl-C (or SIGTERM) while the demo waits: same clean stop, exit 0."""
    import signal
    import time
    env = dict(os.environ, DEMO_SECONDS="600")
    out_path = f"/tmp/test-demo-{os.getpid()}.out"
    with open(out_path, "w+") as outf:
        proc = subprocess.Popen(["bash", SCRIPT, harness.BUILD], stdin=subprocess.DEVNULL,
                                stdout=outf, stderr=subprocess.STDOUT, text=True, env=env)
        try:
            def up():
                assert proc.poll() is None, open(out_path).read()
                return "everything is up" in open(out_path).read()
            harness.wait_for(up, timeout=180, interval=0.5, what="demo up")
            t0 = time.monotonic()
            proc.send_signal(getattr(signal, sig))
            rc = proc.wait(120)
            took = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        out = open(out_path).read()
    os.unlink(out_path)
    assert rc == 0, out
    assert "demo: interrupted" in out and "demo: stopped cleanly" in out, out
    assert took < 60, took
    work = re.search(r"static pods from (/tmp/ndemo\.\w+)/manifests", out).group(1)
    assert not os.path.exists(work)
    assert _our_procs([work]) == []
