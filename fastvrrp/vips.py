"""Virtual IP addresses and link state, through rtnetlink, without blocking the event loop.

`VipManager` adds and removes VIPs with pyroute2's asyncio API.  Both operations are
idempotent, because a daemon that restarts after `kill -9`, or a backup told twice to release,
must not turn "already done" into a fault; a vanished interface is an `InterfaceGone` the
daemon turns into FAULT.  `RtnlMonitor` reports address and link changes, each stamped with
`time.monotonic()` the moment its datagram is read: the kernel puts no timestamp on netlink
messages, so reading promptly is the precision.

Everything works on the calling thread's network namespace: create these objects inside it.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import ipaddress
import os
import select
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass
from typing import Iterable, NamedTuple, Union

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR, RTMGRP_LINK
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

from .config_model import MAX_LABEL, label_fits
from .sockets import set_receive_buffer

IFA_F_NODAD = 0x02
IFF_UP = 0x1
IFF_RUNNING = 0x40
_SIOCGIFFLAGS = 0x8913
_RECV_SIZE = 1 << 16
_MONITOR_RCVBUF = 1 << 22
"""Hundreds of instances moving VIPs at once overrun the default netlink buffer."""

Address = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]


class VipError(OSError):
    """The kernel refused a VIP change; `.errno`, `.ifname` and `.vip` say which and why."""

    def __init__(self, code: int, ifname: str, vip: Vip | None, action: str) -> None:
        what = f"{action} {vip} on {ifname}" if vip else f"{action} on {ifname}"
        super().__init__(code, f"{what}: {errno.errorcode.get(code, code)} ({os.strerror(code)})")
        self.ifname = ifname
        self.vip = vip


class InterfaceGone(VipError):
    """The interface does not exist (deleted, renamed, or never there)."""


@dataclass(frozen=True)
class Vip:
    """One virtual address with its prefix, as keepalived's `virtual_ipaddress` lists it.

    Without a prefix an IPv4 VIP is a /32 and an IPv6 one a /128: the VIP then adds no
    connected route.  `label` (IPv4 only) is the `ifconfig` alias name, `em1` or `em1:...`.
    """

    interface: Address
    label: str | None = None

    @classmethod
    def parse(cls, text: str, label: str | None = None) -> Vip:
        vip = cls(ipaddress.ip_interface(text), label)
        if vip.label is not None and vip.interface.version == 6:
            raise ValueError(f"{text}: IPv6 addresses carry no label")
        return vip

    @property
    def address(self) -> str:
        return str(self.interface.ip)

    @property
    def prefixlen(self) -> int:
        return self.interface.network.prefixlen

    @property
    def family(self) -> int:
        return socket.AF_INET if self.interface.version == 4 else socket.AF_INET6

    def __str__(self) -> str:
        return str(self.interface) + (f" label {self.label}" if self.label else "")


def _check_label(ifname: str, label: str | None) -> None:
    """iproute2's rule, kept so that `ip addr` shows our VIPs under the interface they are on."""
    if label is not None and not label_fits(ifname, label):
        raise ValueError(f"label {label!r} must be {ifname!r} or start with '{ifname}:' (at most {MAX_LABEL} characters)")


class VipManager:
    """Adds and removes VIPs on interfaces of this namespace over one rtnetlink socket.

    Use as `async with VipManager() as vips:`; it acts on the namespace it was created in.
    Interface indexes are looked up on every call:
    an interface deleted and re-created between two calls gets a new index, and a stale one
    would put the VIP on the wrong device or fail confusingly.
    """

    def __init__(self) -> None:
        # pyroute2 opens its socket lazily, on first use, in whatever namespace the using thread
        # is in then.  Opening it here pins the manager to the namespace it was created in.
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE)
        self._ipr = AsyncIPRoute(fileno=sock.detach())

    async def __aenter__(self) -> VipManager:
        return self

    async def __aexit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._ipr.close()

    async def _index(self, ifname: str, vip: Vip | None, action: str) -> int:
        found = await self._ipr.link_lookup(ifname=ifname)
        if not found:
            raise InterfaceGone(errno.ENODEV, ifname, vip, action)
        return found[0]

    async def add(self, ifname: str, vip: Vip) -> bool:
        """Put `vip` on `ifname`; False if it was already there.

        IPv6 VIPs skip duplicate address detection (IFA_F_NODAD): the address moves between
        routers and must answer at once after a failover, and VRRP itself decides who owns it.
        """
        _check_label(ifname, vip.label)
        index = await self._index(ifname, vip, "add")
        request = {"index": index, "address": vip.address, "prefixlen": vip.prefixlen, "family": vip.family}
        if vip.family == socket.AF_INET6:
            request["flags"] = IFA_F_NODAD
        elif vip.label:
            request["label"] = vip.label
        try:
            await self._ipr.addr("add", **request)
        except NetlinkError as e:
            if e.code == errno.EEXIST:
                return False
            raise self._error(e.code, ifname, vip, "add") from None
        return True

    async def remove(self, ifname: str, vip: Vip) -> bool:
        """Take `vip` off `ifname`; False if it was not there."""
        index = await self._index(ifname, vip, "remove")
        try:
            await self._ipr.addr("del", index=index, address=vip.address, prefixlen=vip.prefixlen, family=vip.family)
        except NetlinkError as e:
            if e.code == errno.EADDRNOTAVAIL:
                return False
            raise self._error(e.code, ifname, vip, "remove") from None
        return True

    async def present(self, ifname: str, vips: Iterable[Vip]) -> list[Vip]:
        """Which of `vips` (address and prefix) are on `ifname` now: leftovers to remove at start."""
        index = await self._index(ifname, None, "list addresses")
        found = {(msg.get("address"), msg.get("prefixlen")) async for msg in await self._ipr.addr("dump", index=index)}
        return [vip for vip in vips if (vip.address, vip.prefixlen) in found]

    @staticmethod
    def _error(code: int, ifname: str, vip: Vip, action: str) -> VipError:
        cls = InterfaceGone if code == errno.ENODEV else VipError
        return cls(code, ifname, vip, action)


class AddressEvent(NamedTuple):
    """An address appeared (`added`) or disappeared on an interface; `time` is monotonic at receipt."""

    time: float
    added: bool
    ifname: str
    ifindex: int
    address: str
    prefixlen: int
    label: str | None


class LinkEvent(NamedTuple):
    """A link went up or down; up means administratively up *and* carrier (IFF_UP | IFF_RUNNING),
    what `track_interface` needs.  `gone` marks a deleted interface."""

    time: float
    ifname: str
    ifindex: int
    up: bool
    gone: bool = False


Event = Union[AddressEvent, LinkEvent]


def _link_up(flags: int) -> bool:
    return flags & (IFF_UP | IFF_RUNNING) == IFF_UP | IFF_RUNNING


def link_states() -> dict[str, bool]:
    """Every interface of this thread's namespace and whether it is up (same rule as LinkEvent)."""
    states = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            try:
                reply = fcntl.ioctl(s, _SIOCGIFFLAGS, struct.pack("16sH14x", name.encode(), 0))
            except OSError:
                continue  # deleted between the listing and the query
            states[name] = _link_up(struct.unpack_from("H", reply, 16)[0])
    return states


class RtnlMonitor:
    """Address and/or link changes of this namespace, as they happen.

    Iterate with `async for event in monitor` on the event loop, or call `poll(timeout)` from
    a thread of its own when the timestamps matter more than the loop (the lab).  Link events
    are reported only when `up` changes, starting from the state when the monitor opened.  If
    the kernel reports an overrun (ENOBUFS: events were lost), link states are re-read and
    any difference reported, so a missed "down" is never silently kept; that re-read uses
    the namespace of the thread calling, so use the monitor in the namespace it watches.
    """

    def __init__(self, *, addresses: bool = True, links: bool = True) -> None:
        groups = (RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR if addresses else 0) | RTMGRP_LINK
        self.report_addresses = addresses
        self.report_links = links
        kind = socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
        self.sock = socket.socket(socket.AF_NETLINK, kind, socket.NETLINK_ROUTE)
        try:
            set_receive_buffer(self.sock, _MONITOR_RCVBUF)
            self.sock.bind((0, groups))
        except BaseException:
            self.sock.close()
            raise
        # Links are always watched: address events name their interface from this table, which
        # RTM_NEWLINK keeps current (renames included) without a lookup per event.
        self.names: dict[int, str] = {index: name for index, name in socket.if_nameindex()}
        self.links: dict[str, bool] = link_states()
        self.overruns = 0
        """Times the kernel dropped events for want of buffer: a metric worth exporting."""
        self._marshal = MarshalRtnl()
        self._pending: deque[Event] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self.sock)
        self._loop = None
        self.sock.close()

    def __enter__(self) -> RtnlMonitor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def read(self) -> list[Event]:
        """Everything waiting in the socket now, without blocking."""
        events: list[Event] = []
        while True:
            try:
                data = self.sock.recv(_RECV_SIZE)
            except BlockingIOError:
                return events
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise
                self.overruns += 1
                events.extend(self._resync(time.monotonic()))
                continue
            now = time.monotonic()
            for msg in self._marshal.parse(data):
                event = self._event(msg, now)
                if event is not None:
                    events.append(event)

    def poll(self, timeout: float | None = None) -> list[Event]:
        """Wait up to `timeout` seconds for events (None: forever); for a dedicated thread."""
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        poller.poll(None if timeout is None else timeout * 1000)
        return self.read()

    def _event(self, msg, now: float) -> Event | None:
        kind = msg["event"]
        index = msg.get("index")
        if kind in ("RTM_NEWLINK", "RTM_DELLINK"):
            name = msg.get("ifname") or self.names.get(index, str(index))
            gone = kind == "RTM_DELLINK"
            up = not gone and _link_up(msg.get("flags") or 0)
            if gone:
                self.names.pop(index, None)
                self.links.pop(name, None)
            else:
                self.names[index] = name
                if self.links.get(name) == up:
                    return None
                self.links[name] = up
            return LinkEvent(now, name, index, up, gone) if self.report_links else None
        if kind in ("RTM_NEWADDR", "RTM_DELADDR") and self.report_addresses:
            name = self.names.get(index, str(index))
            address, prefixlen, label = msg.get("address"), msg.get("prefixlen"), msg.get("label")
            return AddressEvent(now, kind == "RTM_NEWADDR", name, index, address, prefixlen, label)
        return None

    def _resync(self, now: float) -> list[Event]:
        self.names = {index: name for index, name in socket.if_nameindex()}
        indexes = {name: index for index, name in self.names.items()}
        current = link_states()
        changed = [
            LinkEvent(now, name, indexes.get(name, 0), up) for name, up in current.items() if self.links.get(name) != up
        ]
        changed += [LinkEvent(now, name, 0, False, True) for name in self.links.keys() - current.keys()]
        self.links = current
        return changed if self.report_links else []

    def __aiter__(self) -> RtnlMonitor:
        return self

    async def __anext__(self) -> Event:
        """The next event.  The first call registers a reader callback that stays until
        `close()`, so events are read and stamped as they arrive, however slow the consumer."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(self.sock, self._on_readable)
        while not self._pending:
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._pending.popleft()

    def _on_readable(self) -> None:
        self._pending.extend(self.read())
        if self._pending and self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
