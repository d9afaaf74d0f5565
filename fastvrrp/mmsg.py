"""Batch sending: the compiled `_mmsg` (sendmmsg) when built and allowed, else `_mmsg_py`.

`IMPLEMENTATION` says which one answered; `FASTVRRP_NO_EXTENSIONS=1` forces the pure one, as
for the wire codec.
"""

from __future__ import annotations

from .wire import NO_EXTENSIONS

if NO_EXTENSIONS:
    from ._mmsg_py import control_message, send_batch, sockaddr

    IMPLEMENTATION = "python"
else:
    try:
        from ._mmsg import control_message, send_batch, sockaddr
    except ImportError:
        from ._mmsg_py import control_message, send_batch, sockaddr

        IMPLEMENTATION = "python"
    else:
        IMPLEMENTATION = "cython"

__all__ = ["IMPLEMENTATION", "control_message", "send_batch", "sockaddr"]
