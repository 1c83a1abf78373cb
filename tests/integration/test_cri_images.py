"""nodelet-cri ImageService: PullImage from a local docker-registry (plain
and with basic auth through AuthConfig), ListImages (+ filter), ImageStatus
(uid/username, verbose info with the image config), RemoveImage (by tag, by
id, unknown), ImageFsInfo, preload at startup, and a blocked pull that does
not stop the worker pool from serving other calls."""
import json
import os
import socket
import subprocess
import threading
import time

import pytest

import criclient
import harness
import imagebuild as ib
from registry import Registry


@pytest.fixture(autouse=True)
def _stop_daemons():
    yield
    criclient.Daemon.stop_all()


@pytest.fixture
def work(tmp_path):
    return str(tmp_path)


@pytest.fixture
def reg(work):
    r = Registry(work)
    yield r
    r.stop()


def busybox(user=None):
    cfg = {"Env": ["PATH=/bin", "FOO=bar"], "Cmd": ["/bin/sh"]}
    if user is not None:
        cfg["User"] = user
    return ib.Image(config=cfg).add_layer(ib.busybox_entries())


def push(work, reg, tag, img, name="test/bb", creds=None):
    layout = ib.write_layout(os.path.join(work, f"layout-{tag}"), {tag: img})
    ref = f"{reg.addr}/{name}:{tag}"
    ib.push(layout, tag, ref, creds=creds)
    man_b, blobs = img.blobs()
    cfg_digest = json.loads(man_b)["config"]["digest"]
    return ref, cfg_digest, ib.sha256(man_b)


def test_pull_list_status_remove(work, reg):
    ref, cfg_digest, man_digest = push(work, reg, "v1", busybox(user="1234:5"))
    d = criclient.Daemon(work).start()
    with d.client() as c:
        assert list(c.ListImages().images) == []
        assert not c.ImageStatus(image={"image": ref}).HasField("image")
        r = c.PullImage(image={"image": ref})
        # containerd answers with the image id (config digest).
        assert r.image_ref == cfg_digest
        imgs = c.ListImages().images
        assert len(imgs) == 1
        im = imgs[0]
        assert im.id == cfg_digest
        assert list(im.repo_tags) == [ref]
        assert list(im.repo_digests) == [f"{reg.addr}/test/bb@{man_digest}"]
        assert im.size > 0
        assert im.uid.value == 1234 and im.username == ""
        # Lookup by tag, by id, by digest reference, filter.
        for name in (ref, cfg_digest, cfg_digest[7:19], f"{reg.addr}/test/bb@{man_digest}"):
            st = c.ImageStatus(image={"image": name})
            assert st.image.id == cfg_digest, name
        assert len(c.ListImages(filter={"image": {"image": ref}}).images) == 1
        assert len(c.ListImages(filter={"image": {"image": f"{reg.addr}/nope:x"}}).images) == 0
        st = c.ImageStatus(image={"image": ref}, verbose=True)
        info = json.loads(st.info["info"])
        assert info["imageSpec"]["config"]["Env"] == ["PATH=/bin", "FOO=bar"]
        assert info["imageSpec"]["rootfs"]["type"] == "layers"
        assert info["chainID"].startswith("sha256:")
        # The C client agrees with the Python one.
        p = subprocess.run([harness.bin_path("nodelet-crictl"), "-r", "unix://" + d.sock,
                            "call", "ListImages"], stdout=subprocess.PIPE, text=True, check=True)
        assert json.loads(p.stdout) == criclient.to_dict(c.ListImages())
        # Remove by tag removes the image; again is OK (containerd's rule).
        c.RemoveImage(image={"image": ref})
        assert list(c.ListImages().images) == []
        c.RemoveImage(image={"image": ref})
        with pytest.raises(criclient.CRIError) as e:
            c.RemoveImage(image={"image": ""})
        assert e.value.code.name == "UNKNOWN"


def test_username_and_pull_errors(work, reg):
    ref, cfg_digest, _ = push(work, reg, "named", busybox(user="nobody"))
    d = criclient.Daemon(work).start()
    with d.client() as c:
        c.PullImage(image={"image": ref})
        im = c.ImageStatus(image={"image": ref}).image
        assert im.username == "nobody" and not im.HasField("uid")
        with pytest.raises(criclient.CRIError) as e:
            c.PullImage(image={"image": f"{reg.addr}/test/missing:v1"})
        assert "test/missing" in e.value.details
        with pytest.raises(criclient.CRIError) as e:
            c.PullImage(image={"image": "UPPER/Case:x"})
        assert e.value.code.name == "UNKNOWN"
        with pytest.raises(criclient.CRIError) as e:
            c.PullImage(image={})
        assert e.value.code.name == "UNKNOWN"
        assert "image.image" in e.value.details


def test_pull_with_auth_config(work):
    with Registry(work, htpasswd={"alice": "s3cret"}) as reg:
        ref, cfg_digest, _ = push(work, reg, "v1", busybox(), creds="alice:s3cret")
        d = criclient.Daemon(work).start()
        with d.client() as c:
            with pytest.raises(criclient.CRIError):
                c.PullImage(image={"image": ref})
            with pytest.raises(criclient.CRIError):
                c.PullImage(image={"image": ref}, auth={"username": "alice", "password": "bad"})
            r = c.PullImage(image={"image": ref}, auth={"username": "alice", "password": "s3cret"})
            assert r.image_ref == cfg_digest
            import base64
            c.RemoveImage(image={"image": ref})
            r = c.PullImage(image={"image": ref},
                            auth={"auth": base64.b64encode(b"alice:s3cret").decode()})
            assert r.image_ref == cfg_digest


def test_image_fs_info(work, reg):
    ref, _, _ = push(work, reg, "v1", busybox())
    d = criclient.Daemon(work).start()
    with d.client() as c:
        before = c.ImageFsInfo()
        c.PullImage(image={"image": ref})
        after = c.ImageFsInfo()
    assert len(after.image_filesystems) == 1 and len(after.container_filesystems) == 1
    fs = after.image_filesystems[0]
    assert fs.fs_id.mountpoint == d.root
    assert fs.used_bytes.value > before.image_filesystems[0].used_bytes.value
    assert fs.inodes_used.value > before.image_filesystems[0].inodes_used.value
    assert abs(fs.timestamp / 1e9 - time.time()) < 60


def test_preload_dir(work):
    pre = os.path.join(work, "preload")
    os.makedirs(pre)
    img = busybox()
    ib.write_layout(os.path.join(work, "lay"), {"v1": img})
    subprocess.run(["skopeo", "copy", "-q", f"oci:{os.path.join(work, 'lay')}:v1",
                    f"oci-archive:{os.path.join(pre, 'bb.tar')}:docker.io/library/preloaded:v1"],
                   check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    d = criclient.Daemon(work, extra=["--image-preload-dir", pre]).start()
    with d.client() as c:
        st = c.ImageStatus(image={"image": "preloaded:v1"})
        assert st.image.id == json.loads(img.blobs()[0])["config"]["digest"]


def test_blocked_pull_leaves_workers(work):
    """A registry that accepts and never answers: the pull blocks its worker,
    the other worker keeps answering; with --workers 2 a second concurrent
    pull is refused at once instead of taking the last worker."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]
    d = criclient.Daemon(work, extra=["--workers", "2"]).start()
    errs = []

    def pull():
        try:
            with d.client(timeout=5) as c:
                c.PullImage(image={"image": f"127.0.0.1:{port}/x/y:1"})
        except criclient.CRIError as e:
            errs.append(e)

    t = threading.Thread(target=pull)
    t.start()
    try:
        time.sleep(0.5)
        with d.client(timeout=3) as c:
            t0 = time.monotonic()
            assert c.Version().runtime_name == "nodelet-cri"
            with pytest.raises(criclient.CRIError) as e:
                c.PullImage(image={"image": f"127.0.0.1:{port}/x/z:1"})
            assert e.value.code.name == "RESOURCE_EXHAUSTED"
            assert c.ListImages() is not None
            assert time.monotonic() - t0 < 2
    finally:
        t.join()
        srv.close()


def test_conformance_images_through_a_mirror(work):
    """tests/conformance/images.py (critest's images rebuilt offline): what
    critest checks is in them, and nodelet-cri pulls one by its upstream
    name from a registry configured as the mirror of registry.k8s.io."""
    import sys
    sys.path.insert(0, os.path.join(harness.ROOT, "tests", "conformance"))
    import images as cimages
    imgs = cimages.all_images(os.path.join(work, "build"))
    t = lambda ref: imgs[cimages.CRITOOLS + "/" + ref]  # noqa: E731
    # one image under several tags; different images under different names
    assert t("test-image-tags:1").blobs()[0] == t("test-image-tags:3").blobs()[0]
    assert t("test-image-1:latest").blobs()[0] != t("test-image-2:latest").blobs()[0]
    assert [t(f"test-image-user-{n}:latest").config["User"] for n in
            ("uid", "username", "uid-group", "username-group")] == ["1002", "www-data", "1003:1004",
                                                                   "www-data:1004"]
    assert cimages.mirror_path(cimages.E2E + "/busybox:1.29-2") == "e2e-test-images/busybox:1.29-2"
    # the busybox layer: hard links (critest masks /bin/ls and runs /bin/sh),
    # plus ipcs and pgrep, which Debian's busybox-static lacks
    import tarfile, io  # noqa: E401
    raw = imgs[cimages.E2E + "/busybox:1.29-2"].layers[0][0]
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        ls, sh = tf.getmember("bin/ls"), tf.getmember("bin/sh")
        assert ls.islnk() and sh.islnk() and ls.linkname == "bin/busybox"
        assert tf.getmember("bin/ipcs").isreg() and tf.getmember("bin/pgrep").isreg()
        assert "www-data:x:33:" in tf.extractfile("etc/passwd").read().decode()
    raw = imgs[cimages.E2E + "/nonewprivs:1.3"].layers[1][0]
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        nnp = tf.getmember("usr/local/bin/nnp")
        assert nnp.mode == 0o4755 and nnp.uid == 0
    # the stand-ins behave: pgrep finds a process by name, ipcs lists segments
    fx = os.path.join(work, "build", "fixtures")
    sl = subprocess.Popen(["sleep", "30"])
    try:
        out = subprocess.run(["sh", os.path.join(harness.ROOT, "tests", "conformance", "fixtures",
                                                 "pgrep.sh"), "^sleep$"],
                             stdout=subprocess.PIPE, text=True, check=True).stdout.split()
        assert str(sl.pid) in out
    finally:
        sl.kill()
        sl.wait()
    assert "shmid" in subprocess.run([os.path.join(fx, "ipcs"), "-m"], stdout=subprocess.PIPE,
                                     text=True, check=True).stdout
    # pulled through the mirror by its upstream name
    with Registry(work) as reg:
        layout = ib.write_layout(os.path.join(work, "layout"),
                                 {"bb": imgs[cimages.E2E + "/busybox:1.29-2"]})
        ib.push(layout, "bb", f"{reg.addr}/e2e-test-images/busybox:1.29-2")
        regcfg = os.path.join(work, "registries.yaml")
        with open(regcfg, "w") as f:
            json.dump({"mirrors": {"registry.k8s.io": {"endpoint": [f"http://{reg.addr}"]}}}, f)
        d = criclient.Daemon(work, extra=["--registry-config", regcfg]).start()
        with d.client() as c:
            ref = cimages.E2E + "/busybox:1.29-2"
            image_id = c.PullImage(image={"image": ref}).image_ref
            st = c.ImageStatus(image={"image": ref}).image
            assert st.id == image_id and ref in st.repo_tags
        d.stop()
