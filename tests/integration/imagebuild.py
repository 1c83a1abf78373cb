"""Build OCI test images without a container engine.

Layers are tar archives written with Python's tarfile (PAX, so xattrs go in
SCHILY.xattr.* records), compressed with gzip, zstd (the zstd CLI) or not at
all, and laid out as an OCI image layout directory that skopeo can push and
umoci can unpack. The base layer is Debian's busybox-static.

    img = Image()
    img.add_layer([F("bin/busybox", data=..., mode=0o755), L("bin/sh", "busybox")])
    layout = write_layout(tmpdir, {"v1": img})
"""
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile

BUSYBOX = "/bin/busybox"
BUSYBOX_APPLETS = ["sh", "ls", "cat", "echo", "true", "sleep", "id", "env"]
EPOCH = 1700000000


def sha256(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Entry:
    def __init__(self, name, kind, data=b"", mode=0o644, uid=0, gid=0, mtime=EPOCH,
                 linkname="", xattrs=None, devmajor=0, devminor=0):
        self.name, self.kind, self.data, self.mode = name, kind, data, mode
        self.uid, self.gid, self.mtime, self.linkname = uid, gid, mtime, linkname
        self.xattrs = xattrs or {}
        self.devmajor, self.devminor = devmajor, devminor


def F(name, data=b"", mode=0o644, **kw):
    return Entry(name, tarfile.REGTYPE, data=data, mode=mode, **kw)


def D(name, mode=0o755, **kw):
    return Entry(name, tarfile.DIRTYPE, mode=mode, **kw)


def L(name, target, **kw):
    return Entry(name, tarfile.SYMTYPE, linkname=target, mode=0o777, **kw)


def H(name, target, **kw):
    return Entry(name, tarfile.LNKTYPE, linkname=target, **kw)


def DEV(name, major=1, minor=3, **kw):
    return Entry(name, tarfile.CHRTYPE, devmajor=major, devminor=minor, **kw)


def WH(name):
    """Whiteout of name (path inside the image)."""
    d, b = os.path.split(name)
    return F(os.path.join(d, ".wh." + b))


def OPQ(dirname):
    return F(os.path.join(dirname, ".wh..wh..opq"))


def layer_tar(entries):
    """Uncompressed layer tar bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            ti = tarfile.TarInfo(e.name)
            ti.type = e.kind
            ti.mode = e.mode
            ti.uid, ti.gid = e.uid, e.gid
            ti.uname = ti.gname = ""
            ti.mtime = e.mtime
            ti.linkname = e.linkname
            ti.devmajor, ti.devminor = e.devmajor, e.devminor
            if e.xattrs:
                ti.pax_headers = {"SCHILY.xattr." + k: v for k, v in e.xattrs.items()}
            if e.kind == tarfile.REGTYPE:
                ti.size = len(e.data)
                t.addfile(ti, io.BytesIO(e.data))
            else:
                t.addfile(ti)
    return buf.getvalue()


def compress(raw, how):
    if how == "gzip":
        return gzip.compress(raw, compresslevel=6, mtime=0), \
            "application/vnd.oci.image.layer.v1.tar+gzip"
    if how == "zstd":
        out = subprocess.run(["zstd", "-q", "-c", "-3"], input=raw, stdout=subprocess.PIPE,
                             check=True).stdout
        return out, "application/vnd.oci.image.layer.v1.tar+zstd"
    return raw, "application/vnd.oci.image.layer.v1.tar"


def busybox_entries():
    with open(BUSYBOX, "rb") as f:
        bb = f.read()
    ents = [D("bin"), F("bin/busybox", bb, mode=0o755)]
    ents += [L("bin/" + a, "busybox") for a in BUSYBOX_APPLETS]
    ents += [D("etc"), F("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"),
             F("etc/group", b"root:x:0:\nnogroup:x:65534:\n"), D("tmp", mode=0o1777), D("root", mode=0o700)]
    return ents


class Image:
    def __init__(self, arch="amd64", os_="linux", variant=None, config=None):
        self.arch, self.os, self.variant = arch, os_, variant
        self.layers = []  # (raw tar, compressed, media type)
        self.config = config or {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                                 "Cmd": ["/bin/sh"]}

    def add_layer(self, entries, compression="gzip"):
        raw = layer_tar(entries)
        comp, mt = compress(raw, compression)
        self.layers.append((raw, comp, mt))
        return self

    def add_raw_layer(self, raw, compression="gzip"):
        comp, mt = compress(raw, compression)
        self.layers.append((raw, comp, mt))
        return self

    def blobs(self):
        """(manifest bytes, {digest: bytes})"""
        blobs = {}
        cfg = {
            "architecture": self.arch, "os": self.os,
            "created": "2023-11-14T22:13:20Z",
            "config": self.config,
            "rootfs": {"type": "layers", "diff_ids": [sha256(raw) for raw, _, _ in self.layers]},
            "history": [{"created_by": "imagebuild.py"} for _ in self.layers],
        }
        if self.variant:
            cfg["variant"] = self.variant
        cfg_b = json.dumps(cfg, sort_keys=True).encode()
        blobs[sha256(cfg_b)] = cfg_b
        layers = []
        for _, comp, mt in self.layers:
            blobs[sha256(comp)] = comp
            layers.append({"mediaType": mt, "digest": sha256(comp), "size": len(comp)})
        man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                          "digest": sha256(cfg_b), "size": len(cfg_b)},
               "layers": layers}
        man_b = json.dumps(man, sort_keys=True).encode()
        blobs[sha256(man_b)] = man_b
        return man_b, blobs


def write_layout(path, tags, index_of=None):
    """OCI image layout at path. tags: {tag: Image}; index_of: {tag: [Image,...]}
    writes a multi-platform index under that tag instead."""
    os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    manifests = []

    def put(b):
        d = sha256(b)
        with open(os.path.join(path, "blobs", "sha256", d[7:]), "wb") as f:
            f.write(b)
        return d

    for tag, img in (tags or {}).items():
        man_b, blobs = img.blobs()
        for b in blobs.values():
            put(b)
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "digest": sha256(man_b), "size": len(man_b),
                          "annotations": {"org.opencontainers.image.ref.name": tag}})
    for tag, imgs in (index_of or {}).items():
        entries = []
        for img in imgs:
            man_b, blobs = img.blobs()
            for b in blobs.values():
                put(b)
            plat = {"architecture": img.arch, "os": img.os}
            if img.variant:
                plat["variant"] = img.variant
            entries.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "digest": sha256(man_b), "size": len(man_b), "platform": plat})
        idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": entries}
        idx_b = json.dumps(idx, sort_keys=True).encode()
        put(idx_b)
        manifests.append({"mediaType": "application/vnd.oci.image.index.v1+json",
                          "digest": sha256(idx_b), "size": len(idx_b),
                          "annotations": {"org.opencontainers.image.ref.name": tag}})
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": manifests}, f)
    return path


def push(layout, tag, dest, all_platforms=False, creds=None, tls_verify=False):
    """skopeo copy oci:layout:tag docker://dest"""
    cmd = ["skopeo", "copy", "-q", f"--dest-tls-verify={'true' if tls_verify else 'false'}"]
    if all_platforms:
        cmd.append("--all")
    if creds:
        cmd += ["--dest-creds", creds]
    cmd += [f"oci:{layout}:{tag}", f"docker://{dest}"]
    subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                   env=dict(os.environ, HOME=os.environ.get("HOME", "/root")))


def rich_image(compression="gzip", last="zstd"):
    """busybox base + layers exercising whiteouts, opaque dirs, hardlinks,
    symlinks, xattrs, owners, modes and timestamps. The last layer is zstd by
    default (umoci 0.4 cannot read zstd: pass last="gzip" for it)."""
    img = Image(config={
        "Env": ["PATH=/bin", "GREETING=hello world"],
        "Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo $GREETING"],
        "WorkingDir": "/work", "User": "65534:65534",
        "ExposedPorts": {"8080/tcp": {}}, "Volumes": {"/data": {}},
        "Labels": {"org.example.test": "yes"}, "StopSignal": "SIGQUIT"})
    img.add_layer(busybox_entries(), "gzip")
    img.add_layer([
        D("work", mode=0o750, uid=1000, gid=1000, mtime=EPOCH + 10),
        F("work/a.txt", b"alpha\n", mode=0o640, uid=1000, gid=1000, mtime=EPOCH + 11),
        # tar writers give a hardlink entry its target's metadata (containerd
        # applies it to the inode, umoci/GNU tar do not: keep them equal)
        H("work/a-hard", "work/a.txt", mode=0o640, uid=1000, gid=1000, mtime=EPOCH + 11),
        F("work/b.txt", b"bravo\n"), H("work/b-hard", "work/b.txt"),
        L("work/rel-link", "a.txt"), L("work/abs-link", "/etc/passwd"),
        F("work/suid", b"#!/bin/sh\n", mode=0o4755),
        F("work/xattr", b"x", xattrs={"user.test": "value1"}),
        D("opq"), F("opq/old1", b"1"), F("opq/old2", b"2"),
        D("gone"), F("gone/file", b"bye"), F("etc/remove-me", b"x"),
        D("deep/a/b/c", mode=0o711),
        F("deep/a/b/c/leaf", b"leaf", mtime=EPOCH + 99),
    ], compression)
    img.add_layer([
        WH("etc/remove-me"), WH("gone"),
        D("opq"), OPQ("opq"), F("opq/new", b"new"),
        F("work/a.txt", b"alpha v2\n", mode=0o600, uid=1000, gid=1000),
        D("empty-dir", mode=0o700, mtime=EPOCH + 5),
    ], last)
    return img
