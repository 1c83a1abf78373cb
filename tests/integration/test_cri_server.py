"""nodelet-cri daemon mode: the gRPC server, Version/Status/RuntimeConfig/
UpdateRuntimeConfig through both the Python client and our C client
(nodelet-crictl), UNIMPLEMENTED answers, socket locking, clean shutdown,
message size limit and NetworkReady following the CNI conf dir."""
import json
import os
import signal
import subprocess
import time

import pytest

import criclient
import harness
from harness import bin_path

import grpc


def daemon_bin():
    # nodelet-cri with no subcommand is the daemon (cri_daemon_main).
    return bin_path("nodelet-cri")


_started = []


@pytest.fixture(autouse=True)
def _stop_daemons():
    """Whatever a test started is stopped (by PID) even when it fails."""
    yield
    while _started:
        p = _started.pop()
        if p.poll() is None:
            p.kill()
            p.wait()


class Daemon:
    def __init__(self, tmp, extra=(), conf_dir=None):
        self.tmp = str(tmp)
        self.sock = os.path.join(self.tmp, "cri.sock")
        self.root = os.path.join(self.tmp, "root")
        self.run_root = os.path.join(self.tmp, "run")
        self.conf_dir = conf_dir or os.path.join(self.tmp, "net.d")
        self.log = open(os.path.join(self.tmp, "daemon.log"), "w+")
        self.args = [daemon_bin(), "--listen", self.sock, "--root", self.root,
                     "--run-root", self.run_root, "--cni-conf-dir", self.conf_dir,
                     "--cni-bin-dir", "/usr/lib/cni", "--log-level", "debug"] + list(extra)
        self.proc = None

    def start(self, wait=True):
        start = len(self.logtext())
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        _started.append(self.proc)
        if wait:
            # Serving, not just a socket file: a stale one may exist already.
            harness.wait_for(lambda: "serving CRI" in self.logtext()[start:]
                             or self.proc.poll() is not None, what="daemon serving")
            assert self.proc.poll() is None, self.logtext()
        return self

    def logtext(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode if self.proc else None


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path).start()
    yield d
    d.stop()


def crictl(d, *args, check=True):
    p = subprocess.run([bin_path("nodelet-crictl"), "-r", "unix://" + d.sock] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    if check:
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)
    return p


def test_version_python_and_c(daemon):
    with criclient.Client(daemon.sock) as c:
        v = c.Version(version="v1")
    assert v.runtime_name == "nodelet-cri"
    assert v.runtime_api_version == "v1"
    assert v.version == "0.1.0"
    assert v.runtime_version.startswith("0.1.0")
    cv = crictl(daemon, "version")
    assert cv == criclient.to_dict(v)


def test_status_network_not_ready_then_ready(daemon):
    with criclient.Client(daemon.sock) as c:
        st = c.Status()
        conds = {x.type: x for x in st.status.conditions}
        assert conds["RuntimeReady"].status is True
        assert conds["NetworkReady"].status is False
        assert conds["NetworkReady"].reason == "NetworkPluginNotReady"
        assert "cni plugin not initialized" in conds["NetworkReady"].message
        assert len(st.info) == 0  # only with verbose

        # An invalid conflist keeps the network not ready, naming the problem.
        os.makedirs(daemon.conf_dir, exist_ok=True)
        with open(os.path.join(daemon.conf_dir, "10-bad.conflist"), "w") as f:
            f.write('{"cniVersion": "1.0.0", "name": "x", "plugins": []}')
        st = c.Status()
        net = [x for x in st.status.conditions if x.type == "NetworkReady"][0]
        assert net.status is False and "no plugins" in net.message
        os.unlink(os.path.join(daemon.conf_dir, "10-bad.conflist"))

        with open(os.path.join(daemon.conf_dir, "10-net.conflist"), "w") as f:
            json.dump({"cniVersion": "1.0.0", "name": "podnet",
                       "plugins": [{"type": "bridge", "bridge": "cni0",
                                    "ipam": {"type": "host-local", "subnet": "10.22.0.0/16"}},
                                   {"type": "portmap", "capabilities": {"portMappings": True}}]}, f)
        st = c.Status(verbose=True)
        conds = {x.type: x for x in st.status.conditions}
        assert conds["NetworkReady"].status is True
        assert conds["NetworkReady"].reason == ""
        assert json.loads(st.info["cniconfig"])["name"] == "podnet"
        assert st.info["lastCNILoadStatus"] == "OK"
        cfg = json.loads(st.info["config"])
        assert cfg["listen"] == daemon.sock and cfg["cni-conf-dir"] == daemon.conf_dir
    # The C client sees the same.
    cs = crictl(daemon, "status", "-v")
    assert cs["status"] == criclient.to_dict(st)["status"]
    assert json.loads(cs["info"]["cniconfig"])["name"] == "podnet"


def test_runtime_config_and_update(daemon):
    with criclient.Client(daemon.sock) as c:
        rc = c.RuntimeConfig()
        assert rc.linux.cgroup_driver == criclient.pb().CGROUPFS
        c.UpdateRuntimeConfig(runtime_config={"network_config": {"pod_cidr": "10.244.1.0/24"}})
        st = c.Status(verbose=True)
        assert json.loads(st.info["config"])["podCIDR"] == "10.244.1.0/24"
        # Empty is accepted and changes nothing (the kubelet sends it early).
        c.UpdateRuntimeConfig(runtime_config={"network_config": {"pod_cidr": ""}})
        with pytest.raises(criclient.CRIError) as e:
            c.UpdateRuntimeConfig(runtime_config={"network_config": {"pod_cidr": "10.0.0/8"}})
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "10.0.0/8" in e.value.details
    assert crictl(daemon, "runtime-config") == {"linux": {"cgroup_driver": "CGROUPFS"}}
    assert crictl(daemon, "update-runtime-config", "10.244.2.0/24,fd00:1::/64") == {}
    with open(os.path.join(daemon.root, "runtime-config.json")) as f:
        assert json.load(f)["podCIDR"] == "10.244.2.0/24,fd00:1::/64"
    # Persisted across a restart.
    daemon.stop()
    daemon.start()
    with criclient.Client(daemon.sock) as c:
        st = c.Status(verbose=True)
        assert json.loads(st.info["config"])["podCIDR"] == "10.244.2.0/24,fd00:1::/64"


NOT_YET = ["CheckpointContainer", "ListMetricDescriptors", "ListPodSandboxMetrics"]


def test_unimplemented_methods(daemon):
    with criclient.Client(daemon.sock) as c:
        for m in NOT_YET:
            with pytest.raises(criclient.CRIError) as e:
                c.call(m)
            assert e.value.code == grpc.StatusCode.UNIMPLEMENTED, m
            assert m in e.value.details
        for path in ("/runtime.v1.RuntimeService/NoSuch", "/other.Service/Version", "/x"):
            with pytest.raises(criclient.CRIError) as e:
                c.raw(path, b"", timeout=5)
            assert e.value.code == grpc.StatusCode.UNIMPLEMENTED
            assert "unknown method" in e.value.details
        # Still serving afterwards.
        assert c.Version().runtime_name == "nodelet-cri"
    p = crictl(daemon, "call", "CheckpointContainer", "{}", check=False)
    assert p.returncode == 10 + 12 and "code = Unimplemented" in p.stderr


def test_malformed_request(daemon):
    with criclient.Client(daemon.sock) as c:
        with pytest.raises(criclient.CRIError) as e:
            c.raw("/runtime.v1.RuntimeService/Status", b"\xff\xff\xff", timeout=5)
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_oversize_message_rejected(daemon):
    big = "x" * (16 * 1024 * 1024 + 10)
    with criclient.Client(daemon.sock) as c:
        with pytest.raises(criclient.CRIError) as e:
            c.UpdateRuntimeConfig(runtime_config={"network_config": {"pod_cidr": big}}, timeout=20)
        assert e.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        # Just under the limit is read (and rejected by validation, not size).
        ok = "y" * (1024 * 1024)
        with pytest.raises(criclient.CRIError) as e:
            c.UpdateRuntimeConfig(runtime_config={"network_config": {"pod_cidr": ok}})
        assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert c.Version().runtime_name == "nodelet-cri"


def test_concurrent_calls(daemon):
    import threading
    errors = []

    def worker():
        try:
            with criclient.Client(daemon.sock) as c:
                for _ in range(50):
                    assert c.Version().runtime_api_version == "v1"
                    c.Status()
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    ts = [threading.Thread(target=worker) for _ in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


def test_socket_mode_lock_and_second_daemon(daemon, tmp_path):
    st = os.stat(daemon.sock)
    assert oct(st.st_mode & 0o777) == "0o600"
    second = Daemon(tmp_path)
    second.log = open(os.path.join(str(tmp_path), "second.log"), "w+")
    second.proc = subprocess.Popen(second.args, stdout=second.log, stderr=subprocess.STDOUT)
    _started.append(second.proc)
    assert second.proc.wait(10) != 0
    assert "another nodelet-cri is serving" in second.logtext()
    # The first one still serves on its socket.
    with criclient.Client(daemon.sock) as c:
        assert c.Version().runtime_name == "nodelet-cri"


def test_sigterm_clean_shutdown_and_stale_socket(tmp_path):
    d = Daemon(tmp_path).start()
    with criclient.Client(d.sock) as c:
        c.Version()
    assert d.stop() == 0
    assert not os.path.exists(d.sock)
    assert "shutting down" in d.logtext()
    # A stale socket left by a killed daemon is replaced.
    d.start()
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    assert os.path.exists(d.sock)
    before = len(d.logtext())
    d.start()
    assert "removed stale socket" in d.logtext()[before:]
    with criclient.Client(d.sock) as c:
        assert c.Version().runtime_name == "nodelet-cri"
    assert d.stop() == 0


def test_sigint_during_open_stream(tmp_path):
    d = Daemon(tmp_path).start()
    with criclient.Client(d.sock) as c:
        stream = c.call("GetContainerEvents")
        # The subscription is accepted (headers arrive) and stays open.
        time.sleep(0.3)
        d.proc.send_signal(signal.SIGINT)
        assert d.proc.wait(10) == 0
        with pytest.raises(grpc.RpcError):
            for _ in stream:
                pass


def test_config_file_and_flag_precedence(tmp_path):
    sock_from_file = os.path.join(str(tmp_path), "file.sock")
    cfg = os.path.join(str(tmp_path), "cri.yaml")
    with open(cfg, "w") as f:
        f.write(f"listen: {sock_from_file}\ncni-conf-dir: /nonexistent/from-file\nworkers: 2\n")
    d = Daemon(tmp_path)
    d.args = [daemon_bin(), "--config", cfg, "--root", d.root, "--run-root", d.run_root,
              "--cni-conf-dir", "/nonexistent/from-flag"]
    d.sock = sock_from_file
    d.start()
    with criclient.Client(sock_from_file) as c:
        info = json.loads(c.Status(verbose=True).info["config"])
    assert info["listen"] == sock_from_file
    assert info["cni-conf-dir"] == "/nonexistent/from-flag"
    assert info["workers"] == 2
    d.stop()

    with open(cfg, "w") as f:
        f.write("listen: /tmp/x.sock\nbogus-key: 1\n")
    p = subprocess.run([daemon_bin(), "--config", cfg], stderr=subprocess.PIPE, text=True,
                       timeout=10)
    assert p.returncode == 2 and 'unknown field "bogus-key"' in p.stderr
    p = subprocess.run([daemon_bin(), "--workers", "0"], stderr=subprocess.PIPE, text=True,
                       timeout=10)
    assert p.returncode == 2 and "--workers" in p.stderr


def test_crictl_events_stream(daemon):
    # The C client subscribes to GetContainerEvents; nothing produces events
    # yet, so it ends cleanly at its timeout with no output.
    p = subprocess.run([bin_path("nodelet-crictl"), "-t", "0.5", "-r", "unix://" + daemon.sock,
                        "events"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""


def test_crictl_generic_call_and_errors(daemon):
    out = crictl(daemon, "call", "Status", '{"verbose": true}')
    assert out["status"]["conditions"][0]["type"] == "RuntimeReady"
    p = crictl(daemon, "call", "Status", '{"verbos": true}', check=False)
    assert p.returncode == 2 and 'field "verbos"' in p.stderr
    p = crictl(daemon, "call", "NoSuchMethod", check=False)
    assert p.returncode == 2
    p = subprocess.run([bin_path("nodelet-crictl"), "-r", "unix:///nonexistent/x.sock", "-t", "2",
                        "version"], stderr=subprocess.PIPE, text=True, timeout=30)
    assert p.returncode == 10 + 14 and "Unavailable" in p.stderr
