"""nodelet's container logs as the kubelet keeps them: rotation by
containerLogMaxSize/containerLogMaxFiles through the runtime's
ReopenContainerLog (older rotated files gzipped), the legacy
/var/log/containers symlinks, and the removal of logs with their containers
(the GC of a crash-looping container) and with their pod. Runs on
containerd 1.6 and on our nodelet-cri."""
import glob
import gzip
import os
import time

import pytest

import harness
from test_kubelet_pods import BB, RUNTIMES, Env, images, manifest  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.slow]

LEGACY = "/var/log/containers"
LINE = "0123456789" * 10


@pytest.fixture(params=RUNTIMES)
def env_logs(request, netns, tmp_path, images):
    e = Env(request.param, str(tmp_path), images)
    with open(e.args[0].split("=", 1)[1], "a") as f:
        f.write("containerLogMaxSize: 10Ki\ncontainerLogMaxFiles: 3\n"
                "containerLogMonitorInterval: 3s\n")
    try:
        e.start()
    except Exception:
        e.stop()
        raise
    yield e
    e.stop()


def pod_log_dir(env, name):
    p = env.pod(name)
    return os.path.join(env.logs, f"default_{name}-kl-node_{p['metadata']['uid']}")


def links(name, cname):
    return glob.glob(os.path.join(LEGACY, f"{name}-kl-node_default_{cname}-*.log"))


@pytest.mark.network
def test_logs_rotate_and_go_with_their_containers(env_logs):
    env = env_logs
    # ~5 KB/s of output: over 10 KiB within a few seconds.
    spec = f"""  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: {BB}
    command: [sh, -c, 'i=0; while true; do i=$((i+1)); echo "$i {LINE}"; sleep 0.02; done']
"""
    env.node.write("chatty.yaml", manifest("chatty", spec))
    cs = env.wait_running("chatty", "c", timeout=60)
    cid = cs["containerID"].split("://")[-1]
    d = os.path.join(pod_log_dir(env, "chatty"), "c")
    live = os.path.join(d, "0.log")
    # The legacy symlink points at the live log.
    link = os.path.join(LEGACY, f"chatty-kl-node_default_c-{cid}.log")
    assert os.path.islink(link) and os.readlink(link) == live, links("chatty", "c")

    # Two rotations: the first leaves a plain rotated file, the second
    # compresses it; never more than containerLogMaxFiles files.
    most = 0

    def compressed():
        nonlocal most
        files = os.listdir(d)
        most = max(most, len(files))
        return [f for f in files if f.endswith(".gz")]
    harness.wait_for(compressed, timeout=40, interval=0.2,
                     what=f"a compressed rotated log in {d}: {os.listdir(d)}\n"
                          f"{env.node.log()[-2000:]}")
    for _ in range(20):
        compressed()
        time.sleep(0.25)
    assert most <= 3, most
    files = sorted(os.listdir(d))
    assert "0.log" in files
    rotated = [f for f in files if f.startswith("0.log.")]
    assert all(len(f.split(".")[2]) == len("20060102-150405") for f in rotated), files
    gz = [f for f in files if f.endswith(".gz")][0]
    with gzip.open(os.path.join(d, gz), "rt") as f:
        first = f.readline()
    # CRI log lines: <RFC3339Nano> stdout F <line>
    parts = first.split(" ", 3)
    assert parts[1] == "stdout" and parts[2] == "F" and parts[3].rstrip("\n").endswith(LINE), first
    # The runtime reopened the log: the live file keeps growing after a
    # rotation, from where the rotated ones stopped.
    size = os.path.getsize(live)
    harness.wait_for(lambda: os.path.getsize(live) > size, timeout=5, what="live log growing")
    assert os.readlink(link) == live

    # Removing the pod takes its log directory and its symlink.
    os.unlink(os.path.join(env.node.manifests, "chatty.yaml"))
    pdir = os.path.dirname(d)
    harness.wait_for(lambda: not os.path.exists(pdir), timeout=30,
                     what=f"pod log dir removed: {pdir}")
    assert not os.path.lexists(link)


@pytest.mark.network
def test_crash_loop_keeps_one_dead_container_and_its_log(env_logs):
    env = env_logs
    spec = f"""  containers:
  - name: crash
    image: {BB}
    command: [sh, -c, 'echo boom; exit 3']
"""
    env.node.write("crash.yaml", manifest("crash", spec))
    harness.wait_for(lambda: (env.cstatus("crash", "crash") or {}).get("restartCount", 0) >= 2,
                     timeout=60, what="two restarts")
    uid = env.pod("crash")["metadata"]["uid"]
    d = os.path.join(pod_log_dir(env, "crash"), "crash")
    # Every instance so far has exited (the newest one runs for an instant;
    # a running one is not a dead instance, so the GC would keep one more).
    def all_exited():
        ctrs = env.containers(uid)
        return len(ctrs) >= 3 and all(c.get("state") == "CONTAINER_EXITED" for c in ctrs) and ctrs
    before = sorted(harness.wait_for(all_exited, timeout=15, what="three dead instances"),
                    key=lambda c: c.get("metadata", {}).get("attempt", 0))
    old, newest = [c["id"] for c in before[:-1]], before[-1]
    assert sorted(os.listdir(d))[:2] == ["0.log", "1.log"], os.listdir(d)
    assert all(os.path.lexists(os.path.join(LEGACY, f"crash-kl-node_default_crash-{i}.log"))
               for i in old)
    # The container GC (once a minute, and at once after a restart of
    # nodelet) keeps the newest dead instance per container name only,
    # whatever the sandbox; the older ones go with their logs and symlinks.
    env.restart_nodelet()

    def collected():
        ids = {c["id"] for c in env.containers(uid)}
        return not ids & set(old) and newest["id"] in ids
    harness.wait_for(collected, timeout=30,
                     what=f"dead containers collected: {env.containers(uid)}\n{env.node.log()[-2000:]}")
    logs = os.listdir(d)
    for c in before[:-1]:
        assert f"{c.get('metadata', {}).get('attempt', 0)}.log" not in logs, logs
        assert not os.path.lexists(os.path.join(
            LEGACY, f"crash-kl-node_default_crash-{c['id']}.log"))
    assert f"{newest.get('metadata', {}).get('attempt', 0)}.log" in logs, logs
    # lastState still comes from a dead container that stayed (once the
    # restarted nodelet has published the pod's status).
    cs = harness.wait_for(
        lambda: (lambda c: c if c and c.get("lastState", {}).get("terminated") else None)(
            env.cstatus("crash", "crash")),
        timeout=15, what=f"crash lastState: {env.pod('crash')}")
    assert cs["lastState"]["terminated"]["exitCode"] == 3, cs
