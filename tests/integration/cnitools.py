"""Shared helpers for CNI plugin tests: run a plugin binary the way a runtime
does (CNI_* environment + config on stdin), and normalise results, errors
and host-local lease directories so ours can be compared with the reference
plugins in /usr/lib/cni.

Stable API (other test files import it read-only):

    REFERENCE_DIR, ours(name), reference(name), have_reference(name)
    run(plugin, command, conf, containerid=..., netns=..., ifname=...,
        args=None, cni_path=None, extra_env=None, stdin=None, timeout=20)
        -> Run(rc, stdout, stderr, json)
    add/check/delete/gc/status/version(plugin, conf, **kw)   shorthands
    conf(name, type, cni_version="1.0.0", **fields) -> dict
    normalize_result(obj) -> dict     (order-insensitive, known quirks removed)
    normalize_error(obj) -> dict      ({"code": n})
    lease_dir(path) -> {filename: bytes}
    compare_results(ours_obj, ref_obj)   asserts equality after normalising
"""
import json
import os
import subprocess

from harness import bin_path

REFERENCE_DIR = "/usr/lib/cni"


def ours(name):
    """Path of our built plugin."""
    return bin_path(name)


def reference(name):
    """Path of the reference plugin of the same name."""
    return os.path.join(REFERENCE_DIR, name)


def have_reference(name):
    return os.access(reference(name), os.X_OK)


class Run:
    """Outcome of one plugin invocation."""

    def __init__(self, rc, stdout, stderr):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        try:
            self.json = json.loads(stdout) if stdout.strip() else None
        except ValueError:
            self.json = None

    @property
    def ok(self):
        return self.rc == 0

    @property
    def code(self):
        """CNI error code of a failed run (None on success)."""
        if self.rc == 0 or not isinstance(self.json, dict):
            return None
        return self.json.get("code")

    @property
    def msg(self):
        return (self.json or {}).get("msg", "") if isinstance(self.json, dict) else ""

    def __repr__(self):
        return f"Run(rc={self.rc}, stdout={self.stdout!r}, stderr={self.stderr!r})"


def conf(name, type_, cni_version="1.0.0", **fields):
    """A plugin configuration object."""
    c = {"cniVersion": cni_version, "name": name, "type": type_}
    c.update(fields)
    return c


def run(plugin, command, conf_obj=None, containerid="ctr1", netns="/var/run/netns/none",
        ifname="eth0", args=None, cni_path=None, extra_env=None, stdin=None, timeout=20,
        unset=()):
    """Invoke `plugin` (a path) with the CNI environment for `command`.

    conf_obj is a dict (serialised) or a str/bytes sent verbatim; `stdin`
    overrides it. Variables named in `unset` are left out of the
    environment, and a value of None in extra_env removes that variable.
    """
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    env["CNI_COMMAND"] = command
    if containerid is not None:
        env["CNI_CONTAINERID"] = containerid
    if netns is not None:
        env["CNI_NETNS"] = netns
    if ifname is not None:
        env["CNI_IFNAME"] = ifname
    if args is not None:
        env["CNI_ARGS"] = args
    env["CNI_PATH"] = cni_path if cni_path is not None else os.path.dirname(plugin)
    for k in unset:
        env.pop(k, None)
    for k, v in (extra_env or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    if stdin is None:
        if conf_obj is None:
            stdin = b""
        elif isinstance(conf_obj, (str, bytes)):
            stdin = conf_obj
        else:
            stdin = json.dumps(conf_obj)
    if isinstance(stdin, str):
        stdin = stdin.encode()
    p = subprocess.run([plugin], input=stdin, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return Run(p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))


def add(plugin, conf_obj, **kw):
    return run(plugin, "ADD", conf_obj, **kw)


def check(plugin, conf_obj, **kw):
    return run(plugin, "CHECK", conf_obj, **kw)


def delete(plugin, conf_obj, **kw):
    return run(plugin, "DEL", conf_obj, **kw)


def gc(plugin, conf_obj, **kw):
    kw.setdefault("containerid", None)
    kw.setdefault("netns", None)
    kw.setdefault("ifname", None)
    return run(plugin, "GC", conf_obj, **kw)


def status(plugin, conf_obj, **kw):
    kw.setdefault("containerid", None)
    kw.setdefault("netns", None)
    kw.setdefault("ifname", None)
    return run(plugin, "STATUS", conf_obj, **kw)


def version(plugin, conf_obj=None, **kw):
    kw.setdefault("containerid", None)
    kw.setdefault("netns", None)
    kw.setdefault("ifname", None)
    return run(plugin, "VERSION", conf_obj, **kw)


def _sorted(items):
    return sorted(items, key=lambda x: json.dumps(x, sort_keys=True))


def normalize_result(obj):
    """A result in a comparable form. Differences that are quirks of the
    reference library rather than behaviour are removed:
      - "version" inside ips (Debian's reference loopback omits it for 0.3.x
        results built from a 1.0 result; the spec requires it and we print it);
    and lists whose order carries no meaning (routes, dns lists) are sorted.
    """
    if not isinstance(obj, dict):
        return obj
    out = dict(obj)
    # "dns" is compared as printed: both print "dns": {} when empty
    ips = []
    for ip in out.get("ips", []) or []:
        ip = dict(ip)
        ip.pop("version", None)
        ips.append(ip)
    if "ips" in out:
        out["ips"] = ips
    if "routes" in out:
        out["routes"] = _sorted(out["routes"])
    return out


def normalize_error(obj):
    """Errors compare by code: message wording is ours (it names fields)."""
    if not isinstance(obj, dict):
        return obj
    return {"code": obj.get("code")}


def compare_results(ours_obj, ref_obj):
    a, b = normalize_result(ours_obj), normalize_result(ref_obj)
    assert a == b, f"ours:\n{json.dumps(a, indent=1)}\nreference:\n{json.dumps(b, indent=1)}"


def lease_dir(path):
    """Every file of a host-local network directory: {name: (mode, bytes)}."""
    out = {}
    if not os.path.isdir(path):
        return out
    for name in sorted(os.listdir(path)):
        p = os.path.join(path, name)
        st = os.lstat(p)
        with open(p, "rb") as f:
            out[name] = (oct(st.st_mode & 0o7777), f.read())
    return out
