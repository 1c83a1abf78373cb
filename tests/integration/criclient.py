"""Python CRI v1 client for tests.

The protobuf classes are generated from our own cri/api/api.proto with
`protoc --python_out` into a per-process temp dir (never committed), and
methods are called through grpc's generic `unary_unary`/`unary_stream`, so no
grpc-tools are needed.
"""
import atexit
import importlib
import os
import shutil
import subprocess
import sys
import tempfile

import grpc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO = os.path.join(ROOT, "cri", "api", "api.proto")

_pb = None


def pb():
    """The generated api_pb2 module (generated once per process)."""
    global _pb
    if _pb is None:
        out = tempfile.mkdtemp(prefix="cri_pb-")
        atexit.register(shutil.rmtree, out, True)
        subprocess.run(["protoc", f"--python_out={out}", f"-I{os.path.dirname(PROTO)}",
                        PROTO], check=True)
        sys.path.insert(0, out)
        try:
            _pb = importlib.import_module("api_pb2")
        finally:
            sys.path.remove(out)
    return _pb


RUNTIME = "runtime.v1.RuntimeService"
IMAGE = "runtime.v1.ImageService"

# method -> (service, request type, response type, streaming)
_METHODS = {}


def _methods():
    if _METHODS:
        return _METHODS
    d = pb().DESCRIPTOR
    for svc in d.services_by_name.values():
        for m in svc.methods:
            _METHODS[m.name] = (svc.full_name, m.input_type.name, m.output_type.name,
                                m.server_streaming)
    return _METHODS


class CRIError(Exception):
    def __init__(self, code, details):
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class Client:
    """c = Client("/run/x.sock"); c.Version(); c.call("Status", verbose=True)"""

    def __init__(self, endpoint, timeout=10.0, max_msg=16 * 1024 * 1024):
        if endpoint.startswith("unix://"):
            target = endpoint
        elif endpoint.startswith("unix:"):
            target = "unix://" + endpoint[5:]
        else:
            target = "unix://" + endpoint
        self.timeout = timeout
        self.channel = grpc.insecure_channel(target, options=[
            ("grpc.max_receive_message_length", max_msg),
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
        ])

    def close(self):
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def request(self, method, **fields):
        """Build the request message of `method` from keyword fields, with
        protobuf's JSON mapping (nested dicts, enum names, 64-bit ints as
        strings all work)."""
        from google.protobuf.json_format import ParseDict
        _, req, _, _ = _methods()[method]
        return ParseDict(fields, getattr(pb(), req)())

    def call(self, method, request=None, timeout=None, **fields):
        svc, req, resp, streaming = _methods()[method]
        if request is None:
            request = self.request(method, **fields)
        resp_cls = getattr(pb(), resp)
        path = f"/{svc}/{method}"
        if streaming:
            return self.channel.unary_stream(
                path, request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=resp_cls.FromString)(request, timeout=timeout)
        fn = self.channel.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                      response_deserializer=resp_cls.FromString)
        try:
            return fn(request, timeout=timeout or self.timeout)
        except grpc.RpcError as e:
            raise CRIError(e.code(), e.details()) from None

    def raw(self, path, payload=b"", timeout=None):
        """Call an arbitrary method path with raw bytes; returns raw bytes."""
        fn = self.channel.unary_unary(path, request_serializer=lambda b: b,
                                      response_deserializer=lambda b: b)
        try:
            return fn(payload, timeout=timeout or self.timeout)
        except grpc.RpcError as e:
            raise CRIError(e.code(), e.details()) from None

    def __getattr__(self, name):
        if name in _methods():
            return lambda request=None, **kw: self.call(name, request, **kw)
        raise AttributeError(name)


def to_dict(msg):
    """Message as a dict with proto field names (comparable with nodelet-crictl -o json)."""
    from google.protobuf.json_format import MessageToDict
    return MessageToDict(msg, preserving_proto_field_name=True)


class Daemon:
    """A nodelet-cri daemon on private dirs under tmp (socket, root, run-root,
    CNI conf dir). start() waits until it serves; kill() is kill -9; every
    process is tracked in `started` so a fixture can stop it by PID."""

    started = []

    def __init__(self, tmp, extra=(), conf_dir=None, bin_dirs="/usr/lib/cni",
                 cache_dir=None, run_root=None):
        import harness
        self.tmp = str(tmp)
        self.sock = os.path.join(self.tmp, "cri.sock")
        self.root = os.path.join(self.tmp, "root")
        # Shim control sockets live under the run root: keep it short
        # (unix socket paths have 108 bytes) when tmp is deep.
        self.run_root = run_root or os.path.join(self.tmp, "run")
        self.conf_dir = conf_dir or os.path.join(self.tmp, "net.d")
        self.cache_dir = cache_dir or os.path.join(self.tmp, "cni-cache")
        self.log = open(os.path.join(self.tmp, "daemon.log"), "a+")
        self.args = [harness.bin_path("nodelet-cri"), "--listen", self.sock, "--root", self.root,
                     "--run-root", self.run_root, "--cni-conf-dir", self.conf_dir,
                     "--cni-bin-dir", bin_dirs, "--cni-cache-dir", self.cache_dir,
                     "--log-level", "debug"] + list(extra)
        self.proc = None

    def start(self):
        import harness
        start = len(self.logtext())
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        Daemon.started.append(self.proc)
        harness.wait_for(lambda: "serving CRI" in self.logtext()[start:]
                         or self.proc.poll() is not None, what="daemon serving")
        assert self.proc.poll() is None, self.logtext()
        return self

    def logtext(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def client(self, timeout=30.0):
        return Client(self.sock, timeout=timeout)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode if self.proc else None

    @classmethod
    def stop_all(cls):
        while cls.started:
            p = cls.started.pop()
            if p.poll() is None:
                p.kill()
                p.wait()
