"""Sending many datagrams in one call: the reference twin of `fastvrrp._mmsg` (sendmmsg(2)).

The adverts of instances due in one timer wake-up leave through one `send_batch` call: the
compiled twin makes it one system call, this one loops over `sendmsg`.  Both take the same
arguments -- destinations as packed sockaddr structures and one control message shared by all
datagrams, built by the helpers below -- and both return how many datagrams the kernel took,
stopping at the first refusal, so that the caller can send that one alone and see its error.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence

_CMSGHDR = struct.Struct("@Nii")
_SOCKADDR_IN = struct.Struct("=HH4s8x")
_SOCKADDR_IN6 = struct.Struct("=HHI16sI")


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
