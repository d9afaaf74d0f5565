"""Batch sending (`fastvrrp.mmsg`): both twins put the same datagrams on a real segment and stop
at the same refusal; the compiled twin must be there unless extensions are disabled."""

from __future__ import annotations

import importlib
import os
import socket
import time

import pytest
from netns_support import netns_test, stale_namespaces_removed, topology  # noqa: F401 (fixtures)

from fastvrrp import mmsg, netns, wire
from fastvrrp.sockets import ReceiveBatch, VrrpSocket

pytestmark = netns_test

GROUP4 = socket.inet_pton(socket.AF_INET, "224.0.0.18")
GROUP6 = socket.inet_pton(socket.AF_INET6, "ff02::12")
VIP4 = socket.inet_pton(socket.AF_INET, "10.0.201.100")


@pytest.fixture(params=["python", "cython"])
def twin(request):
    if request.param == "cython" and os.environ.get("FASTVRRP_NO_EXTENSIONS"):
        pytest.skip("FASTVRRP_NO_EXTENSIONS=1: the compiled twin is disabled on purpose")
    return importlib.import_module({"python": "fastvrrp._mmsg_py", "cython": "fastvrrp._mmsg"}[request.param])


def test_the_compiled_twin_answers():
    if not os.environ.get("FASTVRRP_NO_EXTENSIONS"):
        assert mmsg.IMPLEMENTATION == "cython"


def sockets(topology, family: int) -> tuple[VrrpSocket, VrrpSocket]:
    with netns.entered(topology["a"].ns):
        a = VrrpSocket("em1", family)
    with netns.entered(topology["b"].ns):
        b = VrrpSocket("em1", family)
    return a, b


def received(sock: VrrpSocket, want: int) -> list[bytes]:
    batch, out = ReceiveBatch(), []
    deadline = time.monotonic() + 2
    while len(out) < want and time.monotonic() < deadline:
        out += [bytes(batch.packet(i)) for i in range(batch.drain(sock))]
        time.sleep(0.005)
    return out


@pytest.mark.parametrize("family", [4, 6])
def test_a_batch_arrives_whole_and_in_order(topology, twin, family):
    a, b = sockets(topology, family)
    try:
        if family == 4:
            messages = [wire.build_advert(3, vrid, 100, 100, [VIP4], src=a.source, dst=GROUP4) for vrid in (1, 2, 3)]
            destination = twin.sockaddr(socket.AF_INET, GROUP4)
            control = twin.control_message(*a._source_ancillary[0])
        else:
            vip = socket.inet_pton(socket.AF_INET6, "fe80::100")
            messages = [wire.build_advert(3, vrid, 100, 100, [vip], src=a.source, dst=GROUP6) for vrid in (1, 2, 3)]
            destination = twin.sockaddr(socket.AF_INET6, GROUP6, a.ifindex)
            control = twin.control_message(*a._source_ancillary[0])
        assert twin.send_batch(a.sock, messages, [destination] * 3, control) == 3
        packets = received(b, 3)
        payloads = [p[(p[0] & 0x0F) * 4 :] if family == 4 else p for p in packets]
        assert payloads == messages
        if family == 4:
            assert all(p[12:16] == a.source and p[8] == 255 for p in packets), "source and TTL as sendmsg sets them"
    finally:
        a.close()
        b.close()


def test_a_refusal_stops_the_batch_where_it_happened(topology, twin):
    a, b = sockets(topology, 4)
    try:
        message = wire.build_advert(3, 1, 100, 100, [VIP4], src=a.source, dst=GROUP4)
        control = twin.control_message(*a._source_ancillary[0])
        topology.run("a", ["ip", "link", "set", "em1", "down"])
        assert twin.send_batch(a.sock, [message] * 2, [twin.sockaddr(socket.AF_INET, GROUP4)] * 2, control) == 0
        with pytest.raises(OSError):
            a.send_advert(message)
        assert twin.send_batch(a.sock, [], [], control) == 0
        with pytest.raises(ValueError):
            twin.send_batch(a.sock, [message], [], control)
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("family", [4, 6])
def test_both_receive_twins_read_the_same_batch(topology, twin, family):
    """recvmmsg and the recvmsg loop fill the batch alike: bytes, stamps, IPv6 addresses, hop limit."""
    a, b = sockets(topology, family)
    try:
        group = GROUP4 if family == 4 else GROUP6
        vip = VIP4 if family == 4 else socket.inet_pton(socket.AF_INET6, "fe80::100")
        for vrid in (1, 2, 3):
            a.send_advert(wire.build_advert(3, vrid, 100, 100, [vip], src=a.source, dst=group))
        batch = ReceiveBatch(capacity=8)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            time.sleep(0.02)
            n = twin.receive_batch(
                b.sock, family, batch.buffer, batch.slot_size, 8, batch.lengths, batch.stamps, batch.addrs, batch.hop_limits
            )
            if n:
                break
        assert n == 3
        now = time.time()
        assert all(now - 2 < stamp <= now for stamp in batch.stamps[:3]), "each datagram carries its arrival"
        assert list(batch.stamps[:3]) == sorted(batch.stamps[:3])
        vrids = [batch.buffer[batch.slot_size * i + (20 if family == 4 else 0) + 1] for i in range(3)]
        assert vrids == [1, 2, 3]
        if family == 6:
            assert all(batch.addrs[32 * i : 32 * i + 32] == a.source + group for i in range(3))
            assert list(batch.hop_limits[:3]) == [255] * 3
        assert twin.receive_batch(
            b.sock, family, batch.buffer, batch.slot_size, 8, batch.lengths, batch.stamps, batch.addrs, batch.hop_limits
        ) == 0
    finally:
        a.close()
        b.close()
