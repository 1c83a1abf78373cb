"""The images critest pulls, rebuilt locally (the upstream registries are
unreachable here) from Debian's busybox-static and a few tiny static C
programs in fixtures/, pushed into a local docker-registry under the same
repository paths, so a runtime configured with that registry as a mirror of
registry.k8s.io and gcr.io pulls them by their upstream names.

What each image must contain comes from cri-tools' pkg/validate and
images/ (entrypoints, ports, users, groups, files):

| upstream reference | content |
|---|---|
| registry.k8s.io/e2e-test-images/busybox:1.29-2 | busybox, every applet hard-linked as in the official image, its /etc/passwd and /etc/group, an `ipcs` and a `pgrep` (missing from Debian's busybox-static) |
| registry.k8s.io/e2e-test-images/nginx:1.14-2 | serves / on :80; master process `nginx`, cmdline "nginx: master process ...", /var/run/nginx.pid |
| gcr.io/k8s-staging-cri-tools/hostnet-nginx-amd64 | the same on :12003 |
| registry.k8s.io/e2e-test-images/httpd:2.4.39-4 | serves / on :80, logs "httpd -D FOREGROUND" |
| registry.k8s.io/e2e-test-images/nonewprivs:1.3 | set-uid root program printing "Effective uid: N" |
| gcr.io/k8s-staging-cri-tools/test-image-{1,2,3,latest,digest} | busybox + an empty file named like the image |
| gcr.io/k8s-staging-cri-tools/test-image-tags:{1,2,3} | one image under three tags |
| gcr.io/k8s-staging-cri-tools/test-image-tag:{test,all} | one image under two tags |
| gcr.io/k8s-staging-cri-tools/test-image-user-* | USER 1002, www-data, 1003:1004, www-data:1004 |
| gcr.io/k8s-staging-cri-tools/test-image-predefined-group | user default-user (1000) in group-defined-in-image (50000), USER 1000 |
| registry.k8s.io/pause:3.6 | a pause process (containerd's sandbox image) |

The one thing that cannot be rebuilt is test-image-digest pulled by the
upstream manifest digest: a local build has another digest, so that spec
is skipped (see run-critest.sh).
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import imagebuild  # noqa: E402
from imagebuild import D, F, H, Image  # noqa: E402

K8S = "registry.k8s.io"
E2E = K8S + "/e2e-test-images"
CRITOOLS = "gcr.io/k8s-staging-cri-tools"
MIRRORED_REGISTRIES = ("registry.k8s.io", "gcr.io")
PAUSE = K8S + "/pause:3.6"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# The official busybox image's accounts (critest runs as "nobody" by name,
# and test-image-user-username uses www-data).
PASSWD = b"""root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
GROUP = b"""root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
"""


def compile_fixtures(outdir):
    """Static builds of fixtures/*.c -> {name: bytes}."""
    os.makedirs(outdir, exist_ok=True)
    out = {}
    for name in ("websrv", "nnp", "pause", "ipcs"):
        dst = os.path.join(outdir, name)
        subprocess.run(["cc", "-static", "-Os", "-Wall", "-Wextra", "-Werror", "-o", dst,
                        os.path.join(HERE, "fixtures", name + ".c")], check=True)
        with open(dst, "rb") as f:
            out[name] = f.read()
    return out


def busybox_layer(bins, passwd=PASSWD, group=GROUP):
    with open(imagebuild.BUSYBOX, "rb") as f:
        bb = f.read()
    applets = subprocess.run([imagebuild.BUSYBOX, "--list"], check=True, stdout=subprocess.PIPE,
                             text=True).stdout.split()
    with open(os.path.join(HERE, "fixtures", "pgrep.sh"), "rb") as f:
        pgrep = f.read()
    # Hard links as in the official image: critest masks /bin/ls and then
    # runs /bin/sh, which a symlink farm would mask along with it.
    ents = [D("bin"), F("bin/busybox", bb, mode=0o755)]
    ents += [H("bin/" + a, "bin/busybox", mode=0o755) for a in sorted(set(applets)) if a != "busybox"]
    ents += [F("bin/ipcs", bins["ipcs"], mode=0o755), F("bin/pgrep", pgrep, mode=0o755)]
    ents += [D("etc"), F("etc/passwd", passwd), F("etc/group", group),
             F("etc/shadow", b"root:*:10933:0:99999:7:::\n", mode=0o600),
             D("tmp", mode=0o1777), D("root", mode=0o700), D("home"), D("usr"), D("usr/sbin"),
             D("usr/bin"), D("usr/local"), D("usr/local/bin"), D("var"), D("var/run"),
             D("var/spool"), D("var/spool/mail"), D("var/www"), D("proc"), D("sys"), D("dev")]
    return imagebuild.layer_tar(ents)


def busybox_image(base, cmd=("sh",), **cfg):
    config = {"Env": [PATH_ENV], "Cmd": list(cmd)}
    config.update(cfg)
    return Image(config=config).add_raw_layer(base)


def websrv_image(base, bins, name, title, port, root, pidfile="", banner=""):
    """The nginx/httpd stand-ins (fixtures/websrv.c installed as `name`)."""
    index = b"<html><head><title>Welcome to %s!</title></head><body><h1>It works!</h1></body></html>\n" \
        % name.encode()
    img = busybox_image(base, cmd=[f"/usr/sbin/{name}"],
                        Env=[PATH_ENV, f"WEBSRV_TITLE={title}", f"WEBSRV_PORT={port}",
                             f"WEBSRV_ROOT={root}", f"WEBSRV_PIDFILE={pidfile}",
                             f"WEBSRV_BANNER={banner}"],
                        ExposedPorts={f"{port}/tcp": {}}, StopSignal="SIGQUIT")
    parts = root.strip("/").split("/")
    dirs = [D("/".join(parts[:i + 1])) for i in range(len(parts))]
    img.add_layer([D("usr"), D("usr/sbin"), F(f"usr/sbin/{name}", bins["websrv"], mode=0o755)]
                  + dirs + [F(root.strip("/") + "/index.html", index)])
    return img


def marker_image(base, name):
    """cri-tools' image-test: busybox + ADD of an empty file named `name`."""
    return busybox_image(base).add_layer([F(name, b"")])


def all_images(workdir):
    """{upstream reference: Image}. Every tag of one upstream image maps to
    the same Image object (same digest)."""
    bins = compile_fixtures(os.path.join(workdir, "fixtures"))
    base = busybox_layer(bins)
    imgs = {}
    imgs[E2E + "/busybox:1.29-2"] = busybox_image(base)
    imgs[E2E + "/nginx:1.14-2"] = websrv_image(
        base, bins, "nginx", "nginx: master process nginx -g daemon off;", 80,
        "/usr/share/nginx/html", pidfile="/var/run/nginx.pid")
    imgs[CRITOOLS + "/hostnet-nginx-amd64:latest"] = websrv_image(
        base, bins, "nginx", "nginx: master process nginx -g daemon off;", 12003,
        "/usr/share/nginx/html", pidfile="/var/run/nginx.pid")
    imgs[E2E + "/httpd:2.4.39-4"] = websrv_image(
        base, bins, "httpd", "httpd -D FOREGROUND", 80, "/usr/local/apache2/htdocs",
        banner="[core:notice] AH00094: Command line: 'httpd -D FOREGROUND'")
    imgs[E2E + "/nonewprivs:1.3"] = busybox_image(base, cmd=["/usr/local/bin/nnp"]).add_layer(
        [D("usr"), D("usr/local"), D("usr/local/bin"),
         F("usr/local/bin/nnp", bins["nnp"], mode=0o4755)])
    imgs[PAUSE] = Image(config={"Env": [PATH_ENV], "Entrypoint": ["/pause"]}).add_layer(
        [F("pause", bins["pause"], mode=0o755)])
    for name in ("test-image-1", "test-image-2", "test-image-3", "test-image-latest",
                 "test-image-digest"):
        imgs[f"{CRITOOLS}/{name}:latest"] = marker_image(base, name)
    same = marker_image(base, "same-image")
    for tag in ("1", "2", "3"):
        imgs[f"{CRITOOLS}/test-image-tags:{tag}"] = same
    tagged = marker_image(base, "test-image-tag")
    for tag in ("test", "all"):
        imgs[f"{CRITOOLS}/test-image-tag:{tag}"] = tagged
    for name, user in (("test-image-user-uid", "1002"), ("test-image-user-username", "www-data"),
                       ("test-image-user-uid-group", "1003:1004"),
                       ("test-image-user-username-group", "www-data:1004")):
        imgs[f"{CRITOOLS}/{name}:latest"] = busybox_image(base, User=user)
    # adduser -u 1000 -D default-user; addgroup -g 50000 group-defined-in-image;
    # addgroup default-user group-defined-in-image
    pg_passwd = PASSWD + b"default-user:x:1000:1000::/home/default-user:/bin/sh\n"
    pg_group = GROUP + b"default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n"
    imgs[f"{CRITOOLS}/test-image-predefined-group:latest"] = Image(
        config={"Env": [PATH_ENV], "Cmd": ["sh"], "User": "1000"}).add_raw_layer(
        busybox_layer(bins, pg_passwd, pg_group)).add_layer(
        [D("home"), D("home/default-user", uid=1000, gid=1000)])
    return imgs


def mirror_path(ref):
    """registry.k8s.io/e2e-test-images/busybox:1.29-2 -> e2e-test-images/busybox:1.29-2
    (the repository path a mirror is asked for)."""
    host, _, rest = ref.partition("/")
    if host not in MIRRORED_REGISTRIES:
        raise ValueError(f"{ref}: not under a mirrored registry")
    return rest


def push_all(workdir, registry_addr, log=print):
    """Build every image and push it to registry_addr under its mirror path."""
    imgs = all_images(workdir)
    layout = os.path.join(workdir, "layout")
    tags = {}
    for i, (ref, img) in enumerate(imgs.items()):
        tags[f"t{i}"] = (ref, img)
    imagebuild.write_layout(layout, {t: img for t, (_, img) in tags.items()})
    for t, (ref, _) in tags.items():
        dest = f"{registry_addr}/{mirror_path(ref)}"
        imagebuild.push(layout, t, dest)
        log(f"pushed {ref} -> {dest}")
    return list(imgs)


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="build critest's images and push them to a registry")
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--registry", required=True, help="host:port of a plain-HTTP registry")
    a = ap.parse_args()
    push_all(a.workdir, a.registry)
