"""podman 4.3 with nodelet-runtime as its --runtime (and the same scenarios
with runc): podman drives create/start/state/kill/delete through conmon with
its own flags (--root, --log, --log-format json, --cgroup-manager, ...)."""
import os
import shutil
import subprocess
import tarfile

import pytest

import harness
import rtbundle

PODMAN = shutil.which("podman")
pytestmark = pytest.mark.skipif(not PODMAN, reason="podman not installed")
RUNTIMES = rtbundle.runtimes()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("podman")
    rootfs = rtbundle.make_rootfs(str(d / "rootfs"))
    tar = str(d / "rootfs.tar")
    with tarfile.open(tar, "w") as t:
        t.add(rootfs, arcname=".")
    conf = d / "containers.conf"
    paths = ", ".join(f'"{p}"' for _, p in RUNTIMES)
    # podman 4.3 spells the key without the final "s", and matches it
    # against the runtime's name from [engine.runtimes].
    conf.write_text(f"""[engine]
runtime_supports_nocgroup = ["crun", "krun", "runc", "nodelet-runtime", {paths}]
events_logger = "none"
cgroup_manager = "cgroupfs"
[engine.runtimes]
nodelet-runtime = ["{harness.bin_path('nodelet-runtime')}"]
""")
    env = dict(os.environ, CONTAINERS_CONF=str(conf))
    base = [PODMAN, "--root", str(d / "root"), "--runroot", str(d / "runroot"),
            "--storage-driver", "vfs"]
    subprocess.run(base + ["import", tar, "localhost/nodelet-bb:latest"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    yield base, env
    subprocess.run(base + ["rm", "-af"], env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    subprocess.run(base + ["system", "reset", "-f"], env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def podman(store, runtime, *args, timeout=60):
    base, env = store
    return subprocess.run(base + ["--runtime", runtime] + list(args), env=env, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


BASE_FLAGS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096", "--network", "none"]
RUN_FLAGS = ["--cgroups=disabled"] + BASE_FLAGS


def flags(name):
    # --cgroups=disabled makes podman pass crun's --cgroup-manager=disabled,
    # which runc does not know: runc runs the same scenario with cgroupfs.
    return RUN_FLAGS if name == "nodelet" else BASE_FLAGS


@pytest.mark.parametrize("name", [n for n, _ in RUNTIMES])
def test_podman_run(store, name):
    rt = dict(RUNTIMES)[name]
    r = podman(store, rt, "run", "--rm", *flags(name), "localhost/nodelet-bb:latest", "sh", "-c",
               "echo hello; id -u; grep -E 'CapEff|NoNewPrivs' /proc/self/status;"
               " ulimit -n; hostname | wc -c")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "hello" and lines[1] == "0"
    assert "4096" in lines
    out = os.path.join(os.path.dirname(store[0][2]), f"podman-{name}.out")
    with open(out, "w") as f:
        f.write(r.stdout)
    other = os.path.join(os.path.dirname(store[0][2]),
                         f"podman-{'runc' if name == 'nodelet' else 'nodelet'}.out")
    if os.path.exists(other):
        assert open(other).read() == r.stdout


@pytest.mark.parametrize("name", [n for n, _ in RUNTIMES])
def test_podman_exit_code(store, name):
    rt = dict(RUNTIMES)[name]
    r = podman(store, rt, "run", "--rm", *flags(name), "localhost/nodelet-bb:latest", "sh", "-c",
               "exit 42")
    assert r.returncode == 42, r.stderr


@pytest.mark.parametrize("name", [n for n, _ in RUNTIMES])
def test_podman_detached_stop_rm(store, name):
    rt = dict(RUNTIMES)[name]
    r = podman(store, rt, "run", "-d", "--name", f"d-{name}", *flags(name),
               "localhost/nodelet-bb:latest", "sleep", "300")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    r = podman(store, rt, "inspect", "--format", "{{.State.Status}} {{.State.Pid}}", cid)
    status, pid = r.stdout.split()
    assert status == "running" and int(pid) > 0
    assert os.path.exists(f"/proc/{pid}")
    r = podman(store, rt, "stop", "-t", "1", cid)
    assert r.returncode == 0, r.stderr
    r = podman(store, rt, "inspect", "--format", "{{.State.Status}}", cid)
    assert r.stdout.strip() in ("exited", "stopped")
    r = podman(store, rt, "rm", cid)
    assert r.returncode == 0, r.stderr
    harness.wait_for(lambda: not os.path.exists(f"/proc/{pid}") or
                     open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] == "Z",
                     what="container gone")


def test_podman_with_cgroups_and_memory_limit(store):
    rt = dict(RUNTIMES)["nodelet"]
    r = podman(store, rt, "run", "--rm", "--network", "none", "--memory", "64m",
               "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
               "localhost/nodelet-bb:latest", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(64 << 20)


def test_podman_reports_runtime_error(store):
    rt = dict(RUNTIMES)["nodelet"]
    r = podman(store, rt, "run", "--rm", *RUN_FLAGS, "localhost/nodelet-bb:latest",
               "/no/such/binary")
    assert r.returncode != 0
    assert "/no/such/binary" in r.stderr


def test_podman_tty_console_socket(store):
    # -t: conmon passes --console-socket; we send the pty master over it.
    rt = dict(RUNTIMES)["nodelet"]
    r = podman(store, rt, "run", "--rm", "-t", *RUN_FLAGS, "localhost/nodelet-bb:latest", "sh",
               "-c", "tty; echo ok")
    assert r.returncode == 0, r.stderr
    assert r.stdout.replace("\r", "").splitlines() == ["/dev/pts/0", "ok"]


def test_podman_exec(store):
    rt = dict(RUNTIMES)["nodelet"]
    r = podman(store, rt, "run", "-d", "--name", "exec-target", *RUN_FLAGS,
               "localhost/nodelet-bb:latest", "sleep", "300")
    assert r.returncode == 0, r.stderr
    try:
        r = podman(store, rt, "exec", "exec-target", "sh", "-c", "echo plain; exit 4")
        assert r.stdout.strip() == "plain" and r.returncode == 4, r.stderr
        r = podman(store, rt, "exec", "-t", "exec-target", "sh", "-c", "tty")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip().startswith("/dev/pts/")
    finally:
        podman(store, rt, "rm", "-f", "-t", "0", "exec-target")
