"""Traffic through a bridge network built by the bridge plugin: two
containers (network namespaces) on one bridge reach each other and the
gateway over IPv4 and IPv6 (dual stack), also through hairpin/masquerade
configurations, and stop reaching each other after DEL. Runs with our plugin
and, for parity, with the reference one."""
import json
import subprocess
import time

import pytest

import harness
from test_cni_bridge import IMPLS, NETNS, add_ok, conf_dual, del_ok, in_sandbox

pytestmark = pytest.mark.network


def ping(netns, addr, tries=1):
    """True when addr answers from inside netns; retried (IPv6 gateway
    addresses stay tentative for a moment while the bridge runs DAD)."""
    fam = "-6" if ":" in addr else "-4"
    for i in range(tries):
        r = harness.nsrun(f"{NETNS}/{netns}", ["ping", fam, "-c", "1", "-W", "1", addr], check=False)
        if r.returncode == 0:
            return True
        if i + 1 < tries:
            time.sleep(0.2)
    return False


def addr_of(result, family):
    for ip in result["ips"]:
        a = ip["address"].split("/")[0]
        if (":" in a) == (family == 6):
            return a, ip.get("gateway")
    raise AssertionError(f"no IPv{family} address in {result}")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("extra", [{}, {"hairpinMode": True, "ipMasq": True, "mtu": 1400}],
                         ids=["plain", "hairpin-masq-mtu"])
def test_two_containers_dual_stack(netns, impl, extra):
    def run(sb):
        sb.add_netns("a")
        sb.add_netns("b")
        conf = conf_dual(isDefaultGateway=True, **extra)
        ra = add_ok(impl, conf, netns="a", cid="ca")
        rb = add_ok(impl, conf, netns="b", cid="cb")
        a4, gw4 = addr_of(ra, 4)
        b4, _ = addr_of(rb, 4)
        a6, gw6 = addr_of(ra, 6)
        b6, _ = addr_of(rb, 6)
        assert a4 != b4 and a6 != b6
        assert ping("a", b4, tries=10) and ping("b", a4)
        assert ping("a", gw4, tries=10) and ping("b", gw4)
        assert ping("a", b6, tries=25) and ping("b", a6, tries=10)
        assert ping("a", gw6, tries=25) and ping("b", gw6, tries=10)
        # The default route goes via the gateway: an off-subnet address on the
        # host (the bridge side) is reachable through it.
        subprocess.run(["ip", "addr", "add", "192.0.2.1/32", "dev", "cni0"], check=True)
        assert ping("a", "192.0.2.1", tries=5)
        if extra.get("mtu"):
            mtu = json.loads(harness.nsrun(f"{NETNS}/a", ["ip", "-j", "link", "show", "eth0"]).stdout)[0]["mtu"]
            assert mtu == 1400
            # A full-size packet passes, one byte more with DF does not.
            r = harness.nsrun(f"{NETNS}/a", ["ping", "-4", "-c", "1", "-W", "1", "-M", "do",
                                             "-s", str(1400 - 28), b4], check=False)
            assert r.returncode == 0, r.stdout
            r = harness.nsrun(f"{NETNS}/a", ["ping", "-4", "-c", "1", "-W", "1", "-M", "do",
                                             "-s", str(1400 - 27), b4], check=False)
            assert r.returncode != 0
        del_ok(impl, conf, netns="b", cid="cb")
        assert not ping("a", b4)
        del_ok(impl, conf, netns="a", cid="ca")
    in_sandbox(run)
