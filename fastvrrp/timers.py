"""The protocol's timer and election formulas, as pure functions of their inputs.

Kept apart from the state machine so that each formula can be read beside its RFC text and
tested with plain numbers.  Times are seconds (floats); intervals on the wire are centiseconds.
"""

from __future__ import annotations

from typing import Iterable

PRIORITY_OWNER = 255
"""RFC 5798 §5.2.4: the router that owns the virtual addresses."""
PRIORITY_LEAVING = 0
"""RFC 5798 §5.2.4: "the current Master has stopped participating in VRRP"."""
PRIORITY_MIN_BACKUP = 1
PRIORITY_MAX_BACKUP = 254


def skew_time(version: int, priority: int, master_adver_interval_cs: int) -> float:
    """Skew_Time in seconds: the lower the priority, the later a backup takes over.

    RFC 5798 §6.1 (v3): Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256, with the
    interval in centiseconds.  RFC 3768 §6.1 (v2): Skew_Time = (256 - Priority) / 256 seconds,
    whatever the advertisement interval (keepalived does the same).
    """
    if version == 2:
        return (256 - priority) / 256
    return (256 - priority) * master_adver_interval_cs / 256 / 100


def master_down_interval(version: int, priority: int, master_adver_interval_cs: int) -> float:
    """Master_Down_Interval in seconds (RFC 5798 §6.1, RFC 3768 §6.1).

    Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time: three adverts may be lost
    before a backup declares the master down.
    """
    return 3 * master_adver_interval_cs / 100 + skew_time(version, priority, master_adver_interval_cs)


def effective_priority(base: int, weights: Iterable[int]) -> int:
    """The priority a router advertises: the configured one plus its tracking weights.

    The owner's 255 is not a number to adjust but a role (RFC 5798 §5.2.4), so it stays 255.
    Anyone else is clamped to 1..254: tracking must never turn a backup into an owner, nor
    make it send the priority 0 that means "I am leaving".
    """
    if base == PRIORITY_OWNER:
        return PRIORITY_OWNER
    return max(PRIORITY_MIN_BACKUP, min(PRIORITY_MAX_BACKUP, base + sum(weights)))


def preferred(priority: int, address: bytes, other_priority: int, other_address: bytes) -> bool:
    """True if (priority, address) wins the election against the other router.

    RFC 5798 §6.4.3 (RFC 9568 §6.4.3): the higher priority wins; equal priorities are broken by
    the higher primary address "based on an unsigned integer comparison of the IPvX addresses
    in network byte order" -- which for packed addresses of one family is a bytes comparison.
    """
    if priority != other_priority:
        return priority > other_priority
    return int.from_bytes(address, "big") > int.from_bytes(other_address, "big")


def reannounce_gap(advert_interval_cs: int, minimum: float) -> float:
    """Least time between two gratuitous ARP / NA re-announcements of one router, in seconds.

    A master answers a lower-priority advert by re-announcing its addresses.  Answering every
    such advert floods the LAN during a split brain at 10 ms (keepalived: ~490 GARPs/s), so
    bursts are at least `minimum` (1 s by default) and one advert interval apart.
    """
    return max(minimum, advert_interval_cs / 100)
