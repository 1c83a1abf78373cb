"""loopback: lo up in the container's namespace on ADD, down on DEL, CHECK
that it is up, its addresses reported; compared with /usr/lib/cni/loopback."""
import json
import os

import pytest

import cnitools as ct
import harness

OURS = ct.ours("loopback")
REF = ct.reference("loopback")
pytestmark = pytest.mark.network


def lo_state(ns):
    out = harness.nsrun(ns, ["ip", "-j", "link", "show", "lo"]).stdout
    return "UP" in json.loads(out)[0]["flags"]


def lo_conf(version="1.0.0", **kw):
    c = {"cniVersion": version, "name": "lo", "type": "loopback"}
    c.update(kw)
    return c


@pytest.mark.parametrize("version", ["0.3.0", "0.3.1", "0.4.0", "1.0.0"])
def test_add_matches_reference(netns, version):
    results = []
    for i, plugin in enumerate((OURS, REF)):
        ns = netns.add_netns(f"lo{i}")
        assert not lo_state(ns)
        r = ct.add(plugin, lo_conf(version), netns=ns, ifname="lo")
        assert r.ok, r
        assert lo_state(ns)
        r.json["interfaces"][0]["sandbox"] = "<ns>"
        results.append(r.json)
    ct.compare_results(*results)
    res = results[0]
    assert res["interfaces"] == [{"name": "lo", "mac": "00:00:00:00:00:00", "sandbox": "<ns>"}]
    addrs = [ip["address"] for ip in res["ips"]]
    assert addrs[0] == "127.0.0.1/8"
    assert all(ip["interface"] == 0 for ip in res["ips"])
    if version.startswith("0."):
        assert res["ips"][0]["version"] == "4"


def test_add_1_1_0_and_ipv6(netns):
    ns = netns.add_netns("lo6")
    r = ct.add(OURS, lo_conf("1.1.0"), netns=ns, ifname="lo")
    assert r.ok, r
    has_v6 = os.path.exists("/proc/sys/net/ipv6")
    want = ["127.0.0.1/8"] + (["::1/128"] if has_v6 else [])
    assert [ip["address"] for ip in r.json["ips"]] == want
    assert r.json["dns"] == {}  # printed empty, as the reference does


def test_del_and_check(netns):
    for i, plugin in enumerate((OURS, REF)):
        ns = netns.add_netns(f"ld{i}")
        assert ct.add(plugin, lo_conf("0.4.0"), netns=ns, ifname="lo").ok
        c = ct.check(plugin, lo_conf("0.4.0"), netns=ns, ifname="lo")
        assert c.ok and c.stdout == "", c
        d = ct.delete(plugin, lo_conf("0.4.0"), netns=ns, ifname="lo")
        assert d.ok and d.stdout == "", d
        assert not lo_state(ns)
        c = ct.check(plugin, lo_conf("0.4.0"), netns=ns, ifname="lo")
        assert not c.ok and c.msg == "loopback interface is down", c
        # DEL again is fine.
        assert ct.delete(plugin, lo_conf("0.4.0"), netns=ns, ifname="lo").ok


def test_del_without_netns_or_gone(netns):
    for plugin in (OURS, REF):
        assert ct.delete(plugin, lo_conf(), netns=None, ifname="lo").ok
        r = ct.delete(plugin, lo_conf(), netns="/run/netns/gone", ifname="lo")
        assert r.ok, r


def test_add_bad_netns(netns, tmp_path):
    for plugin in (OURS, REF):
        r = ct.add(plugin, lo_conf(), netns="/run/netns/gone", ifname="lo")
        assert not r.ok and "/run/netns/gone" in r.msg
        r = ct.add(plugin, lo_conf(), netns=str(tmp_path), ifname="lo")
        assert not r.ok and "unknown FS magic" in r.msg, r


def test_non_loopback_address_refused(netns):
    for i, plugin in enumerate((OURS, REF)):
        ns = netns.add_netns(f"lb{i}")
        harness.nsrun(ns, ["ip", "addr", "add", "192.0.2.1/32", "dev", "lo"])
        r = ct.add(plugin, lo_conf(), netns=ns, ifname="lo")
        assert not r.ok and "non-loopback address" in r.msg, r


def test_prev_result_passed_through(netns):
    prev = {"cniVersion": "1.0.0",
            "interfaces": [{"name": "eth0", "mac": "02:00:00:00:00:01", "sandbox": "/x"}],
            "ips": [{"address": "10.5.0.2/24", "gateway": "10.5.0.1", "interface": 0}],
            "routes": [{"dst": "0.0.0.0/0"}]}
    outs = []
    for i, plugin in enumerate((OURS, REF)):
        ns = netns.add_netns(f"lp{i}")
        r = ct.add(plugin, lo_conf(prevResult=prev), netns=ns, ifname="lo")
        assert r.ok, r
        outs.append(r.json)
    ct.compare_results(*outs)
    assert outs[0]["ips"] == prev["ips"]


def test_ifname_is_ignored(netns):
    ns = netns.add_netns("li")
    r = ct.add(OURS, lo_conf(), netns=ns, ifname="eth0")
    assert r.ok and r.json["interfaces"][0]["name"] == "lo"


@pytest.mark.skipif(harness.SANITIZE, reason="sanitizer builds are dynamic and larger")
@pytest.mark.skipif(not os.access("/usr/bin/time", os.X_OK), reason="needs /usr/bin/time")
def test_peak_rss_under_1mb(netns):
    """The target: a loopback ADD peaks under 1 MB of RSS (the reference
    takes about 4 MB)."""
    import subprocess
    ns = netns.add_netns("lrss")
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "rss", "CNI_NETNS": ns,
           "CNI_IFNAME": "lo", "CNI_PATH": os.path.dirname(OURS), "PATH": "/usr/bin:/bin"}
    p = subprocess.run(["/usr/bin/time", "-f", "%M", OURS], input=json.dumps(lo_conf()).encode(),
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.returncode == 0, p
    kb = int(p.stderr.decode().strip().splitlines()[-1])
    assert kb <= 1024, f"peak RSS {kb} KB"
