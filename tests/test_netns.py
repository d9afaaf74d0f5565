"""The namespace helper: a working segment, and nothing left behind, even after an exception."""

from __future__ import annotations

import os
import socket
import subprocess
import threading

import pytest

from fastvrrp import netns
from netns_support import netns_test, stale_namespaces_removed, topology  # noqa: F401 (fixtures)

pytestmark = netns_test


def _ours(topo: netns.Topology) -> list[str]:
    return [n for n in netns.list_namespaces() if n.startswith(f"{topo.prefix}{os.getpid()}-{topo.token}-")]


def test_routers_reach_each_other_over_ipv4_and_ipv6(topology):
    a, b = topology["a"], topology["b"]
    assert sorted(_ours(topology)) == sorted([topology.switch, a.ns, b.ns, topology["client"].ns])
    topology.run("a", ["ping", "-c1", "-W2", b.ip])
    topology.run("b", ["ping", "-6", "-c1", "-W2", a.ip6])
    links = topology.run("a", ["ip", "-o", "link", "show"]).stdout
    assert " em1@" in links and "lo:" in links and "UP" in links


def test_namespaces_and_processes_are_gone_after_an_exception():
    with pytest.raises(RuntimeError, match="boom"):
        with netns.Topology(["a"]) as topo:
            sleeper = topo.popen("a", ["sleep", "60"])
            stray = subprocess.Popen(["ip", "netns", "exec", topo["a"].ns, "sleep", "60"])
            names = _ours(topo)
            assert len(names) == 2
            raise RuntimeError("boom")
    assert sleeper.poll() is not None
    assert stray.wait(5) is not None  # not tracked by the topology: found inside the namespace
    assert not [n for n in netns.list_namespaces() if n in names]


def test_entered_namespace_scopes_sockets_and_returns(topology):
    home = os.readlink("/proc/thread-self/ns/net")
    with netns.entered(topology["a"].ns):
        assert os.readlink("/proc/thread-self/ns/net") != home
        assert socket.if_nametoindex("em1") > 0
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((topology["a"].ip, 0))  # the address exists only inside the namespace
    assert os.readlink("/proc/thread-self/ns/net") == home
    with sock:
        sock.sendto(b"hello", (topology["b"].ip, 9))


def test_enter_moves_only_the_calling_thread(topology):
    seen = {}

    def worker():
        netns.enter(topology["b"].ns)
        seen["inside"] = os.readlink("/proc/thread-self/ns/net")

    home = os.readlink("/proc/thread-self/ns/net")
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["inside"] != home
    assert os.readlink("/proc/thread-self/ns/net") == home


def test_cleanup_stale_removes_namespaces_of_dead_runs_only(topology, caplog):
    finished = subprocess.Popen(["true"])
    finished.wait()
    pid = finished.pid
    leftover = f"{netns.PREFIX}{pid}-dead-a"
    subprocess.run(["ip", "netns", "add", leftover], check=True)
    try:
        with caplog.at_level("WARNING", logger="fastvrrp.netns"):
            removed = netns.cleanup_stale()
        assert removed == [leftover]
        assert f"removing namespace {leftover} left behind by process {pid}" in caplog.text
        assert topology.switch in netns.list_namespaces()  # our run is alive: untouched
    finally:
        if leftover in netns.list_namespaces():
            netns.delete_namespace(leftover)
