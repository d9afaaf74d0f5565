"""A sub-millisecond timer source for the event loop: Linux `timerfd` on CLOCK_MONOTONIC.

uvloop's (libuv's) timers are millisecond-quantised; a 10 ms advert timer scheduled with
`call_at` can fire up to ~1 ms off.  A timerfd armed at an absolute CLOCK_MONOTONIC deadline
and watched with `loop.add_reader` is not quantised: it fires as late as the wake-up is (tens
of microseconds on bare metal, 50-250 on the benchmark VMs; the daemon arms it that much early,
see `WakeLead`).  `time.monotonic()` reads the same clock, so deadlines from the
sans-IO core can be used as they are.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

CLOCK_MONOTONIC = 1
TFD_NONBLOCK = 0o4000
TFD_CLOEXEC = 0o2000000
TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.timerfd_settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec), ctypes.c_void_p]


class TimerFd:
    """One-shot absolute timer; `arm(deadline)` re-arms, `disarm()` stops, `fileno()` for add_reader."""

    def __init__(self) -> None:
        fd = _libc.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self._fd = fd
        self._spec = _Itimerspec()
        self.deadline: float | None = None

    def fileno(self) -> int:
        return self._fd

    def arm(self, deadline: float) -> None:
        """Fire at `deadline` (seconds of CLOCK_MONOTONIC, i.e. `time.monotonic()`); past is at once."""
        if deadline == self.deadline:
            return
        ns = max(int(deadline * 1e9), 1)  # 0 would disarm
        self._spec.it_value.tv_sec, self._spec.it_value.tv_nsec = divmod(ns, 1_000_000_000)
        self._settime()
        self.deadline = deadline

    def disarm(self) -> None:
        self._spec.it_value.tv_sec = self._spec.it_value.tv_nsec = 0
        self._settime()
        self.deadline = None

    def consume(self) -> None:
        """Read the expiration count so the fd stops being readable."""
        try:
            os.read(self._fd, 8)
        except BlockingIOError:
            pass
        self.deadline = None

    def close(self) -> None:
        os.close(self._fd)

    def _settime(self) -> None:
        if _libc.timerfd_settime(self._fd, TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None) < 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")


class WakeLead:
    """How long before a deadline to arm the timer: this machine's recent wake-up lateness.

    A wake-up is late by what the host takes to run the vCPU and the thread again, and the
    longer the thread slept, the later (measured on a 2-vCPU KVM guest: ~50 µs after 10 ms of
    sleep, ~220 µs after 40-400 ms).  The daemon arms its timer `lead(sleep)` early and waits
    out the rest itself, so that a takeover or an advert is late by neither.  Short and long
    sleeps keep separate estimates: the second largest of their last `WINDOW` wake-ups (about
    the 90th percentile) plus `MARGIN`, within [`FLOOR`, `CEILING`].

    A backup waiting out its master's silence is a class of its own: it wakes only when the
    master may really be gone (a deadline pushed back costs no wake-up), its work before the
    deadline runs on a cold cache, and the takeover is what the daemon is judged by.  It takes
    the largest of its last `TAKEOVER_WINDOW` samples, within [`FLOOR`, `TAKEOVER_CEILING`]:
    a millisecond of spinning per takeover buys the deadline.
    """

    LONG_SLEEP = 0.02
    WINDOW = 16
    TAKEOVER_WINDOW = 8
    MARGIN = 0.00005
    FLOOR = 0.0001
    CEILING = 0.001
    TAKEOVER_CEILING = 0.002

    def __init__(self, short: float = 0.0002, long: float = 0.0004, takeover: float = 0.001) -> None:
        self._leads = [short, long, takeover]
        self._late: tuple[list[float], list[float], list[float]] = ([], [], [])

    def lead(self, sleep: float, takeover: bool = False) -> float:
        """Seconds before the deadline to wake, for a sleep of `sleep` seconds."""
        return self._leads[2 if takeover else sleep >= self.LONG_SLEEP]

    def observe(self, sleep: float, late: float, takeover: bool = False) -> None:
        """Ready `late` seconds after the time it was armed for, `sleep` seconds after arming."""
        kind = 2 if takeover else int(sleep >= self.LONG_SLEEP)
        samples = self._late[kind]
        samples.append(late)
        window = self.TAKEOVER_WINDOW if takeover else self.WINDOW
        if len(samples) > window:
            del samples[0]
        if takeover:
            self._leads[2] = min(self.TAKEOVER_CEILING, max(self.FLOOR, max(samples) + self.MARGIN))
        elif len(samples) == window:
            estimate = sorted(samples)[-2] + self.MARGIN
            self._leads[kind] = min(self.CEILING, max(self.FLOOR, estimate))
