"""The harness itself: sandboxing works and the guard refuses the host."""
import os
import subprocess

import pytest

import harness


def test_refuses_host_namespace():
    assert harness.in_host_netns()
    with pytest.raises(RuntimeError, match="network rule"):
        harness.require_private_netns()
    with pytest.raises(RuntimeError):
        harness.nsrun(None, ["true"])


@pytest.mark.network
def test_network_marker_gives_private_namespaces(netns):
    assert not harness.in_host_netns()
    assert os.stat("/proc/self/ns/mnt").st_ino != harness.HOST_MNTNS_INO
    # Fresh namespace: only lo, and it is up.
    links = subprocess.run(["ip", "-o", "link"], stdout=subprocess.PIPE, text=True).stdout
    assert len(links.strip().splitlines()) == 1 and "lo:" in links
    p = netns.add_netns("h1")
    assert os.path.exists(p)
    harness.nsrun(p, ["ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1"])
    assert "d0" in harness.nsrun(p, ["ip", "-o", "link"]).stdout
    # cgroup v1 mounts stay visible (we never remount /sys).
    assert os.path.isdir("/sys/fs/cgroup/memory") or os.path.isdir("/sys/fs/cgroup/unified")


def test_sandbox_left_cleanly():
    assert harness.in_host_netns()
    assert os.stat("/proc/self/ns/mnt").st_ino == harness.HOST_MNTNS_INO
    assert not os.path.exists("/run/netns/h1")
