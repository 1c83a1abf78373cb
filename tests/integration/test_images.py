"""nodelet-cri image: pull from a real registry (Debian's docker-registry on
127.0.0.1), import, unpack, mount, remove/GC, with faults and hostile layers.

Every test runs in fresh net+mount namespaces (the `network` marker): the
registry listens on the namespace's own loopback and mounts stay private.
Unpacked roots are compared file by file with what umoci produces.
"""
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import harness
import imagebuild as ib
from registry import Registry, TokenServer

pytestmark = pytest.mark.network

CLI = harness.bin_path("nodelet-cri")


def cli(root, *args, check=True, timeout=120):
    p = subprocess.run([CLI, "image", "--root", root] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"nodelet-cri image {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


def cli_json(root, *args):
    return json.loads(cli(root, "-o", "json", *args).stdout)


# ---- tree comparison ----

def tree(root):
    """path -> (kind, mode, uid, gid, content sha / link target, xattrs, mtime, nlink)"""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            import stat as S
            xattrs = {}
            if not S.S_ISLNK(st.st_mode):
                for k in os.listxattr(p, follow_symlinks=False):
                    if k.startswith("user."):
                        xattrs[k] = os.getxattr(p, k, follow_symlinks=False)
            if S.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    what = hashlib.sha256(f.read()).hexdigest()
                kind = "file"
            elif S.S_ISLNK(st.st_mode):
                what, kind = os.readlink(p), "link"
            elif S.S_ISDIR(st.st_mode):
                what, kind = "", "dir"
            else:
                what, kind = str(st.st_rdev), "other"
            out[rel] = {"kind": kind, "mode": oct(S.S_IMODE(st.st_mode)), "uid": st.st_uid,
                        "gid": st.st_gid, "what": what, "xattrs": xattrs,
                        "mtime": int(st.st_mtime) if kind != "dir" else None,
                        "ino": (st.st_dev, st.st_ino) if kind == "file" else None}
    # Hardlinks: which visible paths share an inode (the link count itself
    # differs on overlay, where a hidden lower name still counts).
    groups = {}
    for rel, v in out.items():
        if v["ino"]:
            groups.setdefault(v["ino"], []).append(rel)
    for rel, v in out.items():
        if v.pop("ino"):
            pass
    for paths in groups.values():
        for rel in paths:
            out[rel]["peers"] = sorted(paths)
    return out


def assert_same_tree(ours, theirs):
    a, b = tree(ours), tree(theirs)
    missing = sorted(set(b) - set(a))
    extra = sorted(set(a) - set(b))
    assert not missing and not extra, f"missing {missing} extra {extra}"
    diffs = {k: (a[k], b[k]) for k in a if a[k] != b[k]}
    assert not diffs, f"differences (ours, reference): {json.dumps(diffs, indent=1)}"


def umoci_unpack(layout, tag, dest):
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:{tag}", dest], check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return os.path.join(dest, "rootfs")


def umount(path):
    subprocess.run(["umount", path], check=False)


# ---- a proxy in front of the registry: counts, corrupts, throttles ----

class Proxy:
    def __init__(self, upstream, corrupt_blobs=False, throttle_bps=None, fail_blobs=0, fail_status=503,
                 redirect_blobs_to=None, upstream_auth=None):
        self.upstream = upstream
        self.redirect_to = redirect_blobs_to
        self.upstream_auth = upstream_auth
        self.seen_auth = []  # (path, Authorization header or None)
        self.active = set()  # client sockets, cut by stop() like a dying server
        self.fail_left = fail_blobs
        self.fail_status = fail_status
        self.corrupt = corrupt_blobs
        self.throttle = throttle_bps
        self.counts = {}
        self.lock = threading.Lock()
        px = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _fwd(self, method):
                with px.lock:
                    px.active.add(self.connection)
                    px.counts[self.path] = px.counts.get(self.path, 0) + 1
                    px.seen_auth.append((self.path, self.headers.get("Authorization")))
                    fail = px.fail_left > 0 and "/blobs/" in self.path
                    if fail:
                        px.fail_left -= 1
                if px.redirect_to and "/blobs/" in self.path:
                    # like a registry sending blob downloads to storage elsewhere
                    self.send_response(307)
                    self.send_header("Location", f"http://{px.redirect_to}{self.path}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if fail:
                    self.send_response(px.fail_status)
                    self.send_header("Content-Length", "0")
                    if px.fail_status == 429:
                        self.send_header("Retry-After", "0")
                    self.end_headers()
                    return
                try:
                    c = http.client.HTTPConnection(px.upstream, timeout=30)
                    hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                    if px.upstream_auth:
                        hdrs["Authorization"] = px.upstream_auth
                    c.request(method, self.path, headers=hdrs)
                    r = c.getresponse()
                    body = r.read()
                except OSError:
                    self.close_connection = True
                    return
                if px.corrupt and "/blobs/sha256:" in self.path and len(body) > 100 and r.status == 200:
                    body = body[:50] + bytes([body[50] ^ 0xFF]) + body[51:]
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if method == "HEAD":
                    return
                try:
                    if px.throttle and len(body) > 65536:
                        step = max(1, px.throttle // 20)
                        for i in range(0, len(body), step):
                            self.wfile.write(body[i:i + step])
                            self.wfile.flush()
                            time.sleep(0.05)
                    else:
                        self.wfile.write(body)
                except OSError:
                    self.close_connection = True

            def do_GET(self):
                self._fwd("GET")

            def do_HEAD(self):
                self._fwd("HEAD")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.addr = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def blob_gets(self):
        return {k: v for k, v in self.counts.items() if "/blobs/" in k}

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        import socket
        with self.lock:
            for c in self.active:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def work(tmp_path):
    return str(tmp_path)


@pytest.fixture
def reg(work):
    r = Registry(work)
    yield r
    r.stop()


def rich_layout(work, name="layout"):
    return ib.write_layout(os.path.join(work, name), {"v1": ib.rich_image()})


def assert_store_consistent(root):
    """Every blob hashes to its name; no temp files or partial snapshots."""
    bd = os.path.join(root, "blobs", "sha256")
    for n in os.listdir(bd):
        with open(os.path.join(bd, n), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == n, f"corrupt blob {n}"
    assert os.listdir(os.path.join(root, "ingest")) == []
    assert [s for s in os.listdir(os.path.join(root, "snapshots")) if s.startswith("tmp-")] == []


# ---- tests ----

def test_pull_unpack_matches_umoci(work, reg):
    layout = rich_layout(work)
    ib.push(layout, "v1", f"{reg.addr}/test/rich:v1")
    root = os.path.join(work, "store")
    out = cli_json(root, "pull", f"{reg.addr}/test/rich:v1")
    img = cli_json(root, "inspect", out["id"])
    assert img["repoTags"] == [f"{reg.addr}/test/rich:v1"]
    assert img["repoDigests"][0].startswith(f"{reg.addr}/test/rich@sha256:")
    cfg = img["config"]
    assert cfg["Env"] == ["PATH=/bin", "GREETING=hello world"]
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"] and cfg["Cmd"] == ["echo $GREETING"]
    assert cfg["WorkingDir"] == "/work" and cfg["User"] == "65534:65534"
    assert cfg["ExposedPorts"] == ["8080/tcp"] and cfg["Volumes"] == ["/data"]
    assert cfg["Labels"] == {"org.example.test": "yes"} and cfg["StopSignal"] == "SIGQUIT"
    assert len(img["layers"]) == 3 and len(img["chainIds"]) == 3

    mnt = os.path.join(work, "mnt")
    os.makedirs(mnt)
    cli(root, "mount", out["id"], mnt)
    try:
        # umoci 0.4 reads no zstd: the same content, all gzip, as reference.
        gz = ib.write_layout(os.path.join(work, "gz"), {"v1": ib.rich_image(last="gzip")})
        ref = umoci_unpack(gz, "v1", os.path.join(work, "umoci"))
        assert_same_tree(mnt, ref)
        # spot checks of what the comparison covers
        assert not os.path.exists(os.path.join(mnt, "etc/remove-me"))
        assert not os.path.exists(os.path.join(mnt, "gone"))
        assert sorted(os.listdir(os.path.join(mnt, "opq"))) == ["new"]
        assert os.readlink(os.path.join(mnt, "work/abs-link")) == "/etc/passwd"
        assert os.getxattr(os.path.join(mnt, "work/xattr"), "user.test") == b"value1"
        assert oct(os.stat(os.path.join(mnt, "work/suid")).st_mode & 0o7777) == "0o4755"
        with pytest.raises(OSError):
            open(os.path.join(mnt, "newfile"), "w")  # read-only view
    finally:
        cli(root, "unmount", mnt)
    assert not os.path.ismount(mnt)
    assert os.listdir(os.path.join(root, "rootfs")) == []
    assert_store_consistent(root)


def test_pull_multiplatform_index_picks_host(work, reg):
    def plat_img(arch, variant=None):
        img = ib.Image(arch=arch, variant=variant)
        img.add_layer(ib.busybox_entries())
        img.add_layer([ib.F("platform", f"{arch}/{variant}".encode())])
        return img
    layout = ib.write_layout(os.path.join(work, "multi"), None, index_of={
        "multi": [plat_img("arm64", "v8"), plat_img("amd64"), plat_img("arm", "v7"), plat_img("s390x")]})
    ib.push(layout, "multi", f"{reg.addr}/test/multi:1", all_platforms=True)
    root = os.path.join(work, "store")
    cli(root, "pull", f"{reg.addr}/test/multi:1")
    img = cli_json(root, "inspect", f"{reg.addr}/test/multi:1")
    arch = {"x86_64": "amd64", "aarch64": "arm64"}[os.uname().machine]
    assert img["architecture"] == arch
    mnt = os.path.join(work, "m")
    os.makedirs(mnt)
    cli(root, "mount", f"{reg.addr}/test/multi:1", mnt)
    try:
        with open(os.path.join(mnt, "platform")) as f:
            assert f.read().startswith(arch + "/")
    finally:
        cli(root, "unmount", mnt)
    # The repo digest is the index's, as containerd records it.
    idx = json.load(open(os.path.join(layout, "index.json")))["manifests"][0]["digest"]
    assert img["repoDigests"] == [f"{reg.addr}/test/multi@{idx}"]
    # and it can be pulled by that digest
    root2 = os.path.join(work, "store2")
    cli(root2, "pull", f"{reg.addr}/test/multi@{idx}")
    assert cli_json(root2, "inspect", f"{reg.addr}/test/multi@{idx}")["id"] == img["id"]


def test_tls_registry_with_ca(work):
    small = ib.Image().add_layer(ib.busybox_entries())
    layout = ib.write_layout(os.path.join(work, "l"), {"v1": small})
    with Registry(work, tls=True) as reg:
        subprocess.run(["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:v1",
                        f"docker://{reg.addr}/t/img:v1"], check=True)
        root = os.path.join(work, "store")
        # Unknown CA: refused (no silent plain-HTTP fallback on a TLS server).
        p = cli(root, "pull", f"{reg.addr}/t/img:v1", check=False)
        assert p.returncode == 1
        assert "certificate" in p.stderr.lower() or "ssl" in p.stderr.lower(), p.stderr
        cfg = os.path.join(work, "registries.yaml")
        with open(cfg, "w") as f:
            f.write(f'configs:\n  "{reg.addr}":\n    tls:\n      ca_file: {reg.ca}\n')
        cli(root, "--registry-config", cfg, "pull", f"{reg.addr}/t/img:v1")
        with open(cfg, "w") as f:
            f.write(f'configs:\n  "{reg.addr}":\n    tls:\n      insecure_skip_verify: true\n')
        root2 = os.path.join(work, "store2")
        cli(root2, "--registry-config", cfg, "pull", f"{reg.addr}/t/img:v1")


def test_tls_registry_client_certificate(work):
    """registries.yaml cert_file/key_file: a registry that requires client
    certificates (distribution's http.tls.clientcas) is pulled from with the
    key pair, and refused with a TLS error, leaving nothing behind, without it."""
    small = ib.Image().add_layer(ib.busybox_entries())
    layout = ib.write_layout(os.path.join(work, "l"), {"v1": small})
    with Registry(work, tls=True, client_certs=True) as reg:
        ref = f"{reg.addr}/t/mutual:v1"
        # skopeo's cert dir: *.cert + same-named *.key is the client pair, *.crt a CA.
        certdir = os.path.join(work, "certs.d")
        os.makedirs(certdir)
        shutil.copy(reg.client_cert, os.path.join(certdir, "client.cert"))
        shutil.copy(reg.client_key, os.path.join(certdir, "client.key"))
        shutil.copy(reg.ca, os.path.join(certdir, "ca.crt"))
        subprocess.run(["skopeo", "copy", "-q", "--dest-cert-dir", certdir, f"oci:{layout}:v1",
                        f"docker://{ref}"], check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # The peer agrees the registry really demands the certificate.
        cadir = os.path.join(work, "ca-only.d")
        os.makedirs(cadir)
        shutil.copy(reg.ca, os.path.join(cadir, "ca.crt"))
        peer = subprocess.run(["skopeo", "inspect", "--raw", "--cert-dir", cadir, f"docker://{ref}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert peer.returncode != 0, "registry accepted a client without a certificate"
        theirs = subprocess.run(["skopeo", "inspect", "--raw", "--cert-dir", certdir, f"docker://{ref}"],
                                check=True, stdout=subprocess.PIPE).stdout
        manifest_digest = "sha256:" + hashlib.sha256(theirs).hexdigest()

        # With the client key pair: pulled and listed.
        root = os.path.join(work, "store")
        cfg = os.path.join(work, "registries.yaml")
        with open(cfg, "w") as f:
            f.write(f'configs:\n  "{reg.addr}":\n    tls:\n      ca_file: {reg.ca}\n'
                    f'      cert_file: {reg.client_cert}\n      key_file: {reg.client_key}\n')
        out = cli_json(root, "--registry-config", cfg, "pull", ref)
        imgs = cli_json(root, "list")["images"]
        assert [i["id"] for i in imgs] == [out["id"]]
        img = cli_json(root, "inspect", ref)
        assert img["repoTags"] == [ref]
        assert img["repoDigests"] == [f"{reg.addr}/t/mutual@{manifest_digest}"]
        assert_store_consistent(root)

        # CA only: the server refuses the handshake; a clear TLS error, no image, no debris.
        root2 = os.path.join(work, "store2")
        cfg2 = os.path.join(work, "registries-ca-only.yaml")
        with open(cfg2, "w") as f:
            f.write(f'configs:\n  "{reg.addr}":\n    tls:\n      ca_file: {reg.ca}\n')
        p = cli(root2, "--registry-config", cfg2, "pull", ref, check=False)
        assert p.returncode != 0
        assert reg.addr in p.stderr, p.stderr
        # What curl said, not the URL (which could itself contain these words).
        assert "/manifests/v1: " in p.stderr, p.stderr
        why = p.stderr.split("/manifests/v1: ", 1)[1].lower()
        assert any(w in why for w in ("tls", "ssl", "certificate", "handshake")), p.stderr
        assert cli_json(root2, "list")["images"] == []
        if os.path.isdir(os.path.join(root2, "blobs", "sha256")):
            assert_store_consistent(root2)


def test_basic_auth(work):
    small = ib.Image().add_layer(ib.busybox_entries())
    layout = ib.write_layout(os.path.join(work, "l"), {"v1": small})
    with Registry(work, htpasswd={"alice": "s3cret"}) as reg:
        ib.push(layout, "v1", f"{reg.addr}/p/img:v1", creds="alice:s3cret")
        root = os.path.join(work, "store")
        p = cli(root, "pull", f"{reg.addr}/p/img:v1", check=False)
        assert p.returncode == 1 and "registry wants credentials" in p.stderr, p.stderr
        p = cli(root, "pull", "--username", "alice", "--password", "wrong", f"{reg.addr}/p/img:v1", check=False)
        assert p.returncode == 1 and "credentials rejected" in p.stderr, p.stderr
        cli(root, "pull", "--username", "alice", "--password", "s3cret", f"{reg.addr}/p/img:v1")
        # CRI AuthConfig.auth form
        import base64
        root2 = os.path.join(work, "store2")
        cli(root2, "pull", "--auth", base64.b64encode(b"alice:s3cret").decode(), f"{reg.addr}/p/img:v1")
        # registries.yaml credentials
        cfg = os.path.join(work, "registries.yaml")
        with open(cfg, "w") as f:
            f.write(f'configs:\n  "{reg.addr}":\n    auth:\n      username: alice\n      password: s3cret\n')
        cli(os.path.join(work, "store3"), "--registry-config", cfg, "pull", f"{reg.addr}/p/img:v1")
        # docker config.json
        dc = os.path.join(work, "config.json")
        with open(dc, "w") as f:
            json.dump({"auths": {reg.addr: {"auth": base64.b64encode(b"alice:s3cret").decode()}}}, f)
        cli(os.path.join(work, "store4"), "--docker-config", dc, "pull", f"{reg.addr}/p/img:v1")


def test_redirect_to_other_host_drops_authorization(work):
    import base64
    small = ib.Image().add_layer(ib.busybox_entries())
    layout = ib.write_layout(os.path.join(work, "l"), {"v1": small})
    with Registry(work, htpasswd={"alice": "s3cret"}) as reg:
        ib.push(layout, "v1", f"{reg.addr}/p/img:v1", creds="alice:s3cret")
        basic = "Basic " + base64.b64encode(b"alice:s3cret").decode()
        # "storage": another host:port that signs its own upstream requests
        storage = Proxy(reg.addr, upstream_auth=basic)
        front = Proxy(reg.addr, redirect_blobs_to=storage.addr)
        try:
            root = os.path.join(work, "store")
            cli(root, "pull", "--username", "alice", "--password", "s3cret", f"{front.addr}/p/img:v1")
            assert any(a for p_, a in front.seen_auth if "/manifests/" in p_), front.seen_auth
            blob_reqs = [(p_, a) for p_, a in storage.seen_auth if "/blobs/" in p_]
            assert blob_reqs, storage.seen_auth
            assert all(a is None for _, a in blob_reqs), blob_reqs
            assert_store_consistent(root)
        finally:
            front.stop()
            storage.stop()


def test_token_auth(work):
    small = ib.Image().add_layer(ib.busybox_entries())
    layout = ib.write_layout(os.path.join(work, "l"), {"v1": small})
    ts = TokenServer(work, {"bob": "pw"})
    try:
        with Registry(work, token=ts) as reg:
            ib.push(layout, "v1", f"{reg.addr}/tok/img:v1", creds="bob:pw")
            ts.requests.clear()
            root = os.path.join(work, "store")
            p = cli(root, "pull", "--username", "bob", "--password", "bad", f"{reg.addr}/tok/img:v1", check=False)
            assert p.returncode == 1 and "token server" in p.stderr and "401" in p.stderr, p.stderr
            cli(root, "pull", "--username", "bob", "--password", "pw", f"{reg.addr}/tok/img:v1")
            scopes = [r["path"] for r in ts.requests]
            assert any("scope=repository%3Atok%2Fimg%3Apull" in s for s in scopes), scopes
            assert any("service=nodelet-test-registry" in s for s in scopes), scopes
            # identity token (CRI AuthConfig.identity_token): OAuth2 refresh grant
            ts.refresh_tokens["refresh-123"] = "bob"
            ts.requests.clear()
            cli(os.path.join(work, "store2"), "pull", "--identity-token", "refresh-123", f"{reg.addr}/tok/img:v1")
            posts = [r for r in ts.requests if "post" in r]
            assert posts and posts[0]["post"]["grant_type"] == ["refresh_token"], ts.requests
            assert posts[0]["post"]["scope"] == ["repository:tok/img:pull"]
            p = cli(os.path.join(work, "store3"), "pull", "--identity-token", "wrong", f"{reg.addr}/tok/img:v1",
                    check=False)
            assert p.returncode == 1 and "token server" in p.stderr
    finally:
        ts.stop()


def test_mirror_with_rewrite(work, reg):
    small = ib.Image().add_layer(ib.busybox_entries()).add_layer([ib.F("marker", b"mirror")])
    layout = ib.write_layout(os.path.join(work, "l"), {"v1": small})
    ib.push(layout, "v1", f"{reg.addr}/mirrored/app:v1")
    proxy = Proxy(reg.addr)
    try:
        cfg = os.path.join(work, "registries.yaml")
        with open(cfg, "w") as f:
            f.write("mirrors:\n  registry.example.invalid:\n    endpoint:\n"
                    f'      - "http://{proxy.addr}"\n    rewrite:\n      "^library/(.*)": "mirrored/$1"\n')
        root = os.path.join(work, "store")
        cli(root, "--registry-config", cfg, "pull", "registry.example.invalid/library/app:v1")
        img = cli_json(root, "inspect", "registry.example.invalid/library/app:v1")
        assert img["repoTags"] == ["registry.example.invalid/library/app:v1"]
        assert any(k.startswith("/v2/mirrored/app/manifests/v1") for k in proxy.counts), proxy.counts
    finally:
        proxy.stop()


def test_import_layout_tar_docker_save_and_preload(work):
    layout = rich_layout(work)
    root = os.path.join(work, "store")
    # directory layout, named with --tag
    ids = cli_json(root, "import", "--tag", "example.com/rich:dir", layout)["ids"]
    # the same layout as a tar
    tarp = os.path.join(work, "layout.tar")
    subprocess.run(["tar", "-C", layout, "-cf", tarp, "."], check=True)
    ids2 = cli_json(root, "import", "--tag", "example.com/rich:tar", tarp)["ids"]
    assert ids == ids2
    # docker save format: manifest.json + <id>.json + <layer>/layer.tar
    img = ib.rich_image()
    ds = os.path.join(work, "ds")
    os.makedirs(ds)
    man_b, blobs = img.blobs()
    man = json.loads(man_b)
    cfg_d = man["config"]["digest"]
    with open(os.path.join(ds, cfg_d[7:] + ".json"), "wb") as f:
        f.write(blobs[cfg_d])
    layer_names = []
    for i, (raw, _, _) in enumerate(img.layers):
        d = os.path.join(ds, f"layer{i}")
        os.makedirs(d)
        with open(os.path.join(d, "layer.tar"), "wb") as f:
            f.write(raw)
        layer_names.append(f"layer{i}/layer.tar")
    with open(os.path.join(ds, "manifest.json"), "w") as f:
        json.dump([{"Config": cfg_d[7:] + ".json", "RepoTags": ["saved/rich:v1", "saved/rich:latest"],
                    "Layers": layer_names}], f)
    dtar = os.path.join(work, "saved.tar")
    subprocess.run(["tar", "-C", ds, "-cf", dtar, "."], check=True)
    ids3 = cli_json(root, "import", dtar)["ids"]
    assert set(ids3) == set(ids)  # same config digest: same image id
    tags = cli_json(root, "inspect", ids[0])["repoTags"]
    assert set(tags) == {"example.com/rich:dir", "example.com/rich:tar", "docker.io/saved/rich:v1",
                         "docker.io/saved/rich:latest"}
    # docker save layers are uncompressed: the same diff IDs, the same snapshots
    assert len(os.listdir(os.path.join(root, "snapshots"))) == 3
    table = cli(root, "list").stdout
    assert "docker.io/saved/rich" in table and "example.com/rich" in table

    # preload dir: a gzip'd layout tar with a full name annotation
    pre = os.path.join(work, "preload")
    os.makedirs(pre)
    small = ib.Image().add_layer(ib.busybox_entries()).add_layer([ib.F("pre", b"1")])
    sl = ib.write_layout(os.path.join(work, "small"), {"v1": small})
    idx = json.load(open(os.path.join(sl, "index.json")))
    idx["manifests"][0]["annotations"]["io.containerd.image.name"] = "registry.local/pre/loaded:v1"
    json.dump(idx, open(os.path.join(sl, "index.json"), "w"))
    subprocess.run(["tar", "-C", sl, "-czf", os.path.join(pre, "a.tar.gz"), "."], check=True)
    with open(os.path.join(pre, "broken.tar"), "wb") as f:
        f.write(b"not a tar")
    p = cli(root, "preload", pre, check=False)
    assert p.returncode == 1 and "broken.tar" in p.stderr and "1 of 2 entries failed" in p.stderr, p.stderr
    assert cli_json(root, "inspect", "registry.local/pre/loaded:v1")["repoTags"] == ["registry.local/pre/loaded:v1"]
    assert_store_consistent(root)


def evil_layout(work, name, entries, compression="gzip"):
    img = ib.Image().add_layer(ib.busybox_entries())
    img.add_layer(entries, compression)
    return ib.write_layout(os.path.join(work, name), {"v1": img})


@pytest.mark.parametrize("case,entries,want", [
    ("traversal", [ib.F("../../escaped", b"x")], 'entry "../../escaped": path contains ".."'),
    ("absolute", [ib.F("/escaped", b"x")], 'entry "/escaped": absolute path'),
    ("symlink", [ib.L("bin/evil", "/"), ib.F("bin/evil/escaped", b"x")],
     'entry "bin/evil/escaped": path goes through a symlink'),
    ("symlink-rel", [ib.L("up", "../../../../../../.."), ib.F("up/escaped", b"x")], "path goes through a symlink"),
    ("hardlink", [ib.H("hl", "../../../../../etc/passwd")], 'entry "hl": hardlink target'),
    ("hardlink-via-symlink", [ib.L("etcl", "/etc"), ib.H("hl", "etcl/passwd")], "hardlink target"),
    ("device", [ib.DEV("dev-null", 1, 3)], 'entry "dev-null": device nodes are not allowed'),
])
def test_malicious_layers_refused(work, case, entries, want):
    layout = evil_layout(work, case, entries)
    root = os.path.join(work, "store")
    before = set(os.listdir(work))
    p = cli(root, "import", "--tag", "evil/x:v1", layout, check=False)
    assert p.returncode == 1
    assert want in p.stderr, p.stderr
    assert "unpack layer" in p.stderr
    assert not os.path.exists(os.path.join(work, "escaped"))
    assert not os.path.exists("/escaped")
    assert set(os.listdir(work)) - before == {"store"}
    # only the good base layer stays; the partial one was removed
    snaps = os.listdir(os.path.join(root, "snapshots"))
    assert len(snaps) == 1 and not snaps[0].startswith("tmp-")
    assert cli_json(root, "list")["images"] == []
    assert_store_consistent(root)


def test_gzip_bomb_refused(work):
    # 1 GiB of zeros compresses to ~1 MiB: far beyond any real layer's ratio.
    import tarfile
    raw_path = os.path.join(work, "bomb.tar")
    small = tarfile.TarInfo("small")
    small.size = 1
    zeros = tarfile.TarInfo("zeros")
    zeros.size = 1 << 30
    with open(raw_path, "wb") as f:
        f.write(small.tobuf(format=tarfile.PAX_FORMAT) + b"x" + b"\0" * 511)
        f.write(zeros.tobuf(format=tarfile.PAX_FORMAT))
    gz = subprocess.run(f"(cat {raw_path}; head -c {1 << 30} /dev/zero; head -c 1024 /dev/zero) | gzip -9",
                        shell=True, check=True, stdout=subprocess.PIPE).stdout
    os.unlink(raw_path)
    img = ib.Image().add_layer(ib.busybox_entries())
    # the diff ID of the bomb is never reached; any well-formed value will do
    img.layers.append((b"placeholder", gz, "application/vnd.oci.image.layer.v1.tar+gzip"))
    layout = ib.write_layout(os.path.join(work, "bomb"), {"v1": img})
    root = os.path.join(work, "store")
    t0 = time.monotonic()
    p = cli(root, "import", "--tag", "bomb/x:v1", layout, check=False)
    assert p.returncode == 1
    assert "decompression bomb" in p.stderr, p.stderr
    assert time.monotonic() - t0 < 60
    assert len(os.listdir(os.path.join(root, "snapshots"))) == 1
    assert_store_consistent(root)


def test_registry_killed_mid_pull_then_retry(work):
    big = ib.Image().add_layer(ib.busybox_entries())
    big.add_layer([ib.F("random", os.urandom(8 << 20))], "gzip")
    layout = ib.write_layout(os.path.join(work, "l"), {"v1": big})
    reg = Registry(work)
    ib.push(layout, "v1", f"{reg.addr}/big/img:v1")
    proxy = Proxy(reg.addr, throttle_bps=1 << 20)
    root = os.path.join(work, "store")
    p = subprocess.Popen([CLI, "image", "--root", root, "--parallel", "1", "pull", f"{proxy.addr}/big/img:v1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        harness.wait_for(lambda: any(os.listdir(os.path.join(root, "ingest"))) if os.path.isdir(os.path.join(root, "ingest")) else False,
                         timeout=20, what="download started")
        time.sleep(0.3)
        reg.kill()
        proxy.stop()
        out, errout = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 1
    assert "pull " in errout and "GET http" in errout, errout
    assert_store_consistent(root)
    assert not os.path.exists(os.path.join(root, "images.json")) or cli_json(root, "list")["images"] == []
    # The registry comes back (same storage, same port): the pull succeeds.
    reg.start()
    try:
        cli(root, "pull", f"{reg.addr}/big/img:v1")
        assert_store_consistent(root)
    finally:
        reg.stop()


def test_full_disk(work, reg):
    img = ib.Image().add_layer(ib.busybox_entries())
    img.add_layer([ib.F("random", os.urandom(12 << 20))], "gzip")
    layout = ib.write_layout(os.path.join(work, "l"), {"v1": img})
    ib.push(layout, "v1", f"{reg.addr}/full/img:v1")
    root = os.path.join(work, "tiny")
    os.makedirs(root)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", root], check=True)
    try:
        p = cli(root, "pull", f"{reg.addr}/full/img:v1", check=False)
        assert p.returncode == 1
        assert "No space left on device" in p.stderr, p.stderr
        assert_store_consistent(root)
        assert cli_json(root, "list")["images"] == []
    finally:
        umount(root)


def test_wrong_digest_rejected(work, reg):
    img = ib.Image().add_layer(ib.busybox_entries())
    layout = ib.write_layout(os.path.join(work, "l"), {"v1": img})
    ib.push(layout, "v1", f"{reg.addr}/bad/img:v1")
    proxy = Proxy(reg.addr, corrupt_blobs=True)
    try:
        root = os.path.join(work, "store")
        p = cli(root, "pull", f"{proxy.addr}/bad/img:v1", check=False)
        assert p.returncode == 1
        assert "digest mismatch" in p.stderr, p.stderr
        assert_store_consistent(root)
        layer = json.loads(img.blobs()[0])["layers"][0]["digest"]
        assert not os.path.exists(os.path.join(root, "blobs", "sha256", layer[7:]))
    finally:
        proxy.stop()


@pytest.mark.parametrize("status", [503, 429])
def test_transient_errors_retried(work, reg, status):
    img = ib.Image().add_layer(ib.busybox_entries()).add_layer([ib.F("x", b"y")])
    layout = ib.write_layout(os.path.join(work, "l"), {"v1": img})
    ib.push(layout, "v1", f"{reg.addr}/flaky/img:v1")
    proxy = Proxy(reg.addr, fail_blobs=2, fail_status=status)
    try:
        root = os.path.join(work, "store")
        cli(root, "--parallel", "1", "pull", f"{proxy.addr}/flaky/img:v1")
        assert max(proxy.blob_gets().values()) >= 2  # retried after the failures
        assert_store_consistent(root)
        # a registry that keeps failing: a clear error after the retries
        proxy.fail_left = 100
        p = cli(os.path.join(work, "s2"), "pull", f"{proxy.addr}/flaky/img:v1", check=False)
        assert p.returncode == 1 and f"HTTP {status}" in p.stderr, p.stderr
    finally:
        proxy.stop()


def test_concurrent_pulls_download_once(work, reg):
    img = ib.Image().add_layer(ib.busybox_entries())
    img.add_layer([ib.F("random", os.urandom(2 << 20))], "gzip")
    img.add_layer([ib.F("more", os.urandom(1 << 20))], "gzip")
    layout = ib.write_layout(os.path.join(work, "l"), {"v1": img})
    ib.push(layout, "v1", f"{reg.addr}/conc/img:v1")
    proxy = Proxy(reg.addr, throttle_bps=4 << 20)
    try:
        root = os.path.join(work, "store")
        procs = [subprocess.Popen([CLI, "image", "--root", root, "pull", f"{proxy.addr}/conc/img:v1"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
        outs = [pp.communicate(timeout=120) for pp in procs]
        for pp, (o, e) in zip(procs, outs):
            assert pp.returncode == 0, e
        assert len({o.strip() for o, _ in outs}) == 1
        blob_gets = proxy.blob_gets()
        assert blob_gets and all(v == 1 for v in blob_gets.values()), blob_gets
        assert_store_consistent(root)
    finally:
        proxy.stop()


def test_remove_gc_and_usage(work):
    base = ib.busybox_entries()
    a = ib.Image().add_layer(base).add_layer([ib.F("a", b"a")])
    b = ib.Image().add_layer(base).add_layer([ib.F("b", b"b")])
    la = ib.write_layout(os.path.join(work, "a"), {"v1": a})
    lb = ib.write_layout(os.path.join(work, "b"), {"v1": b})
    root = os.path.join(work, "store")
    ida = cli_json(root, "import", "--tag", "x/a:v1", la)["ids"][0]
    cli(root, "import", "--tag", "x/a:other", la)
    idb = cli_json(root, "import", "--tag", "x/b:v1", lb)["ids"][0]
    assert len(os.listdir(os.path.join(root, "snapshots"))) == 3
    u1 = cli_json(root, "usage")
    assert u1["usedBytes"] > 1 << 20 and u1["inodesUsed"] > 10
    # an image mounted as a view keeps its layers through removal
    mnt = os.path.join(work, "m")
    os.makedirs(mnt)
    cli(root, "mount", "x/b:v1", mnt)
    cli(root, "remove", "x/a:other")  # untag only
    assert cli_json(root, "inspect", ida)["repoTags"] == ["docker.io/x/a:v1"]
    cli(root, "remove", ida)
    p = cli(root, "inspect", ida, check=False)
    assert p.returncode == 1 and "not found" in p.stderr
    assert len(os.listdir(os.path.join(root, "snapshots"))) == 2
    cli(root, "remove", idb)
    assert len(os.listdir(os.path.join(root, "snapshots"))) == 2  # still mounted
    assert os.path.exists(os.path.join(mnt, "b"))
    cli(root, "unmount", mnt)
    cli(root, "gc")
    assert os.listdir(os.path.join(root, "snapshots")) == []
    assert os.listdir(os.path.join(root, "blobs", "sha256")) == []
    assert os.listdir(os.path.join(root, "l")) == []
    u2 = cli_json(root, "usage")
    assert u2["usedBytes"] < u1["usedBytes"]
    p = cli(root, "remove", "nothere:v1", check=False)
    assert p.returncode == 1 and 'image "nothere:v1": not found' in p.stderr


def test_many_layers_mount(work):
    # 130 layers: the lowerdir list exceeds one page even with short links.
    img = ib.Image().add_layer(ib.busybox_entries())
    for i in range(129):
        img.add_layer([ib.F(f"layer/{i:03d}", str(i).encode())], "none")
    layout = ib.write_layout(os.path.join(work, "many"), {"v1": img})
    root = os.path.join(work, "store-with-a-long-path-name-to-make-lowerdir-strings-longer")
    cli(root, "import", "--tag", "many/layers:v1", layout)
    mnt = os.path.join(work, "m")
    os.makedirs(mnt)
    cli(root, "mount", "many/layers:v1", mnt)
    try:
        assert len(os.listdir(os.path.join(mnt, "layer"))) == 129
        assert os.path.exists(os.path.join(mnt, "bin/busybox"))
    finally:
        cli(root, "unmount", mnt)


def test_cli_errors(work):
    root = os.path.join(work, "store")
    p = cli(root, "pull", "Invalid/Name", check=False)
    assert p.returncode == 1 and "repository name must be lowercase" in p.stderr
    p = cli(root, "bogus", check=False)
    assert p.returncode == 2 and "unknown command" in p.stderr
    p = cli(root, "mount", "x", check=False)
    assert p.returncode == 2
    p = cli(root, "import", os.path.join(work, "nothing"), check=False)
    assert p.returncode == 1 and "No such file" in p.stderr
    p = cli(root, "pull", "127.0.0.1:1/x/y:z", check=False)
    assert p.returncode == 1 and "127.0.0.1:1" in p.stderr
    cfg = os.path.join(work, "bad.yaml")
    with open(cfg, "w") as f:
        f.write("mirrors:\n  docker.io:\n    endpoint: [ftp://x]\n")
    p = cli(root, "--registry-config", cfg, "list", check=False)
    assert p.returncode == 1 and 'mirrors.docker.io.endpoint[0]' in p.stderr
    assert cli_json(root, "list") == {"images": []}


class Containerd:
    """Debian's containerd 1.6 with temp root/state/socket (CRI plugin off),
    started here and stopped by PID."""

    def __init__(self, work):
        self.dir = os.path.join(work, "containerd")
        os.makedirs(self.dir)
        self.sock = os.path.join(self.dir, "containerd.sock")
        cfg = os.path.join(self.dir, "config.toml")
        with open(cfg, "w") as f:
            f.write('version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                    f'root = "{self.dir}/root"\nstate = "{self.dir}/state"\n'
                    f'[grpc]\n  address = "{self.sock}"\n'
                    f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{self.dir}/opt"\n')
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen(["containerd", "--config", cfg], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        harness.wait_for(lambda: os.path.exists(self.sock) or self.proc.poll() is not None,
                         timeout=20, what="containerd socket")
        assert self.proc.poll() is None, open(os.path.join(self.dir, "log")).read()

    def ctr(self, *args):
        return subprocess.run(["ctr", "--address", self.sock, "-n", "test"] + list(args), check=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def test_same_rootfs_as_containerd(work, reg):
    """The same pull with containerd (ctr pull + ctr images mount): the
    mounted roots must be identical file by file."""
    layout = rich_layout(work)
    ref = f"{reg.addr}/test/rich:v1"
    ib.push(layout, "v1", ref)
    root = os.path.join(work, "store")
    cli(root, "pull", ref)
    ours = os.path.join(work, "ours")
    theirs = os.path.join(work, "theirs")
    os.makedirs(ours)
    os.makedirs(theirs)
    c = Containerd(work)
    mounted = False
    try:
        c.ctr("images", "pull", "--plain-http", ref)
        c.ctr("images", "mount", ref, theirs)
        mounted = True
        cli(root, "mount", ref, ours)
        try:
            assert_same_tree(ours, theirs)
            # the image id is the config digest in both
            ids = c.ctr("images", "ls").stdout
            ours_info = cli_json(root, "inspect", ref)
            assert ours_info["repoDigests"][0].split("@")[1] in ids
        finally:
            cli(root, "unmount", ours)
    finally:
        if mounted:
            subprocess.run(["ctr", "--address", c.sock, "-n", "test", "images", "unmount", theirs],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            umount(theirs)
        c.stop()
        # containerd leaves its snapshot mounts to us in this private namespace
        subprocess.run(["sh", "-c", f"grep ' {c.dir}/' /proc/self/mounts | cut -d' ' -f2 | xargs -r -n1 umount -l"])


def test_progress_logged_for_long_pulls(work, reg):
    img = ib.Image().add_layer([ib.F("random", os.urandom(7 << 20))], "none")
    layout = ib.write_layout(os.path.join(work, "l"), {"v1": img})
    ib.push(layout, "v1", f"{reg.addr}/slow/img:v1")
    proxy = Proxy(reg.addr, throttle_bps=1 << 20)
    try:
        p = cli(os.path.join(work, "store"), "-v", "1", "pull", f"{proxy.addr}/slow/img:v1")
        lines = [ln for ln in p.stderr.splitlines() if 'msg="pull progress"' in ln]
        assert lines, p.stderr
        assert "bytes=" in lines[0] and "rate_kib_s=" in lines[0] and "total=" in lines[0]
        assert 'msg="pulled blob"' in p.stderr and 'msg="unpacked layer"' in p.stderr
    finally:
        proxy.stop()
