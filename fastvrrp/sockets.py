"""Raw sockets for VRRP: one protocol-112 socket per (interface, family), one packet socket per
interface for gratuitous ARP / unsolicited NA frames, and a receive batch that drains a socket
into the buffers `wire.validate_batch` takes.

Every socket is created in the calling thread's network namespace (see `netns.entered`) and
looks up interfaces with ioctls on that namespace, never through /sys, whose view belongs to
whoever mounted it.
"""

from __future__ import annotations

import errno
import fcntl
import socket
import struct
from array import array
from typing import Iterable

from . import mmsg, wire
from .advert import IPPROTO_VRRP, VRRP_GROUP_V4, VRRP_GROUP_V6, VRRP_TTL

TOS_NETWORK_CONTROL = 0xC0
"""IP precedence 6 / DSCP CS6: adverts are network control traffic and should not queue behind data."""
RCVBUF = 1 << 20
"""A burst of adverts (a flood, hundreds of instances) must wait in the kernel, not be dropped."""
BATCH_CAPACITY = 64
"""Packets drained per call: enough to amortise a wake-up, few enough that timers are not starved."""
SLOT_SIZE = 4096
"""Room for the largest VRRP message (IPv6, 255 addresses: 4088 bytes); longer ones arrive cut short."""

_SIOCGIFHWADDR = 0x8927
_SIOCGIFADDR = 0x8915
_IFREQ = struct.Struct("16s16s")
_IN6_PKTINFO = struct.Struct("16sI")
# Not exported by Python's socket module on every build.
_IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
_IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
_IPV6_CHECKSUM = getattr(socket, "IPV6_CHECKSUM", 7)
_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
_SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)
_IPV6_MULTICAST_ALL = getattr(socket, "IPV6_MULTICAST_ALL", 29)


class InterfaceError(OSError):
    """The interface is missing or lacks the address VRRP sends from (primary IPv4, link-local)."""


def _ifreq(ifname: str, request: int) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            return fcntl.ioctl(s, request, _IFREQ.pack(ifname.encode(), b""))
        except OSError as e:
            raise InterfaceError(e.errno, f"{ifname}: {e.strerror}") from None


def interface_index(ifname: str) -> int:
    try:
        return socket.if_nametoindex(ifname)
    except OSError as e:
        raise InterfaceError(e.errno, f"{ifname}: no such interface") from None


def interface_mac(ifname: str) -> bytes:
    """The 6-byte hardware address: the source of our GARP / NA frames."""
    return _ifreq(ifname, _SIOCGIFHWADDR)[18:24]


def primary_ipv4(ifname: str) -> bytes:
    """The interface's primary IPv4 address (packed): VRRPv2/v3 adverts are sent from it (RFC 5798 §5.1.1.1)."""
    return _ifreq(ifname, _SIOCGIFADDR)[20:24]


def link_local_ipv6(ifname: str) -> bytes:
    """The interface's IPv6 link-local address (packed): the source of IPv6 adverts (RFC 5798 §5.1.2.1).

    Read from this thread's namespace (`/proc/thread-self/net`), and tentative addresses are
    skipped: the kernel refuses to send from them.
    """
    with open("/proc/thread-self/net/if_inet6") as f:
        for line in f:
            addr, _, _, scope, flags, name = line.split()
            if name == ifname and int(scope, 16) == 0x20 and not int(flags, 16) & 0x40:
                return bytes.fromhex(addr)
    raise InterfaceError(f"{ifname}: no usable IPv6 link-local address")


def set_receive_buffer(sock: socket.socket, size: int) -> None:
    """SO_RCVBUFFORCE passes net.core.rmem_max (often 208 KiB) with CAP_NET_ADMIN, which the
    daemon has; without it, SO_RCVBUF gets what the sysctl allows."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, size)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


class VrrpSocket:
    """A raw protocol-112 socket on one interface for one family, joined to the VRRP group.

    TTL / hop limit 255 on every send (RFC 5798 §5.1.1.3, §5.1.2.3), multicast loop off (we
    never want our own adverts), bound to the interface so that another interface's adverts
    never reach this instance, and non-blocking: the daemon drains it from its event loop.

    Not bound to an address: a raw IPv4 socket bound to 10.0.201.1 only receives packets sent
    *to* 10.0.201.1, never the group's.  The source (primary IPv4 / link-local, read when the
    socket opens) is instead put on every send as IP_PKTINFO / IPV6_PKTINFO.
    """

    def __init__(self, ifname: str, family: int, *, rcvbuf: int = RCVBUF) -> None:
        if family not in (4, 6):
            raise ValueError("family must be 4 or 6")
        self.ifname = ifname
        self.family = family
        self.ifindex = interface_index(ifname)
        self.source = primary_ipv4(ifname) if family == 4 else link_local_ipv6(ifname)
        af = socket.AF_INET if family == 4 else socket.AF_INET6
        self.group = socket.inet_pton(af, VRRP_GROUP_V4 if family == 4 else VRRP_GROUP_V6)
        self.sock = socket.socket(af, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, IPPROTO_VRRP)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, _SO_BINDTODEVICE, ifname.encode())
            # Each advert's arrival as the kernel saw it: a backup's Master_Down timer runs
            # from there (RFC 5798 §6.4.2), not from when the loop got round to reading it.
            self.sock.setsockopt(socket.SOL_SOCKET, mmsg.SO_TIMESTAMPNS, 1)
            set_receive_buffer(self.sock, rcvbuf)
            if family == 4:
                self._setup_ipv4()
            else:
                self._setup_ipv6()
        except BaseException:
            self.sock.close()
            raise
        self._source_ancillary = [self.source_ancillary(self.source)]
        self._group_address = self._address(self.group)

    def source_ancillary(self, source: bytes) -> tuple[int, int, bytes]:
        """The IP_PKTINFO / IPV6_PKTINFO control message that sends from `source` (packed, one
        of the interface's addresses) out of this interface."""
        if self.family == 4:
            return (socket.IPPROTO_IP, _IP_PKTINFO, struct.pack("I4s4s", self.ifindex, source, bytes(4)))
        return (socket.IPPROTO_IPV6, mmsg.IPV6_PKTINFO, _IN6_PKTINFO.pack(source, self.ifindex))

    def _setup_ipv4(self) -> None:
        s, ip = self.sock, socket.IPPROTO_IP
        mreqn = struct.pack("4s4si", self.group, self.source, self.ifindex)
        s.setsockopt(ip, socket.IP_ADD_MEMBERSHIP, mreqn)
        s.setsockopt(ip, socket.IP_MULTICAST_IF, mreqn)
        s.setsockopt(ip, socket.IP_MULTICAST_TTL, VRRP_TTL)
        s.setsockopt(ip, socket.IP_TTL, VRRP_TTL)
        s.setsockopt(ip, socket.IP_MULTICAST_LOOP, 0)
        s.setsockopt(ip, _IP_MULTICAST_ALL, 0)  # only the group we joined, not every socket's
        s.setsockopt(ip, socket.IP_TOS, TOS_NETWORK_CONTROL)

    def _setup_ipv6(self) -> None:
        s, ip6 = self.sock, socket.IPPROTO_IPV6
        # Offset -1: the kernel neither fills nor verifies the checksum of protocol 112 (it
        # would for offset 6).  We compute it, and verify it ourselves so that a bad one is
        # counted as chk_err instead of vanishing inside the kernel.
        s.setsockopt(ip6, _IPV6_CHECKSUM, -1)
        s.setsockopt(ip6, _IPV6_RECVHOPLIMIT, 1)
        s.setsockopt(ip6, _IPV6_RECVPKTINFO, 1)
        s.setsockopt(ip6, socket.IPV6_MULTICAST_HOPS, VRRP_TTL)
        s.setsockopt(ip6, socket.IPV6_UNICAST_HOPS, VRRP_TTL)
        s.setsockopt(ip6, socket.IPV6_MULTICAST_LOOP, 0)
        s.setsockopt(ip6, _IPV6_MULTICAST_ALL, 0)
        s.setsockopt(ip6, socket.IPV6_MULTICAST_IF, self.ifindex)
        s.setsockopt(ip6, socket.IPV6_TCLASS, TOS_NETWORK_CONTROL)
        s.setsockopt(ip6, socket.IPV6_JOIN_GROUP, struct.pack("16sI", self.group, self.ifindex))

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> VrrpSocket:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _address(self, dst: bytes) -> tuple:
        if self.family == 4:
            return (socket.inet_ntop(socket.AF_INET, dst), 0)
        scope = self.ifindex if dst[:2] == b"\xfe\x80" or dst[0] == 0xFF else 0
        return (socket.inet_ntop(socket.AF_INET6, dst), 0, 0, scope)

    def send_advert(self, message: bytes, dst: bytes | None = None, source: bytes | None = None) -> None:
        """Send one VRRP message (from `wire.build_advert`) to the group, or to a unicast peer.

        `dst` is packed; its checksum must have been computed for the same destination, and
        from `source` (default: the interface's address), which must be an address of ours.
        Raises OSError as the kernel reports it: ENETUNREACH (IPv4) or EINVAL (IPv6: the
        link-local source vanished) while the link is down, EAGAIN when the send queue is
        full.  The daemon counts it and the next advert tries again: group memberships
        survive a link flap, so the socket need not be reopened.
        """
        address = self._group_address if dst is None else self._address(dst)
        ancillary = self._source_ancillary if source in (None, self.source) else [self.source_ancillary(source)]
        self.sock.sendmsg([message], ancillary, 0, address)


class ReceiveBatch:
    """Preallocated buffers for one drain of a `VrrpSocket`, in `wire.validate_batch`'s layout.

    Packet i lies at `buffer[offsets[i]:offsets[i] + lengths[i]]` (a whole IPv4 packet, or an
    IPv6 VRRP payload); for IPv6, `addrs[32 i:32 i + 32]` holds source then destination from
    the ancillary data and `hop_limits[i]` the received hop limit; `stamps[i]` is its kernel
    arrival stamp (CLOCK_REALTIME s, 0.0 when unstamped).  After `drain`, the first `count`
    entries hold the packets of `family`; `validate` passes views of them, no copies.
    """

    def __init__(self, capacity: int = BATCH_CAPACITY, slot_size: int = SLOT_SIZE) -> None:
        self.capacity = capacity
        self.slot_size = slot_size
        self.buffer = bytearray(capacity * slot_size)
        self.offsets = array("I", range(0, capacity * slot_size, slot_size))
        self.lengths = array("I", bytes(4 * capacity))
        self.results = array("B", bytes(capacity))
        self.addrs = bytearray(32 * capacity)
        self.hop_limits = array("B", bytes(capacity))
        self.stamps = array("d", bytes(8 * capacity))
        self.records = bytearray(wire.RECORD_SIZE * capacity)
        self.count = 0
        self.family = 4
        self._slots = [memoryview(self.buffer)[o : o + slot_size] for o in self.offsets]

    def drain(self, vsock: VrrpSocket, limit: int | None = None) -> int:
        """Read up to `limit` (default: capacity) waiting packets without blocking; returns how many.

        Bounded on purpose: a flood must not keep the event loop here while advert timers are
        due (keepalived's starvation under 20 kpps).  Call again on the next readiness.
        """
        limit = self.capacity if limit is None else min(limit, self.capacity)
        n = mmsg.receive_batch(
            vsock.sock,
            vsock.family,
            self.buffer,
            self.slot_size,
            limit,
            self.lengths,
            self.stamps,
            self.addrs,
            self.hop_limits,
        )
        self.count = n
        self.family = vsock.family
        return n

    def validate(self, table: bytes | None = None, *, records: bool = False) -> int:
        """`wire.validate_batch` over the drained packets; `results[:count]` holds each verdict."""
        n = self.count
        return wire.validate_batch(
            self.buffer,
            memoryview(self.offsets)[:n],
            memoryview(self.lengths)[:n],
            memoryview(self.results)[:n],
            table,
            family=self.family,
            addrs=memoryview(self.addrs)[: 32 * n],
            hop_limits=memoryview(self.hop_limits)[:n],
            records=memoryview(self.records)[: wire.RECORD_SIZE * n] if records else None,
        )

    def packets(self) -> list[memoryview]:
        """Every packet of the last drain, in order (views, as `packet`)."""
        lengths = self.lengths
        return [slot[: lengths[i]] for i, slot in enumerate(self._slots[: self.count])]

    def packet(self, i: int) -> memoryview:
        """Packet i of the last drain (a view: copy it if it must outlive the next drain)."""
        if not 0 <= i < self.count:
            raise IndexError(i)
        return self._slots[i][: self.lengths[i]]


class PacketSocket:
    """An AF_PACKET socket that only sends whole Ethernet frames on one interface.

    Protocol 0 means the kernel delivers nothing to it: sending GARPs must not cost us a copy
    of every frame on the segment.
    """

    def __init__(self, ifname: str) -> None:
        self.ifname = ifname
        self.ifindex = interface_index(ifname)
        self.mac = interface_mac(ifname)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, 0)
        try:
            self.sock.bind((ifname, 0))
        except BaseException:
            self.sock.close()
            raise

    def send_frames(self, frames: Iterable[bytes]) -> int:
        """Send each frame as it is; returns how many the kernel took.

        Stops at the first EAGAIN / ENOBUFS rather than spinning: GARPs are repeated anyway.
        """
        sent = 0
        for frame in frames:
            try:
                self.sock.send(frame)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as e:
                if e.errno == errno.ENOBUFS:  # the device queue is full
                    break
                raise
            sent += 1
        return sent

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> PacketSocket:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
