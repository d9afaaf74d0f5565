"""What the protocol core asks its driver to do, as frozen dataclasses.

Every method of `VirtualRouter` and `SyncGroup` returns a list of these, in the order they must
be carried out (an advert before the addresses, the addresses before the gratuitous ARPs).
Each names its `instance`, so that the actions of a sync group's members can share one list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

LOG_DEBUG = 10
LOG_INFO = 20
LOG_WARNING = 30
"""Log levels are the numbers of the `logging` module, so a driver can pass them on as they are."""


@dataclass(frozen=True, slots=True)
class SendAdvert:
    """Multicast (or unicast to the peers) one advertisement; priority 0 means "I am leaving"."""

    instance: str
    priority: int
    interval_cs: int


@dataclass(frozen=True, slots=True)
class AddVips:
    """Install the virtual addresses; `vip_objects` is whatever the settings carried for the driver."""

    instance: str
    vips: tuple[bytes, ...]
    vip_objects: tuple[object, ...]


@dataclass(frozen=True, slots=True)
class RemoveVips:
    """Remove the virtual addresses (also at start: leftovers of a `kill -9`)."""

    instance: str
    vips: tuple[bytes, ...]
    vip_objects: tuple[object, ...]


@dataclass(frozen=True, slots=True)
class SendGratuitous:
    """A burst of `count` gratuitous ARPs (IPv4) or unsolicited NAs (IPv6) for each VIP."""

    instance: str
    count: int
    vips: tuple[bytes, ...]
    vip_objects: tuple[object, ...]


@dataclass(frozen=True, slots=True)
class RunNotify:
    """Run the notify scripts: keepalived calls `notify` with `INSTANCE|GROUP name STATE priority`."""

    instance: str
    state: str
    priority: int
    group: bool = False


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The router changed state; `line` is the log line to write (`(VI_1) Entering MASTER STATE`)."""

    instance: str
    old: str
    new: str
    line: str


@dataclass(frozen=True, slots=True)
class Log:
    """A log line in keepalived's words; `level` is a `logging` level number."""

    instance: str
    level: int
    line: str


Action = Union[SendAdvert, AddVips, RemoveVips, SendGratuitous, RunNotify, StateChanged, Log]
