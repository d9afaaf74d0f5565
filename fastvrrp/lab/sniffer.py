"""What the client sees on the wire: adverts, priority 0, gratuitous ARPs / unsolicited NAs, pings.

A packet socket in the client's namespace, read by a thread of its own.  Each frame carries the
kernel's receive timestamp (SO_TIMESTAMPNS, taken when the frame reached the client's veth), so
the time does not depend on when Python got round to reading it.  That stamp is on the
real-time clock; it is moved to the monotonic clock the rest of the timeline uses with an offset
measured once at start (error: microseconds, unless the real-time clock is stepped mid-run).

Decoding is a pure function of the frame bytes, tested without namespaces.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from .. import netns
from ..arrival import realtime_offset
from ..mmsg import SO_TIMESTAMPNS
from .timeline import ADVERT, GARP, LOSS, PING, PRIO0, UNSOLICITED_NA, Event

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
_VRRP = 112


class Frame(NamedTuple):
    """A decoded frame the lab cares about; `sender` is a MAC address as `aa:bb:...`."""

    kind: str
    """`advert`, `garp`, `na`, `echo-reply`."""
    sender: str
    value: int = 0
    """The advert's priority, or the echo sequence number."""
    address: str = ""
    """The advert's source IP, or the GARP / NA / echo target."""


def _mac(raw: bytes) -> str:
    return raw.hex(":")


def decode(frame: bytes, vip: str) -> Frame | None:
    """Ethernet frame → Frame, or None for anything the timeline does not show."""
    if len(frame) < 14:
        return None
    sender = _mac(frame[6:12])
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    payload = frame[14:]
    if ethertype == 0x0806 and len(payload) >= 28:
        op = struct.unpack_from("!H", payload, 6)[0]
        spa, tpa = socket.inet_ntoa(payload[14:18]), socket.inet_ntoa(payload[24:28])
        if op in (1, 2) and spa == tpa == vip:
            return Frame("garp", sender, 0, vip)
        return None
    if ethertype == 0x0800 and len(payload) >= 20:
        ihl = (payload[0] & 0x0F) * 4
        proto, src = payload[9], socket.inet_ntoa(payload[12:16])
        body = payload[ihl:]
        if proto == _VRRP and len(body) >= 3:
            return Frame("advert", sender, body[2], src)
        if proto == 1 and len(body) >= 8 and body[0] == 0 and src == vip:
            return Frame("echo-reply", sender, struct.unpack_from("!H", body, 6)[0], vip)
        return None
    if ethertype == 0x86DD and len(payload) >= 40:
        next_header = payload[6]
        src = str(ipaddress.IPv6Address(payload[8:24]))
        dst = str(ipaddress.IPv6Address(payload[24:40]))
        body = payload[40:]
        if next_header == _VRRP and len(body) >= 3:
            return Frame("advert", sender, body[2], src)
        if next_header == 58 and len(body) >= 8:
            if body[0] == 136 and len(body) >= 24 and str(ipaddress.IPv6Address(body[8:24])) == vip:
                return Frame("na", sender, 0, vip) if dst == "ff02::1" else None
            if body[0] == 129 and src == vip:
                return Frame("echo-reply", sender, struct.unpack_from("!H", body, 6)[0], vip)
    return None


@dataclass
class PingLoss:
    """Lost pings, from the pinger's requests and the replies seen on the wire (by sequence number).

    Replies on one link come back in order, so a reply with sequence s means every request
    before s still unanswered is lost.  A loss run is reported when replies resume, stamped
    then; its `data` holds when it began and ended.
    """

    pending: dict[int, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    """The pinger records requests, the sniffer replies: two threads."""
    sent: list[float] = field(default_factory=list)
    lost: list[float] = field(default_factory=list)
    """Request times of lost pings, for per-step counts and the plot."""
    responder: str | None = None

    def request(self, seq: int, t: float) -> None:
        with self.lock:
            self.pending[seq] = t
            self.sent.append(t)

    def reply(self, seq: int, t: float, responder: str) -> list[Event]:
        with self.lock:
            return self._reply(seq, t, responder)

    def _reply(self, seq: int, t: float, responder: str) -> list[Event]:
        events = []
        if self.pending.pop(seq, None) is None:
            return events
        gone = sorted((s, ts) for s, ts in self.pending.items() if s < seq)
        for s, _ in gone:
            del self.pending[s]
        if gone:
            times = [ts for _, ts in gone]
            self.lost.extend(times)
            events.append(self._run(t, times, f"answered again by {responder}"))
        if responder != self.responder:
            self.responder = responder
            events.append(Event(t, "client", PING, f"answered by {responder}", {"responder": responder}))
        return events

    def finish(self, now: float, grace: float = 1.0) -> list[Event]:
        """Requests still unanswered `grace` seconds after they left count as lost."""
        with self.lock:
            return self._finish(now, grace)

    def _finish(self, now: float, grace: float) -> list[Event]:
        times = sorted(ts for ts in self.pending.values() if now - ts > grace)
        self.pending.clear()
        if not times:
            return []
        self.lost.extend(times)
        return [self._run(now, times, "no reply until the end")]

    @staticmethod
    def _run(t: float, times: list[float], how: str) -> Event:
        span = (times[-1] - times[0]) * 1e3
        text = f"{len(times)} ping(s) lost over {span:.0f} ms, {how}"
        return Event(t, "client", LOSS, text, {"lost": len(times), "start": times[0], "end": times[-1]})


@dataclass
class AdvertFilter:
    """Which adverts to print: a sender's first, a priority change, or one after a silence.

    Every advert is kept for the report; printing each at 10 ms would bury the rest.
    """

    silence: float
    last: dict[str, tuple[int, float]] = field(default_factory=dict)

    def shown(self, sender: str, priority: int, t: float) -> bool:
        previous = self.last.get(sender)
        self.last[sender] = (priority, t)
        return previous is None or previous[0] != priority or t - previous[1] > self.silence


class Sniffer:
    """Reads the client's `em1` on a thread; turns frames into timeline events."""

    def __init__(
        self,
        ns: str,
        vip: str,
        roles_by_mac: dict[str, str],
        emit: Callable[[Event], None],
        interval: float,
        ifname: str = netns.ROUTER_IFNAME,
    ) -> None:
        self.vip, self.roles, self.emit = vip, roles_by_mac, emit
        self.loss = PingLoss()
        self.adverts = AdvertFilter(silence=2.5 * interval)
        with netns.entered(ns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.sock.bind((ifname, ETH_P_ALL))
        self.offset = realtime_offset(samples=5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sniffer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop reading; requests unanswered by now are lost.  Safe to call twice."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join()
        self.sock.close()
        for event in self.loss.finish(time.monotonic(), grace=0.05):
            self.emit(event)

    def _loop(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.sock], [], [], 0.1)
            if not ready:
                continue
            data, ancdata, _, address = self.sock.recvmsg(2048, socket.CMSG_SPACE(16))
            t = time.monotonic()
            for level, kind, value in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    sec, nsec = struct.unpack_from("qq", value)
                    t = sec + nsec * 1e-9 - self.offset
            if address[2] != PACKET_OUTGOING:  # the client's own requests are counted by the pinger
                self.handle(decode(data, self.vip), t)

    def handle(self, frame: Frame | None, t: float) -> None:
        if frame is None:
            return
        who = self.roles.get(frame.sender, frame.sender)
        if frame.kind == "echo-reply":
            for event in self.loss.reply(frame.value, t, who):
                self.emit(event)
        elif frame.kind == "advert":
            kind = PRIO0 if frame.value == 0 else ADVERT
            shown = kind == PRIO0 or self.adverts.shown(who, frame.value, t)
            self.emit(Event(t, "wire", kind, f"{who} priority {frame.value}", {"router": who}, shown))
        elif frame.kind in ("garp", "na"):
            kind = GARP if frame.kind == "garp" else UNSOLICITED_NA
            self.emit(Event(t, "wire", kind, f"{who} {frame.address}", {"router": who}))
