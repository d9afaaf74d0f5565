"""Refuse a second daemon on the same instances, without colliding across network namespaces.

An abstract Unix socket name lives in the network namespace of the socket that binds it, and
disappears when the process dies (no stale lock after a crash).  One name per (interface,
family, VRID) means two daemons in one namespace cannot both run an instance, while the lab and
the tests run one daemon per namespace on one host without any shared file.
"""

from __future__ import annotations

import socket
from typing import Iterable


class AlreadyRunning(RuntimeError):
    """Another fastvrrp in this network namespace owns one of our instances."""


def instance_lock_name(interface: str, family: int, vrid: int) -> str:
    return f"fastvrrp/vrrp/{interface}/ipv{family}/{vrid}"


def claim(names: Iterable[str]) -> list[socket.socket]:
    """Bind every name; on the first one taken, release what was bound and raise AlreadyRunning."""
    held: list[socket.socket] = []
    for name in names:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            sock.bind("\0" + name)
        except OSError:
            sock.close()
            for other in held:
                other.close()
            raise AlreadyRunning(f"another fastvrrp in this network namespace holds {name}") from None
        held.append(sock)
    return held
