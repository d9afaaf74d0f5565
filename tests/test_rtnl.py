"""The loop-thread VIP path (`fastvrrp.rtnl`) against the kernel: same contract as VipManager."""

from __future__ import annotations

import asyncio
import errno
import socket

import pytest
from netns_support import netns_test, stale_namespaces_removed, topology  # noqa: F401 (fixtures)

from fastvrrp import netns
from fastvrrp.rtnl import AddressSocket
from fastvrrp.vips import InterfaceGone, Vip

pytestmark = netns_test


def addresses(topology, family: str) -> str:
    return topology.run("a", ["ip", family, "-o", "addr", "show", "dev", "em1"]).stdout


def run_in_a(topology, body):
    async def main():
        sock = AddressSocket(asyncio.get_running_loop())
        try:
            return await body(sock)
        finally:
            sock.close()

    with netns.entered(topology["a"].ns):
        return asyncio.run(main())


def test_add_and_remove_are_idempotent(topology):
    vip4, vip6 = Vip.parse("10.0.201.100/32", label="em1:vip"), Vip.parse("fd00:201::100/64")

    async def body(sock):
        return [await sock.add("em1", vip4), await sock.add("em1", vip4), await sock.add("em1", vip6)]

    assert run_in_a(topology, body) == [True, False, True]
    v4, v6 = addresses(topology, "-4"), addresses(topology, "-6")
    assert "10.0.201.100/32" in v4 and "em1:vip" in v4
    assert "fd00:201::100/64" in v6 and "tentative" not in v6

    async def remove(sock):
        return [await sock.remove("em1", vip4), await sock.remove("em1", vip4), await sock.remove("em1", vip6)]

    assert run_in_a(topology, remove) == [True, False, True]
    assert "10.0.201.100" not in addresses(topology, "-4") and "fd00:201::100" not in addresses(topology, "-6")


def test_missing_interface_is_interface_gone(topology):
    async def body(sock):
        await sock.add("em9", Vip.parse("10.0.201.100"))

    with pytest.raises(InterfaceGone):
        run_in_a(topology, body)


def test_bad_label_is_refused_before_anything_is_sent(topology):
    async def body(sock):
        await sock.add("em1", Vip.parse("10.0.201.100", label="eth0:x"))

    with pytest.raises(ValueError):
        run_in_a(topology, body)
    assert "10.0.201.100" not in addresses(topology, "-4")


def test_a_recreated_interface_is_found_again(topology):
    """The interface index is cached; a device deleted and made again has a new one."""
    vip = Vip.parse("10.0.209.1/32")

    def dummy() -> None:
        topology.run("a", ["ip", "link", "add", "dum0", "type", "veth", "peer", "name", "dum1"])
        topology.run("a", ["ip", "link", "set", "dum1", "up"])
        topology.run("a", ["ip", "link", "set", "dum0", "up"])

    async def body(sock):
        first = await sock.add("dum0", vip)
        topology.run("a", ["ip", "link", "del", "dum0"])
        dummy()
        again = await sock.add("dum0", vip)
        removed = await sock.remove("dum0", vip)
        topology.run("a", ["ip", "link", "del", "dum0"])
        with pytest.raises(InterfaceGone):
            await sock.add("dum0", vip)
        return first, again, removed

    dummy()
    assert run_in_a(topology, body) == (True, True, True)


def test_a_prepared_add_goes_out_when_sent_and_never_before(topology):
    """A backup builds its takeover's request before its deadline; a takeover that does not come
    leaves it unsent, and each answer still reaches its own waiter."""
    vip, other = Vip.parse("10.0.201.100/32"), Vip.parse("10.0.201.101/32")

    async def body(sock):
        request = sock.prepare_add("em1", vip)
        abandoned = sock.prepare_add("em1", other)  # its takeover never came
        before = addresses(topology, "-4")
        answers = await asyncio.gather(sock.send(request, "em1", vip), sock.submit_add("em1", vip))
        return before, abandoned, answers

    before, abandoned, answers = run_in_a(topology, body)
    assert "10.0.201.100" not in before, "preparing sends nothing"
    assert answers == [0, errno.EEXIST], "each waiter has its own request's answer"
    after = addresses(topology, "-4")
    assert "10.0.201.100/32" in after and "10.0.201.101" not in after
    assert abandoned[4:6] == b"\x14\x00", "an RTM_NEWADDR, numbered like any other"


def test_lost_acks_are_asked_again_one_at_a_time(topology):
    """More requests than the socket has room for acks: the kernel reports ENOBUFS, and every
    waiter learns the outcome by asking again (idempotent), not an error for a VIP that is on."""
    vips = [Vip.parse(f"10.0.202.{i}/32") for i in range(1, 65)]

    async def body(sock):
        sock.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 0)  # the kernel's minimum
        codes = await asyncio.gather(*(sock.submit_add("em1", vip) for vip in vips))
        settled = await asyncio.gather(*(sock.finish_add(code, "em1", vip) for code, vip in zip(codes, vips)))
        return codes, settled

    codes, settled = run_in_a(topology, body)
    assert errno.ENOBUFS in codes, "the burst must overflow the acks for this test to mean anything"
    assert False in settled, "asked again, an add already applied answers EEXIST"
    assert addresses(topology, "-4").count("10.0.202.") == len(vips)
