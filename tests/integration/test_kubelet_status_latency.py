"""/pods follows the runtime closely: once the CRI reports a pod's container
RUNNING, /pods shows it running (phase Running) within a bound. A pod
worker's sync publishes its status when it changed (coalesced by one
publisher thread) and re-observes right after it started something, rather
than waiting for the next one-second relist. Runs on containerd 1.6 and on
our nodelet-cri."""
import statistics
import threading
import time

import pytest

import criclient
from test_kubelet_pods import BB, env, images, manifest  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.slow]

# Generous for a loaded 2-core machine; before publication on sync the lag
# was the relist period (~1 s, p50 1024 ms on nodelet-cri).
BOUND_S = 0.3


def first_seen(pred, stop, out, key):
    """Poll pred() until true; record the monotonic time it first was."""
    while not stop.is_set():
        try:
            if pred():
                out[key] = time.monotonic()
                return
        except Exception:  # a transient CRI/HTTP error: poll again
            pass
        time.sleep(0.005)


def one_lag(env, cri, name):
    spec = f"""  terminationGracePeriodSeconds: 0
  containers:
  - {{name: c, image: {BB}, command: [sh, -c, 'trap "exit 0" TERM; while true; do sleep 1; done']}}
"""
    full = f"{name}-kl-node"

    def cri_running():
        for c in cri.ListContainers().containers:
            if c.labels.get("io.kubernetes.pod.name") == full and c.state == 1:
                return True
        return False

    def pods_running():
        p = env.pod(name)
        st = (p or {}).get("status", {})
        return st.get("phase") == "Running" and any(
            "running" in cs.get("state", {}) for cs in st.get("containerStatuses", []))

    stop = threading.Event()
    seen = {}
    ths = [threading.Thread(target=first_seen, args=(cri_running, stop, seen, "cri")),
           threading.Thread(target=first_seen, args=(pods_running, stop, seen, "pods"))]
    for t in ths:
        t.start()
    env.node.write(f"{name}.yaml", manifest(name, spec))
    deadline = time.monotonic() + 60
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    for t in ths:
        t.join()
    assert len(seen) == 2, (seen, env.node.log()[-3000:])
    # /pods may see it first when the CRI poll was mid-call: lag 0.
    return max(0.0, seen["pods"] - seen["cri"])


@pytest.mark.network
def test_pods_reports_running_soon_after_cri(env):
    with env.cri() as cri:
        # The first pod pulls/unpacks the images: measured, not counted.
        one_lag(env, cri, "warm")
        lags = [one_lag(env, cri, f"lat{i}") for i in range(3)]
    med = statistics.median(lags)
    print(f"{env.runtime_name}: /pods after CRI running: {[round(x * 1000) for x in lags]} ms")
    assert med <= BOUND_S, f"/pods lags the CRI by {lags} s (median {med:.3f})"
