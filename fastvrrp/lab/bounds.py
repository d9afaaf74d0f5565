"""The protocol's time bounds for each takeover of the experiment, as the RFCs state them.

Computed here rather than borrowed from the protocol core: the lab checks the core's timing,
so its yardstick is written from the RFC text alone.
"""

from __future__ import annotations


def skew_time(version: int, priority: int, interval: float) -> float:
    """Seconds a backup adds to its wait, less for higher priorities.

    v2 (RFC 3768 §6.1): Skew_Time = (256 - Priority) / 256, in seconds whatever the interval.
    v3 (RFC 5798 §6.1): Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256.
    """
    if version == 2:
        return (256 - priority) / 256
    return (256 - priority) * interval / 256


def master_down_interval(version: int, priority: int, interval: float) -> float:
    """RFC 3768 / RFC 5798 §6.1: 3 * (Master_)Adver_Interval + Skew_Time."""
    return 3 * interval + skew_time(version, priority, interval)
