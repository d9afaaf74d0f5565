"""VIPs and link state through rtnetlink, inside a router namespace, checked with iproute2."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from fastvrrp import netns
from fastvrrp.vips import AddressEvent, InterfaceGone, LinkEvent, RtnlMonitor, Vip, VipManager, link_states
from netns_support import netns_test, stale_namespaces_removed, topology  # noqa: F401 (fixtures)

pytestmark = netns_test

VIP = Vip.parse("10.0.201.100", label="em1:vip")
VIP_PLAIN = Vip.parse("10.0.201.100")
VIP_PREFIX = Vip.parse("10.0.201.200/24")
VIP6 = Vip.parse("fd00:201::100/64")


def addresses(topo: netns.Topology, role: str = "a") -> str:
    return topo.run(role, ["ip", "-o", "addr", "show", "dev", "em1"]).stdout


def test_vip_parse_defaults_to_host_prefixes():
    assert (VIP.address, VIP.prefixlen, VIP.label) == ("10.0.201.100", 32, "em1:vip")
    assert Vip.parse("fd00:201::100").prefixlen == 128
    assert str(VIP) == "10.0.201.100/32 label em1:vip"
    with pytest.raises(ValueError, match="no label"):
        Vip.parse("fd00:201::100", label="em1:x")


def test_add_remove_are_idempotent_and_listed(topology):
    async def scenario():
        async with VipManager() as vips:
            assert await vips.add("em1", VIP) is True
            assert await vips.add("em1", VIP) is False
            assert await vips.add("em1", VIP_PREFIX) is True
            assert await vips.add("em1", VIP6) is True
            shown = addresses(topology)
            assert "inet 10.0.201.100/32 scope global em1:vip" in shown
            assert "inet 10.0.201.200/24 scope global secondary em1" in shown
            assert "inet6 fd00:201::100/64 scope global nodad" in shown and "tentative" not in shown
            other = Vip.parse("10.0.201.101")
            assert await vips.present("em1", [VIP, other, VIP6, VIP_PREFIX]) == [VIP, VIP6, VIP_PREFIX]
            for vip in (VIP, VIP_PREFIX, VIP6):
                assert await vips.remove("em1", vip) is True
                assert await vips.remove("em1", vip) is False
            assert await vips.present("em1", [VIP, VIP6, VIP_PREFIX]) == []
        shown = addresses(topology)
        assert "10.0.201.100" not in shown and "fd00:201::100" not in shown and "10.0.201.1/24" in shown

    with netns.entered(topology["a"].ns):
        asyncio.run(scenario())


def test_manager_stays_in_the_namespace_it_was_created_in(topology):
    """pyroute2 opens sockets lazily; ours is opened at creation, so using the manager from
    outside the namespace still changes that namespace and nothing else."""
    with netns.entered(topology["a"].ns):
        vips = VipManager()

    async def add_from_outside():
        try:
            assert await vips.add("em1", VIP)
        finally:
            vips.close()

    asyncio.run(add_from_outside())
    assert "10.0.201.100/32" in addresses(topology, "a")
    assert "10.0.201.100" not in addresses(topology, "b")


def test_missing_interface_is_a_typed_error(topology):
    async def scenario():
        async with VipManager() as vips:
            with pytest.raises(InterfaceGone, match="add 10.0.201.100/32 on nope0") as gone:
                await vips.add("nope0", VIP_PLAIN)
            assert gone.value.ifname == "nope0" and gone.value.vip == VIP_PLAIN
            with pytest.raises(InterfaceGone):
                await vips.remove("nope0", VIP_PLAIN)
            with pytest.raises(InterfaceGone):
                await vips.present("nope0", [VIP_PLAIN])
            with pytest.raises(ValueError, match="must be 'em1'"):
                await vips.add("em1", Vip.parse("10.0.201.100", label="eth0:1"))

    with netns.entered(topology["a"].ns):
        asyncio.run(scenario())


def test_address_events_are_timestamped_on_receipt(topology):
    async def scenario():
        with RtnlMonitor(links=False) as monitor:
            async with VipManager() as vips:
                before = time.monotonic()
                await vips.add("em1", VIP)
                added = await asyncio.wait_for(anext(monitor), 2)
                middle = time.monotonic()
                await vips.remove("em1", VIP)
                removed = await asyncio.wait_for(anext(monitor), 2)
                after = time.monotonic()
        return before, added, middle, removed, after

    with netns.entered(topology["a"].ns):
        before, added, middle, removed, after = asyncio.run(scenario())
    assert added == AddressEvent(added.time, True, "em1", added.ifindex, "10.0.201.100", 32, "em1:vip")
    assert removed == AddressEvent(removed.time, False, "em1", added.ifindex, "10.0.201.100", 32, "em1:vip")
    assert before <= added.time <= middle <= removed.time <= after


def test_link_watcher_sees_em1_down_and_up(topology):
    async def scenario():
        with RtnlMonitor(addresses=False) as monitor:
            assert monitor.links == {"lo": True, "em1": True}
            topology.run("a", ["ip", "link", "set", "em1", "down"])
            down = await asyncio.wait_for(anext(monitor), 2)
            topology.run("a", ["ip", "link", "set", "em1", "up"])
            up = await asyncio.wait_for(anext(monitor), 2)
            return down, up

    with netns.entered(topology["a"].ns):
        down, up = asyncio.run(scenario())
    assert isinstance(down, LinkEvent) and (down.ifname, down.up, down.gone) == ("em1", False, False)
    assert (up.ifname, up.up) == ("em1", True)
    assert down.time < up.time


def test_carrier_loss_and_deletion_from_a_polling_thread(topology):
    """The lab's way: a thread of its own polls, so timestamps do not wait for an event loop."""
    events: list = []
    ready = threading.Event()

    def watch():
        netns.enter(topology["a"].ns)
        with RtnlMonitor(addresses=False) as monitor:
            ready.set()
            deadline = time.monotonic() + 3
            while len(events) < 2 and time.monotonic() < deadline:
                events.extend(monitor.poll(0.1))

    thread = threading.Thread(target=watch)
    thread.start()
    assert ready.wait(2)
    netns.run_in(topology.switch, ["ip", "link", "set", "p-a", "down"])  # em1 stays UP, loses carrier
    netns.run_in(topology.switch, ["ip", "link", "delete", "p-a"])  # deletes em1 with it
    thread.join(5)
    assert [(e.ifname, e.up, e.gone) for e in events] == [("em1", False, False), ("em1", False, True)]


def test_link_states_of_a_namespace(topology):
    topology.run("b", ["ip", "link", "set", "em1", "down"])
    with netns.entered(topology["b"].ns):
        assert link_states() == {"lo": True, "em1": False}


def test_overrun_is_recovered_by_rereading_link_states(topology, tmp_path):
    """A netlink overrun (ENOBUFS) loses events; the monitor re-reads the links instead."""
    batch = tmp_path / "addresses.batch"
    batch.write_text("".join(f"addr add 10.0.201.{i}/32 dev em1\n" for i in range(10, 250)))
    with netns.entered(topology["a"].ns):
        with RtnlMonitor() as monitor:
            monitor.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 0)  # the kernel's minimum
            topology.run("a", ["ip", "-batch", str(batch)])
            topology.run("a", ["ip", "link", "set", "em1", "down"])
            events = monitor.read()
    links = [e for e in events if isinstance(e, LinkEvent)]
    assert monitor.overruns >= 1
    assert [(e.ifname, e.up) for e in links] == [("em1", False)]
