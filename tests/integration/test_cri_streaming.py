"""CRI streaming (Exec, Attach, PortForward) end to end against nodelet-cri
and, for the same scenarios, containerd 1.6: the URLs the runtime returns are
driven by a small SPDY/3.1 client written here (the framing and the zlib
header dictionary of moby/spdystream, the remotecommand v4/v2 and
portforward.k8s.io protocols as the kubelet's client speaks them).

Covered: exec without tty (stdout/stderr split, exit codes through the v4
error stream, stdin piped in), exec with a tty and resize, attach to a
container with a tty and to one with stdin (echo back), stdin_once, port
forward to a TCP server inside the pod, unknown/expired/reused tokens,
protocol negotiation and upgrade errors, request validation."""
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.parse
import zlib

import pytest

import criclient
import harness
from containerd import (BUSYBOX_REF, CONTAINERD, PAUSE_REF, Containerd, NodeletCRI,
                        build_image)

pytestmark = pytest.mark.network

def _dict():
    """The SPDY/3 header dictionary (SPDY draft 3, 2.6.10.1), read from our C
    source: the containerd runs of these tests check it against a real peer
    (a wrong byte breaks every header block)."""
    import re
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "cri", "streaming", "spdy_dict.c")
    body = open(src).read().split("{", 1)[1]
    b = bytes(int(x, 16) for x in re.findall(r"0x([0-9a-f]{2})", body))
    assert len(b) == 1423 and b.startswith(b"\0\0\0\x07options")
    return b


SPDY_DICT = None
# Live client connections: closed (and their reader threads joined) before
# the test leaves its namespaces, since setns(CLONE_NEWNS) needs a
# single-threaded process.
_CONNS = []


@pytest.fixture(autouse=True)
def _close_conns(netns):
    yield
    while _CONNS:
        _CONNS.pop().close()
    # The harness waits for gRPC's lingering threads when the test leaves
    # its namespaces.


def _shut(sock, thread):
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a reader blocked in recv
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
    if thread is not None and thread is not threading.current_thread():
        thread.join(10)


class SpdyError(Exception):
    pass


class Stream:
    def __init__(self, conn, sid):
        self.conn = conn
        self.id = sid
        self.data = bytearray()
        self.fin = False
        self.replied = threading.Event()
        self.rejected = False
        self.reset = False

    def write(self, b):
        self.conn.send_data(self.id, b, fin=False)

    def close(self):
        self.conn.send_data(self.id, b"", fin=True)


class SpdyConn:
    """Client side of an upgraded connection: creates streams (odd ids),
    collects their data in a reader thread."""

    def __init__(self, url, protocols, method="POST", extra_headers=None, upgrade=True):
        global SPDY_DICT
        if SPDY_DICT is None:
            SPDY_DICT = _dict()
        u = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=10)
        hdrs = [f"{method} {u.path} HTTP/1.1", f"Host: {u.netloc}"]
        if upgrade:
            hdrs += ["Connection: Upgrade", "Upgrade: SPDY/3.1"]
        hdrs += [f"X-Stream-Protocol-Version: {p}" for p in protocols]
        hdrs += extra_headers or []
        self.sock.sendall(("\r\n".join(hdrs) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            b = self.sock.recv(1)
            if not b:
                break
            head += b
        self.status = int(head.split(b" ")[1]) if head else 0
        self.headers = {}
        for line in head.decode(errors="replace").split("\r\n")[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                self.headers.setdefault(k.strip().lower(), []).append(v.strip())
        self.body = b""
        if self.status != 101:
            n = int(self.headers.get("content-length", ["0"])[0])
            while len(self.body) < n:
                b = self.sock.recv(n - len(self.body))
                if not b:
                    break
                self.body += b
            self.sock.close()
            return
        self.protocol = self.headers.get("x-stream-protocol-version", [""])[0]
        self.comp = zlib.compressobj(zdict=SPDY_DICT)
        self.decomp = zlib.decompressobj(zdict=SPDY_DICT)
        self.next_id = 1
        self.streams = {}
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.goaway = False
        self.closed = False
        self.wlock = threading.Lock()
        self.reader = threading.Thread(target=self._read_loop, daemon=True)
        self.reader.start()
        _CONNS.append(self)

    def _send(self, b):
        with self.wlock:
            self.sock.sendall(b)

    def _header_block(self, headers):
        raw = struct.pack(">I", len(headers))
        for k, v in headers.items():
            kb, vb = k.lower().encode(), v.encode()
            raw += struct.pack(">I", len(kb)) + kb + struct.pack(">I", len(vb)) + vb
        return self.comp.compress(raw) + self.comp.flush(zlib.Z_SYNC_FLUSH)

    def create_stream(self, headers, wait=True):
        with self.lock:
            sid = self.next_id
            self.next_id += 2
            st = Stream(self, sid)
            self.streams[sid] = st
            block = self._header_block(headers)
        payload = struct.pack(">IIBB", sid, 0, 0, 0) + block
        self._send(struct.pack(">HHI", 0x8003, 1, len(payload)) + payload)
        if wait and not st.replied.wait(10):
            raise SpdyError(f"no SYN_REPLY for stream {sid}")
        return st

    def send_data(self, sid, b, fin=False):
        for i in range(0, max(len(b), 1), 32768):
            chunk = b[i:i + 32768]
            last = i + 32768 >= len(b)
            flags = 1 if fin and last else 0
            self._send(struct.pack(">II", sid, (flags << 24) | len(chunk)) + chunk)

    def ping(self, pid=1):
        self._send(struct.pack(">HHII", 0x8003, 6, 4, pid))

    def _recv_exact(self, n):
        b = b""
        while len(b) < n:
            c = self.sock.recv(n - len(b))
            if not c:
                raise EOFError
            b += c
        return b

    def _read_loop(self):
        self.pings = []
        self.sock.settimeout(None)
        try:
            while True:
                h = self._recv_exact(8)
                w0, w1 = struct.unpack(">II", h)
                length = w1 & 0xffffff
                flags = w1 >> 24
                payload = self._recv_exact(length)
                with self.cond:
                    if w0 & 0x80000000:
                        typ = w0 & 0xffff
                        if typ == 2:  # SYN_REPLY
                            sid = struct.unpack(">I", payload[:4])[0] & 0x7fffffff
                            self.decomp.decompress(payload[4:])
                            st = self.streams.get(sid)
                            if st:
                                st.rejected = bool(flags & 1)
                                if flags & 1:
                                    st.fin = True
                                st.replied.set()
                        elif typ == 3:  # RST_STREAM
                            sid = struct.unpack(">I", payload[:4])[0] & 0x7fffffff
                            st = self.streams.get(sid)
                            if st:
                                st.reset = st.fin = True
                                st.replied.set()
                        elif typ == 6:
                            self.pings.append(struct.unpack(">I", payload)[0])
                        elif typ == 7:
                            self.goaway = True
                    else:
                        st = self.streams.get(w0 & 0x7fffffff)
                        if st:
                            st.data += payload
                            if flags & 1:
                                st.fin = True
                    self.cond.notify_all()
        except (EOFError, OSError):
            pass
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def wait(self, pred, timeout=20):
        end = time.monotonic() + timeout
        with self.cond:
            while not pred():
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True

    def close(self):
        _shut(self.sock, getattr(self, "reader", None))


V4 = ["v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"]


def remotecommand(url, stdin=None, stdout=True, stderr=True, tty=False, resize=None,
                  protocols=V4, close_stdin=True, keep_open=None):
    """Run one exec/attach session as kubectl does: error stream first, then
    stdin/stdout/stderr (and resize with a tty). Returns (stdout, stderr,
    error-stream bytes, conn)."""
    c = SpdyConn(url, protocols)
    assert c.status == 101, (c.status, c.body)
    err = c.create_stream({"streamType": "error"})
    si = c.create_stream({"streamType": "stdin"}) if stdin is not None else None
    so = c.create_stream({"streamType": "stdout"}) if stdout else None
    se = c.create_stream({"streamType": "stderr"}) if stderr else None
    rs = c.create_stream({"streamType": "resize"}) if tty else None
    if rs and resize:
        rs.write((json.dumps({"Width": resize[0], "Height": resize[1]}) + "\n").encode())
    if si is not None:
        if keep_open:
            keep_open(c, si, so)
        if stdin:
            si.write(stdin)
        if close_stdin:
            si.close()
    assert c.wait(lambda: err.fin and (not so or so.fin) and (not se or se.fin), 30), \
        (bytes(so.data) if so else None, bytes(err.data))
    c.close()
    return (bytes(so.data) if so else None, bytes(se.data) if se else None, bytes(err.data), c)


class WsConn:
    """Client of the channel protocols over WebSocket (kubectl's newer
    transport): masked frames out, messages per channel in."""

    def __init__(self, url, protocols, query=""):
        import base64
        u = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        hdrs = [f"GET {u.path}{query} HTTP/1.1", f"Host: {u.netloc}", "Connection: Upgrade",
                "Upgrade: websocket", "Sec-WebSocket-Version: 13", f"Sec-WebSocket-Key: {key}"]
        if protocols:
            hdrs.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
        self.sock.sendall(("\r\n".join(hdrs) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            b = self.sock.recv(1)
            if not b:
                break
            head += b
        self.status = int(head.split(b" ")[1]) if head else 0
        self.headers = {}
        for line in head.decode(errors="replace").split("\r\n")[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                self.headers[k.strip().lower()] = v.strip()
        self.protocol = self.headers.get("sec-websocket-protocol", "")
        self.base64 = "base64" in self.protocol
        if self.status == 101:
            import hashlib
            want = base64.b64encode(hashlib.sha1(
                (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
            assert self.headers["sec-websocket-accept"] == want
        self.chan = {}
        self.msgs = []
        self.closed = False
        self.cond = threading.Condition()
        self.reader = None
        if self.status == 101:
            self.reader = threading.Thread(target=self._read_loop, daemon=True)
            self.reader.start()
            _CONNS.append(self)
        else:
            self.sock.close()

    def close(self):
        _shut(self.sock, self.reader)

    def _recv_exact(self, n):
        b = b""
        while len(b) < n:
            c = self.sock.recv(n - len(b))
            if not c:
                raise EOFError
            b += c
        return b

    def _read_loop(self):
        import base64
        self.sock.settimeout(None)
        try:
            while True:
                b0, b1 = self._recv_exact(2)
                n = b1 & 0x7f
                if n == 126:
                    n = struct.unpack(">H", self._recv_exact(2))[0]
                elif n == 127:
                    n = struct.unpack(">Q", self._recv_exact(8))[0]
                assert not b1 & 0x80, "server frames are not masked"
                payload = self._recv_exact(n)
                op = b0 & 0x0f
                with self.cond:
                    if op == 8:
                        self.closed = True
                        self.cond.notify_all()
                        return
                    if op in (1, 2):
                        if self.base64:
                            ch, data = payload[0] - ord("0"), base64.b64decode(payload[1:])
                        else:
                            ch, data = payload[0], payload[1:]
                        self.msgs.append((ch, data))
                        self.chan[ch] = self.chan.get(ch, b"") + data
                    self.cond.notify_all()
        except (EOFError, OSError):
            pass
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def send(self, ch, data, opcode=None):
        import base64
        if self.base64:
            payload, op = str(ch).encode() + base64.b64encode(data), 1
        else:
            payload, op = bytes([ch]) + data, 2
        mask = os.urandom(4)
        n = len(payload)
        hdr = bytes([0x80 | (opcode or op)])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack(">Q", n)
        self.sock.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def wait(self, pred, timeout=20):
        end = time.monotonic() + timeout
        with self.cond:
            while not pred():
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True


def status(b):
    return json.loads(b) if b else None


# ---- runtimes ----

POD_NET = "10.66.0.0/24"


def pod_config(name, uid):
    return {"metadata": {"name": name, "uid": uid, "namespace": "stream", "attempt": 0},
            "hostname": name, "log_directory": "/tmp/stream-logs-" + uid,
            "linux": {"security_context": {"namespace_options": {"network": "POD"}}}}


@pytest.fixture(scope="module")
def images():
    work = tempfile.mkdtemp(prefix="stream-img-")
    imgs = [build_image(work, PAUSE_REF, entrypoint=["/bin/sleep"], cmd=["1000000"], tag="pause"),
            build_image(work, BUSYBOX_REF, cmd=["/bin/sh"], tag="bb")]
    yield imgs
    shutil.rmtree(work, ignore_errors=True)


RUNTIME_NAMES = ["nodelet-cri"] + (["containerd"] if CONTAINERD else [])


@pytest.fixture(params=RUNTIME_NAMES)
def rt(request, netns, tmp_path, images):
    cls = {"containerd": Containerd, "nodelet-cri": NodeletCRI}[request.param]
    # Short: shim sockets live below it (108-byte unix socket paths).
    short = tempfile.mkdtemp(prefix="st-", dir="/tmp")
    d = cls(short).start(images)
    c = criclient.Client(d.sock, timeout=60)
    uid = os.urandom(4).hex()
    sid = c.RunPodSandbox(config=pod_config("p" + uid, uid)).pod_sandbox_id

    class R:
        name = request.param
        client = c
        sandbox = sid
        daemon = d

        def run(self, name, command, **kw):
            cfg = {"metadata": {"name": name}, "image": {"image": BUSYBOX_REF},
                   "command": command, "log_path": f"{name}.log"}
            cfg.update(kw)
            cid = c.CreateContainer(pod_sandbox_id=sid, config=cfg,
                                    sandbox_config=pod_config("p" + uid, uid)).container_id
            c.StartContainer(container_id=cid)
            harness.wait_for(lambda: c.ContainerStatus(container_id=cid).status.state ==
                             criclient.pb().CONTAINER_RUNNING, timeout=20, what="running")
            return cid

        def log(self, cid):
            p = c.ContainerStatus(container_id=cid).status.log_path
            with open(p) as f:
                return [line.rstrip("\n").split(" ", 3) for line in f]

    yield R()
    c.close()
    d.stop()
    if request.param == "nodelet-cri":
        # Sanitizer builds (NODELET_BUILD=build-asan) report into the logs.
        logs = d.logtext()
        for root, _dirs, files in os.walk(os.path.join(short, "run", "s")):
            for f in files:
                if f == "shim.log":
                    logs += open(os.path.join(root, f), errors="replace").read()
        assert "Sanitizer" not in logs and "runtime error:" not in logs, logs[-3000:]
    shutil.rmtree("/tmp/stream-logs-" + uid, ignore_errors=True)
    subprocess.run(["umount", "-R", "-l", short], stderr=subprocess.DEVNULL)
    shutil.rmtree(short, ignore_errors=True)


# ---- exec ----

def test_exec_stdout_stderr_and_exit_codes(rt):
    c = rt.client
    cid = rt.run("svc", ["/bin/sleep", "1000"])
    url = c.Exec(container_id=cid, cmd=["/bin/sh", "-c", "echo out; echo err >&2"],
                 stdout=True, stderr=True).url
    assert url.startswith("http://127.0.0.1:") and "/exec/" in url
    out, err, st, _ = remotecommand(url)
    assert (out, err) == (b"out\n", b"err\n")
    assert status(st) == {"metadata": {}, "status": "Success"}

    url = c.Exec(container_id=cid, cmd=["/bin/sh", "-c", "echo bye; exit 3"], stdout=True,
                 stderr=True).url
    out, err, st, _ = remotecommand(url)
    assert out == b"bye\n" and err == b""
    s = status(st)
    assert s["status"] == "Failure" and s["reason"] == "NonZeroExitCode"
    assert s["details"] == {"causes": [{"reason": "ExitCode", "message": "3"}]}
    assert s["message"] == ("command terminated with non-zero exit code: error executing "
                            "command [/bin/sh -c echo bye; exit 3], exit code 3"), s

    # stdin piped in, output only on stdout.
    url = c.Exec(container_id=cid, cmd=["/bin/sh", "-c", "tr a-z A-Z; echo done"], stdin=True,
                 stdout=True).url
    data = b"hello streaming\n" * 5000  # more than one frame and one pipe buffer
    out, err, st, _ = remotecommand(url, stdin=data, stderr=False)
    assert out == data.upper() + b"done\n" and status(st)["status"] == "Success"

    # v2 protocol: no status JSON, the message only on failure.
    url = c.Exec(container_id=cid, cmd=["/bin/sh", "-c", "exit 2"], stdout=True).url
    out, err, st, conn = remotecommand(url, stderr=False, protocols=["v2.channel.k8s.io"])
    assert conn.protocol == "v2.channel.k8s.io"
    assert st.endswith(b"exit code 2") and not st.startswith(b"{")


def test_exec_tty_and_resize(rt):
    c = rt.client
    cid = rt.run("svc", ["/bin/sleep", "1000"])
    url = c.Exec(container_id=cid, cmd=["/bin/sh", "-c", "sleep 1; stty size; tty; echo x$((1+1))"],
                 tty=True, stdout=True).url
    out, err, st, _ = remotecommand(url, stderr=False, tty=True, resize=(123, 45))
    text = out.replace(b"\r\n", b"\n")
    assert b"45 123\n" in text and b"/dev/pts/" in text and b"x2\n" in text, out
    assert status(st)["status"] == "Success"

    # Interactive shell over the pty: input echoed, exit status through the error stream.
    url = c.Exec(container_id=cid, cmd=["/bin/sh"], tty=True, stdin=True, stdout=True).url
    out, err, st, _ = remotecommand(url, stdin=b"echo in-$((6*7))\nexit 5\n", stderr=False,
                                    tty=True, resize=(80, 24), close_stdin=False)
    assert b"in-42" in out
    assert status(st)["details"]["causes"][0]["message"] == "5"


def test_exec_client_disconnect_kills_process(rt):
    if rt.name == "containerd":
        # containerd 1.6 leaves the process running (its exec only ends
        # when the process does); we kill it, as the kubelet's own
        # streaming runtime would when the client's context ends.
        pytest.skip("containerd 1.6 keeps an abandoned exec running")
    c = rt.client
    cid = rt.run("svc", ["/bin/sleep", "1000"])
    url = c.Exec(container_id=cid, cmd=["/bin/sh", "-c", "echo started; exec sleep 4242"],
                 stdout=True).url
    conn = SpdyConn(url, V4)
    conn.create_stream({"streamType": "error"})
    so = conn.create_stream({"streamType": "stdout"})
    assert conn.wait(lambda: b"started" in so.data)
    conn.close()

    def gone():
        r = c.ExecSync(container_id=cid, cmd=["/bin/sh", "-c", "cat /proc/[0-9]*/cmdline"])
        return b"4242" not in r.stdout.replace(b"\0", b" ")
    harness.wait_for(gone, timeout=15, what="exec'd process killed")


# ---- attach ----

def test_attach_stdin_echo_and_stdin_once(rt):
    c = rt.client
    # cat echoes stdin to stdout; the log gets it too.
    cid = rt.run("cat", ["/bin/cat"], stdin=True)
    url = c.Attach(container_id=cid, stdin=True, stdout=True, stderr=True).url
    got = []

    def interact(conn, si, so):
        si.write(b"ping one\n")
        assert conn.wait(lambda: b"ping one\n" in so.data)
        got.append(bytes(so.data))
    out, err, st, _ = remotecommand(url, stdin=b"", keep_open=interact)
    assert got and out.startswith(b"ping one\n")
    assert status(st) == {"metadata": {}, "status": "Success"}
    # Detached without stdin_once: the container keeps running.
    time.sleep(0.5)
    assert c.ContainerStatus(container_id=cid).status.state == criclient.pb().CONTAINER_RUNNING
    harness.wait_for(lambda: any(l[3] == "ping one" for l in rt.log(cid) if len(l) == 4),
                     timeout=10, what="attach input in the log")

    # stdin_once: the first attach's end of stdin closes the container's stdin.
    cid2 = rt.run("once", ["/bin/sh", "-c", "cat; echo eof-seen; sleep 1"], stdin=True,
                  stdin_once=True)
    url = c.Attach(container_id=cid2, stdin=True, stdout=True, stderr=True).url
    out, err, st, _ = remotecommand(url, stdin=b"last words\n")
    assert out == b"last words\neof-seen\n", out
    assert status(st)["status"] == "Success"
    harness.wait_for(lambda: c.ContainerStatus(container_id=cid2).status.state ==
                     criclient.pb().CONTAINER_EXITED, timeout=15, what="exited")


def test_attach_tty(rt):
    c = rt.client
    cid = rt.run("tty", ["/bin/sh"], stdin=True, tty=True)
    url = c.Attach(container_id=cid, stdin=True, stdout=True, tty=True).url

    def interact(conn, si, so):
        si.write(b"stty size; echo tty-$((2+3))\n")
        assert conn.wait(lambda: b"tty-5" in so.data), so.data
    out, err, st, _ = remotecommand(url, stdin=b"exit 0\n", stderr=False, tty=True,
                                    resize=(100, 30), keep_open=interact, close_stdin=False)
    assert b"30 100" in out and b"tty-5" in out, out
    # The pty output is logged as stdout.
    harness.wait_for(lambda: any(len(l) == 4 and l[1] == "stdout" and "tty-5" in l[3]
                                 for l in rt.log(cid)), timeout=10, what="tty output logged")


def test_attach_after_daemon_restart(rt):
    """The shim keeps the container's stdin and serves attach across a
    kill -9 and restart of nodelet-cri."""
    if rt.name == "containerd":
        pytest.skip("restart scenario is ours (containerd's shims are separate)")
    c = rt.client
    cid = rt.run("cat", ["/bin/cat"], stdin=True)
    d = rt.daemon
    # Closed first: a channel to a dead daemon keeps gRPC threads busy
    # reconnecting, and the namespaces can only be left single-threaded.
    c.close()
    d.proc.kill()
    d.proc.wait()
    d.start()
    c2 = criclient.Client(d.sock, timeout=60)
    url = c2.Attach(container_id=cid, stdin=True, stdout=True).url

    def interact(conn, si, so):
        si.write(b"after restart\n")
        assert conn.wait(lambda: b"after restart\n" in so.data)
    out, _, st, _ = remotecommand(url, stdin=b"", stderr=False, keep_open=interact)
    assert out == b"after restart\n" and status(st)["status"] == "Success"
    c2.close()


# ---- port forward ----

def test_port_forward(rt):
    c = rt.client
    # A one-shot TCP echo-ish server inside the pod (busybox nc).
    rt.run("srv", ["/bin/sh", "-c",
                   "while true; do echo hello-from-pod | nc -l -p 8080 > /tmp/got; done"])
    time.sleep(1)
    url = c.PortForward(pod_sandbox_id=rt.sandbox, port=[8080]).url
    assert "/portforward/" in url
    conn = SpdyConn(url, ["portforward.k8s.io"])
    assert conn.status == 101 and conn.protocol == "portforward.k8s.io"
    es = conn.create_stream({"streamType": "error", "port": "8080", "requestID": "0"})
    ds = conn.create_stream({"streamType": "data", "port": "8080", "requestID": "0"})
    ds.write(b"from-client\n")
    assert conn.wait(lambda: b"hello-from-pod\n" in ds.data), (ds.data, es.data)
    ds.close()
    assert conn.wait(lambda: ds.fin and es.fin), (ds.data, es.data)
    assert es.data == b""
    # A port nobody listens on: the error stream says so.
    es2 = conn.create_stream({"streamType": "error", "port": "8081", "requestID": "1"})
    ds2 = conn.create_stream({"streamType": "data", "port": "8081", "requestID": "1"})
    assert conn.wait(lambda: es2.fin and ds2.fin)
    assert es2.data.startswith(b"error forwarding port 8081 to pod " + rt.sandbox.encode()), \
        es2.data
    # Missing port header: the stream is refused.
    bad = conn.create_stream({"streamType": "data", "requestID": "2"})
    assert bad.reset and not bad.rejected
    conn.close()


# ---- WebSocket transport ----

@pytest.mark.parametrize("proto", ["v4.channel.k8s.io", "v4.base64.channel.k8s.io",
                                   "v5.channel.k8s.io"])
def test_websocket_exec(rt, proto):
    if proto.startswith("v5") and rt.name == "containerd":
        pytest.skip("containerd 1.6 predates v5.channel.k8s.io")
    c = rt.client
    cid = rt.run("svc", ["/bin/sleep", "1000"])
    url = c.Exec(container_id=cid, cmd=["/bin/sh", "-c", "echo out; echo err >&2; exit 6"],
                 stdout=True, stderr=True).url
    w = WsConn(url, [proto])
    assert w.status == 101 and w.protocol == proto
    assert w.wait(lambda: w.closed), w.msgs
    # First message: the empty "ready" write on the lowest output channel.
    assert w.msgs[0] == (1, b"")
    assert w.chan[1] == b"out\n" and w.chan[2] == b"err\n"
    st = status(w.chan[3])
    assert st["reason"] == "NonZeroExitCode" and st["details"]["causes"][0]["message"] == "6"
    if proto.startswith("v5"):
        # v5: the client can close stdin (channel 255, then the channel).
        url = c.Exec(container_id=cid, cmd=["/bin/sh", "-c", "tr a-z A-Z"], stdin=True,
                     stdout=True).url
        w = WsConn(url, [proto])
        w.send(0, b"shout\n")
        w.send(255, bytes([0]))
        assert w.wait(lambda: w.closed)
        assert w.chan[1] == b"SHOUT\n" and status(w.chan[3])["status"] == "Success"


def test_websocket_port_forward_and_errors(rt):
    c = rt.client
    rt.run("srv", ["/bin/sh", "-c",
                   "while true; do echo ws-hello | nc -l -p 8080 > /dev/null; done"])
    time.sleep(1)
    url = c.PortForward(pod_sandbox_id=rt.sandbox, port=[8080]).url
    w = WsConn(url, ["v4.channel.k8s.io"])
    assert w.status == 101
    # Each channel starts with the port, little endian.
    assert w.wait(lambda: w.chan.get(0, b"").startswith(struct.pack("<H", 8080)) and
                  w.chan.get(1, b"") == struct.pack("<H", 8080))
    w.send(0, b"hi\n")
    assert w.wait(lambda: b"ws-hello\n" in w.chan[0]), w.msgs
    w.close()
    # The ports are the PortForwardRequest's (the kubelet's BuildV4Options),
    # not the query's; an invalid one is a 400 when the URL is used.
    url = c.PortForward(pod_sandbox_id=rt.sandbox, port=[8080]).url
    w = WsConn(url, ["v4.base64.channel.k8s.io"], query="?port=9999")
    assert w.status == 101
    assert w.wait(lambda: w.chan.get(1, b"").startswith(struct.pack("<H", 8080))), w.msgs
    w.close()
    if rt.name == "nodelet-cri":
        # containerd 1.6 vendors a streaming server without this check.
        url = c.PortForward(pod_sandbox_id=rt.sandbox, port=[0]).url
        assert WsConn(url, ["v4.channel.k8s.io"]).status == 400
        assert SpdyConn(c.PortForward(pod_sandbox_id=rt.sandbox, port=[70000]).url,
                        ["portforward.k8s.io"]).status == 400
    # An unsupported subprotocol is refused.
    cid = rt.run("svc", ["/bin/sleep", "1000"])
    url = c.Exec(container_id=cid, cmd=["true"], stdout=True).url
    assert WsConn(url, ["v9.channel.k8s.io"]).status in (400, 403)


# ---- tokens, negotiation, validation (nodelet-cri; containerd answers the same) ----

def test_tokens_and_protocol_errors(rt):
    c = rt.client
    cid = rt.run("svc", ["/bin/sleep", "1000"])
    url = c.Exec(container_id=cid, cmd=["true"], stdout=True).url
    base = url.rsplit("/", 2)[0]
    # Unknown token.
    conn = SpdyConn(base + "/exec/nosuchtoken", V4)
    assert conn.status == 404
    # No protocol header: 400; unknown protocol: 403 with the accepted list.
    conn = SpdyConn(url, [])
    assert conn.status == 400 and b"X-Stream-Protocol-Version" in conn.body
    url = c.Exec(container_id=cid, cmd=["true"], stdout=True).url
    conn = SpdyConn(url, ["v9.channel.k8s.io"])
    assert conn.status == 403
    assert conn.headers["x-accepted-stream-protocol-versions"] == V4
    # A token is single use, whatever happened to its first request.
    conn = SpdyConn(url, V4)
    assert conn.status == 404
    # Missing upgrade headers.
    url = c.Exec(container_id=cid, cmd=["true"], stdout=True).url
    conn = SpdyConn(url, V4, upgrade=False)
    assert conn.status == 400
    # A token of another kind.
    url = c.Attach(container_id=cid, stdout=True).url
    conn = SpdyConn(url.replace("/attach/", "/exec/"), V4)
    assert conn.status == 404
    # Reused after a successful session.
    url = c.Exec(container_id=cid, cmd=["echo", "once"], stdout=True).url
    out, _, _, _ = remotecommand(url, stderr=False)
    assert out == b"once\n"
    assert SpdyConn(url, V4).status == 404

    # Validation as the kubelet's streaming server does it.
    for kw, msg, amsg in [({"stdout": True, "stderr": True, "tty": True}, "tty and stderr",
                           "tty and stderr"),
                          ({}, "one of stdin, stdout, or stderr",
                           "one of stdin, stdout, and stderr")]:
        with pytest.raises(criclient.CRIError) as e:
            c.Exec(container_id=cid, cmd=["true"], **kw)
        assert e.value.code.name == "INVALID_ARGUMENT" and msg in e.value.details
        with pytest.raises(criclient.CRIError) as e:
            c.Attach(container_id=cid, **kw)
        assert e.value.code.name == "INVALID_ARGUMENT" and amsg in e.value.details
    with pytest.raises(criclient.CRIError) as e:
        c.Exec(container_id="0" * 64, cmd=["true"], stdout=True)
    assert e.value.code.name in ("NOT_FOUND", "UNKNOWN")
    with pytest.raises(criclient.CRIError) as e:
        c.PortForward(pod_sandbox_id="0" * 64, port=[80])
    assert e.value.code.name in ("NOT_FOUND", "UNKNOWN")


def test_token_expiry(netns, tmp_path, images):
    """Tokens expire (1 minute by default; shortened here through the test
    hook NODELET_CRI_STREAM_TOKEN_TTL_MS)."""
    os.environ["NODELET_CRI_STREAM_TOKEN_TTL_MS"] = "500"
    short = tempfile.mkdtemp(prefix="st-", dir="/tmp")
    try:
        d = NodeletCRI(short).start(images)
    finally:
        del os.environ["NODELET_CRI_STREAM_TOKEN_TTL_MS"]
    try:
        with criclient.Client(d.sock, timeout=60) as c:
            sid = c.RunPodSandbox(config=pod_config("exp", "exp1")).pod_sandbox_id
            url = c.PortForward(pod_sandbox_id=sid, port=[80]).url
            time.sleep(1.0)
            assert SpdyConn(url, ["portforward.k8s.io"]).status == 404
            url = c.PortForward(pod_sandbox_id=sid, port=[80]).url
            assert SpdyConn(url, ["portforward.k8s.io"]).status == 101
    finally:
        d.stop()
        subprocess.run(["umount", "-R", "-l", short], stderr=subprocess.DEVNULL)
        shutil.rmtree(short, ignore_errors=True)
