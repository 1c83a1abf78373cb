"""host-local IPAM: every option and command, each scenario run against our
plugin and the reference (/usr/lib/cni/host-local) with results and lease
directories compared. GC and STATUS (absent from Debian's reference v1.1.1)
are tested against the spec."""
import concurrent.futures
import json
import os
import random
import shutil
import signal
import subprocess
import time

import pytest

import cnitools as ct
import harness

OURS = ct.ours("host-local")
REF = ct.reference("host-local")
needs_ref = pytest.mark.skipif(not ct.have_reference("host-local"),
                               reason="reference host-local not installed")


def ipam_conf(data_dir, version="1.0.0", name="net1", **ipam):
    ipam = dict(ipam)
    ipam.setdefault("type", "host-local")
    ipam["dataDir"] = str(data_dir)
    return {"cniVersion": version, "name": name, "type": "bridge", "ipam": ipam}


class Pair:
    """The same scenario on ours and the reference, each with its own dataDir."""

    def __init__(self, tmp_path, name="net1"):
        self.dirs = {"ours": tmp_path / "ours", "ref": tmp_path / "ref"}
        self.name = name

    def conf(self, which, version="1.0.0", **ipam):
        return ipam_conf(self.dirs[which], version, self.name, **ipam)

    def run(self, command, version="1.0.0", ipam=None, **kw):
        out = {}
        for which, plugin in (("ours", OURS), ("ref", REF)):
            c = self.conf(which, version, **(ipam or {}))
            out[which] = ct.run(plugin, command, c, **kw)
        return out["ours"], out["ref"]

    def leases(self, which):
        return ct.lease_dir(self.dirs[which] / self.name)

    def assert_same_disk(self):
        a, b = self.leases("ours"), self.leases("ref")
        assert a == b, f"ours {a}\nreference {b}"


def same(o, r):
    """Both succeeded with equal results, or both failed with one code."""
    assert o.ok == r.ok, f"ours {o}\nreference {r}"
    if o.ok:
        if r.json is not None or o.json is not None:
            ct.compare_results(o.json, r.json)
    else:
        assert o.code == r.code or (r.code == 999 and o.code in (2, 4, 7)), \
            f"ours {o}\nreference {r}"


V4 = {"ranges": [[{"subnet": "10.10.0.0/28"}]]}


@needs_ref
@pytest.mark.parametrize("version", ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"])
def test_add_every_version_matches_reference(tmp_path, version):
    p = Pair(tmp_path)
    ipam = {"ranges": [[{"subnet": "10.10.0.0/28"}]], "routes": [{"dst": "0.0.0.0/0"}]}
    o, r = p.run("ADD", version, ipam)
    assert o.ok, o
    same(o, r)
    assert o.json["cniVersion"] == version
    if version in ("0.3.0", "0.3.1", "0.4.0"):
        assert o.json["ips"][0]["version"] == "4"
    elif version.startswith("1."):
        assert "version" not in o.json["ips"][0]
    else:
        assert o.json["ip4"]["ip"] == "10.10.0.2/28"
    p.assert_same_disk()


def test_add_1_1_0(tmp_path):
    c = ipam_conf(tmp_path, "1.1.0", **V4)
    r = ct.add(OURS, c)
    assert r.ok, r
    # "dns": {} even when empty, as the reference prints every version
    assert r.json == {"cniVersion": "1.1.0",
                      "ips": [{"address": "10.10.0.2/28", "gateway": "10.10.0.1"}], "dns": {}}
    assert r.stdout.rstrip().endswith('"dns": {}\n}')


@needs_ref
def test_lease_files_byte_for_byte(tmp_path):
    p = Pair(tmp_path)
    ipam = {"ranges": [[{"subnet": "10.10.0.0/28"}], [{"subnet": "fd01::/120"}]]}
    for i in range(3):
        o, r = p.run("ADD", ipam=ipam, containerid=f"c{i}", ifname="eth0")
        same(o, r)
    p.assert_same_disk()
    d = p.leases("ours")
    assert d["10.10.0.2"][1] == b"c0\r\neth0"
    assert d["fd01::4"][1] == b"c2\r\neth0"
    assert d["last_reserved_ip.0"][1] == b"10.10.0.4"
    assert d["last_reserved_ip.1"][1] == b"fd01::4"
    assert "lock" in d


@needs_ref
def test_dual_stack_and_multi_range_round_robin(tmp_path):
    p = Pair(tmp_path)
    ipam = {"ranges": [
        [{"subnet": "10.20.0.0/29", "rangeStart": "10.20.0.5"},
         {"subnet": "10.20.1.0/29", "rangeEnd": "10.20.1.3"}],
        [{"subnet": "fd02::/64", "rangeStart": "fd02::10", "rangeEnd": "fd02::12"}]],
        "routes": [{"dst": "0.0.0.0/0", "gw": "10.20.0.1"}, {"dst": "::/0"}]}
    seq = []
    for i in range(6):
        o, r = p.run("ADD", "0.4.0", ipam, containerid=f"c{i}")
        same(o, r)
        if o.ok:
            seq.append([ip["address"] for ip in o.json["ips"]])
        if i == 2:
            o, r = p.run("DEL", "0.4.0", ipam, containerid="c1")
            same(o, r)
    p.assert_same_disk()
    # Round robin goes past released addresses before reusing them.
    assert seq[0] == ["10.20.0.5/29", "fd02::10/64"]
    # 10.20.1.1 is the second range's gateway; the IPv6 set (3 addresses)
    # runs out at the fifth ADD.
    assert [a[0] for a in seq[1:4]] == ["10.20.0.6/29", "10.20.1.2/29", "10.20.1.3/29"]
    assert seq[3][1] == "fd02::11/64"
    assert len(seq) == 4


@needs_ref
def test_legacy_subnet_form(tmp_path):
    p = Pair(tmp_path)
    ipam = {"subnet": "10.30.0.0/24", "rangeStart": "10.30.0.100", "rangeEnd": "10.30.0.101",
            "gateway": "10.30.0.254", "routes": [{"dst": "192.0.2.0/24"}]}
    for i in range(3):
        o, r = p.run("ADD", "0.3.1", ipam, containerid=f"c{i}")
        same(o, r)
    assert not o.ok and "no IP addresses available in range set: 10.30.0.100-10.30.0.101" in o.msg
    p.assert_same_disk()


@needs_ref
def test_legacy_subnet_plus_ranges(tmp_path):
    p = Pair(tmp_path)
    ipam = {"subnet": "10.31.0.0/24", "ranges": [[{"subnet": "fd31::/64"}]]}
    o, r = p.run("ADD", ipam=ipam)
    same(o, r)
    assert [i["address"] for i in o.json["ips"]] == ["10.31.0.2/24", "fd31::2/64"]


@needs_ref
def test_gateway_never_allocated(tmp_path):
    p = Pair(tmp_path)
    ipam = {"ranges": [[{"subnet": "10.40.0.0/29", "gateway": "10.40.0.3"}]]}
    got = []
    for i in range(6):
        o, r = p.run("ADD", ipam=ipam, containerid=f"c{i}")
        same(o, r)
        if o.ok:
            got.append(o.json["ips"][0]["address"])
    assert got == ["10.40.0.1/29", "10.40.0.2/29", "10.40.0.4/29", "10.40.0.5/29",
                   "10.40.0.6/29"]
    p.assert_same_disk()


def test_network_and_broadcast_never_allocated(tmp_path):
    c = ipam_conf(tmp_path, **{"ranges": [[{"subnet": "10.41.0.0/30"}]]})
    r1 = ct.add(OURS, c, containerid="a")
    r2 = ct.add(OURS, c, containerid="b")
    assert r1.ok and r1.json["ips"][0]["address"] == "10.41.0.2/30"
    assert not r2.ok and "no IP addresses available" in r2.msg
    # An explicit rangeStart at the network address does not hand it out.
    c = ipam_conf(tmp_path / "x", **{"ranges": [[{"subnet": "10.42.0.0/30",
                                                   "rangeStart": "10.42.0.0",
                                                   "gateway": "10.42.0.2"}]]})
    r = ct.add(OURS, c, containerid="a")
    assert r.ok and r.json["ips"][0]["address"] == "10.42.0.1/30"
    r = ct.add(OURS, c, containerid="b")
    assert not r.ok


@needs_ref
def test_exhaustion_error(tmp_path):
    p = Pair(tmp_path)
    ipam = {"ranges": [[{"subnet": "10.50.0.0/30"}]]}
    o, r = p.run("ADD", ipam=ipam, containerid="a")
    same(o, r)
    o, r = p.run("ADD", ipam=ipam, containerid="b")
    same(o, r)
    assert o.msg == r.msg == ("failed to allocate for range 0: no IP addresses available "
                              "in range set: 10.50.0.1-10.50.0.2")
    p.assert_same_disk()


@needs_ref
def test_failed_second_range_releases_first(tmp_path):
    p = Pair(tmp_path)
    ipam = {"ranges": [[{"subnet": "10.51.0.0/29"}], [{"subnet": "10.52.0.0/30"}]]}
    o, r = p.run("ADD", ipam=ipam, containerid="a")
    same(o, r)
    o, r = p.run("ADD", ipam=ipam, containerid="b")
    same(o, r)
    assert not o.ok and o.msg.startswith("failed to allocate for range 1:")
    assert "10.51.0.3" not in p.leases("ours")
    p.assert_same_disk()


@needs_ref
@pytest.mark.parametrize("how", ["cni_args", "runtimeConfig", "args"])
def test_requested_ip(tmp_path, how):
    p = Pair(tmp_path)
    ipam = {"ranges": [[{"subnet": "10.60.0.0/24"}], [{"subnet": "fd60::/64"}]]}
    kw = {}
    extra = {}
    if how == "cni_args":
        kw["args"] = "IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.60.0.77"
    elif how == "runtimeConfig":
        extra = {"runtimeConfig": {"ips": ["10.60.0.77/24", "fd60::77"]},
                 "capabilities": {"ips": True}}
    else:
        extra = {"args": {"cni": {"ips": ["10.60.0.77", "fd60::77"]}}}
    outs = {}
    for which, plugin in (("ours", OURS), ("ref", REF)):
        c = p.conf(which, **ipam)
        c.update(extra)
        outs[which] = ct.add(plugin, c, **kw)
    same(outs["ours"], outs["ref"])
    addrs = [i["address"] for i in outs["ours"].json["ips"]]
    assert addrs[0] == "10.60.0.77/24"
    if how != "cni_args":
        assert addrs[1] == "fd60::77/64"
    p.assert_same_disk()


@needs_ref
@pytest.mark.parametrize("args,frag", [
    ("IP=10.61.1.5", "failed to allocate all requested IPs: 10.61.1.5"),
    ("IP=10.61.0.1", "is subnet's gateway"),
    ("IP=notanip", None),
    ("K8S_POD_NAME=x", "unknown args"),
    ("IgnoreUnknown=maybe", None),
    ("IP", None),
])
def test_requested_ip_errors(tmp_path, args, frag):
    p = Pair(tmp_path)
    ipam = {"ranges": [[{"subnet": "10.61.0.0/24"}]]}
    o, r = p.run("ADD", ipam=ipam, args=args)
    assert not o.ok and not r.ok, (o, r)
    if frag:
        assert frag in o.msg and frag in r.msg, (o, r)
    assert "10.61.0.2" not in p.leases("ours")
    p.assert_same_disk()


@needs_ref
def test_requested_ip_taken(tmp_path):
    p = Pair(tmp_path)
    ipam = {"ranges": [[{"subnet": "10.62.0.0/24"}]]}
    o, r = p.run("ADD", ipam=ipam, containerid="a", args="IP=10.62.0.9")
    same(o, r)
    o, r = p.run("ADD", ipam=ipam, containerid="b", args="IP=10.62.0.9")
    same(o, r)
    assert "requested IP address 10.62.0.9 is not available in range set 10.62.0.1-10.62.0.254" \
        in o.msg
    p.assert_same_disk()


@needs_ref
def test_del_is_idempotent_and_by_ifname(tmp_path):
    p = Pair(tmp_path)
    ipam = V4
    for ifn in ("eth0", "eth1"):
        o, r = p.run("ADD", ipam=ipam, containerid="a", ifname=ifn)
        same(o, r)
    o, r = p.run("DEL", ipam=ipam, containerid="a", ifname="eth1")
    same(o, r)
    assert o.stdout == ""
    leases = p.leases("ours")
    assert leases["10.10.0.2"][1] == b"a\r\neth0" and "10.10.0.3" not in leases
    for _ in range(2):
        o, r = p.run("DEL", ipam=ipam, containerid="a", ifname="eth1")
        same(o, r)
    o, r = p.run("DEL", ipam=ipam, containerid="never", ifname="eth0")
    same(o, r)
    # DEL needs no CNI_NETNS (the namespace may be gone).
    o, r = p.run("DEL", ipam=ipam, containerid="a", ifname="eth0", netns=None)
    same(o, r)
    assert o.ok
    p.assert_same_disk()


@needs_ref
def test_del_old_format_lease(tmp_path):
    """Leases written by old plugin versions hold only the container ID."""
    p = Pair(tmp_path)
    for which in ("ours", "ref"):
        d = p.dirs[which] / "net1"
        d.mkdir(parents=True)
        (d / "10.10.0.5").write_bytes(b"old\n")
    o, r = p.run("CHECK", "0.4.0", V4, containerid="old")
    same(o, r)
    assert o.ok
    o, r = p.run("DEL", ipam=V4, containerid="old")
    same(o, r)
    assert p.leases("ours") == {k: v for k, v in p.leases("ref").items()}
    assert "10.10.0.5" not in p.leases("ours")


@needs_ref
def test_check(tmp_path):
    p = Pair(tmp_path)
    o, r = p.run("ADD", "0.4.0", V4, containerid="a")
    same(o, r)
    o, r = p.run("CHECK", "0.4.0", V4, containerid="a")
    same(o, r)
    assert o.ok and o.stdout == ""
    o, r = p.run("CHECK", "0.4.0", V4, containerid="b")
    same(o, r)
    assert not o.ok and "Failed to find address added by container b" in o.msg


@needs_ref
def test_duplicate_allocation_refused(tmp_path):
    p = Pair(tmp_path)
    o, r = p.run("ADD", ipam=V4, containerid="a")
    same(o, r)
    o, r = p.run("ADD", ipam=V4, containerid="a")
    same(o, r)
    assert "10.10.0.2 has been allocated to a, duplicate allocation is not allowed" in o.msg
    p.assert_same_disk()


@needs_ref
def test_resolv_conf_and_routes(tmp_path):
    rc = tmp_path / "resolv.conf"
    rc.write_text("# comment\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n"
                  "domain example.com\nsearch a.example b.example\noptions ndots:5 rotate\n"
                  "; other\nbogus\n")
    p = Pair(tmp_path)
    ipam = dict(V4, resolvConf=str(rc),
                routes=[{"dst": "0.0.0.0/0"}, {"dst": "198.51.100.0/24", "gw": "10.10.0.1"}])
    o, r = p.run("ADD", ipam=ipam)
    same(o, r)
    assert o.json["dns"] == {"nameservers": ["192.0.2.53", "2001:db8::53"],
                             "domain": "example.com", "search": ["a.example", "b.example"],
                             "options": ["ndots:5", "rotate"]}
    ipam["resolvConf"] = str(tmp_path / "missing")
    o, r = p.run("ADD", ipam=ipam, containerid="b")
    assert not o.ok and not r.ok


@pytest.mark.network
@needs_ref
def test_default_data_dir(tmp_path):
    """Without dataDir leases go to /var/lib/cni/networks (a private tmpfs
    here)."""
    outs = []
    for plugin in (OURS, REF):
        c = {"cniVersion": "1.0.0", "name": "defnet", "type": "bridge",
             "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.70.0.0/24"}]]}}
        outs.append(ct.add(plugin, c, containerid="x"))
        leases = ct.lease_dir("/var/lib/cni/networks/defnet")
        assert leases["10.70.0.2"][1] == b"x\r\neth0"
        ct.delete(plugin, c, containerid="x")
        assert "10.70.0.2" not in ct.lease_dir("/var/lib/cni/networks/defnet")
        shutil.rmtree("/var/lib/cni/networks/defnet")
    same(*outs)


@needs_ref
@pytest.mark.parametrize("ipam,field", [
    ({"ranges": [[{"subnet": "10.0.0/8"}]]}, "ipam.ranges[0][0].subnet"),
    ({"ranges": [[{"subnet": "10.0.0.1/24"}]]}, "ipam.ranges[0][0].subnet"),
    ({"ranges": [[{"subnet": "10.0.0.0/31"}]]}, "ipam.ranges[0][0].subnet"),
    ({"ranges": [[{"subnet": "10.0.0.0/24", "rangeStart": "10.0.1.1"}]]},
     "ipam.ranges[0][0].rangeStart"),
    ({"ranges": [[{"subnet": "10.0.0.0/24", "rangeEnd": "10.0.1.1"}]]},
     "ipam.ranges[0][0].rangeEnd"),
    ({"ranges": [[{"subnet": "10.0.0.0/24", "rangeStart": "bogus"}]]},
     "ipam.ranges[0][0].rangeStart"),
    ({"ranges": [[{"subnet": "10.0.0.0/24", "gateway": "x"}]]}, "ipam.ranges[0][0].gateway"),
    ({"ranges": [[{"subnet": 5}]]}, "ipam.ranges[0][0].subnet"),
    ({"ranges": [[{}]]}, "ipam.ranges[0][0].subnet"),
    ({"ranges": [{"subnet": "10.0.0.0/24"}]}, "ipam.ranges[0]"),
    ({"ranges": "10.0.0.0/24"}, "ipam.ranges"),
    ({"ranges": [[]]}, "ipam.ranges[0]"),
    ({"ranges": [[{"subnet": "10.0.0.0/24"}, {"subnet": "fd00::/64"}]]}, "ipam.ranges[0]"),
    ({"ranges": [[{"subnet": "10.0.0.0/24"}, {"subnet": "10.0.0.0/25"}]]}, "ipam.ranges[0]"),
    ({"ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "10.0.0.0/25"}]]}, "range set 0"),
    ({}, "no IP ranges specified"),
    ({"subnet": "10.0.0.0/24", "routes": [{"gw": "10.0.0.1"}]}, "ipam.routes[0].dst"),
    ({"subnet": "10.0.0.0/24", "routes": [{"dst": "x"}]}, "ipam.routes[0].dst"),
    ({"subnet": "10.0.0.0/24", "resolvConf": []}, "ipam.resolvConf"),
])
def test_config_errors_name_the_field(tmp_path, ipam, field):
    p = Pair(tmp_path)
    o, r = p.run("ADD", ipam=ipam)
    assert not o.ok, o
    # The reference accepts a route without dst (printing "<nil>"); we don't.
    if field != "ipam.routes[0].dst" or "x" in json.dumps(ipam):
        assert not r.ok, r
    assert o.code == 7, o
    assert field in o.msg, o
    assert p.leases("ours") == {} or set(p.leases("ours")) <= {"lock"}


def test_data_dir_must_be_string(tmp_path):
    c = ipam_conf(tmp_path, **V4)
    c["ipam"]["dataDir"] = 7
    r = ct.add(OURS, c)
    assert r.code == 7 and 'field "ipam.dataDir": expected string, got integer' in r.msg


@needs_ref
def test_missing_ipam(tmp_path):
    c = {"cniVersion": "1.0.0", "name": "n", "type": "bridge"}
    o, r = ct.add(OURS, c), ct.add(REF, c)
    assert not o.ok and not r.ok
    assert o.msg == r.msg == "IPAM config missing 'ipam' key"


@needs_ref
def test_interop_leases_across_implementations(tmp_path):
    """Leases written by the reference are honoured and released by ours,
    and the other way round (same directory)."""
    c = ipam_conf(tmp_path, **V4)
    a = ct.add(REF, c, containerid="r1")
    b = ct.add(OURS, c, containerid="o1")
    assert a.ok and b.ok
    assert a.json["ips"][0]["address"] == "10.10.0.2/28"
    assert b.json["ips"][0]["address"] == "10.10.0.3/28"
    d = ct.add(REF, c, containerid="r2")
    assert d.json["ips"][0]["address"] == "10.10.0.4/28"
    assert ct.delete(OURS, c, containerid="r1").ok
    assert ct.delete(REF, c, containerid="o1").ok
    assert set(ct.lease_dir(tmp_path / "net1")) == {"10.10.0.4", "last_reserved_ip.0", "lock"}


def test_gc_releases_invalid_attachments(tmp_path):
    c = ipam_conf(tmp_path, "1.1.0", **V4)
    for cid, ifn in (("a", "eth0"), ("a", "eth1"), ("b", "eth0"), ("c", "eth0")):
        assert ct.add(OURS, c, containerid=cid, ifname=ifn).ok
    (tmp_path / "net1" / "10.10.0.9").write_bytes(b"c")  # old-format lease
    g = dict(c)
    g["cni.dev/valid-attachments"] = [{"containerID": "a", "ifname": "eth0"},
                                      {"containerID": "c", "ifname": "eth0"}]
    r = ct.gc(OURS, g)
    assert r.ok and r.stdout == "", r
    assert set(ct.lease_dir(tmp_path / "net1")) == {"10.10.0.2", "10.10.0.5", "10.10.0.9",
                                                   "last_reserved_ip.0", "lock"}
    g["cni.dev/valid-attachments"] = []
    assert ct.gc(OURS, g).ok
    assert set(ct.lease_dir(tmp_path / "net1")) == {"last_reserved_ip.0", "lock"}


def test_gc_requires_1_1_0_and_valid_attachments_shape(tmp_path):
    c = ipam_conf(tmp_path, "1.0.0", **V4)
    r = ct.gc(OURS, c)
    assert r.code == 1 and "config version does not allow GC" in r.msg
    c = ipam_conf(tmp_path, "1.1.0", **V4)
    assert ct.add(OURS, c, containerid="keep").ok
    r = ct.gc(OURS, c)
    assert r.code == 7 and "cni.dev/valid-attachments" in r.msg, r
    assert "10.10.0.2" in ct.lease_dir(tmp_path / "net1")
    c["cni.dev/valid-attachments"] = [{"containerID": "a"}]
    r = ct.gc(OURS, c)
    assert r.code == 7 and "cni.dev/valid-attachments[0].ifname" in r.msg


def test_status(tmp_path):
    c = ipam_conf(tmp_path, "1.1.0", **{"ranges": [[{"subnet": "10.80.0.0/30"}],
                                                    [{"subnet": "fd80::/126"}]]})
    r = ct.status(OURS, c)
    assert r.ok and r.stdout == "", r
    assert ct.add(OURS, c, containerid="a").ok
    r = ct.status(OURS, c)
    assert r.code == 50 and "no IP addresses available in range set: 10.80.0.1-10.80.0.2" in r.msg
    assert ct.delete(OURS, c, containerid="a").ok
    assert ct.status(OURS, c).ok
    r = ct.status(OURS, ipam_conf(tmp_path, "1.0.0", **V4))
    assert r.code == 1


@pytest.mark.parametrize("which", ["ours", "ref"])
def test_concurrent_adds_no_duplicates(tmp_path, which):
    plugin = OURS if which == "ours" else REF
    if which == "ref" and not ct.have_reference("host-local"):
        pytest.skip("reference host-local not installed")
    # 14 usable addresses (.1 is the gateway), 32 concurrent ADDs.
    c = ipam_conf(tmp_path, **{"ranges": [[{"subnet": "10.90.0.0/28"}]]})
    with concurrent.futures.ThreadPoolExecutor(32) as ex:
        runs = list(ex.map(lambda i: ct.add(plugin, c, containerid=f"c{i}"), range(32)))
    ok = [r for r in runs if r.ok]
    bad = [r for r in runs if not r.ok]
    addrs = [r.json["ips"][0]["address"] for r in ok]
    assert len(ok) == 13 and len(set(addrs)) == 13
    assert all("no IP addresses available in range set: 10.90.0.1-10.90.0.14" in r.msg
               for r in bad), bad
    leases = {k: v for k, v in ct.lease_dir(tmp_path / "net1").items()
              if k.startswith("10.")}
    assert len(leases) == 13
    owners = sorted(v[1] for v in leases.values())
    assert len(set(owners)) == 13


@pytest.mark.slow
def test_sigkill_during_add_leaves_consistent_store(tmp_path):
    """SIGKILL ADDs at random moments: every lease file left is complete and
    owned by one container, no address is leased twice, and every address
    can be released and leased again."""
    c = ipam_conf(tmp_path, **{"ranges": [[{"subnet": "10.91.0.0/26"}]]})
    data = json.dumps(c).encode()
    rnd = random.Random(1234)
    # Kill within the time one ADD takes on this build (an ASan build starts
    # far slower than the plain one), so kills land inside the allocation.
    t0 = time.monotonic()
    assert ct.add(OURS, c, containerid="probe").ok
    window = max(time.monotonic() - t0, 0.002)
    assert ct.delete(OURS, c, containerid="probe").ok
    started = []
    killed = 0
    for i in range(120):
        env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": f"k{i}", "CNI_NETNS": "/x",
               "CNI_IFNAME": "eth0", "CNI_PATH": os.path.dirname(OURS), "PATH": "/usr/bin:/bin"}
        p = subprocess.Popen([OURS], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=env)
        p.stdin.write(data)
        p.stdin.close()
        time.sleep(rnd.random() * window)
        p.send_signal(signal.SIGKILL)
        killed += p.wait() == -signal.SIGKILL
        started.append(f"k{i}")
    assert killed > 0
    d = tmp_path / "net1"
    leases = {k: v[1] for k, v in ct.lease_dir(d).items() if k.startswith("10.")}
    for name, content in leases.items():
        cid, _, ifn = content.partition(b"\r\n")
        assert cid.decode() in started and ifn == b"eth0", (name, content)
    assert len(set(leases.values())) == len(leases), "a container holds two addresses"
    assert not [f for f in os.listdir(d) if f.startswith(".")], os.listdir(d)
    for cid in started:
        assert ct.delete(OURS, c, containerid=cid).ok
    assert not [k for k in ct.lease_dir(d) if k.startswith("10.")]
    # The whole range is usable again.
    for i in range(61):
        r = ct.add(OURS, c, containerid=f"n{i}")
        assert r.ok, r
    assert not ct.add(OURS, c, containerid="over").ok


def test_damaged_last_reserved_ip(tmp_path):
    c = ipam_conf(tmp_path, **V4)
    assert ct.add(OURS, c, containerid="a").ok
    (tmp_path / "net1" / "last_reserved_ip.0").write_bytes(b"garbage")
    r = ct.add(OURS, c, containerid="b")
    assert r.ok and r.json["ips"][0]["address"] == "10.10.0.3/28"


def test_ipv6_names_match_go_formatting(tmp_path):
    c = ipam_conf(tmp_path, **{"ranges": [[{"subnet": "::a00:0/120"}]]})
    r = ct.add(OURS, c, containerid="a")
    assert r.ok, r
    assert r.json["ips"][0]["address"] == "::a00:2/120"
    assert "::a00:2" in ct.lease_dir(tmp_path / "net1")


@pytest.mark.skipif(harness.SANITIZE, reason="sanitizer builds are dynamic and larger")
@pytest.mark.skipif(not os.access("/usr/bin/time", os.X_OK), reason="needs /usr/bin/time")
def test_peak_rss_under_1mb(tmp_path):
    """The target: a host-local ADD peaks under 1 MB of RSS (the reference
    takes about 4 MB)."""
    c = ipam_conf(tmp_path, **{"ranges": [[{"subnet": "10.92.0.0/24"}], [{"subnet": "fd92::/64"}]]})
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "rss", "CNI_NETNS": "/x",
           "CNI_IFNAME": "eth0", "CNI_PATH": os.path.dirname(OURS), "PATH": "/usr/bin:/bin"}
    p = subprocess.run(["/usr/bin/time", "-f", "%M", OURS], input=json.dumps(c).encode(),
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.returncode == 0, p
    kb = int(p.stderr.decode().strip().splitlines()[-1])
    assert kb <= 1024, f"peak RSS {kb} KB"
