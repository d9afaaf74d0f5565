"""Per-router sources of the timeline: the daemon's log lines and the VIP's netlink events.

Log lines are stamped when the lab reads them from the daemon's pipe (both fastvrrp and
keepalived write each line at once), so the two routers' lines share one clock instead of
two syslogs' wall clocks.  VIP changes come from an rtnetlink listener opened inside the
router's namespace, stamped on receipt by `RtnlMonitor`: the kernel stamps no netlink message,
so the error is the listener thread's wake-up latency, well under a millisecond on an idle box.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import netns
from ..vips import AddressEvent, RtnlMonitor
from .timeline import LOG, STATE, VIP_ADD, VIP_DEL, Event

_STATE = re.compile(r"Entering (\w+) STATE(.*)$")
_UNSHOWN_PREFIXES = ("Sending", "sending gratuitous")
"""Gratuitous ARPs are shown from the wire, where the client sees them."""
_NUMBERS = re.compile(r"\d+")


@dataclass
class LogReader:
    """Turns one router's log lines into events; repeats of a line print at most once a second."""

    role: str
    instance: str
    repeat_s: float = 1.0
    _last_shown: dict[str, float] = field(default_factory=dict)

    def event(self, t: float, line: str) -> Event | None:
        marker = f"({self.instance}) "
        at = line.find(marker)
        if at < 0:
            return None
        message = line[at + len(marker) :].rstrip()
        state = _STATE.search(message)
        if state:
            return Event(t, self.role, STATE, state.group(1) + state.group(2), {"state": state.group(1)})
        if message.startswith(_UNSHOWN_PREFIXES):
            return Event(t, self.role, LOG, message, shown=False)
        shape = _NUMBERS.sub("#", message)
        shown = t - self._last_shown.get(shape, float("-inf")) >= self.repeat_s
        if shown:
            self._last_shown[shape] = t
        return Event(t, self.role, LOG, message, shown=shown)


class VipWatcher:
    """A thread listening to one router namespace's address events for the VIP."""

    def __init__(self, ns: str, role: str, vip: str, emit: Callable[[Event], None]) -> None:
        self.role, self.vip, self.emit = role, vip, emit
        with netns.entered(ns):
            self.monitor = RtnlMonitor(links=False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"vips-{role}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join()
        self.monitor.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            for event in self.monitor.poll(0.1):
                if isinstance(event, AddressEvent) and event.address == self.vip:
                    kind = VIP_ADD if event.added else VIP_DEL
                    text = f"{event.address}/{event.prefixlen} on {event.ifname}"
                    self.emit(Event(event.time, self.role, kind, text))
