"""nodelet's healthz and read-only HTTP servers (kubelet/http.c, our own
HTTP/1.1 server) against Go's net/http, the server the real kubelet uses:
the same raw requests go to both, and the framing must agree (status, the
Connection header, Content-Length, whether the connection stays open,
pipelining, HEAD, HTTP/1.0, malformed and oversized heads). The Go peer is
built here from a few lines (golang-go is installed) and answers the
kubelet's paths the way nodelet does: /healthz "ok", /pods a PodList,
404 "404 page not found", 405 for methods other than GET/HEAD."""
import os
import shutil
import socket
import subprocess
import time

import pytest

from test_kubelet_lib import Nodelet, free_port

GO_PEER = r'''
package main

import (
	"net/http"
	"os"
	"time"
)

func main() {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "GET" && r.Method != "HEAD" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(405)
			w.Write([]byte("405: Method Not Allowed\n"))
			return
		}
		switch r.URL.Path {
		case "/healthz":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Write([]byte("ok"))
		case "/pods":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}`))
		default:
			http.NotFound(w, r)
		}
	})
	s := &http.Server{Addr: os.Args[1], Handler: h, MaxHeaderBytes: 16384 - 4096,
		IdleTimeout: 30 * time.Second}
	s.ListenAndServe()
}
'''


@pytest.fixture(scope="module")
def go_peer(tmp_path_factory):
    if not shutil.which("go"):
        pytest.skip("golang-go not installed: no Go net/http peer")
    d = tmp_path_factory.mktemp("gopeer")
    src = d / "main.go"
    src.write_text(GO_PEER)
    env = dict(os.environ, HOME=str(d), GOCACHE=str(d / "cache"), GO111MODULE="off",
               CGO_ENABLED="0")
    subprocess.run(["go", "build", "-o", str(d / "peer"), str(src)], check=True, env=env,
                   timeout=120)
    port = free_port()
    p = subprocess.Popen([str(d / "peer"), f"127.0.0.1:{port}"])
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "Go peer did not start"
            time.sleep(0.05)
    yield port
    p.terminate()
    p.wait()


@pytest.fixture(scope="module")
def ours():
    n = Nodelet().start()
    yield n.ro_port
    n.cleanup()


def exchange(port, chunks, expect):
    """Send the chunks (a pause between them), read `expect` responses (or
    until the peer closes). Returns ([(status, headers, body)], closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    for i, c in enumerate(chunks):
        if i:
            time.sleep(0.05)
        s.sendall(c)
    buf, resps, closed = b"", [], False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        while True:  # parse what is buffered
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            lines = buf[:end].decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ")[1])
            hdrs = {}
            for ln in lines[1:]:
                k, v = ln.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
            head_req = len(resps) < len(expect) and expect[len(resps)] == "HEAD"
            blen = 0 if head_req else int(hdrs.get("content-length", "0"))
            if len(buf) < end + 4 + blen:
                break
            resps.append((status, hdrs, buf[end + 4:end + 4 + blen]))
            buf = buf[end + 4 + blen:]
        if len(resps) >= len(expect):
            # Does the server keep the connection? Wait briefly for a close.
            s.settimeout(0.3)
            try:
                closed = s.recv(1) == b""
            except socket.timeout:
                closed = False
            except ConnectionResetError:
                closed = True
            break
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            closed = True
            break
        if not d:
            closed = True
            break
        buf += d
    s.close()
    return resps, closed


def shape(resps, closed):
    """What must agree: status, framing headers, body (bodies of errors
    that Go words differently are compared by status only)."""
    out = []
    for st, h, b in resps:
        out.append((st, h.get("connection", "").lower(), h.get("content-length"),
                    h.get("content-type"), b if st < 400 or st in (404, 405) else None))
    return out, closed


GET = b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n"
SCENARIOS = {
    "keepalive_twice": ([GET % b"/healthz" + GET % b"/pods"], ["GET", "GET"]),
    "head": ([b"HEAD /pods HTTP/1.1\r\nHost: x\r\n\r\n" + GET % b"/healthz"], ["HEAD", "GET"]),
    "not_found_query": ([GET % b"/nope?x=1" + GET % b"/healthz?verbose"], ["GET", "GET"]),
    "method": ([b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody" +
                GET % b"/healthz"], ["POST", "GET"]),
    "split_head": ([b"GET /hea", b"lthz HTTP/1.1\r\nHo", b"st: x\r\n\r\n"], ["GET"]),
    "connection_close": ([b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"], ["GET"]),
    "http10": ([b"GET /healthz HTTP/1.0\r\n\r\n"], ["GET"]),
    "http10_keepalive": ([b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"], ["GET"]),
    "no_host": ([b"GET /healthz HTTP/1.1\r\n\r\n"], ["GET"]),
    "bad_request_line": ([b"GET  /healthz HTTP/1.1\r\nHost: x\r\n\r\n"], ["GET"]),
    "bad_version": ([b"GET /healthz HTTP/7.1\r\nHost: x\r\n\r\n"], ["GET"]),
    "bad_content_length": ([b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n"], ["GET"]),
    "oversized_head": ([b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n"],
                       ["GET"]),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_framing_matches_go_net_http(name, go_peer, ours):
    chunks, expect = SCENARIOS[name]
    theirs = shape(*exchange(go_peer, chunks, expect))
    mine = shape(*exchange(ours, chunks, expect))
    assert mine == theirs, f"{name}: nodelet {mine} != Go net/http {theirs}"
    assert len(theirs[0]) == len(expect)
