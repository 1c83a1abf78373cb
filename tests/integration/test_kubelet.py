"""nodelet (kubelet) command line, configuration file, healthz and the
read-only server, run as the real binary. There is no kubelet binary on the
test machine to compare against; the expected behaviour is the kubelet's
(flags, precedence, messages naming the flag/field)."""
import os
import time

import pytest

import harness
from test_kubelet_lib import Nodelet, free_port, http_get, run_nodelet_once


@pytest.fixture
def nodelet_factory():
    made = []

    def make(*args, **kw):
        n = Nodelet(*args, **kw)
        made.append(n)
        return n
    yield make
    for n in made:
        n.cleanup()


def test_help_lists_flags_and_says_what_is_missing():
    r = run_nodelet_once(["--help"])
    assert r.returncode == 0
    for flag in ("--pod-manifest-path", "--config", "--container-runtime-endpoint", "--root-dir",
                 "--hostname-override", "--node-ip", "--cgroup-driver", "--runtime-request-timeout",
                 "--kubeconfig", "--read-only-port", "--bootstrap-kubeconfig"):
        assert flag in r.stdout
    # Defaults come from the option table row that applies them.
    assert "max period between pod syncs (default 1m0s); config field syncFrequency" in r.stdout
    assert "(default unix:///run/nodelet/cri.sock)" in r.stdout
    assert "not start containers" not in r.stdout.replace("\n", " ")
    assert run_nodelet_once(["-h"]).returncode == 0
    v = run_nodelet_once(["--version"])
    assert v.returncode == 0 and v.stdout.startswith("nodelet v")


@pytest.mark.parametrize("args,needle", [
    (["--bogus-flag"], "unknown flag: --bogus-flag"),
    (["--pod-manifest=/x"], "unknown flag: --pod-manifest"),
    (["-x"], "unknown shorthand flag"),
    (["run"], "unknown command"),
    (["--sync-frequency=10"], "--sync-frequency"),
    (["--runtime-request-timeout=2 minutes"], "--runtime-request-timeout"),
    (["--read-only-port=70000"], "readOnlyPort (--read-only-port) 70000"),
    (["--max-pods=-1"], "maxPods (--max-pods)"),
    (["--cgroup-driver=docker"], "cgroupDriver (--cgroup-driver)"),
    (["--node-ip=300.1.1.1"], "--node-ip"),
    (["--container-runtime-endpoint=tcp://10.0.0.1:1"], "containerRuntimeEndpoint"),
    (["--eviction-hard=memory.available<lots"], "--eviction-hard.memory.available"),
    (["--fail-swap-on=perhaps"], "--fail-swap-on"),
    (["--root-dir"], "flag needs an argument: --root-dir"),
])
def test_invalid_flags_stop_startup(args, needle):
    r = run_nodelet_once(["--hostname-override=n", "--healthz-port=0"] + args)
    assert r.returncode == 1, r.stderr
    assert needle in r.stderr, r.stderr
    assert "level=error" in r.stderr


@pytest.mark.parametrize("body,needle", [
    ("maxPods: lots\n", 'config field \\"maxPods\\": expected integer, got string'),
    ("syncFrequency: 1fortnight\n", 'config field \\"syncFrequency\\": invalid duration'),
    ("port: 0\nreadOnlyPort: -1\n", "readOnlyPort (--read-only-port) -1"),
    ("evictionHard: {memory.available: 2Qi}\n", "evictionHard"),
    ("containerLogMaxFiles: 1\n", "containerLogMaxFiles (--container-log-max-files) 1"),
])
def test_invalid_config_file_stops_startup(tmp_path, body, needle):
    cfg = tmp_path / "kubelet.yaml"
    cfg.write_text("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n" + body)
    r = run_nodelet_once([f"--config={cfg}", "--hostname-override=n", "--healthz-port=0"])
    assert r.returncode == 1
    assert needle in r.stderr, r.stderr


def test_config_wrong_kind_and_missing_file(tmp_path):
    cfg = tmp_path / "kubelet.yaml"
    cfg.write_text("apiVersion: v1\nkind: Pod\n")
    r = run_nodelet_once([f"--config={cfg}", "--hostname-override=n"])
    assert r.returncode == 1 and "KubeletConfiguration" in r.stderr
    r = run_nodelet_once(["--config=/nonexistent/kubelet.yaml", "--hostname-override=n"])
    assert r.returncode == 1 and "--config" in r.stderr and "No such file" in r.stderr


def test_unused_real_kubelet_flags_accepted_with_warning(nodelet_factory):
    # A kubeadm-style drop-in: flags we do not act on must not break startup.
    kubeadm = ["--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
               "--container-runtime=remote", "--pod-infra-container-image", "registry.k8s.io/pause:3.9",
               "--network-plugin=cni", "--node-labels=node-role.kubernetes.io/worker=",
               "--register-with-taints=a=b:NoSchedule", "--rotate-certificates",
               "--cert-dir=/var/lib/kubelet/pki", "--feature-gates=Foo=true",
               "--register-node=false", "--fail-swap-on=false", "-v", "2",
               # further v1.28 flags: valued in both forms, bools bare and =false
               "--maximum-dead-containers-per-container", "1",
               "--minimum-container-ttl-duration=0s", "--reserved-memory", "0:memory=1Gi",
               "--kernel-memcg-notification", "--cpu-manager-policy-options=full-pcpus-only=true",
               "--topology-manager-policy-options", "prefer-closest-numa-nodes=true",
               "--manifest-url-header=Authorization:Bearer x", "--kube-api-content-type",
               "application/vnd.kubernetes.protobuf", "--log-json-split-stream=false"]
    n = nodelet_factory(extra_args=kubeadm).start()
    warned = {d["flag"] for d in n.lines("flag accepted but not used") if "flag" in d}
    for f in ("--bootstrap-kubeconfig", "--container-runtime", "--pod-infra-container-image",
              "--network-plugin", "--node-labels", "--register-with-taints", "--rotate-certificates",
              "--cert-dir", "--feature-gates", "--maximum-dead-containers-per-container",
              "--minimum-container-ttl-duration", "--reserved-memory",
              "--kernel-memcg-notification", "--cpu-manager-policy-options",
              "--topology-manager-policy-options", "--manifest-url-header",
              "--kube-api-content-type", "--log-json-split-stream"):
        assert f in warned, n.log()
    # -v 2 logs the effective configuration
    eff = n.lines("effective configuration")
    assert eff and '"registerNode":false' in eff[0]["config"] and '"failSwapOn":false' in eff[0]["config"]
    assert http_get(n.healthz_port, "/healthz")[:2] == (200, "ok")
    assert n.stop() == 0


def test_unused_bool_flag_rejects_bad_value():
    # pflag's ParseBool applies to flags nodelet ignores too.
    r = run_nodelet_once(["--kernel-memcg-notification=maybe", "--hostname-override=n"])
    assert r.returncode == 1
    # the log quotes the message: \" inside error="..."
    assert 'invalid argument \\"maybe\\" for \\"--kernel-memcg-notification\\" flag' in r.stderr


def test_healthz_and_read_only_server(nodelet_factory):
    n = nodelet_factory().start()
    assert http_get(n.healthz_port, "/healthz")[:2] == (200, "ok")
    assert http_get(n.healthz_port, "/pods")[0] == 404  # healthz server serves only /healthz
    assert http_get(n.ro_port, "/healthz")[:2] == (200, "ok")
    assert http_get(n.healthz_port, "/healthz", method="POST")[0] == 405
    assert http_get(n.ro_port, "/nope")[0] == 404
    pods = n.pods()
    assert pods == {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": []}
    log = n.log()
    assert "mode=standalone" in log and "node=test-node" in log
    assert "runtime_endpoint=unix:///run/nodelet/cri.sock" in log
    assert os.path.isdir(os.path.join(n.root, "pods"))
    t0 = time.monotonic()
    assert n.stop() == 0
    assert time.monotonic() - t0 < 2
    assert "shutting down" in n.log()


def test_pods_served_while_the_list_is_republished(nodelet_factory):
    """/pods on one keep-alive connection (as a poller uses it) while static
    pods come and go: every answer is a whole PodList, GET and HEAD agree on
    its length, and it follows the manifests. No runtime is needed: the
    list is published from the sources before any sync."""
    import http.client
    import json
    import threading
    n = nodelet_factory(extra_args=["--container-runtime-endpoint=unix:///nonexistent/cri.sock"])
    n.start()
    stop = threading.Event()
    seen = {"answers": 0, "max_items": 0, "bad": []}

    def poll():
        c = http.client.HTTPConnection("127.0.0.1", n.ro_port, timeout=5)
        while not stop.is_set():
            c.request("GET", "/pods")
            r = c.getresponse()
            body = r.read()
            try:
                doc = json.loads(body)
                assert doc["kind"] == "PodList" and isinstance(doc["items"], list)
                assert int(r.headers["Content-Length"]) == len(body)
                seen["max_items"] = max(seen["max_items"], len(doc["items"]))
            except (ValueError, KeyError, AssertionError) as e:
                seen["bad"].append(f"{e!r}: {body[:200]!r}")
            seen["answers"] += 1
        c.close()
    threads = [threading.Thread(target=poll) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(20):
            n.write(f"p{i}.yaml", f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p{i}\nspec:\n"
                    f"  containers:\n  - name: c\n    image: busybox:{i}\n")
        deadline = time.monotonic() + 10
        while len(n.pods()["items"]) < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        names = sorted(p["metadata"]["name"] for p in n.pods()["items"])
        assert names == sorted(f"p{i}-test-node" for i in range(20))
        for i in range(0, 20, 2):
            os.unlink(os.path.join(n.manifests, f"p{i}.yaml"))
        deadline = time.monotonic() + 10
        while len(n.pods()["items"]) != 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(n.pods()["items"]) == 10
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert not seen["bad"], seen["bad"][:3]
    assert seen["answers"] > 20 and seen["max_items"] == 20
    c = http.client.HTTPConnection("127.0.0.1", n.ro_port, timeout=5)
    c.request("GET", "/pods")
    body = c.getresponse().read()
    c.request("HEAD", "/pods")
    r = c.getresponse()
    assert r.status == 200 and r.read() == b""
    assert int(r.headers["Content-Length"]) == len(body)
    assert r.headers["Content-Type"] == "application/json"
    c.close()
    assert n.stop() == 0


def test_read_only_port_disabled_by_default(nodelet_factory):
    n = nodelet_factory(read_only=False).start()
    assert http_get(n.healthz_port, "/healthz")[:2] == (200, "ok")
    assert "read_only_port=0" in n.log()


def test_config_file_with_flag_precedence(nodelet_factory, tmp_path):
    ro = free_port()
    n = nodelet_factory(read_only=False, manifests=False)
    other = tmp_path / "from-config"
    other.mkdir()
    cfg = tmp_path / "kubelet.yaml"
    cfg.write_text(
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
        f"staticPodPath: {other}\nreadOnlyPort: {ro}\nfileCheckFrequency: 1m30s\n"
        "containerRuntimeEndpoint: unix:///run/from-config.sock\n"
        "someUnknownField: true\n")
    n.args = [a for a in n.args if not a.startswith("--read-only-port")]
    n.args += [f"--config={cfg}", f"--pod-manifest-path={n.manifests}",
               "--container-runtime-endpoint=unix:///run/from-flag.sock"]
    n.ro_port = ro
    n.start()
    log = n.log()
    assert f"path={n.manifests} check_frequency=1m30s" in log  # flag beats file, file beats default
    assert "runtime_endpoint=unix:///run/from-flag.sock" in log
    assert "unknown KubeletConfiguration field ignored" in log and "field=someUnknownField" in log
    assert http_get(ro, "/healthz")[:2] == (200, "ok")  # readOnlyPort from the file


def test_port_in_use_is_reported(nodelet_factory):
    import socket
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        n = nodelet_factory()
        n.args = [a for a in n.args if not a.startswith("--healthz-port")]
        n.args.append(f"--healthz-port={s.getsockname()[1]}")
        n.start(wait_ready=False)
        n.proc.wait(10)
        assert n.proc.returncode == 1
        assert "--healthz-port" in n.log()
    finally:
        s.close()


def test_kubeadm_generated_config_and_flags(nodelet_factory, tmp_path):
    """The files kubeadm writes (config.yaml with zero-valued durations and
    fields nodelet does not use, plus kubeadm-flags.env) start nodelet."""
    n = nodelet_factory(read_only=False, manifests=False)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"""apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
  webhook:
    cacheTTL: 0s
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: Webhook
  webhook:
    cacheAuthorizedTTL: 0s
    cacheUnauthorizedTTL: 0s
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
containerRuntimeEndpint: ""
cpuManagerReconcilePeriod: 0s
evictionPressureTransitionPeriod: 0s
fileCheckFrequency: 0s
healthzBindAddress: 127.0.0.1
healthzPort: {n.healthz_port}
httpCheckFrequency: 0s
imageMaximumGCAge: 0s
imageMinimumGCAge: 0s
kind: KubeletConfiguration
logging:
  flushFrequency: 0
  options:
    json:
      infoBufferSize: "0"
  verbosity: 0
memorySwap: {{}}
nodeStatusReportFrequency: 0s
nodeStatusUpdateFrequency: 0s
rotateCertificates: true
runtimeRequestTimeout: 0s
shutdownGracePeriod: 0s
shutdownGracePeriodCriticalPods: 0s
staticPodPath: manifests
streamingConnectionIdleTimeout: 0s
syncFrequency: 0s
volumeStatsAggPeriod: 0s
""")
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "etcd.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n  namespace: kube-system\n"
        "spec:\n  priorityClassName: system-node-critical\n  hostNetwork: true\n"
        "  containers:\n  - name: etcd\n    image: registry.k8s.io/etcd:3.5.9-0\n"
        "    command: [etcd, --data-dir=/var/lib/etcd]\n"
        "    livenessProbe:\n      httpGet: {host: 127.0.0.1, path: /health, port: 2381, scheme: HTTP}\n"
        "      failureThreshold: 8\n      initialDelaySeconds: 10\n      timeoutSeconds: 15\n"
        "    volumeMounts: [{mountPath: /var/lib/etcd, name: etcd-data}]\n"
        "  volumes: [{hostPath: {path: /var/lib/etcd, type: DirectoryOrCreate}, name: etcd-data}]\n")
    n.args = [a for a in n.args if not a.startswith("--healthz-port")]
    # KUBELET_KUBEADM_ARGS + the systemd drop-in's KUBELET_KUBECONFIG_ARGS
    n.args += ["--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
               "--kubeconfig=/etc/kubernetes/kubelet.conf", f"--config={cfg}",
               "--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock",
               "--pod-infra-container-image=registry.k8s.io/pause:3.9"]
    n.start()
    log = n.log()
    # zero durations took the defaults; the relative staticPodPath is next to the file
    assert f"path={tmp_path}/manifests check_frequency=20s" in log
    assert "--kubeconfig given, but the API server client is not implemented yet" in log
    assert "field=containerRuntimeEndpint" in log  # the typo is reported, not fatal
    ev = n.wait_events(1)
    assert ev[0][:2] == ("ADD", "kube-system/etcd-test-node")


def test_cgroup_root_of_the_test_is_removed():
    """nodelet makes <cgroupRoot>/kubepods at start; the test harness gives
    every nodelet a cgroup root of its own and removes it afterwards, so no
    kubelet test leaves kubepods on the machine."""
    n = Nodelet()
    try:
        assert n.cgroot and n.cgroot.startswith("/nodelet-test-")
        n.start()
        qos = os.path.join("/sys/fs/cgroup/cpu", n.cgroot.lstrip("/"), "kubepods")
        harness.wait_for(lambda: os.path.isdir(qos), timeout=5, what=f"{qos} made")
    finally:
        n.cleanup()
    assert not [c for c in os.listdir("/sys/fs/cgroup")
                if os.path.exists(os.path.join("/sys/fs/cgroup", c, n.cgroot.lstrip("/")))]
    # A caller's own --cgroup-root is left to it.
    m = Nodelet(extra_args=["--cgroup-root=/x"])
    assert m.cgroot is None and m.args.count("--cgroup-root=/x") == 1
    m.cleanup()
