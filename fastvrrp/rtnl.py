"""VIP add/remove on the event loop's own thread: hand-built rtnetlink requests, acks read by a
reader callback.

Why not pyroute2 (`vips.VipManager`) for this: its asyncio API cannot run on uvloop (uvloop
refuses a datagram endpoint for AF_NETLINK), so it would need a thread of its own, and a
takeover is judged by when the VIP appears: every hop costs a scheduler wake-up (the loop hands
the request over, the other thread must win the GIL, marshal it in Python and hand the result
back), milliseconds each on a busy machine (measured: 1-4 ms after the first advert).  The kernel applies an address
change inside the `sendmsg` that carries it (tens of microseconds), so the request goes out from
the loop at once and only the ack is awaited.  Same contract as `VipManager.add/remove`:
idempotent, `InterfaceGone` when the device is missing, `VipError` otherwise.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import socket
import struct

from .vips import IFA_F_NODAD, InterfaceGone, Vip, VipError, _check_label

RTM_NEWADDR = 20
RTM_DELADDR = 21
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_LABEL = 3
_NLMSGHDR = struct.Struct("=IHHII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTATTR = struct.Struct("=HH")
_SEQ = struct.Struct("=I")
_RCVBUF = 4 << 20
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_SOL_NETLINK = 270
_NETLINK_CAP_ACK = 10
TRANSIENT = frozenset({errno.ENOBUFS, errno.ENOMEM, errno.EAGAIN, errno.EBUSY})
"""Answers after which the same request is sent again: ENOBUFS says acks were lost (the changes
themselves were most likely applied, and a repeat is idempotent)."""
RETRIES = 3


def _attribute(kind: int, payload: bytes) -> bytes:
    size = _RTATTR.size + len(payload)
    return _RTATTR.pack(size, kind) + payload + bytes(-size % 4)


def address_request(kind: int, seq: int, ifindex: int, vip: Vip) -> bytes:
    """One RTM_NEWADDR / RTM_DELADDR message for `vip` on `ifindex`, asking for an ack.

    As `ip addr add` sends it: IFA_LOCAL and IFA_ADDRESS both the VIP (no peer), the label for
    IPv4, IFA_F_NODAD for IPv6 (the address moves between routers and must answer at once).
    """
    body = _request_body(kind, ifindex, vip)
    return body[:8] + _SEQ.pack(seq) + body[12:]  # nlmsghdr: length, type, flags, then seq


@functools.lru_cache(maxsize=4096)
def _request_body(kind: int, ifindex: int, vip: Vip) -> bytes:
    """The request with sequence number 0, built once: a takeover only fills the number in."""
    packed = vip.interface.ip.packed
    flags = IFA_F_NODAD if vip.family == socket.AF_INET6 else 0
    body = _IFADDRMSG.pack(vip.family, vip.prefixlen, flags, 0, ifindex)
    body += _attribute(IFA_LOCAL, packed) + _attribute(IFA_ADDRESS, packed)
    if vip.label and vip.family == socket.AF_INET:
        body += _attribute(IFA_LABEL, vip.label.encode() + b"\0")
    nl_flags = NLM_F_REQUEST | NLM_F_ACK | (NLM_F_CREATE | NLM_F_EXCL if kind == RTM_NEWADDR else 0)
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, nl_flags, 0, 0) + body


class AddressSocket:
    """A non-blocking rtnetlink socket of the calling thread's namespace, served by `loop`."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        kind = socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
        self.sock = socket.socket(socket.AF_NETLINK, kind, socket.NETLINK_ROUTE)
        try:
            # A takeover of many VIPs sends every request before reading any ack: room for
            # thousands of acks, each without a copy of its request (NETLINK_CAP_ACK).
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _RCVBUF)
            except PermissionError:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
            self.sock.setsockopt(_SOL_NETLINK, _NETLINK_CAP_ACK, 1)
            self.sock.bind((0, 0))
        except BaseException:
            self.sock.close()
            raise
        self._seq = 0
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._indexes: dict[str, int] = {}
        self._serial = asyncio.Lock()
        loop.add_reader(self.sock.fileno(), self._on_readable)

    async def add(self, ifname: str, vip: Vip) -> bool:
        """Put `vip` on `ifname`; False if it was already there."""
        return await self.finish_add(await self.submit_add(ifname, vip), ifname, vip)

    async def finish_add(self, code: int, ifname: str, vip: Vip) -> bool:
        """Judge the kernel's answer to a sent add, after asking again where the answer allows."""
        return self.added(await self._again(code, RTM_NEWADDR, ifname, vip, "add"), ifname, vip)

    def submit_add(self, ifname: str, vip: Vip) -> asyncio.Future[int]:
        """Send the request now (the kernel applies it within this call); the future gives its
        answer, 0 or an errno, for `added` to judge.  Raises at once if it cannot be sent."""
        return self.send(self.prepare_add(ifname, vip), ifname, vip)

    def prepare_add(self, ifname: str, vip: Vip) -> bytes:
        """The add request, numbered and ready for `send`.  A backup builds it while it waits
        out its master's silence: at the deadline only the system call follows the advert."""
        _check_label(ifname, vip.label)
        return self._request(RTM_NEWADDR, ifname, vip, "add")

    def send(self, request: bytes, ifname: str, vip: Vip, action: str = "add") -> asyncio.Future[int]:
        """Send a request from `prepare_add` (or `_request`); the future gives the kernel's answer."""
        try:
            self.sock.send(request)
        except OSError as e:
            raise VipError(e.errno or errno.EIO, ifname, vip, action) from None
        # Only the loop reads the ack (`_on_readable`), after this returns: the waiter is
        # registered after the system call, which then follows the caller's advert at once.
        future = self._pending[_SEQ.unpack_from(request, 8)[0]] = self._loop.create_future()
        return future

    def added(self, code: int, ifname: str, vip: Vip) -> bool:
        """The kernel's answer to an add: True if put on, False if it was already there."""
        if code in (0, errno.EEXIST):
            return code == 0
        raise self._error(code, ifname, vip, "add")

    async def remove(self, ifname: str, vip: Vip) -> bool:
        """Take `vip` off `ifname`; False if it was not there."""
        code = await self._submit(RTM_DELADDR, ifname, vip, "remove")
        code = await self._again(code, RTM_DELADDR, ifname, vip, "remove")
        if code in (0, errno.EADDRNOTAVAIL):
            return code == 0
        raise self._error(code, ifname, vip, "remove")

    def forget(self, ifname: str) -> None:
        """Look `ifname`'s index up again next time (the kernel answered ENODEV: re-created?)."""
        self._indexes.pop(ifname, None)

    async def _again(self, code: int, kind: int, ifname: str, vip: Vip, action: str) -> int:
        """Send the request again after a stale interface index (ENODEV for a cached one: the
        device re-created?) or a `TRANSIENT` answer, up to `RETRIES` times.  One request at a
        time: the burst that overflowed the acks must not be repeated as a burst."""
        for _ in range(RETRIES):
            if code == errno.ENODEV and ifname in self._indexes:
                self.forget(ifname)
            elif code not in TRANSIENT:
                break
            async with self._serial:
                code = await self._submit(kind, ifname, vip, action)
        return code

    def _submit(self, kind: int, ifname: str, vip: Vip, action: str) -> asyncio.Future[int]:
        return self.send(self._request(kind, ifname, vip, action), ifname, vip, action)

    def _request(self, kind: int, ifname: str, vip: Vip, action: str) -> bytes:
        # The index is cached (a lookup opens a socket: three system calls on a takeover's path);
        # a re-created interface has a new one, which `forget` makes the next request find.
        ifindex = self._indexes.get(ifname)
        if ifindex is None:
            try:
                ifindex = self._indexes[ifname] = socket.if_nametoindex(ifname)
            except OSError:
                raise InterfaceGone(errno.ENODEV, ifname, vip, action) from None
        self._seq = self._seq % 0xFFFFFFFF + 1
        return address_request(kind, self._seq, ifindex, vip)

    def _on_readable(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise
                # Acks were lost: fail every waiter rather than leave it hanging.
                for future in self._pending.values():
                    if not future.done():
                        future.set_result(errno.ENOBUFS)
                self._pending.clear()
                continue
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, kind, _, seq, _ = _NLMSGHDR.unpack_from(data, offset)
                if length < _NLMSGHDR.size:
                    break
                if kind == NLMSG_ERROR and length >= _NLMSGHDR.size + 4:
                    code = -struct.unpack_from("=i", data, offset + _NLMSGHDR.size)[0]
                    future = self._pending.pop(seq, None)
                    if future is not None and not future.done():
                        future.set_result(code)
                offset += (length + 3) & ~3

    @staticmethod
    def _error(code: int, ifname: str, vip: Vip, action: str) -> VipError:
        cls = InterfaceGone if code == errno.ENODEV else VipError
        return cls(code, ifname, vip, action)

    def close(self) -> None:
        if not self._loop.is_closed():
            self._loop.remove_reader(self.sock.fileno())
        for future in self._pending.values():
            if not future.done():
                future.cancel()
        self._pending.clear()
        self.sock.close()
