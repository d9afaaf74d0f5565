"""How long a busy channel's adverts may wait in the socket (`daemon.channel_pace`).

The pace must leave a backup time to see its master's priority 0 before Skew_Time runs out
(RFC 5798 §6.4.2: "Set the Master_Down_Timer to Skew_Time"), and a master time to yield to a
higher priority within its own Advertisement_Interval (§6.4.3).  Routers are the real core,
moved between states with a fake clock.
"""

from __future__ import annotations

import pytest

from fastvrrp.daemon import PACE_RANGE, channel_pace
from fastvrrp.protocol import BACKUP, MASTER, RouterSettings, VirtualRouter


def router(priority: int = 50, interval_cs: int = 1, version: int = 3, state: str = BACKUP) -> VirtualRouter:
    r = VirtualRouter(
        RouterSettings(
            name=f"VI_{priority}",
            vrid=1,
            vips=(b"\x0a\x00\x00\x64",),
            primary_address=b"\x0a\x00\x00\x01",
            version=version,
            priority=priority,
            advert_interval_cs=interval_cs,
        )
    )
    r.start(0.0)
    if state == MASTER:
        r.handle_timer(r.get_timer())
    assert r.state == state
    return r


def test_backup_reads_within_half_its_skew_time():
    # 10 ms adverts, priority 50: Skew_Time = (256 - 50) * 1 cs / 256 = 8.05 ms.
    backup = router(priority=50, interval_cs=1)
    assert channel_pace([backup]) == pytest.approx(backup.skew_time / 2)
    assert channel_pace([backup]) == pytest.approx(0.00402, abs=1e-5)


def test_the_most_urgent_router_sets_the_pace():
    slow, fast = router(priority=50, interval_cs=1), router(priority=150, interval_cs=1)
    assert channel_pace([slow, fast]) == pytest.approx(fast.skew_time / 2)


def test_a_short_skew_time_means_reading_every_advert_at_once():
    # Priority 254 at 10 ms: Skew_Time 78 µs, less than a paced read could honour.
    assert channel_pace([router(priority=254, interval_cs=1)]) == 0.0


def test_slow_adverts_are_read_no_later_than_the_upper_bound():
    # v2 at 1 s: Skew_Time 0.8 s (RFC 3768 §6.1), but status and counters should not lag that much.
    assert channel_pace([router(priority=50, interval_cs=100, version=2)]) == PACE_RANGE[1]


def test_a_master_reads_before_its_next_advert():
    # The shortest interval is 1 cs: a master yields to a higher priority before it sends again.
    master = router(priority=100, interval_cs=1, state=MASTER)
    assert 0 < channel_pace([master]) <= master.settings.advert_interval_cs / 100 / 2


def test_routers_that_ignore_adverts_do_not_slow_the_channel():
    stopped = router(priority=50, interval_cs=1)
    stopped.shutdown(1.0)
    assert channel_pace([stopped]) == PACE_RANGE[1]
