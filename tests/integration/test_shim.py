"""nodelet-shim with a real OCI runtime (ours and runc): CRI log format,
exit recording (code, signal, OOM), log reopen, detaching from the caller,
error reporting and its memory footprint."""
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid

import pytest

import harness
import rtbundle

SHIM = harness.bin_path("nodelet-shim")
LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z (stdout|stderr) (P|F) (.*)$")

RUNTIMES = rtbundle.runtimes()


@pytest.fixture(params=[r[0] for r in RUNTIMES])
def rt(request, tmp_path):
    path = dict(RUNTIMES)[request.param]
    root = tmp_path / "rtroot"
    root.mkdir()
    made = []

    class Rt:
        name = request.param
        binary = path
        state_root = str(root)

        def start_shim(self, args, log=True, shim_args=(), terminal=False, **kw):
            cid = "shim-" + uuid.uuid4().hex[:12]
            bundle = rtbundle.make_bundle(tmp_path / cid, args=args)
            # Absolute: a relative path would land below our own cgroup,
            # which on this host belongs to the machine's service.
            bundle.config["linux"]["cgroupsPath"] = f"/nodelet-shim-test/{cid}"
            bundle.config["process"]["terminal"] = terminal
            for k, v in kw.items():
                if k == "memory_limit":
                    bundle.config["linux"]["resources"]["memory"] = {"limit": v, "swap": v}
            bundle.write()
            state = tmp_path / (cid + "-state")
            cmd = [SHIM, "--id", cid, "--bundle", bundle.path, "--state-dir", str(state),
                   "--runtime", path, "--runtime-root", str(root)]
            logf = tmp_path / (cid + ".log")
            if log:
                cmd += ["--log-path", str(logf)]
            cmd += list(shim_args)
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=30)
            made.append(cid)
            return cid, state, logf, p

        def start(self, cid):
            subprocess.run([path, "--root", str(root), "start", cid], check=True, timeout=30)

        def kill(self, cid, sig="KILL"):
            subprocess.run([path, "--root", str(root), "kill", cid, sig], check=True, timeout=30)

    yield Rt()
    for cid in made:
        subprocess.run([path, "--root", str(root), "delete", "--force", cid],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    for cg in [os.path.join(d, "nodelet-shim-test") for d in
               (os.path.join("/sys/fs/cgroup", c) for c in os.listdir("/sys/fs/cgroup"))]:
        if not os.path.isdir(cg):
            continue
        for d in os.listdir(cg):
            if os.path.isdir(os.path.join(cg, d)):
                try:
                    os.rmdir(os.path.join(cg, d))
                except OSError:
                    pass
        try:
            os.rmdir(cg)
        except OSError:
            pass


def wait_exit(state, timeout=20):
    f = state / "exit.json"
    harness.wait_for(lambda: f.exists(), timeout=timeout, what="exit.json")
    return json.loads(f.read_text())


def read_log(logf):
    out = []
    for line in logf.read_text().splitlines():
        m = LINE.match(line)
        assert m, f"not a CRI log line: {line!r}"
        out.append((m.group(2), m.group(3), m.group(4)))
    return out


def control(state, req):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(str(state / "shim.sock"))
    s.sendall(req.encode() + b"\n")
    data = s.recv(4096).decode()
    s.close()
    return data.strip()


def test_logs_and_exit_code(rt):
    cid, state, logf, p = rt.start_shim(
        ["sh", "-c", "echo out1; echo err1 >&2; printf 'no newline'; exit 3"])
    assert p.returncode == 0, p.stderr
    pid = int(p.stdout.strip())
    assert pid > 0 and os.path.exists(f"/proc/{pid}")
    assert int((state / "init.pid").read_text()) == pid
    rt.start(cid)
    ex = wait_exit(state)
    assert ex["exit_code"] == 3 and ex["signal"] == 0 and ex["oom_killed"] is False
    assert abs(ex["finished_at"] / 1e9 - time.time()) < 60
    recs = read_log(logf)
    assert ("stdout", "F", "out1") in recs
    assert ("stderr", "F", "err1") in recs
    assert ("stdout", "F", "no newline") in recs
    # The shim is gone once the exit is recorded.
    shim_pid = int((state / "shim.pid").read_text())
    harness.wait_for(lambda: not os.path.exists(f"/proc/{shim_pid}"), what="shim exit")


def test_detached_monitor_and_rss(rt):
    cid, state, logf, p = rt.start_shim(["sleep", "100"])
    assert p.returncode == 0, p.stderr
    shim_pid = int((state / "shim.pid").read_text())
    init = int(p.stdout)
    # The caller returned; the monitor lives on in its own session and is
    # the init's parent.
    st = open(f"/proc/{shim_pid}/stat").read().rsplit(")", 1)[1].split()
    assert int(st[1]) != os.getpid()  # ppid: not us
    assert int(st[3]) == shim_pid  # session id: its own
    ppid = int(open(f"/proc/{init}/stat").read().rsplit(")", 1)[1].split()[1])
    assert ppid == shim_pid
    rss_kb = int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{shim_pid}/status").read()).group(1))
    if not harness.SANITIZE:
        assert rss_kb <= 1024, f"shim RSS {rss_kb} kB"
    st = json.loads(control(state, "state"))
    assert st == {"pid": init, "running": True, "exit_status": -1}
    assert control(state, "bogus").startswith("error unknown request")
    rt.start(cid)
    rt.kill(cid, "KILL")
    ex = wait_exit(state)
    assert ex["exit_code"] == 137 and ex["signal"] == signal.SIGKILL


def test_reopen_after_rotation(rt):
    cid, state, logf, p = rt.start_shim(
        ["sh", "-c", "i=0; while [ $i -lt 400 ]; do echo line$i; i=$((i+1)); sleep 0.01; done"])
    assert p.returncode == 0, p.stderr
    rt.start(cid)
    harness.wait_for(lambda: logf.exists() and "line5" in logf.read_text(), what="first lines")
    rotated = logf.with_name(logf.name + ".1")
    os.rename(logf, rotated)
    assert control(state, "reopen") == "ok"
    wait_exit(state, timeout=30)
    old = [r[2] for r in read_log(rotated)]
    new = [r[2] for r in read_log(logf)]
    assert new, "nothing written after reopen"
    # Every line exactly once, in order, across both files.
    assert old + new == [f"line{i}" for i in range(400)]


def test_oom_kill_recorded(rt):
    if not os.path.isdir("/sys/fs/cgroup/memory") and not os.path.exists(
            "/sys/fs/cgroup/cgroup.controllers"):
        pytest.skip("no memory cgroup controller")
    cid, state, logf, p = rt.start_shim(
        ["sh", "-c", "x=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; while true; do x=$x$x; done"],
        memory_limit=16 * 1024 * 1024)
    assert p.returncode == 0, p.stderr
    rt.start(cid)
    ex = wait_exit(state, timeout=60)
    assert ex["oom_killed"] is True
    assert ex["exit_code"] == 137


def test_create_failure_reported(rt, tmp_path):
    cid, state, logf, p = rt.start_shim(["/no/such/binary"])
    # runc reports a bad executable at create or at start depending on the
    # version; either the shim fails cleanly or the exit is recorded.
    if p.returncode != 0:
        assert p.stderr.startswith("nodelet-shim: ")
        assert not (state / "shim.sock").exists()
    else:
        try:
            rt.start(cid)
        except subprocess.CalledProcessError:
            pass
        ex = wait_exit(state)
        assert ex["exit_code"] != 0


def test_bad_arguments(tmp_path):
    p = subprocess.run([SHIM, "--bundle", "/x", "--state-dir", str(tmp_path)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.returncode == 2 and "--id is required" in p.stderr
    p = subprocess.run([SHIM, "--id", "a/b", "--bundle", "/x", "--state-dir", str(tmp_path)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.returncode == 2 and "invalid container id" in p.stderr
    p = subprocess.run([SHIM, "--id", "a", "--bundle", str(tmp_path / "nobundle"),
                        "--state-dir", str(tmp_path / "st"), "--runtime", "/nonexistent/rt"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    assert p.returncode == 1 and "could not be executed" in p.stderr


def attach(state, flags="111"):
    """A client of the shim's attach socket (one SOCK_SEQPACKET message each)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    s.connect(str(state / "attach"))
    s.send(b"a" + flags.encode())
    return s


def read_until(s, pred, timeout=10):
    """Messages until pred(stdout bytes, types seen) holds."""
    out, types = b"", []
    end = time.monotonic() + timeout
    while not pred(out, types):
        s.settimeout(max(0.1, end - time.monotonic()))
        try:
            m = s.recv(70000)
        except socket.timeout:
            break
        if not m:
            types.append("EOF")
            break
        types.append(chr(m[0]))
        if m[:1] in (b"o", b"e"):
            out += m[1:]
    return out, types


def test_tty_attach_resize_and_rss(rt):
    """--tty: the runtime hands the pty master over the console socket; the
    shim logs its output as stdout and serves it to attach clients, with
    stdin and resize. Same with runc as the runtime."""
    cid, state, logf, p = rt.start_shim(["sh"], shim_args=["--tty", "--stdin"], terminal=True)
    assert p.returncode == 0, p.stderr
    assert not (state / "console.sock").exists()
    rt.start(cid)
    a = attach(state)
    a.send(b"r100 30")
    a.send(b"istty size; echo hi-$((1+1))\n")
    out, _ = read_until(a, lambda o, t: b"hi-2" in o and b"30 100" in o)
    assert b"30 100" in out and b"hi-2" in out, out
    shim_pid = int((state / "shim.pid").read_text())
    rss_kb = int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{shim_pid}/status").read()).group(1))
    if not harness.SANITIZE:
        assert rss_kb <= 1024, f"shim RSS {rss_kb} kB with a pty and an attach client"
    # A second client sees the same live output.
    b = attach(state, "010")
    a.send(b"iecho both-$((3*3))\n")
    assert b"both-9" in read_until(b, lambda o, t: b"both-9" in o)[0]
    a.send(b"iexit 7\n")
    _, types = read_until(a, lambda o, t: "x" in t or "EOF" in t)
    assert "x" in types or "EOF" in types
    assert wait_exit(state)["exit_code"] == 7
    # Records split at "\n" only: a terminal's "\r" stays in the content,
    # as containerd writes it.
    recs = [LINE.match(l) for l in logf.read_bytes().decode().split("\n") if l]
    assert all(recs)
    assert any(m.group(2) == "stdout" and "hi-2" in m.group(4) for m in recs)
    assert not (state / "attach").exists()


def test_attach_stdin_once_and_detach(rt):
    # Without stdin_once, the end of a client's stdin detaches that client only.
    cid, state, logf, p = rt.start_shim(["cat"], shim_args=["--stdin"])
    assert p.returncode == 0, p.stderr
    rt.start(cid)
    a = attach(state)
    a.send(b"iping\n")
    assert read_until(a, lambda o, t: b"ping\n" in o)[0] == b"ping\n"
    a.send(b"c")
    _, types = read_until(a, lambda o, t: "d" in t or "EOF" in t)
    assert "d" in types
    # The container still reads stdin from the next client.
    a = attach(state)
    a.send(b"ipong\n")
    assert read_until(a, lambda o, t: b"pong\n" in o)[0] == b"pong\n"
    rt.kill(cid)
    wait_exit(state)

    # stdin_once: the end of the first attach's stdin closes the container's.
    cid, state, logf, p = rt.start_shim(["sh", "-c", "cat; echo eof-$((1+1))"],
                                        shim_args=["--stdin", "--stdin-once"])
    assert p.returncode == 0, p.stderr
    rt.start(cid)
    a = attach(state)
    a.send(b"ilast\n")
    a.send(b"c")
    out, types = read_until(a, lambda o, t: "x" in t or "EOF" in t)
    assert out == b"last\neof-2\n", (out, types)
    assert wait_exit(state)["exit_code"] == 0
    assert [m for _, _, m in read_log(logf)] == ["last", "eof-2"]
