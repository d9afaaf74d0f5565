"""Fixtures for tests that build namespaces: root required, names unique, always deleted."""

from __future__ import annotations

import os

import pytest

from fastvrrp import netns

requires_root = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root (run the suite as root)")
netns_test = [pytest.mark.netns, requires_root]
"""`pytestmark = netns_test` in a module whose tests build namespaces."""


@pytest.fixture(scope="session")
def stale_namespaces_removed() -> list[str]:
    """Remove leftovers of killed earlier runs once per session (logged by `cleanup_stale`)."""
    return netns.cleanup_stale()


@pytest.fixture
def topology(stale_namespaces_removed):
    """Routers `a` and `b` (10.0.201.1, .2) and a `client` (.3) on one bridge; gone after the test."""
    with netns.Topology(["a", "b", "client"]) as topo:
        yield topo
    assert not [n for n in netns.list_namespaces() if n.startswith(topo.prefix + f"{os.getpid()}-{topo.token}")]
