"""Batch sending and receiving: the compiled `_mmsg` (sendmmsg, recvmmsg) when built and allowed,
else `_mmsg_py`.

`IMPLEMENTATION` says which one answered; `FASTVRRP_NO_EXTENSIONS=1` forces the pure one, as
for the wire codec.
"""

from __future__ import annotations

from ._mmsg_py import IPV6_HOPLIMIT, IPV6_PKTINFO, SO_TIMESTAMPNS
from .wire import NO_EXTENSIONS

if NO_EXTENSIONS:
    from ._mmsg_py import control_message, receive_batch, send_batch, sockaddr

    IMPLEMENTATION = "python"
else:
    try:
        from ._mmsg import control_message, receive_batch, send_batch, sockaddr
    except ImportError:
        from ._mmsg_py import control_message, receive_batch, send_batch, sockaddr

        IMPLEMENTATION = "python"
    else:
        IMPLEMENTATION = "cython"

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
