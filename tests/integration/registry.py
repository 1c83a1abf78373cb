"""Debian's docker-registry (distribution 2.8) on 127.0.0.1 for tests.

    with Registry(tmpdir) as reg:            # plain HTTP
        reg.addr -> "127.0.0.1:PORT"
    Registry(tmpdir, tls=True)               # test CA made with openssl: reg.ca
    Registry(tmpdir, tls=True, client_certs=True)  # also requires a client cert
        signed by that CA (http.tls.clientcas): reg.client_cert, reg.client_key
    Registry(tmpdir, htpasswd={"u": "p"})    # Basic auth (bcrypt via crypt(3))
    Registry(tmpdir, token=TokenServer(...)) # Bearer token auth

Every process is started here and stopped by PID in stop().
"""
import base64
import hashlib
import json
import os
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REGISTRY_BIN = "/usr/bin/docker-registry"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def bcrypt_hash(password):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 5))


def make_ca(d, cn="127.0.0.1"):
    """A CA and a server cert for 127.0.0.1 (SAN IP + localhost)."""
    ca_key, ca = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
    key, csr, crt = os.path.join(d, "srv.key"), os.path.join(d, "srv.csr"), os.path.join(d, "srv.crt")
    ext = os.path.join(d, "ext.cnf")
    run = lambda *a: subprocess.run(a, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
        "-days", "2", "-subj", "/CN=nodelet test CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
        "-subj", f"/CN={cn}")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "2", "-extfile", ext)
    return ca, crt, key, ca_key


def make_client_cert(d, ca, ca_key, cn="nodelet test client"):
    """A client certificate (extendedKeyUsage clientAuth) signed by the test CA."""
    key, csr, crt = os.path.join(d, "client.key"), os.path.join(d, "client.csr"), os.path.join(d, "client.crt")
    ext = os.path.join(d, "client-ext.cnf")
    run = lambda *a: subprocess.run(a, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={cn}")
    with open(ext, "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "2", "-extfile", ext)
    return crt, key


class Registry:
    def __init__(self, workdir, tls=False, htpasswd=None, token=None, port=None, client_certs=False):
        self.dir = os.path.join(workdir, f"registry-{os.getpid()}-{time.monotonic_ns()}")
        os.makedirs(self.dir)
        if client_certs and not tls:
            raise ValueError("client_certs needs tls=True")
        self.port = port or free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.tls = tls
        self.proc = None
        self.ca = None
        self.client_cert = self.client_key = None
        cfg = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": os.path.join(self.dir, "data")},
                        "delete": {"enabled": True}},
            "http": {"addr": self.addr, "secret": "nodelet-test"},
        }
        if tls:
            self.ca, crt, key, _ = make_ca(self.dir)
            cfg["http"]["tls"] = {"certificate": crt, "key": key}
            if client_certs:
                # distribution turns clientcas into RequireAndVerifyClientCert.
                ca_key = os.path.join(self.dir, "ca.key")
                self.client_cert, self.client_key = make_client_cert(self.dir, self.ca, ca_key)
                cfg["http"]["tls"]["clientcas"] = [self.ca]
        if htpasswd:
            hp = os.path.join(self.dir, "htpasswd")
            with open(hp, "w") as f:
                for u, p in htpasswd.items():
                    f.write(f"{u}:{bcrypt_hash(p)}\n")
            cfg["auth"] = {"htpasswd": {"realm": "test-realm", "path": hp}}
        if token:
            cfg["auth"] = {"token": {"realm": token.realm, "service": token.service,
                                     "issuer": token.issuer, "rootcertbundle": token.cert}}
        self.config = os.path.join(self.dir, "config.yml")
        with open(self.config, "w") as f:
            json.dump(cfg, f)  # JSON is YAML
        self.start()

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://{self.addr}"

    def start(self):
        self.log = open(os.path.join(self.dir, "registry.log"), "ab")
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", self.config], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("docker-registry exited: " + open(os.path.join(self.dir, "registry.log")).read())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()


# ---- token auth (docker distribution token spec, RS256 JWT) ----

def _b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class TokenServer:
    """A tiny token server: GET /token?service=&scope= with Basic
    credentials -> {"token": JWT}. Signs with an RSA key via openssl."""

    def __init__(self, workdir, users):
        self.dir = os.path.join(workdir, f"tokens-{time.monotonic_ns()}")
        os.makedirs(self.dir)
        self.users = users
        self.refresh_tokens = {}  # identity token -> user
        self.key = os.path.join(self.dir, "tok.key")
        self.cert = os.path.join(self.dir, "tok.crt")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key,
                        "-out", self.cert, "-days", "2", "-subj", "/CN=token"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        der = subprocess.run(["openssl", "x509", "-in", self.cert, "-outform", "DER"], check=True,
                             stdout=subprocess.PIPE).stdout
        # libtrust key ID: base32 of the first 240 bits of sha256(SPKI DER), in 4-char groups.
        spki = subprocess.run(["sh", "-c", f"openssl x509 -in {self.cert} -pubkey -noout | "
                               "openssl pkey -pubin -outform DER"], check=True,
                              stdout=subprocess.PIPE).stdout
        h = hashlib.sha256(spki).digest()[:30]
        b32 = base64.b32encode(h).decode().rstrip("=")
        self.kid = ":".join(b32[i:i + 4] for i in range(0, 48, 4))
        self.der = der
        self.service = "nodelet-test-registry"
        self.issuer = "nodelet-test-issuer"
        self.requests = []
        srv = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _answer(self, q, user, key="token"):
                if user is None:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                scope = q.get("scope", [""])[0]
                tok = srv.sign(user, scope)
                body = json.dumps({key: tok, "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                # OAuth2 refresh-token grant (identity tokens)
                from urllib.parse import parse_qs
                n = int(self.headers.get("Content-Length", "0"))
                q = parse_qs(self.rfile.read(n).decode())
                srv.requests.append({"path": self.path, "post": q})
                user = srv.refresh_tokens.get(q.get("refresh_token", [""])[0]) \
                    if q.get("grant_type") == ["refresh_token"] else None
                self._answer(q, user, key="access_token")

            def do_GET(self):
                from urllib.parse import urlparse, parse_qs
                q = parse_qs(urlparse(self.path).query)
                auth = self.headers.get("Authorization", "")
                srv.requests.append({"path": self.path, "auth": auth})
                user = None
                if auth.startswith("Basic "):
                    u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                    if srv.users.get(u) == p:
                        user = u
                self._answer(q, user)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def sign(self, user, scope):
        access = []
        if scope:
            typ, name, actions = scope.split(":", 2)
            access.append({"type": typ, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        hdr = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        claims = {"iss": self.issuer, "sub": user, "aud": self.service, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": str(now) + user, "access": access}
        signing = _b64url(json.dumps(hdr).encode()) + "." + _b64url(json.dumps(claims).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key], input=signing.encode(),
                             check=True, stdout=subprocess.PIPE).stdout
        return signing + "." + _b64url(sig)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
