"""The client's pings to the VIP, one every 10 ms on an absolute schedule.

iputils `ping -i 0.01` drifts to one every ~16 ms here, and a request the kernel never sends
(no ARP answer yet) is invisible on the wire; this pinger keeps the rate and records every
request it makes, so a ping lost for want of an owner counts as lost.  Replies are read by the
sniffer, which stamps them in the kernel.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time

from .. import netns
from .sniffer import PingLoss


def checksum(data: bytes) -> int:
    """RFC 1071 ones'-complement sum (ICMPv4; the kernel fills in ICMPv6's)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(family: int, ident: int, seq: int) -> bytes:
    kind = 8 if family == 4 else 128
    body = struct.pack("!BBHHH", kind, 0, 0, ident, seq) + b"fastvrrp-lab"
    if family == 6:
        return body
    return body[:2] + struct.pack("!H", checksum(body)) + body[4:]


class Pinger:
    """A thread sending echo requests to `vip` from namespace `ns` every `interval` seconds."""

    def __init__(self, ns: str, vip: str, family: int, interval: float, loss: PingLoss) -> None:
        self.vip, self.family, self.interval, self.loss = vip, family, interval, loss
        af, proto = (socket.AF_INET, socket.IPPROTO_ICMP) if family == 4 else (socket.AF_INET6, socket.IPPROTO_ICMPV6)
        with netns.entered(ns):
            self.sock = socket.socket(af, socket.SOCK_RAW, proto)
        # Replies are read from the packet socket; this one only sends, so keep its queue tiny.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
        self.ident = os.getpid() & 0xFFFF
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pinger", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Safe to call twice."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join()
        self.sock.close()

    def _loop(self) -> None:
        seq = 0
        deadline = time.monotonic()
        while not self._stop.is_set():
            seq = (seq + 1) & 0xFFFF
            self.loss.request(seq, time.monotonic())
            try:
                self.sock.sendto(echo_request(self.family, self.ident, seq), (self.vip, 0))
            except OSError:
                pass  # no neighbour for the VIP yet: the request is lost, and counted so
            deadline += self.interval
            self._stop.wait(max(0.0, deadline - time.monotonic()))
