"""The CNI protocol as every plugin here speaks it (cni-plugins/skel):
environment validation, config decoding, version negotiation, per-version
command rules, error JSON and VERSION, compared with the reference plugins
(Debian's v1.1.1 speaks up to 1.0.0; 1.1.0 rules are checked against the
spec)."""
import json

import pytest

import cnitools as ct

PLUGINS = ["host-local", "loopback"]
CONF = {"cniVersion": "1.0.0", "name": "n1", "type": "x",
        "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.99.0.0/24"}]],
                 "dataDir": "/nonexistent-never-written"}}


def both(name):
    return ct.ours(name), ct.reference(name)


def pair(name, command, conf=CONF, **kw):
    o, r = both(name)
    return ct.run(o, command, conf, **kw), ct.run(r, command, conf, **kw)


@pytest.mark.parametrize("name", PLUGINS)
def test_version(name):
    o, r = both(name)
    v = ct.version(o, {"cniVersion": "0.4.0"})
    assert v.ok, v
    assert v.json == {"cniVersion": "0.4.0",
                      "supportedVersions": ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0",
                                            "1.0.0", "1.1.0"]}
    ref = ct.version(r, {"cniVersion": "0.4.0"})
    assert set(ref.json["supportedVersions"]) <= set(v.json["supportedVersions"])
    # No stdin at all: answer with our latest version.
    v = ct.version(o, stdin=b"")
    assert v.ok and v.json["cniVersion"] == "1.1.0"
    # VERSION needs nothing but CNI_COMMAND.
    v = ct.version(o, {"cniVersion": "1.0.0"}, cni_path=None, unset=("CNI_PATH",))
    assert v.ok


@pytest.mark.parametrize("name", PLUGINS)
def test_no_command_prints_about(name):
    for plugin in both(name):
        r = ct.run(plugin, "", CONF, unset=("CNI_COMMAND",))
        assert r.rc == 0 and r.stdout == "", r
        assert "CNI protocol versions supported" in r.stderr


@pytest.mark.parametrize("name", PLUGINS)
@pytest.mark.parametrize("command,missing", [
    ("ADD", ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"]),
    ("CHECK", ["CNI_NETNS"]),
    ("DEL", ["CNI_IFNAME", "CNI_PATH"]),
    ("DEL", ["CNI_CONTAINERID"]),
])
def test_missing_env(name, command, missing):
    o, r = pair(name, command, unset=missing)
    assert o.code == r.code == 4, (o, r)
    assert o.msg == r.msg == f"required env variables [{','.join(missing)}] missing"
    assert o.json["cniVersion"]  # the spec's error carries the version


@pytest.mark.parametrize("name", PLUGINS)
def test_unknown_command(name):
    o, r = pair(name, "FROB")
    assert o.code == r.code == 4, (o, r)
    assert o.msg == r.msg == "unknown CNI_COMMAND: FROB"


@pytest.mark.parametrize("name", PLUGINS)
@pytest.mark.parametrize("env,frag", [
    ({"CNI_CONTAINERID": "bad/id"}, "invalid characters in containerID"),
    ({"CNI_CONTAINERID": "-lead"}, "invalid characters in containerID"),
    ({"CNI_IFNAME": "a" * 16}, "interface name is too long"),
    ({"CNI_IFNAME": "a:b"}, "interface name contains / or : or whitespace characters"),
    ({"CNI_IFNAME": ".."}, "interface name is . or .."),
])
def test_invalid_env(name, env, frag):
    o, r = pair(name, "ADD", extra_env=env)
    assert o.code == r.code == 4, (o, r)
    assert o.msg == r.msg == frag


@pytest.mark.parametrize("name", PLUGINS)
@pytest.mark.parametrize("stdin,code,frag", [
    (b"{not json", 6, "error unmarshall network config"),
    (b"[1,2]", 6, "error unmarshall network config"),
    (b"", 6, "error unmarshall network config"),
    (b'{"cniVersion":"1.0.0"}', 7, "missing network name"),
    (b'{"cniVersion":"1.0.0","name":""}', 7, "missing network name"),
    (b'{"cniVersion":"1.0.0","name":"bad name"}', 7, "invalid characters found in network name"),
    (b'{"cniVersion":"9.9.9","name":"n"}', 1, "incompatible CNI versions"),
    (b'{"cniVersion":"bogus","name":"n"}', 1, "incompatible CNI versions"),
])
def test_config_decoding(name, stdin, code, frag):
    o, r = pair(name, "DEL", stdin=stdin)
    assert o.code == r.code == code, (o, r)
    assert frag in o.msg and frag in r.msg, (o, r)


def test_cni_version_must_be_string():
    r = ct.delete(ct.ours("host-local"), stdin=b'{"cniVersion":1,"name":"n"}', conf_obj=None)
    assert r.code == 6 and 'field "cniVersion"' in r.msg


@pytest.mark.parametrize("name", PLUGINS)
def test_incompatible_version_details(name):
    o, r = pair(name, "DEL", {"cniVersion": "2.0.0", "name": "n"})
    assert o.code == r.code == 1
    assert o.json["details"].startswith('config is "2.0.0", plugin supports ["0.1.0" "0.2.0"')
    assert o.json["details"].endswith('"1.0.0" "1.1.0"]')


@pytest.mark.parametrize("name", PLUGINS)
@pytest.mark.parametrize("version", ["0.1.0", "0.2.0", "0.3.0", "0.3.1"])
def test_check_needs_0_4_0(name, version):
    c = dict(CONF, cniVersion=version)
    o, r = pair(name, "CHECK", c)
    assert o.code == r.code == 1
    assert o.msg == r.msg == "config version does not allow CHECK"


@pytest.mark.parametrize("command", ["GC", "STATUS"])
@pytest.mark.parametrize("version", ["0.4.0", "1.0.0"])
def test_gc_status_need_1_1_0(command, version):
    c = dict(CONF, cniVersion=version)
    r = ct.run(ct.ours("host-local"), command, c, containerid=None, netns=None, ifname=None)
    assert r.code == 1 and r.msg == f"config version does not allow {command}"


@pytest.mark.parametrize("command", ["GC", "STATUS"])
def test_gc_status_need_cni_path(command):
    c = dict(CONF, cniVersion="1.1.0")
    r = ct.run(ct.ours("host-local"), command, c, containerid=None, netns=None, ifname=None,
               unset=("CNI_PATH",))
    assert r.code == 4 and r.msg == "required env variables [CNI_PATH] missing"


def test_gc_status_default_success_for_plugins_without_them(tmp_path):
    """Spec: a plugin with nothing to collect or report succeeds."""
    c = {"cniVersion": "1.1.0", "name": "lo", "type": "loopback"}
    for command in ("GC", "STATUS"):
        r = ct.run(ct.ours("loopback"), command, c, containerid=None, netns=None, ifname=None)
        assert r.ok and r.stdout == "", r


def test_error_json_shape():
    r = ct.delete(ct.ours("host-local"), {"cniVersion": "0.4.0", "name": "n"})
    assert r.rc != 0
    assert set(r.json) == {"cniVersion", "code", "msg"}
    assert r.json["cniVersion"] == "0.4.0"
    assert r.json["code"] == 7


def test_bad_prev_result_is_decode_error():
    c = dict(CONF, prevResult={"cniVersion": "1.0.0", "ips": [{"address": "nope"}]})
    r = ct.delete(ct.ours("host-local"), c)
    assert r.code == 6 and 'prevResult.ips[0].address' in r.msg


def test_valid_prev_result_accepted(tmp_path):
    c = json.loads(json.dumps(CONF))
    c["ipam"]["dataDir"] = str(tmp_path)
    c["prevResult"] = {"cniVersion": "1.0.0",
                       "interfaces": [{"name": "eth0", "sandbox": "/x", "mtu": 1400}],
                       "ips": [{"address": "10.1.0.5/24", "gateway": "10.1.0.1", "interface": 0}],
                       "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}],
                       "dns": {"nameservers": ["10.1.0.1"]}}
    o = ct.add(ct.ours("host-local"), c)
    c["ipam"]["dataDir"] = str(tmp_path / "ref")
    r = ct.add(ct.reference("host-local"), c)
    assert o.ok and r.ok
    ct.compare_results(o.json, r.json)
