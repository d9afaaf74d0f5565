"""Kernel arrival stamps on the monotonic clock (`fastvrrp.arrival`), read by both receive twins
(`_mmsg_py.receive_batch`, `_mmsg.receive_batch`) from a loopback UDP pair."""

from __future__ import annotations

import importlib
import os
import socket
import time
from array import array

import pytest

from fastvrrp import mmsg
from fastvrrp.arrival import ArrivalClock


@pytest.fixture(params=["python", "cython"])
def twin(request):
    if request.param == "cython" and os.environ.get("FASTVRRP_NO_EXTENSIONS"):
        pytest.skip("FASTVRRP_NO_EXTENSIONS=1: the compiled twin is disabled on purpose")
    return importlib.import_module({"python": "fastvrrp._mmsg_py", "cython": "fastvrrp._mmsg"}[request.param])


@pytest.fixture
def pair():
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, mmsg.SO_TIMESTAMPNS, 1)
    receiver.bind(("127.0.0.1", 0))
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.connect(receiver.getsockname())
    yield sender, receiver
    sender.close()
    receiver.close()


def receive(twin, sock: socket.socket, limit: int = 8) -> tuple[list[bytes], list[float]]:
    buffer, lengths, stamps = bytearray(8 * 64), array("I", [0] * 8), array("d", [0.0] * 8)
    n = twin.receive_batch(sock, 4, buffer, 64, limit, lengths, stamps, bytearray(256), array("B", bytes(8)))
    return [bytes(buffer[64 * i : 64 * i + lengths[i]]) for i in range(n)], list(stamps[:n])


def test_each_datagram_carries_its_own_arrival(twin, pair):
    sender, receiver = pair
    clock = ArrivalClock()
    clock.offset()
    sender.send(b"prime")  # the kernel may switch stamping on a moment after the option is set
    time.sleep(0.02)
    receive(twin, receiver)
    sent = []
    for payload in (b"one", b"two"):
        sent.append(time.monotonic())
        sender.send(payload)
        time.sleep(0.03)  # the packets wait in the socket, as behind a busy loop
    data, stamps = receive(twin, receiver)
    now = time.monotonic()
    offset = clock.offset()
    assert data == [b"one", b"two"]
    arrivals = [clock.arrival(stamp, offset, now) for stamp in stamps]
    for at, arrived in zip(sent, arrivals):
        assert at - 0.001 <= arrived <= at + 0.02, (sent, arrivals, now)
    assert arrivals[1] - arrivals[0] >= 0.025
    assert now - arrivals[1] >= 0.025


def test_arrival_is_never_after_now_and_now_when_unknown():
    clock = ArrivalClock()
    assert clock.offset() is None  # no previous reading to tell a clock step from
    offset = clock.offset()
    assert offset is not None and abs(offset - (time.time() - time.monotonic())) < 0.01
    stamp = time.time()
    assert clock.arrival(stamp, offset, 0.5) == 0.5  # `now` in the past: the stamp cannot be later
    assert clock.arrival(0.0, offset, 7.0) == 7.0  # unstamped
    assert clock.arrival(stamp, None, 7.0) == 7.0  # the wall clock stepped: the stamp is unusable


def test_empty_socket_reads_nothing_and_the_limit_holds(twin, pair):
    sender, receiver = pair
    assert receive(twin, receiver) == ([], [])
    for i in range(5):
        sender.send(bytes([i]))
    time.sleep(0.01)
    assert receive(twin, receiver, limit=3)[0] == [b"\0", b"\1", b"\2"]
    assert receive(twin, receiver)[0] == [b"\3", b"\4"]


def test_long_datagrams_are_cut_to_the_slot(twin, pair):
    sender, receiver = pair
    sender.send(bytes(range(100)))
    time.sleep(0.01)
    assert receive(twin, receiver)[0] == [bytes(range(64))]
