"""Events from every source on one clock (`time.monotonic()`), printed live in time order.

Sources report from their own threads and not in order: a packet's kernel timestamp reaches us
after the daemon's log line about it, a ping loss is known only when replies resume.  The
printer therefore holds events for a short reorder window and prints them sorted; an event
that arrives later than the window (a loss run, known at its end) is stamped with the moment it
became known, so the printed order stays the time order.
"""

from __future__ import annotations

import heapq
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TextIO

STEP = "step"
STATE = "state"
LOG = "log"
VIP_ADD = "vip+"
VIP_DEL = "vip-"
ADVERT = "advert"
PRIO0 = "prio 0"
GARP = "garp"
UNSOLICITED_NA = "na"
PING = "ping"
LOSS = "loss"
NOTE = "note"

COALESCED = {GARP, UNSOLICITED_NA}
"""Bursts (5 GARPs at once) print as one line with a count."""
BURST_S = 0.1
REORDER_WINDOW_S = 0.15


@dataclass(frozen=True)
class Event:
    """Something seen at `t` (monotonic seconds) by `source` (`r1`, `r2`, `wire`, `client`, `lab`)."""

    t: float
    source: str
    kind: str
    text: str
    data: dict = field(default_factory=dict, compare=False)
    shown: bool = True
    """False for events kept for the report but too frequent to print (every advert)."""


def merge(*streams: Iterable[Event]) -> list[Event]:
    """Streams each in time order → one list in time order; ties keep the streams' order."""
    return list(heapq.merge(*streams, key=lambda e: e.t))


def coalesce(events: Iterable[Event]) -> list[tuple[Event, int]]:
    """Events of a burst kind with the same source and text within BURST_S of the burst's first
    → (first, count), even with other events in between (a VIP added mid-burst)."""
    out: list[tuple[Event, int]] = []
    bursts: dict[tuple[str, str, str], int] = {}
    for event in events:
        key = (event.kind, event.source, event.text)
        at = bursts.get(key)
        if event.kind in COALESCED and at is not None and event.t - out[at][0].t <= BURST_S:
            out[at] = (out[at][0], out[at][1] + 1)
            continue
        bursts[key] = len(out)
        out.append((event, 1))
    return out


def format_event(event: Event, t0: float, count: int = 1) -> str:
    """`  +3.921 s  r1      vip+    10.0.201.100 on em1` (milliseconds since the lab started)."""
    times = f" (x{count})" if count > 1 else ""
    if event.kind == STEP:
        return f"{event.t - t0:+9.3f} s  {'':<7} ── {event.text}"
    return f"{event.t - t0:+9.3f} s  {event.source:<7} {event.kind:<7} {event.text}{times}"


class Timeline:
    """Collects events from any thread; `start()` prints them live, `close()` flushes the rest."""

    def __init__(self, t0: float | None = None, out: TextIO = sys.stdout) -> None:
        self.t0 = time.monotonic() if t0 is None else t0
        self.out = out
        self.events: list[Event] = []
        self._pending: list[Event] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._printer: threading.Thread | None = None

    def add(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)
            if event.shown:
                self._pending.append(event)

    def note(self, source: str, kind: str, text: str, **data) -> Event:
        """Add an event happening now (the lab's own actions)."""
        event = Event(time.monotonic(), source, kind, text, data)
        self.add(event)
        return event

    def sorted_events(self) -> list[Event]:
        with self._lock:
            return sorted(self.events, key=lambda e: e.t)

    def start(self) -> None:
        self._printer = threading.Thread(target=self._print_loop, name="timeline", daemon=True)
        self._printer.start()

    def _print_loop(self) -> None:
        while not self._stop.wait(0.05):
            self.flush(time.monotonic() - REORDER_WINDOW_S)

    def flush(self, until: float = float("inf")) -> None:
        """Print the held events stamped before `until`, in time order."""
        with self._lock:
            self._pending.sort(key=lambda e: e.t)
            cut = 0
            while cut < len(self._pending) and self._pending[cut].t <= until:
                cut += 1
            ready, self._pending = self._pending[:cut], self._pending[cut:]
        for event, count in coalesce(ready):
            print(format_event(event, self.t0, count), file=self.out, flush=True)

    def close(self) -> None:
        self._stop.set()
        if self._printer is not None:
            self._printer.join()
            self._printer = None
        self.flush()
