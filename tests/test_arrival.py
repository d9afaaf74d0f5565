"""Kernel arrival stamps on the monotonic clock (`fastvrrp.arrival`), on a loopback UDP pair."""

from __future__ import annotations

import socket
import time

from fastvrrp.arrival import ArrivalClock


def pair() -> tuple[socket.socket, socket.socket]:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.connect(receiver.getsockname())
    return sender, receiver


def test_arrival_is_when_the_packet_came_not_when_it_was_read():
    sender, receiver = pair()
    clock = ArrivalClock()
    try:
        sender.send(b"first")  # stamping starts with the first ioctl: prime it
        receiver.recv(64)
        assert clock.last(receiver, time.monotonic()) <= time.monotonic()
        # The kernel may switch stamping on a moment later (a deferred static key); until then a
        # packet carries no stamp and the read time stands in.  Let it settle once more.
        time.sleep(0.02)
        sender.send(b"second")
        receiver.recv(64)
        clock.last(receiver, time.monotonic())
        sent = time.monotonic()
        sender.send(b"x")
        time.sleep(0.05)  # the packet waits in the socket, as behind a busy loop
        receiver.recv(64)
        now = time.monotonic()
        arrival = clock.last(receiver, now)
        assert sent - 0.001 <= arrival <= sent + 0.02, (sent, arrival, now)
        assert now - arrival >= 0.03
    finally:
        sender.close()
        receiver.close()


def test_never_later_than_now_and_now_when_unknown():
    sender, receiver = pair()
    clock = ArrivalClock()
    try:
        assert clock.last(receiver, 123.0) == 123.0  # nothing received yet
        sender.send(b"x")
        receiver.recv(64)
        clock.last(receiver, time.monotonic())
        assert clock.last(receiver, 0.5) == 0.5  # `now` in the past: the stamp cannot be later
    finally:
        sender.close()
        receiver.close()
