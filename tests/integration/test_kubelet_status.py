"""The PodStatus nodelet publishes on /pods, as the kubelet's
generateAPIPodStatus and status manager make it: a steady pod's conditions
keep their lastTransitionTime (the status does not change at every sync),
the kubelet's condition messages ("containers with unready status: [c]",
"containers with incomplete status: [i1]"), an init container that ran is
ready while app containers not created yet wait with PodInitializing, and the
CrashLoopBackOff message in Go duration format. Runs on containerd 1.6 and
on our nodelet-cri; the four pods run side by side (~25 s per runtime)."""
import time

import pytest

import harness
from test_kubelet_pods import BB, env, images, manifest  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.slow]

LOOP = "trap 'exit 0' TERM; while true; do sleep 1; done"


def cond(pod, ctype):
    for c in (pod or {}).get("status", {}).get("conditions", []):
        if c["type"] == ctype:
            return c
    return None


@pytest.mark.network
def test_conditions_messages_init_and_backoff(env):
    head = "  terminationGracePeriodSeconds: 1\n"
    env.node.write("steady.yaml", manifest("steady", head + f"""  containers:
  - {{name: c, image: {BB}, command: [sh, -c, "{LOOP}"]}}
"""))
    env.node.write("unready.yaml", manifest("unready", head + f"""  containers:
  - name: c
    image: {BB}
    command: [sh, -c, "{LOOP}"]
    readinessProbe: {{exec: {{command: ["false"]}}, periodSeconds: 1}}
"""))
    env.node.write("init.yaml", manifest("init", head + f"""  initContainers:
  - {{name: i1, image: {BB}, command: [sleep, "3"]}}
  containers:
  - {{name: app, image: {BB}, command: [sh, -c, "{LOOP}"]}}
"""))
    env.node.write("crash.yaml", manifest("crash", head + f"""  containers:
  - {{name: x, image: {BB}, command: [sh, -c, "exit 1"]}}
"""))

    # While the init container runs: it is not ready, the app container
    # waits with PodInitializing, Initialized names the init container.
    def init_running():
        cs = env.cstatus("init", "i1")
        return cs and "running" in cs["state"]
    harness.wait_for(init_running, timeout=60, interval=0.2,
                     what=f"init container running: {env.pod('init')}")
    p = env.pod("init")
    assert p["status"]["initContainerStatuses"][0]["ready"] is False
    app = p["status"]["containerStatuses"][0]
    assert app["state"] == {"waiting": {"reason": "PodInitializing"}}, p["status"]
    ini = cond(p, "Initialized")
    assert ini["status"] == "False" and ini["reason"] == "ContainersNotInitialized"
    assert ini["message"] == "containers with incomplete status: [i1]"
    assert cond(p, "Ready")["message"] == "containers with unready status: [app]"

    # Once it exited 0 it reports ready: true (terminated, Completed).
    env.wait_running("init", "app", timeout=30)
    i1 = env.cstatus("init", "i1")
    assert i1["ready"] is True and i1["state"]["terminated"]["reason"] == "Completed"
    harness.wait_for(lambda: cond(env.pod("init"), "Ready")["status"] == "True", timeout=10,
                     what=f"init pod ready: {env.pod('init')}")
    ini = cond(env.pod("init"), "Initialized")
    assert ini["status"] == "True" and "message" not in ini

    # A failing readiness probe: the kubelet's unready message.
    env.wait_running("unready", "c", timeout=30)
    for ctype in ("Ready", "ContainersReady"):
        c = cond(env.pod("unready"), ctype)
        assert c["status"] == "False" and c["reason"] == "ContainersNotReady"
        assert c["message"] == "containers with unready status: [c]"

    # A steady Running pod: the conditions (their lastTransitionTime
    # included) do not change from one read to the next.
    env.wait_running("steady", "c", timeout=30)
    harness.wait_for(lambda: cond(env.pod("steady"), "Ready")["status"] == "True", timeout=10,
                     what="steady pod ready")
    first = env.pod("steady")["status"]["conditions"]
    time.sleep(2.2)
    second = env.pod("steady")["status"]["conditions"]
    assert first == second
    assert all(c["lastTransitionTime"] for c in second)

    # Exits at once: restarted at once, then after 10 s, then the back-off
    # is 20 s (Go duration format, the pod as name_namespace(uid)).
    def backoff20():
        cs = env.cstatus("crash", "x")
        w = (cs or {}).get("state", {}).get("waiting", {})
        return w.get("reason") == "CrashLoopBackOff" and cs["restartCount"] == 2 and \
            w.get("message", "").startswith("back-off 20s restarting failed container=x pod=")
    harness.wait_for(backoff20, timeout=40, interval=0.3,
                     what=f"back-off 20s: {env.cstatus('crash', 'x')}")
    p = env.pod("crash")
    msg = p["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
    assert msg.endswith(f"pod={p['metadata']['name']}_default({p['metadata']['uid']})"), msg
    r = cond(p, "ContainersReady")
    assert r["status"] == "False" and r["message"] == "containers with unready status: [x]"
