"""nodelet follows the runtime's CRI Status as the kubelet's runtimeState
does (updateRuntimeUp every 5 s): while NetworkReady is false, pods on the
pod network get no sandbox ("network is not ready", the pod stays Pending
with its containers ContainerCreating) and hostNetwork pods still run; once
the network config appears the waiting pods start. A ready sandbox on the
pod network without an IP is replaced (podSandboxChanged). The first test
runs on containerd 1.6 and on our nodelet-cri."""
import json
import os
import time

import pytest

import containerd as rt
import harness
from test_kubelet_pods import BB, RUNTIMES, Env, images, manifest  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.slow]

LOOP = "trap 'exit 0' TERM; while true; do sleep 1; done"


def _env(request, tmp_path, images, conflist=None):
    e = Env(request.param, str(tmp_path), images)
    conf = os.path.join(e.runtime.conf_dir, "10-pods.conflist")
    saved = os.path.join(str(tmp_path), "saved.conflist")
    os.rename(conf, saved)
    if conflist:
        with open(conf, "w") as f:
            json.dump(conflist, f)
    e.conf, e.saved_conf = conf, saved
    try:
        e.start()
    except Exception:
        e.stop()
        raise
    return e


@pytest.fixture(params=RUNTIMES)
def env_no_net(request, netns, tmp_path, images):
    e = _env(request, tmp_path, images)
    yield e
    e.stop()


@pytest.mark.network
def test_network_not_ready_holds_pod_network_pods_only(env_no_net):
    env = env_no_net
    spec = f"""  terminationGracePeriodSeconds: 1
  containers:
  - {{name: app, image: {BB}, command: [sh, -c, "{LOOP}"]}}
"""
    env.node.write("web.yaml", manifest("web", spec))
    env.node.write("hostpod.yaml", manifest("hostpod", "  hostNetwork: true\n" + spec))
    env.wait_running("hostpod", "app", timeout=60)
    # The pod-network pod: no sandbox, Pending, waiting in ContainerCreating.
    time.sleep(2)
    web = env.pod("web")
    assert web is not None, env.node.pods()
    uid = web["metadata"]["uid"]
    assert env.sandboxes(uid) == []
    assert web["status"]["phase"] == "Pending"
    cs = env.cstatus("web", "app")
    assert cs["state"]["waiting"]["reason"] == "ContainerCreating", cs
    log = env.node.log()
    assert ("network is not ready: container runtime network not ready: NetworkReady=false "
            "reason:NetworkPluginNotReady message:Network plugin returns error: "
            "cni plugin not initialized") in log, log[-3000:]
    # Logged once per pod and outage, not at every re-sync.
    assert log.count("pod=default/web-kl-node reason=NetworkNotReady") == 1, log[-3000:]
    # The config appears (written in place: containerd 1.6's conf syncer
    # misses a file renamed into the directory): the next Status, at most
    # 5 s later, lets the pod start.
    t0 = time.monotonic()
    with open(env.conf, "w") as f:
        f.write(open(env.saved_conf).read())
    env.wait_running("web", "app", timeout=30)
    took = time.monotonic() - t0
    assert took < 15, took
    assert env.pod("web")["status"]["podIP"].startswith("10.66.0.")
    assert "container runtime network ready" in env.node.log()
    # The hostNetwork pod ran throughout: never restarted.
    assert env.cstatus("hostpod", "app")["restartCount"] == 0
    assert len(env.sandboxes(env.pod("hostpod")["metadata"]["uid"])) == 1


@pytest.fixture(params=[pytest.param("nodelet-cri")])
def env_no_ip(request, netns, tmp_path, images):
    # A bridge without IPAM: layer 2 only, the pod interface gets no IP.
    # containerd 1.6 refuses such a sandbox itself ("failed to find network
    # info for sandbox"), so the kubelet's check is only reachable on a
    # runtime that reports it, such as ours.
    e = _env(request, tmp_path, images, conflist={
        "cniVersion": "1.0.0", "name": "l2", "plugins": [{"type": "bridge", "bridge": "kl-l2"}]})
    yield e
    e.stop()


@pytest.mark.network
def test_sandbox_without_ip_is_replaced(env_no_ip):
    env = env_no_ip
    spec = f"""  terminationGracePeriodSeconds: 1
  containers:
  - {{name: app, image: {BB}, command: [sh, -c, "{LOOP}"]}}
"""
    env.node.write("l2.yaml", manifest("l2", spec))
    harness.wait_for(lambda: env.pod("l2") is not None, timeout=30, what="pod l2 in /pods")
    uid = env.pod("l2")["metadata"]["uid"]

    def attempts():
        return sorted(s.get("metadata", {}).get("attempt", 0) for s in env.sandboxes(uid))
    # Each sync finds the sandbox without an IP, kills it and makes the next
    # attempt, as podSandboxChanged makes the kubelet do.
    harness.wait_for(lambda: attempts() and attempts()[-1] >= 2, timeout=30,
                     what=f"sandbox attempts >= 2: {attempts()}\n{env.node.log()[-3000:]}")
    log = env.node.log()
    assert 'reason="sandbox has no IP address"' in log, log[-3000:]
    # At most one sandbox is ready at a time; the older ones are stopped.
    ready = [s for s in env.sandboxes(uid) if s.get("state", "SANDBOX_READY") == "SANDBOX_READY"]
    assert len(ready) <= 1, ready
    # A pod that has an IP again is left alone: the usual network back in
    # place, the next sandbox keeps its attempt.
    with open(env.conf, "w") as f:
        f.write(open(env.saved_conf).read())
    harness.wait_for(lambda: (env.pod("l2") or {}).get("status", {}).get("podIP", "")
                     .startswith("10.66.0."), timeout=30,
                     what=f"l2 with an IP: {env.pod('l2')}\n{env.node.log()[-3000:]}")
    env.wait_running("l2", "app", timeout=30)
    last = attempts()[-1]
    time.sleep(3)
    assert attempts()[-1] == last, attempts()


@pytest.fixture(params=RUNTIMES)
def env_rt(request, netns, tmp_path, images):
    e = Env(request.param, str(tmp_path), images)
    try:
        e.start()
    except Exception:
        e.stop()
        raise
    yield e
    e.stop()


@pytest.mark.network
def test_runtime_restart_kills_nothing(env_rt):
    """The runtime daemon dies and comes back (its containers live on, in
    their shims): an exec liveness probe that cannot reach it has no
    answer, not a failure (the kubelet retries, then throws the result
    away), so nothing is restarted; nodelet notices the runtime is back."""
    env = env_rt
    spec = f"""  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: {BB}
    command: [sh, -c, "{LOOP}"]
    livenessProbe: {{exec: {{command: ["true"]}}, periodSeconds: 1, failureThreshold: 1}}
"""
    env.node.write("live.yaml", manifest("live", spec))
    cs = env.wait_running("live", "app", timeout=60)
    env.runtime.proc.kill()
    env.runtime.proc.wait()
    harness.wait_for(lambda: "probe errored, result thrown away" in env.node.log(), timeout=15,
                     what=f"an errored probe\n{env.node.log()[-2000:]}")
    time.sleep(2)
    env.runtime.start(env.images)
    time.sleep(4)  # several probe periods with the runtime back
    after = env.cstatus("live", "app")
    assert after["restartCount"] == 0, after
    assert after["containerID"] == cs["containerID"]
    assert "probe failed" not in env.node.log(), env.node.log()[-3000:]
