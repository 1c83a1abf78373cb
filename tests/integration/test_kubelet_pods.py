"""nodelet's pod lifecycle end to end over a real CRI runtime: static pods
from a temp manifest directory run (logs in the /var/log/pods layout under
a temp podLogsDir), init containers in order, restartPolicy with the
kubelet's back-off, an edited manifest restarting exactly the changed
container, graceful removal (preStop, grace period), emptyDir/hostPath,
statuses on /pods, and kill -9 of nodelet adopting what runs. Every scenario
runs on containerd 1.6 and on our nodelet-cri."""
import json
import os
import shutil
import signal
import tempfile
import time
import uuid

import pytest

import containerd as rt
import criclient
import harness
from test_kubelet_lib import Nodelet

pytestmark = [pytest.mark.slow]

RUNTIMES = [
    pytest.param("containerd", marks=pytest.mark.skipif(
        not rt.CONTAINERD or not rt.CTR, reason="containerd not installed")),
    "nodelet-cri",
]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("images"))
    return [rt.build_image(d, rt.PAUSE_REF, entrypoint=["/bin/sleep"], cmd=["2147483647"],
                           tag="pause"),
            rt.build_image(d, rt.BUSYBOX_REF, cmd=["sh"], tag="busybox")]


class Env:
    def __init__(self, runtime, tmp, images):
        self.tmp = tmp
        # Short: unix socket paths below it must fit in sun_path.
        self.rt_dir = tempfile.mkdtemp(prefix="klrt-")
        self.runtime = rt.RUNTIMES[runtime](self.rt_dir)
        self.runtime_name = runtime
        self.logs = os.path.join(tmp, "logs")
        self.cgroot = "/nodelet-test-" + uuid.uuid4().hex[:8]
        cfg = os.path.join(tmp, "kubelet.yaml")
        with open(cfg, "w") as f:
            f.write("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
                    f"podLogsDir: {self.logs}\n")
        self.args = [f"--config={cfg}", f"--container-runtime-endpoint={self.runtime.endpoint}",
                     f"--cgroup-root={self.cgroot}", "--v=3"]
        self.images = images
        self.node = None

    def start(self):
        self.runtime.start(self.images)
        self.node = Nodelet(extra_args=self.args, node="kl-node").start()
        return self

    def restart_nodelet(self):
        self.node.proc.send_signal(signal.SIGKILL)
        self.node.proc.wait()
        self.node._log.close()
        self.node.log_path += ".2"
        self.node.start()

    def cri(self):
        return criclient.Client(self.runtime.sock, timeout=30)

    def pod(self, name):
        for p in self.node.pods()["items"]:
            if p["metadata"]["name"] == f"{name}-kl-node":
                return p
        return None

    def cstatus(self, pod, cname):
        p = self.pod(pod)
        if not p or "status" not in p:
            return None
        for cs in p["status"].get("containerStatuses", []) + \
                p["status"].get("initContainerStatuses", []):
            if cs["name"] == cname:
                return cs
        return None

    def wait_running(self, pod, cname, timeout=30, restart_count=None):
        def ok():
            cs = self.cstatus(pod, cname)
            if not cs or "running" not in cs["state"]:
                return False
            return restart_count is None or cs["restartCount"] == restart_count
        harness.wait_for(ok, timeout=timeout, interval=0.2,
                         what=f"{pod}/{cname} running; pod={self.pod(pod)}\n{self.node.log()[-3000:]}")
        return self.cstatus(pod, cname)

    def sandboxes(self, uid=None):
        with self.cri() as c:
            items = [criclient.to_dict(s) for s in c.ListPodSandbox().items]
        return [s for s in items if uid is None or
                s.get("labels", {}).get("io.kubernetes.pod.uid") == uid]

    def containers(self, uid):
        with self.cri() as c:
            items = [criclient.to_dict(s) for s in c.ListContainers().containers]
        return [s for s in items if s.get("labels", {}).get("io.kubernetes.pod.uid") == uid]

    def stop(self):
        sanitizer = None
        if self.node:
            self.node.stop()
            # Under SANITIZE=1 builds: any report fails the test.
            for path in (self.node.log_path, self.node.log_path.replace(".2", "")):
                if os.path.exists(path) and "Sanitizer" in open(path).read():
                    sanitizer = open(path).read()[-4000:]
        self.runtime.stop()
        # Our pod cgroups live below a test-unique root: remove it bottom-up.
        for ctrl in os.listdir("/sys/fs/cgroup"):
            top = os.path.join("/sys/fs/cgroup", ctrl, self.cgroot.lstrip("/"))
            if not os.path.isdir(top):
                continue
            for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -len(t[0])):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass
        if self.node:
            self.node.cleanup()
        shutil.rmtree(self.rt_dir, ignore_errors=True)
        assert sanitizer is None, sanitizer


@pytest.fixture(params=RUNTIMES)
def env(request, netns, tmp_path, images):
    e = Env(request.param, str(tmp_path), images)
    try:
        e.start()
    except Exception:
        e.stop()
        raise
    yield e
    e.stop()


def manifest(name, spec, uid=None, extra_meta=""):
    meta = f"  name: {name}\n  namespace: default\n" + (f"  uid: {uid}\n" if uid else "") + extra_meta
    return f"apiVersion: v1\nkind: Pod\nmetadata:\n{meta}spec:\n{spec}"


BB = rt.BUSYBOX_REF


@pytest.mark.network
def test_pod_runs_with_init_volumes_logs_status_and_graceful_removal(env, tmp_path):
    host = os.path.join(str(tmp_path), "host")
    spec = f"""  terminationGracePeriodSeconds: 4
  initContainers:
  - name: i1
    image: {BB}
    command: [sh, -c, 'echo i1 >> /data/order']
    volumeMounts: [{{name: scratch, mountPath: /data}}]
  - name: i2
    image: {BB}
    command: [sh, -c, 'echo i2 >> /data/order']
    volumeMounts: [{{name: scratch, mountPath: /data}}]
  containers:
  - name: app
    image: {BB}
    command: [sh, -c, 'echo hello $(MSG); cat /data/order; trap "echo TERM >> /host/events" TERM; while true; do sleep 0.2; done']
    env: [{{name: MSG, value: from-env}}]
    lifecycle:
      postStart: {{exec: {{command: [sh, -c, 'echo poststart >> /host/events']}}}}
      preStop: {{exec: {{command: [sh, -c, 'echo prestop >> /host/events']}}}}
    volumeMounts: [{{name: scratch, mountPath: /data}}, {{name: host, mountPath: /host}},
                   {{name: mem, mountPath: /mem}}]
  volumes:
  - {{name: scratch, emptyDir: {{}}}}
  - {{name: mem, emptyDir: {{medium: Memory, sizeLimit: 1Mi}}}}
  - {{name: host, hostPath: {{path: {host}, type: DirectoryOrCreate}}}}
"""
    env.node.write("web.yaml", manifest("web", spec))
    cs = env.wait_running("web", "app", timeout=60)
    p = env.pod("web")
    uid = p["metadata"]["uid"]
    st = p["status"]
    assert st["phase"] == "Running"
    conds = {c["type"]: c["status"] for c in st["conditions"]}
    assert conds["Initialized"] == "True" and conds["PodScheduled"] == "True"
    harness.wait_for(lambda: {c["type"]: c["status"] for c in env.pod("web")["status"]["conditions"]}
                     ["Ready"] == "True", timeout=10, what="Ready")
    prefix = "containerd://" if env.runtime_name == "containerd" else ""
    assert cs["containerID"].startswith(prefix) and "://" in cs["containerID"]
    assert cs["restartCount"] == 0 and cs["ready"] is True and cs["image"] == BB
    assert st["podIP"].startswith("10.66.0.")
    inits = env.pod("web")["status"]["initContainerStatuses"]
    assert [i["state"]["terminated"]["reason"] for i in inits] == ["Completed", "Completed"]
    assert os.path.isdir(host)  # DirectoryOrCreate

    # Logs: <podLogsDir>/<ns>_<name>_<uid>/<container>/<restart>.log, CRI format.
    logf = os.path.join(env.logs, f"default_web-kl-node_{uid}", "app", "0.log")
    harness.wait_for(lambda: os.path.exists(logf) and "i2" in open(logf).read(), timeout=10,
                     what="app log")
    lines = open(logf).read().splitlines()
    assert lines[0].split(" ", 3)[1:3] == ["stdout", "F"]
    assert [ln.split(" ", 3)[3] for ln in lines[:3]] == ["hello from-env", "i1", "i2"]

    # Labels and annotations as the kubelet sets them.
    sbs = env.sandboxes(uid)
    assert len(sbs) == 1
    assert sbs[0]["labels"]["io.kubernetes.pod.name"] == "web-kl-node"
    assert sbs[0]["labels"]["io.kubernetes.pod.namespace"] == "default"
    ctrs = {c["metadata"]["name"]: c for c in env.containers(uid)}
    app = ctrs["app"]
    assert app["labels"]["io.kubernetes.container.name"] == "app"
    assert app["annotations"]["io.kubernetes.container.restartCount"] == "0"
    assert app["annotations"]["io.kubernetes.pod.terminationGracePeriod"] == "4"
    assert app["annotations"]["io.kubernetes.container.terminationMessagePath"] == \
        "/dev/termination-log"
    emptydir = os.path.join(env.node.root, "pods", uid, "volumes", "kubernetes.io~empty-dir",
                            "scratch")
    assert open(os.path.join(emptydir, "order")).read() == "i1\ni2\n"
    memdir = os.path.join(env.node.root, "pods", uid, "volumes", "kubernetes.io~empty-dir", "mem")
    mounts = [ln.split() for ln in open("/proc/self/mountinfo")]
    mem = [m for m in mounts if m[4] == memdir]
    assert mem and "tmpfs" in mem[0] and "size=1024k" in mem[0][-1], mem

    # Removal: preStop runs, then TERM, which the app ignores: it is killed
    # when the grace period (4 s) ends, and the sandbox goes away.
    t0 = time.monotonic()
    os.unlink(os.path.join(env.node.manifests, "web.yaml"))
    harness.wait_for(lambda: not env.sandboxes(uid), timeout=30, what="sandbox removed")
    took = time.monotonic() - t0
    assert 3.0 <= took < 15, took
    assert open(os.path.join(host, "events")).read() == "poststart\nprestop\nTERM\n"
    # The pod directory (with the tmpfs) goes right after the sandbox.
    harness.wait_for(lambda: not os.path.exists(os.path.join(env.node.root, "pods", uid)),
                     timeout=5, what="pod directory removed")
    assert not [ln for ln in open("/proc/self/mountinfo") if memdir in ln]
    harness.wait_for(lambda: env.pod("web") is None, timeout=5, what="pod gone from /pods")


@pytest.mark.network
def test_restart_backoff_and_changed_container(env):
    uid = str(uuid.uuid4())
    spec = f"""  containers:
  - name: crash
    image: {BB}
    command: [sh, -c, 'echo run; exit 3']
  - name: stable
    image: {BB}
    command: [sh, -c, 'while true; do sleep 1; done']
"""
    env.node.write("cr.yaml", manifest("cr", spec, uid=uid))
    env.wait_running("cr", "stable", timeout=60)
    # First exit restarts at once; the second waits 10 s (CrashLoopBackOff).
    harness.wait_for(lambda: (env.cstatus("cr", "crash") or {}).get("restartCount", 0) >= 1,
                     timeout=15, what="first restart")

    def waiting_reason():
        cs = env.cstatus("cr", "crash")
        return cs and cs["state"].get("waiting", {}).get("reason")
    harness.wait_for(lambda: waiting_reason() == "CrashLoopBackOff", timeout=15,
                     what="CrashLoopBackOff")
    cs = env.cstatus("cr", "crash")
    assert "back-off 10s restarting failed container=crash" in cs["state"]["waiting"]["message"]
    assert cs["lastState"]["terminated"]["exitCode"] == 3
    assert cs["lastState"]["terminated"]["reason"] == "Error"
    # The evented PLEG: nodelet-cri streams container events, containerd
    # 1.6 does not implement GetContainerEvents (relist only).
    if env.runtime_name == "nodelet-cri":
        assert 'msg="container event"' in env.node.log()
    else:
        assert 'msg="container event"' not in env.node.log()
    t_backoff = time.monotonic()
    rc = cs["restartCount"]
    harness.wait_for(lambda: env.cstatus("cr", "crash")["restartCount"] > rc, timeout=20,
                     what="restart after back-off")
    assert time.monotonic() - t_backoff >= 7  # the window runs from the exit, ~10 s



@pytest.mark.network
def test_changed_manifest_replaces_the_pod(env):
    """Static pod UIDs hash the manifest: an edit is a new pod, the old one
    is terminated (as the kubelet does)."""
    spec = f"""  terminationGracePeriodSeconds: 1
  containers:
  - {{name: a, image: {BB}, command: [sh, -c, 'while true; do sleep 1; done']}}
"""
    env.node.write("ch.yaml", manifest("ch", spec))
    env.wait_running("ch", "a", timeout=60)
    old_uid = env.pod("ch")["metadata"]["uid"]
    env.node.write("ch.yaml", manifest("ch", spec.replace("sleep 1", "sleep 2")))
    harness.wait_for(lambda: (env.pod("ch") or {}).get("metadata", {}).get("uid") != old_uid,
                     timeout=10, what="new uid")
    env.wait_running("ch", "a", timeout=30)
    harness.wait_for(lambda: not env.sandboxes(old_uid), timeout=30, what="old pod removed")
    new_uid = env.pod("ch")["metadata"]["uid"]
    assert len(env.sandboxes(new_uid)) == 1
    # Removed and put back while it terminates: it terminates, then runs
    # again in a new sandbox.
    old_sb = env.sandboxes(new_uid)[0]["id"]
    content = open(os.path.join(env.node.manifests, "ch.yaml")).read()
    os.unlink(os.path.join(env.node.manifests, "ch.yaml"))
    time.sleep(0.3)
    env.node.write("ch.yaml", content)
    harness.wait_for(lambda: [s["id"] for s in env.sandboxes(new_uid)] not in ([], [old_sb]),
                     timeout=30, what="pod back in a new sandbox")
    cs = env.wait_running("ch", "a", timeout=30)
    assert cs["restartCount"] == 0


LOOP = "trap 'exit 0' TERM; while true; do sleep 1; done"


@pytest.mark.network
def test_changed_container_restarts_alone(env):
    """An edited manifest that keeps its metadata.uid is an UPDATE of the
    same pod (the kubelet's checkAndUpdatePod): only the changed container
    restarts, in the same sandbox; a label-only edit restarts nothing. Then
    a worker blocked in a long grace period (a container ignoring SIGTERM,
    30 s) does not hold up nodelet's exit."""
    uid = str(uuid.uuid4())
    stubborn = "trap '' TERM; while true; do sleep 1; done"
    spec = f"""  terminationGracePeriodSeconds: 30
  containers:
  - {{name: one, image: {BB}, command: [sh, -c, "{LOOP}"]}}
  - {{name: two, image: {BB}, command: [sh, -c, "{LOOP}"]}}
  - {{name: stubborn, image: {BB}, command: [sh, -c, "{stubborn}"]}}
"""
    env.node.write("ip.yaml", manifest("ip", spec, uid=uid))
    for c in ("one", "two", "stubborn"):
        env.wait_running("ip", c, timeout=60)
    sb_before = [s["id"] for s in env.sandboxes(uid)]
    two_id = env.cstatus("ip", "two")["containerID"]
    one_id = env.cstatus("ip", "one")["containerID"]
    changed = spec.replace(f'- {{name: two, image: {BB}, command: [sh, -c, "{LOOP}"]}}',
                           f'- {{name: two, image: {BB}, command: [sh, -c, "{LOOP.replace("sleep 1", "sleep 2")}"]}}')
    assert changed != spec
    t0 = time.monotonic()
    env.node.write("ip.yaml", manifest("ip", changed, uid=uid))
    cs = env.wait_running("ip", "two", timeout=15, restart_count=1)
    assert time.monotonic() - t0 < 10
    assert cs["lastState"]["terminated"]["containerID"] == two_id
    assert env.cstatus("ip", "one")["restartCount"] == 0
    assert env.cstatus("ip", "one")["containerID"] == one_id
    assert [s["id"] for s in env.sandboxes(uid)] == sb_before
    assert env.pod("ip")["metadata"]["uid"] == uid
    ups = [e for e in env.node.events() if e[0] == "UPDATE"]
    assert ups and ups[-1][2] == uid, env.node.events()
    # Labels only: the pod is updated (UPDATE, /pods shows the label), no
    # container restarts.
    env.node.write("ip.yaml", manifest("ip", changed, uid=uid, extra_meta="  labels: {tier: x}\n"))
    harness.wait_for(lambda: env.pod("ip")["metadata"].get("labels", {}).get("tier") == "x",
                     timeout=10, what="label on /pods")
    time.sleep(1.5)
    assert env.cstatus("ip", "two")["restartCount"] == 1
    assert env.cstatus("ip", "one")["restartCount"] == 0
    # The stubborn container changes: its kill waits out 30 s in the
    # runtime; nodelet still stops at once (the pods keep running).
    env.node.write("ip.yaml", manifest("ip", changed.replace("trap '' TERM; while true; do sleep 1",
                                                             "trap '' TERM; while true; do sleep 2"),
                                       uid=uid, extra_meta="  labels: {tier: x}\n"))
    harness.wait_for(lambda: "reason=\"container spec changed\"" in env.node.log()
                     and "name=stubborn" in env.node.log(), timeout=10, what="kill started")
    time.sleep(0.5)
    t0 = time.monotonic()
    assert env.node.stop() == 0
    took = time.monotonic() - t0
    assert took < 6, took
    assert "pod worker busy at shutdown" in env.node.log()


@pytest.mark.network
def test_host_network_update_recreates_the_sandbox(env):
    """podSandboxChanged (kuberuntime_manager.go): an UPDATE of the same
    UID that flips hostNetwork changes the sandbox's network namespace
    mode, so every container is killed, a new sandbox (attempt + 1) is
    created and the containers start again in it (restart count going on);
    the old sandbox is stopped. hostIPC alone changes neither the sandbox
    nor the containers (the kubelet compares only the network mode)."""
    # The node needs an address for hostIP (a hostNetwork pod's IP): a
    # veth pair in the test's own network namespace, picked up at start.
    import subprocess
    for cmd in (["ip", "link", "add", "kl-hn0", "type", "veth", "peer", "name", "kl-hn1"],
                ["ip", "addr", "add", "198.51.100.7/24", "dev", "kl-hn0"],
                ["ip", "link", "set", "kl-hn1", "up"],
                ["ip", "link", "set", "kl-hn0", "up"]):
        subprocess.run(cmd, check=True)
    env.restart_nodelet()
    uid = str(uuid.uuid4())
    spec = f"""  terminationGracePeriodSeconds: 2
  containers:
  - {{name: c, image: {BB}, command: [sh, -c, "{LOOP}"]}}
"""
    env.node.write("hn.yaml", manifest("hn", spec, uid=uid))
    cs0 = env.wait_running("hn", "c", timeout=60)
    sbs = env.sandboxes(uid)
    assert len(sbs) == 1, sbs
    sb0 = sbs[0]["id"]
    pod_ip = env.pod("hn")["status"]["podIP"]
    host_ip = env.pod("hn")["status"]["hostIP"]
    assert host_ip == "198.51.100.7"
    assert pod_ip and pod_ip != host_ip

    def net_mode(sid):
        with env.cri() as c:
            st = criclient.to_dict(c.PodSandboxStatus(pod_sandbox_id=sid).status)
        return st.get("linux", {}).get("namespaces", {}).get("options", {}).get("network", "POD")

    def ready_sandbox():
        ready = [s for s in env.sandboxes(uid) if s.get("state", "SANDBOX_READY") == "SANDBOX_READY"]
        return ready[0] if len(ready) == 1 else None

    assert net_mode(sb0) == "POD"
    # hostIPC only: same sandbox, same container.
    env.node.write("hn.yaml", manifest("hn", "  hostIPC: true\n" + spec, uid=uid))
    harness.wait_for(lambda: [e for e in env.node.events() if e[0] == "UPDATE" and e[2] == uid],
                     timeout=10, what="UPDATE")
    time.sleep(2.5)
    assert [s["id"] for s in env.sandboxes(uid)] == [sb0]
    assert env.cstatus("hn", "c")["containerID"] == cs0["containerID"]
    assert env.cstatus("hn", "c")["restartCount"] == 0
    # hostNetwork: a new sandbox in the node's network namespace.
    t0 = time.monotonic()
    env.node.write("hn.yaml", manifest("hn", "  hostNetwork: true\n" + spec, uid=uid))
    harness.wait_for(lambda: (ready_sandbox() or {}).get("id", sb0) != sb0, timeout=30,
                     what=f"a new sandbox; {env.sandboxes(uid)}\n{env.node.log()[-3000:]}")
    sb1 = ready_sandbox()
    assert net_mode(sb1["id"]) == "NODE"
    assert sb1["metadata"].get("attempt", 0) == 1, sb1
    cs1 = env.wait_running("hn", "c", timeout=30, restart_count=1)
    assert time.monotonic() - t0 < 20
    assert cs1["containerID"] != cs0["containerID"]
    assert cs1["lastState"]["terminated"]["containerID"] == cs0["containerID"]
    st = env.pod("hn")["status"]
    assert st["podIP"] == host_ip, st
    old = [s for s in env.sandboxes(uid) if s["id"] == sb0]
    assert not old or old[0]["state"] == "SANDBOX_NOTREADY", old
    ctrs = {c["id"]: c for c in env.containers(uid)}
    assert ctrs[cs1["containerID"].split("://")[-1]]["pod_sandbox_id"] == sb1["id"]
    assert ('msg="a new pod sandbox is needed"' in env.node.log()
            and 'reason="network namespace changed"' in env.node.log())
    # And back: a third sandbox with a pod IP again.
    env.node.write("hn.yaml", manifest("hn", spec, uid=uid))
    harness.wait_for(lambda: (ready_sandbox() or {}).get("id", sb1["id"]) not in (sb0, sb1["id"]),
                     timeout=30, what=f"a third sandbox; {env.sandboxes(uid)}")
    sb2 = ready_sandbox()
    assert net_mode(sb2["id"]) == "POD"
    assert sb2["metadata"].get("attempt", 0) == 2, sb2
    env.wait_running("hn", "c", timeout=30, restart_count=2)
    harness.wait_for(lambda: env.pod("hn")["status"].get("podIP") not in (None, host_ip),
                     timeout=10, what=f"pod IP; {env.pod('hn')['status']}")


@pytest.mark.network
def test_restart_policies_and_pull_policy_never(env):
    never = f"""  restartPolicy: Never
  containers:
  - {{name: once, image: {BB}, command: [sh, -c, 'echo all done > /dev/termination-log']}}
"""
    fallback = f"""  restartPolicy: Never
  containers:
  - {{name: fb, image: {BB}, command: [sh, -c, 'echo first; echo oops; exit 2'],
     terminationMessagePolicy: FallbackToLogsOnError}}
"""
    onfail = f"""  restartPolicy: OnFailure
  containers:
  - {{name: fail, image: {BB}, command: [sh, -c, 'test -f /tmp/x || {{ touch /tmp/x; exit 1; }}']}}
"""
    missing = """  containers:
  - {name: m, image: "nodelet.local/absent:1", imagePullPolicy: Never}
"""
    env.node.write("never.yaml", manifest("never", never))
    env.node.write("onfail.yaml", manifest("onfail", onfail))
    env.node.write("missing.yaml", manifest("missing", missing))
    env.node.write("fallback.yaml", manifest("fallback", fallback))
    deadline = f"""  activeDeadlineSeconds: 3
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: s, image: {BB}, command: [sleep, "1000"]}}
"""
    env.node.write("dl.yaml", manifest("dl", deadline))
    harness.wait_for(lambda: (env.pod("never") or {}).get("status", {}).get("phase") == "Succeeded",
                     timeout=60, what=f"Succeeded: {env.pod('never')}")
    cs = env.cstatus("never", "once")
    assert cs["state"]["terminated"]["reason"] == "Completed" and cs["restartCount"] == 0
    assert cs["state"]["terminated"]["message"] == "all done\n"
    harness.wait_for(lambda: (env.pod("fallback") or {}).get("status", {}).get("phase") == "Failed",
                     timeout=30, what=f"Failed: {env.pod('fallback')}")
    t = env.cstatus("fallback", "fb")["state"]["terminated"]
    assert t["exitCode"] == 2 and t["reason"] == "Error" and t["message"] == "first\noops\n"
    # OnFailure: one failed run (container fs persists? no: a new container,
    # so /tmp/x is gone and it fails again -> restarts with back-off).
    harness.wait_for(lambda: (env.cstatus("onfail", "fail") or {}).get("restartCount", 0) >= 1,
                     timeout=30, what="OnFailure restart")
    harness.wait_for(lambda: (env.cstatus("missing", "m") or {}).get("state", {})
                     .get("waiting", {}).get("reason") == "ErrImageNeverPull",
                     timeout=30, what="ErrImageNeverPull")
    msg = env.cstatus("missing", "m")["state"]["waiting"]["message"]
    assert 'Container image "nodelet.local/absent:1" is not present with pull policy of Never' in msg
    harness.wait_for(lambda: (env.pod("dl") or {}).get("status", {}).get("phase") == "Failed",
                     timeout=30, what=f"deadline: {env.pod('dl')}")
    st = env.pod("dl")["status"]
    assert st["reason"] == "DeadlineExceeded"
    assert "terminated" in env.cstatus("dl", "s")["state"]
    time.sleep(2)
    assert env.cstatus("never", "once")["restartCount"] == 0
    assert env.cstatus("dl", "s")["restartCount"] == 0


@pytest.mark.network
def test_kill9_adopts_running_pods_and_stops_removed_ones(env, tmp_path):
    spec = f"""  terminationGracePeriodSeconds: 2
  containers:
  - {{name: c, image: {BB}, command: [sh, -c, 'while true; do sleep 1; done']}}
"""
    # The pod removed while nodelet is down has a preStop httpGet to a named
    # port: run from the container's annotations (handler and ports).
    host = os.path.join(str(tmp_path), "host")
    os.makedirs(host)
    with open(os.path.join(host, "hook"), "w") as f:
        f.write('#!/bin/sh\necho "$REQUEST_URI" >> /host/events\necho "Content-Type: text/plain"\n'
                'echo\necho ok\n')
    drop = f"""  terminationGracePeriodSeconds: 2
  containers:
  - name: c
    image: {BB}
    command: [sh, -c, 'mkdir -p /www/cgi-bin; cp /host/hook /www/cgi-bin/; chmod +x /www/cgi-bin/hook; httpd -f -p 8080 -h /www & trap "exit 0" TERM; while true; do sleep 1; done']
    ports: [{{name: web, containerPort: 8080}}]
    lifecycle: {{preStop: {{httpGet: {{port: web, path: /cgi-bin/hook?bye}}}}}}
    volumeMounts: [{{name: host, mountPath: /host}}]
  volumes:
  - {{name: host, hostPath: {{path: {host}}}}}
"""
    env.node.write("keep.yaml", manifest("keep", spec))
    env.node.write("drop.yaml", manifest("drop", drop))
    env.wait_running("keep", "c", timeout=60)
    env.wait_running("drop", "c", timeout=60)
    keep_uid = env.pod("keep")["metadata"]["uid"]
    drop_uid = env.pod("drop")["metadata"]["uid"]
    keep_ids = sorted(c["id"] for c in env.containers(keep_uid))
    keep_sb = [s["id"] for s in env.sandboxes(keep_uid)]
    drop_cg = os.path.join("/sys/fs/cgroup/memory", env.cgroot.lstrip("/"), "kubepods",
                           "besteffort", f"pod{drop_uid}")
    assert os.path.isdir(drop_cg)

    env.node.proc.send_signal(signal.SIGKILL)
    env.node.proc.wait()
    os.unlink(os.path.join(env.node.manifests, "drop.yaml"))
    env.node._log.close()
    env.node.log_path += ".2"
    env.node.start()
    harness.wait_for(lambda: not env.sandboxes(drop_uid), timeout=30,
                     what=f"orphan pod stopped\n{env.node.log()}")
    assert open(os.path.join(host, "events")).read() == "/cgi-bin/hook?bye\n"
    # Its pod cgroup goes too, although its spec (QoS class) is unknown.
    harness.wait_for(lambda: not os.path.exists(drop_cg), timeout=10, what="orphan pod cgroup")
    assert os.path.exists(drop_cg.replace(drop_uid, keep_uid))
    env.wait_running("keep", "c", timeout=30)
    time.sleep(2)
    assert sorted(c["id"] for c in env.containers(keep_uid)) == keep_ids
    assert [s["id"] for s in env.sandboxes(keep_uid)] == keep_sb
    assert env.cstatus("keep", "c")["restartCount"] == 0
    assert "container started" not in env.node.log()


@pytest.mark.network
def test_probes_drive_ready_and_restarts(env):
    spec = f"""  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: {BB}
    command: [sh, -c, 'mkdir -p /www; (sleep 3; echo ok > /www/ready) & exec httpd -f -p 8080 -h /www']
    ports: [{{name: http, containerPort: 8080}}]
    readinessProbe: {{httpGet: {{path: /ready, port: http}}, periodSeconds: 1}}
  - name: tcp
    image: {BB}
    command: [httpd, -f, -p, "9090", -h, /tmp]
    readinessProbe: {{tcpSocket: {{port: 9090}}, periodSeconds: 1}}
  - name: live
    image: {BB}
    command: [sh, -c, 'touch /tmp/alive; sleep 3; rm /tmp/alive; exec sleep 1000']
    livenessProbe: {{exec: {{command: [test, -f, /tmp/alive]}}, periodSeconds: 1, failureThreshold: 2}}
"""
    env.node.write("pr.yaml", manifest("pr", spec))
    env.wait_running("pr", "web", timeout=60)
    t0 = time.monotonic()
    # Not ready until /ready exists (about 3 s), then ready.
    assert env.cstatus("pr", "web")["ready"] is False
    harness.wait_for(lambda: env.cstatus("pr", "web")["ready"], timeout=15, what="web ready")
    assert time.monotonic() - t0 >= 1.5
    harness.wait_for(lambda: env.cstatus("pr", "tcp")["ready"], timeout=10, what="tcp ready")
    # Liveness: fails twice after /tmp/alive goes -> killed and restarted.
    harness.wait_for(lambda: env.cstatus("pr", "live")["restartCount"] >= 1, timeout=30,
                     what=f"liveness restart\n{env.node.log()[-2000:]}")
    cs = env.cstatus("pr", "live")
    assert cs["lastState"]["terminated"]["exitCode"] in (137, 143)
    assert "failed liveness probe, will be restarted" in env.node.log()
    assert env.cstatus("pr", "web")["restartCount"] == 0
    conds = {c["type"]: c["status"] for c in env.pod("pr")["status"]["conditions"]}
    assert conds["Initialized"] == "True"
