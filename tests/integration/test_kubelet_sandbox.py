"""What nodelet gives a pod's sandbox and containers besides the spec's own
volumes, as the kubelet does: the hostname (the pod's name cut to 63
characters without a trailing '-' or '.') and the kubelet-managed /etc/hosts
(localhost entries, the pod's IP and hostname, hostAliases; for a
hostNetwork pod the node's file plus the aliases); the admission of pods
by maxPods (OutOfpods) and status.startTime from the first sync. Runs on
containerd 1.6 and on our nodelet-cri."""
import glob
import os
import subprocess
import time

import pytest

import harness
from test_kubelet_pods import BB, RUNTIMES, Env, env, images, manifest  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.slow]

LOOP = "trap 'exit 0' TERM; while true; do sleep 1; done"


def output(env, pod, cname, marker, timeout=30):
    """The container's log lines once marker shows (CRI format stripped)."""
    def ready():
        cs = env.cstatus(pod, cname)
        if not cs or "containerID" not in cs:
            return None
        p = env.pod(pod)
        d = os.path.join(env.logs, f"default_{p['metadata']['name']}_{p['metadata']['uid']}",
                         cname)
        for f in sorted(glob.glob(os.path.join(d, "*.log"))):
            text = open(f).read()
            if marker in text:
                return [ln.split(" ", 3)[3] for ln in text.splitlines() if ln.count(" ") >= 3]
        return None
    return harness.wait_for(ready, timeout=timeout, interval=0.2,
                            what=f"{pod}/{cname} output with {marker}\n{env.node.log()[-2000:]}")


@pytest.mark.network
def test_hostname_and_managed_hosts_file(env):
    name = "a" * 62 + "-b"  # the full name is over 63: cut at a '-'
    spec = f"""  terminationGracePeriodSeconds: 1
  hostAliases:
  - {{ip: 192.0.2.10, hostnames: [foo.local, bar.local]}}
  - {{ip: "2001:db8::1", hostnames: [six.local]}}
  containers:
  - name: c
    image: {BB}
    command:
    - sh
    - -c
    - |
      echo "host=$(hostname)"; cat /etc/hosts; echo END; {LOOP}
"""
    env.node.write("long.yaml", manifest(name, spec))
    full = f"{name}-kl-node"
    env.wait_running(name, "c", timeout=60)
    lines = output(env, name, "c", "END")
    assert lines[0] == "host=" + "a" * 62, lines[0]
    ip = env.pod(name)["status"]["podIP"]
    hosts = lines[1:lines.index("END")]
    assert hosts[:7] == ["# Kubernetes-managed hosts file.", "127.0.0.1\tlocalhost",
                         "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet",
                         "fe00::0\tip6-mcastprefix", "fe00::1\tip6-allnodes",
                         "fe00::2\tip6-allrouters"], hosts
    assert hosts[7] == f"{ip}\t{'a' * 62}", hosts
    assert hosts[8:] == ["", "# Entries added by HostAliases.",
                         "192.0.2.10\tfoo.local\tbar.local", "2001:db8::1\tsix.local"], hosts
    assert len(full) > 63

    # hostNetwork: the node's own file, with a header and the aliases. The
    # file is mounted only with pod IPs, a hostNetwork pod's being the
    # node's: the node gets an address (a veth pair in the test's own
    # network namespace, picked up at start).
    for cmd in (["ip", "link", "add", "kl-sb0", "type", "veth", "peer", "name", "kl-sb1"],
                ["ip", "addr", "add", "198.51.100.8/24", "dev", "kl-sb0"],
                ["ip", "link", "set", "kl-sb0", "up"]):
        subprocess.run(cmd, check=True)
    env.restart_nodelet()
    hn = f"""  terminationGracePeriodSeconds: 1
  hostNetwork: true
  hostAliases:
  - {{ip: 192.0.2.11, hostnames: [baz.local]}}
  containers:
  - name: c
    image: {BB}
    command:
    - sh
    - -c
    - |
      cat /etc/hosts; echo END; {LOOP}
"""
    env.node.write("hn.yaml", manifest("hn", hn))
    env.wait_running("hn", "c", timeout=60)
    lines = output(env, "hn", "c", "END")
    hosts = lines[:lines.index("END")]
    node = open("/etc/hosts").read().splitlines()
    assert hosts[0] == "# Kubernetes-managed hosts file (host network).", hosts
    assert hosts[1:1 + len(node)] == node, hosts
    assert hosts[-2:] == ["# Entries added by HostAliases.", "192.0.2.11\tbaz.local"], hosts


# ---- admission and startTime ----

@pytest.fixture(params=RUNTIMES)
def env_max2(request, netns, tmp_path, images):
    e = Env(request.param, str(tmp_path), images)
    with open(e.args[0].split("=", 1)[1], "a") as f:
        f.write("maxPods: 2\n")
    try:
        e.start()
    except Exception:
        e.stop()
        raise
    yield e
    e.stop()


@pytest.mark.network
def test_max_pods_rejects_and_start_time_from_first_sync(env_max2):
    env = env_max2
    spec = f"""  terminationGracePeriodSeconds: 1
  containers:
  - {{name: c, image: {BB}, command: [sh, -c, "{LOOP}"]}}
"""
    # A pod that never gets a container still has a startTime (the first
    # sync), and its activeDeadlineSeconds runs from it.
    never = """  activeDeadlineSeconds: 4
  containers:
  - {name: c, image: nodelet.local/absent:1, imagePullPolicy: Never}
"""
    env.node.write("never.yaml", manifest("never", never))
    harness.wait_for(lambda: (env.cstatus("never", "c") or {}).get("state", {}).get(
        "waiting", {}).get("reason") == "ErrImageNeverPull", timeout=30, what="ErrImageNeverPull")
    assert env.pod("never")["status"].get("startTime"), env.pod("never")
    harness.wait_for(lambda: env.pod("never")["status"].get("reason") == "DeadlineExceeded",
                     timeout=15, what=f"deadline exceeded: {env.pod('never')}")
    assert env.pod("never")["status"]["phase"] == "Failed"
    # maxPods 2: the pod above is Failed (terminal) and does not count;
    # two more run, the third is refused.
    env.node.write("p1.yaml", manifest("p1", spec))
    env.node.write("p2.yaml", manifest("p2", spec))
    env.wait_running("p1", "c", timeout=60)
    env.wait_running("p2", "c", timeout=60)
    env.node.write("p3.yaml", manifest("p3", spec))
    harness.wait_for(lambda: (env.pod("p3") or {}).get("status", {}).get("phase") == "Failed",
                     timeout=10, what=f"p3 rejected: {env.pod('p3')}")
    st = env.pod("p3")["status"]
    assert st["reason"] == "OutOfpods", st
    assert st["message"] == ("Pod was rejected: Node didn't have enough resource: pods, "
                             "requested: 1, used: 2, capacity: 2"), st
    assert st.get("startTime"), st
    time.sleep(2)
    assert env.sandboxes(env.pod("p3")["metadata"]["uid"]) == []
    # Room again, and the manifest changed (a new pod): admitted.
    os.unlink(os.path.join(env.node.manifests, "p1.yaml"))
    harness.wait_for(lambda: env.pod("p1") is None, timeout=30, what="p1 gone")
    env.node.write("p3.yaml", manifest("p3", spec.replace("sleep 1", "sleep 2")))
    env.wait_running("p3", "c", timeout=60)
    # Removing a rejected pod works too.
    env.node.write("p4.yaml", manifest("p4", spec))
    harness.wait_for(lambda: (env.pod("p4") or {}).get("status", {}).get("reason") ==
                     "OutOfpods", timeout=10, what="p4 rejected")
    os.unlink(os.path.join(env.node.manifests, "p4.yaml"))
    harness.wait_for(lambda: env.pod("p4") is None, timeout=10, what="p4 gone")


# ---- the image service ----

@pytest.fixture(params=RUNTIMES)
def env_img_ep(request, netns, tmp_path, images):
    e = Env(request.param, str(tmp_path), images)
    with open(e.args[0].split("=", 1)[1], "a") as f:
        f.write(f"imageServiceEndpoint: unix://{tmp_path}/no-image-service.sock\n"
                "runtimeRequestTimeout: 3s\n")
    try:
        e.start()
    except Exception:
        e.stop()
        raise
    yield e
    e.stop()


@pytest.mark.network
def test_image_service_endpoint_is_used(env_img_ep):
    """Image calls go to imageServiceEndpoint: with nothing there, the
    image cannot be inspected (the kubelet's ImageInspectError, with the
    gRPC error as Go prints it), while the runtime itself is fine."""
    env = env_img_ep
    env.node.write("img.yaml", manifest("img", f"""  containers:
  - {{name: c, image: {BB}}}
"""))

    def waiting():
        return (env.cstatus("img", "c") or {}).get("state", {}).get("waiting", {})
    harness.wait_for(lambda: waiting().get("reason") == "ImageInspectError", timeout=30,
                     what=f"ImageInspectError: {env.pod('img')}\n{env.node.log()[-2000:]}")
    msg = waiting()["message"]
    assert msg.startswith(f'Failed to inspect image "{BB}": rpc error: code = Unavailable desc = '), msg
    # No pull was tried, so there is no pull back-off: every sync inspects
    # again and says so (the kubelet's ErrImageInspect).
    time.sleep(12)
    assert waiting().get("reason") == "ImageInspectError", waiting()


@pytest.mark.network
def test_pull_error_then_back_off(env):
    """A pull that fails: ErrImagePull with the runtime's error as the
    kubelet shows it (Go's gRPC spelling), then ImagePullBackOff."""
    image = "127.0.0.1:1/nothing/here:1"
    env.node.write("pull.yaml", manifest("pull", f"""  containers:
  - {{name: c, image: "{image}", imagePullPolicy: Always}}
"""))

    def waiting():
        return (env.cstatus("pull", "c") or {}).get("state", {}).get("waiting", {})
    harness.wait_for(lambda: waiting().get("reason") == "ErrImagePull", timeout=30,
                     what=f"ErrImagePull: {env.pod('pull')}")
    assert waiting()["message"].startswith("rpc error: code = "), waiting()
    harness.wait_for(lambda: waiting().get("reason") == "ImagePullBackOff", timeout=30,
                     what=f"ImagePullBackOff: {env.pod('pull')}")
    assert waiting()["message"] == f'Back-off pulling image "{image}"', waiting()


@pytest.mark.network
def test_run_as_non_root_is_enforced(env):
    """verifyRunAsNonRoot: an image without a user runs as root, so
    runAsNonRoot without runAsUser refuses to create the container
    (CreateContainerConfigError), as does runAsUser 0; a non-zero
    runAsUser (the pod's, or the container's over it) runs."""
    def pod(name, pod_sc, ctr_sc):
        return manifest(name, f"""  terminationGracePeriodSeconds: 1
  securityContext: {pod_sc}
  containers:
  - name: c
    image: {BB}
    command: [sh, -c, "{LOOP}"]
    securityContext: {ctr_sc}
""")
    env.node.write("root.yaml", pod("root", "{runAsNonRoot: true}", "{}"))
    env.node.write("zero.yaml", pod("zero", "{}", "{runAsNonRoot: true, runAsUser: 0}"))
    env.node.write("user.yaml", pod("user", "{runAsNonRoot: true, runAsUser: 0}",
                                    "{runAsUser: 1000}"))

    def waiting(name):
        return (env.cstatus(name, "c") or {}).get("state", {}).get("waiting", {})
    for name, text in (("root", "container has runAsNonRoot and image will run as root"),
                       ("zero", "container's runAsUser breaks non-root policy")):
        harness.wait_for(lambda: waiting(name).get("reason") == "CreateContainerConfigError",
                         timeout=30, what=f"{name}: {env.pod(name)}")
        uid = env.pod(name)["metadata"]["uid"]
        assert waiting(name)["message"] == (f'{text} (pod: "{name}-kl-node_default({uid})", '
                                            "container: c)"), waiting(name)
        assert env.containers(uid) == []
    env.wait_running("user", "c", timeout=60)


@pytest.mark.network
def test_memory_empty_dir_sized_by_the_pod_limit(env):
    """A memory-backed emptyDir without sizeLimit is as large as the pod's
    memory limit (calculateEmptyDirMemorySize); a smaller sizeLimit wins."""
    env.node.write("mem.yaml", manifest("mem", f"""  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: {BB}
    command:
    - sh
    - -c
    - |
      grep -E ' /(a|b) ' /proc/mounts; echo END; {LOOP}
    resources: {{limits: {{memory: 48Mi}}}}
    volumeMounts: [{{name: a, mountPath: /a}}, {{name: b, mountPath: /b}}]
  volumes:
  - {{name: a, emptyDir: {{medium: Memory}}}}
  - {{name: b, emptyDir: {{medium: Memory, sizeLimit: 8Mi}}}}
"""))
    env.wait_running("mem", "c", timeout=60)
    lines = output(env, "mem", "c", "END")
    mounts = {ln.split()[1]: ln.split()[3] for ln in lines[:lines.index("END")]}
    assert "size=49152k" in mounts["/a"].split(","), mounts
    assert "size=8192k" in mounts["/b"].split(","), mounts
