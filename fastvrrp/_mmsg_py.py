"""Many datagrams per call: the reference twin of `fastvrrp._mmsg` (sendmmsg(2), recvmmsg(2)).

The adverts of instances due in one timer wake-up leave through one `send_batch` call: the
compiled twin makes it one system call, this one loops over `sendmsg`.  Both take the same
arguments -- destinations as packed sockaddr structures and one control message shared by all
datagrams, built by the helpers below -- and both return how many datagrams the kernel took,
stopping at the first refusal, so that the caller can send that one alone and see its error.

`receive_batch` is the other direction: what one readiness of a socket delivered, each
datagram with its kernel arrival stamp (SO_TIMESTAMPNS) and, for IPv6, the addresses and hop
limit the ancillary data carries -- one recvmmsg(2) in the compiled twin, a `recvmsg_into`
loop here.
"""

from __future__ import annotations

import socket
import struct
import sys
from array import array
from collections.abc import Sequence

_CMSGHDR = struct.Struct("@Nii")
_SOCKADDR_IN = struct.Struct("=HH4s8x")
_SOCKADDR_IN6 = struct.Struct("=HHI16sI")
_TIMESPEC = struct.Struct("@qq")

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
"""Receive stamps as struct timespec on CLOCK_REALTIME (the 64-bit `_OLD` layout); not exported
by every Python build."""
IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)
IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
_RECEIVE_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size) + socket.CMSG_SPACE(20) + socket.CMSG_SPACE(4)


def sockaddr(family: int, address: bytes, scope_id: int = 0) -> bytes:
    """A packed sockaddr_in / sockaddr_in6 (port 0: raw sockets have none) for `address`."""
    if family == socket.AF_INET:
        return _SOCKADDR_IN.pack(socket.AF_INET, 0, address)
    return _SOCKADDR_IN6.pack(socket.AF_INET6, 0, 0, address, scope_id)


def control_message(level: int, kind: int, data: bytes) -> bytes:
    """One control message (cmsghdr + data, padded to CMSG_SPACE), as sendmsg(2) reads it."""
    header = _CMSGHDR.pack(socket.CMSG_LEN(len(data)), level, kind)
    return (header + data).ljust(socket.CMSG_SPACE(len(data)), b"\0")


def _address(packed: bytes) -> tuple:
    if struct.unpack_from("=H", packed)[0] == socket.AF_INET:
        return (socket.inet_ntop(socket.AF_INET, packed[4:8]), 0)
    _, _, flow, address, scope = _SOCKADDR_IN6.unpack(packed)
    return (socket.inet_ntop(socket.AF_INET6, address), 0, flow, scope)


def _ancillary(control: bytes) -> list[tuple[int, int, bytes]]:
    length, level, kind = _CMSGHDR.unpack_from(control)
    return [(level, kind, control[_CMSGHDR.size : length])]


def send_batch(sock: socket.socket, messages: Sequence[bytes], sockaddrs: Sequence[bytes], control: bytes) -> int:
    """Send messages[i] to sockaddrs[i], each with `control`; how many were sent before a refusal."""
    if len(messages) != len(sockaddrs):
        raise ValueError("one destination per message")
    ancillary = _ancillary(control) if control else []
    for i, (message, packed) in enumerate(zip(messages, sockaddrs)):
        try:
            sock.sendmsg([message], ancillary, 0, _address(packed))
        except OSError:
            return i
    return len(messages)


def receive_batch(
    sock: socket.socket,
    family: int,
    buffer: bytearray,
    slot_size: int,
    limit: int,
    lengths: array,
    stamps: array,
    addrs: bytearray,
    hop_limits: array,
) -> int:
    """Read up to `limit` waiting datagrams without blocking; how many were read.

    Datagram i lands in `buffer[i * slot_size:]` (cut to `slot_size`), its length in
    `lengths[i]` and its arrival in `stamps[i]` (CLOCK_REALTIME seconds, 0.0 when unstamped).
    On an IPv6 socket (`family` 6; 4 for any other) `addrs[32 i:32 i + 32]` receives source then destination and
    `hop_limits[i]` the hop limit (0 when the ancillary data lacks it).  An error after some
    datagrams were read is left for the next call, as recvmmsg(2) does.
    """
    view = memoryview(buffer)
    v6 = family == 6
    limit = min(limit, len(lengths), len(stamps), len(buffer) // slot_size)
    if v6:
        limit = min(limit, len(addrs) // 32, len(hop_limits))
    n = 0
    while n < limit:
        try:
            size, ancillary, _, source = sock.recvmsg_into(
                [view[n * slot_size : (n + 1) * slot_size]], _RECEIVE_ANCILLARY, socket.MSG_DONTWAIT
            )
        except BlockingIOError:
            break
        except InterruptedError:
            continue
        except OSError:
            if n:
                break
            raise
        lengths[n] = size
        stamps[n] = 0.0
        base = 32 * n
        if v6:
            addrs[base : base + 16] = socket.inet_pton(socket.AF_INET6, source[0].partition("%")[0])
            addrs[base + 16 : base + 32] = bytes(16)
            hop_limits[n] = 0
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanoseconds = _TIMESPEC.unpack_from(data)
                stamps[n] = seconds + nanoseconds * 1e-9
            elif v6 and level == socket.IPPROTO_IPV6:
                if kind == IPV6_PKTINFO:
                    addrs[base + 16 : base + 32] = data[:16]
                elif kind == IPV6_HOPLIMIT:
                    hop_limits[n] = int.from_bytes(data[:4], sys.byteorder)
        n += 1
    return n
