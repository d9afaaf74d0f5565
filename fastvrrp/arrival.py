"""When did the last packet read from a socket arrive, on the clock the timers use.

A backup's Master_Down timer runs from the master's last advert (RFC 5798 §6.4.2).  Stamping
the advert when the event loop gets round to it adds the loop's wake-up and the drain to every
takeover; the kernel already stamped the packet on arrival.  SIOCGSTAMPNS reads that stamp
for the last packet received (and turns stamping on at first use), on CLOCK_REALTIME; it is
put on CLOCK_MONOTONIC with an offset read in the same call.  The result never exceeds `now`,
and if the offset moved by more than `STEP` since the previous call (the wall clock was stepped,
so the conversion cannot be trusted) `now` is used as before.
"""

from __future__ import annotations

import fcntl
import socket
import struct
import time

SIOCGSTAMPNS = 0x8907
STEP = 0.001
"""A change of the realtime-monotonic offset larger than this (s) is a clock step, not NTP slew."""
_TIMESPEC = struct.Struct("@qq")
_EMPTY = bytes(_TIMESPEC.size)


class ArrivalClock:
    """Arrival time (monotonic seconds) of the last packet read from a socket; one per daemon."""

    def __init__(self) -> None:
        self._offset: float | None = None

    def last(self, sock: socket.socket, now: float) -> float:
        """The arrival of the last packet `sock` returned, or `now` when it cannot be known."""
        try:
            seconds, nanoseconds = _TIMESPEC.unpack(fcntl.ioctl(sock, SIOCGSTAMPNS, _EMPTY))
        except OSError:  # ENOENT: nothing stamped yet (stamping starts with the first call)
            return now
        offset = realtime_offset()
        previous, self._offset = self._offset, offset
        if previous is None or abs(offset - previous) > STEP:
            return now
        return min(now, seconds + nanoseconds * 1e-9 - offset)


def realtime_offset(samples: int = 3) -> float:
    """CLOCK_REALTIME minus CLOCK_MONOTONIC (s), from the tightest of `samples` bracketed reads.

    A preemption between the two clock reads would shift one sample by the time the thread
    was off the CPU (and here look like a clock step); bracketing the realtime read between
    two monotonic reads bounds each sample's error by the bracket's width.
    """
    best_width, best = float("inf"), 0.0
    for _ in range(samples):
        before = time.monotonic()
        realtime = time.time()
        after = time.monotonic()
        if after - before < best_width:
            best_width, best = after - before, realtime - (before + after) / 2
    return best
