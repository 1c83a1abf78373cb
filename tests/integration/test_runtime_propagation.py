"""Mount propagation of volumes, ours side by side with runc: with
`linux.rootfsPropagation: rshared` and an `rshared` bind volume (what the CRI
asks for a Bidirectional mount) a mount made inside the container reaches the
host and one made on the host reaches the container; with the default
(private) propagation neither leaks.

Each case runs in its own mount namespace (`unshare --mount --propagation
shared`), so the "host" side is a private copy of the machine's mounts."""
import os
import subprocess
import textwrap
import uuid

import pytest

import rtbundle

RUNTIMES = rtbundle.runtimes()
CG_PARENT = "nodelet-test-bundles"

CONTAINER = textwrap.dedent("""\
    mkdir -p /mnt/vol/c && mount -t tmpfs c /mnt/vol/c && touch /mnt/vol/c/inside || exit 3
    i=0
    while [ ! -e /mnt/vol/h/hostfile ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
    if [ -e /mnt/vol/h/hostfile ]; then echo SAW_HOST; else echo NO_HOST; fi
    """)

# The "host": a shared tmpfs as the volume source, the runtime in the
# background, then a mount of its own under the volume once the container's
# mount is there (or after a second, when it never shows up).
HOST = textwrap.dedent("""\
    set -e
    mount -t tmpfs vol "$VOL"
    mount --make-shared "$VOL"
    mkdir "$VOL/h"
    "$RT" --root "$STATE" run --bundle "$BUNDLE" "$CID" > "$OUT" 2>&1 &
    pid=$!
    i=0
    while [ ! -e "$VOL/c/inside" ] && [ $i -lt 20 ]; do sleep 0.05; i=$((i+1)); done
    if [ -e "$VOL/c/inside" ]; then echo HOST_SAW_CONTAINER; else echo HOST_NO_CONTAINER; fi
    mount -t tmpfs h "$VOL/h"
    touch "$VOL/h/hostfile"
    wait $pid || echo "RUNTIME_EXIT $?"
    cat "$OUT"
    """)


@pytest.mark.parametrize("name,path", RUNTIMES, ids=[n for n, _ in RUNTIMES])
@pytest.mark.parametrize("shared", [True, False], ids=["rshared", "private"])
def test_bidirectional_volume_propagation(tmp_path, name, path, shared):
    vol = tmp_path / "vol"
    vol.mkdir()
    b = rtbundle.make_bundle(tmp_path / "bundle", args=["sh", "-c", CONTAINER])
    cfg = b.config
    cfg["linux"]["cgroupsPath"] = f"/{CG_PARENT}/prop-{name}-{uuid.uuid4().hex[:8]}"
    caps = cfg["process"]["capabilities"]
    for k in caps:
        caps[k] = sorted(set(caps[k]) | {"CAP_SYS_ADMIN"})
    cfg["mounts"].append({"destination": "/mnt/vol", "type": "bind", "source": str(vol),
                          "options": ["rbind", "rw", "rshared" if shared else "rprivate"]})
    if shared:
        cfg["linux"]["rootfsPropagation"] = "rshared"
    # The test mounts inside the container: seccomp must not stand in the way.
    cfg["linux"].pop("seccomp", None)
    b.write()
    cid = f"prop-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, VOL=str(vol), RT=path, STATE=str(tmp_path / "state"),
               BUNDLE=b.path, CID=cid, OUT=str(tmp_path / "out"))
    try:
        r = subprocess.run(["unshare", "--mount", "--propagation", "shared", "/bin/sh", "-c", HOST],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60)
    finally:
        subprocess.run([path, "--root", str(tmp_path / "state"), "delete", "--force", cid],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cg = cfg["linux"]["cgroupsPath"]
        for ctrl in os.listdir("/sys/fs/cgroup"):
            d = os.path.join("/sys/fs/cgroup", ctrl, cg.lstrip("/"))
            if os.path.isdir(d):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
    out = r.stdout
    assert r.returncode == 0, (out, r.stderr)
    assert "RUNTIME_EXIT" not in out, out
    if shared:
        assert "HOST_SAW_CONTAINER" in out and "SAW_HOST" in out.replace("HOST_SAW", ""), out
    else:
        assert "HOST_NO_CONTAINER" in out and "NO_HOST" in out.replace("HOST_NO", ""), out
