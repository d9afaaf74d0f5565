"""Batch sending and receiving: the compiled `_mmsg` (sendmmsg, recvmmsg) when built and allowed,
else `_mmsg_py`.

`IMPLEMENTATION` says which one answered; `FASTVRRP_NO_EXTENSIONS=1` forces the pure one, as
for the wire codec.
"""

from __future__ import annotations

from ._mmsg_py import IPV6_HOPLIMIT, IPV6_PKTINFO, SO_TIMESTAMPNS
from .twins import load

_twin, IMPLEMENTATION = load("mmsg")
control_message = _twin.control_message
receive_batch = _twin.receive_batch
send_batch = _twin.send_batch
sockaddr = _twin.sockaddr

__all__ = [
    "IMPLEMENTATION",
    "IPV6_HOPLIMIT",
    "IPV6_PKTINFO",
    "SO_TIMESTAMPNS",
    "control_message",
    "receive_batch",
    "send_batch",
    "sockaddr",
]
