"""When did a packet arrive, on the clock the timers use.

A backup's Master_Down timer runs from the master's last advert (RFC 5798 §6.4.2).  Stamping
the advert when the event loop gets round to it adds the loop's wake-up and the drain to every
takeover; the kernel already stamped the packet on arrival (SO_TIMESTAMPNS, read with it by
`mmsg.receive_batch`), on CLOCK_REALTIME.  `ArrivalClock` puts those stamps on CLOCK_MONOTONIC
with an offset read once per batch; if the offset moved by more than `STEP` since the previous
batch (the wall clock was stepped, so the conversion cannot be trusted) the read time is used.
"""

from __future__ import annotations

import time

STEP = 0.001
"""A change of the realtime-monotonic offset larger than this (s) is a clock step, not NTP slew."""


class ArrivalClock:
    """Converts kernel receive stamps to monotonic seconds; one per daemon."""

    def __init__(self) -> None:
        self._offset: float | None = None

    def offset(self) -> float | None:
        """CLOCK_REALTIME minus CLOCK_MONOTONIC now, or None when the wall clock just stepped."""
        offset = realtime_offset()
        previous, self._offset = self._offset, offset
        if previous is None or abs(offset - previous) > STEP:
            return None
        return offset

    @staticmethod
    def arrival(stamp: float, offset: float | None, now: float) -> float:
        """The monotonic arrival of a packet stamped `stamp` (0.0: unstamped), never after `now`."""
        if not stamp or offset is None:
            return now
        arrived = stamp - offset
        return arrived if arrived < now else now


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
