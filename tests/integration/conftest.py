"""pytest wiring for the harness (see harness.py for the network rule)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "network: runs in fresh net+mount namespaces with a private /run/netns")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    if os.geteuid() != 0:
        raise pytest.UsageError("integration tests need root")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("network") and "netns" not in item.fixturenames:
            item.fixturenames.insert(0, "netns")


@pytest.fixture
def netns():
    """The test runs in fresh net+mount namespaces; yields the Sandbox."""
    sb = harness.Sandbox()
    sb.enter()
    try:
        yield sb
    finally:
        sb.leave()


@pytest.fixture(autouse=True)
def _host_network_guard(request):
    """Fail any test that changed the machine's own network configuration."""
    if not harness.in_host_netns():
        yield
        return
    before = harness.host_network_state()
    yield
    after = harness.host_network_state()
    if before != after:
        pytest.fail("network rule: the test changed the machine's own network "
                    "namespace (links/addresses/routes/iptables)")
