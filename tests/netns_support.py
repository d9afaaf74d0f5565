"""Fixtures for tests that build namespaces: root required, names unique, always deleted."""

from __future__ import annotations

import os
import select
import subprocess
import time

import pytest

from fastvrrp import netns
from fastvrrp.peers import Peer

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


class Capture:
    """tcpdump writing a pcap inside a namespace; tshark, an independent decoder, reads it back.

    tcpdump starts in milliseconds and says when it listens, so nothing sent after `__enter__`
    is missed; tshark then decodes the file (its VRRP dissector verifies checksums).
    """

    def __init__(self, topo: netns.Topology, role: str, path, bpf: str = "") -> None:
        self.topo, self.role, self.path, self.bpf = topo, role, str(path), bpf
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Capture:
        argv = ["tcpdump", "--immediate-mode", "-U", "-n", "-i", netns.ROUTER_IFNAME, "-w", self.path]
        argv += [self.bpf] if self.bpf else []
        self.proc = self.topo.popen(self.role, argv, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stderr], [], [], 5)
        line = self.proc.stderr.readline() if ready else ""
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError(f"tcpdump did not start in {self.role}: {line!r}")
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        """Let the last packets land, then stop tcpdump (SIGTERM flushes the file)."""
        if self.proc and self.proc.poll() is None:
            time.sleep(0.2)
            self.proc.terminate()
            self.proc.communicate(timeout=5)

    def fields(self, *names: str, display_filter: str = "") -> list[list[str]]:
        """One row per packet: tshark's value of each field ('' when absent)."""
        self.stop()
        argv = ["tshark", "-n", "-r", self.path, "-T", "fields", "-E", "separator=/t"]
        if display_filter:
            argv += ["-Y", display_filter]
        for name in names:
            argv += ["-e", name]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout
        return [line.split("\t") for line in out.splitlines()]


@pytest.fixture
def peers():
    """Every Peer a test starts is stopped afterwards, whatever happened."""
    started: list[Peer] = []
    yield started
    for peer in started:
        if peer.running:
            peer.kill()

