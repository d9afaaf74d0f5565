"""The timerfd timer source fires at its absolute deadline, never before, and can be disarmed."""

import asyncio
import select
import time

import pytest

from fastvrrp.timerfd import TimerFd, WakeLead


def test_fires_at_absolute_deadline_not_before():
    timer = TimerFd()
    try:
        deadline = time.monotonic() + 0.02
        timer.arm(deadline)
        assert select.select([timer], [], [], 1.0)[0] == [timer]
        assert time.monotonic() >= deadline
        timer.consume()
        assert timer.deadline is None
        assert select.select([timer], [], [], 0.0)[0] == []
    finally:
        timer.close()


def test_past_deadline_fires_at_once_and_disarm_stops_it():
    timer = TimerFd()
    try:
        timer.arm(time.monotonic() - 1.0)
        assert select.select([timer], [], [], 0.5)[0] == [timer]
        timer.consume()
        timer.arm(time.monotonic() + 0.01)
        timer.disarm()
        assert select.select([timer], [], [], 0.05)[0] == []
    finally:
        timer.close()


def test_drives_an_event_loop_reader():
    async def wait_once() -> float:
        loop = asyncio.get_running_loop()
        timer = TimerFd()
        fired = loop.create_future()
        loop.add_reader(timer.fileno(), lambda: fired.done() or fired.set_result(time.monotonic()))
        deadline = time.monotonic() + 0.015
        timer.arm(deadline)
        try:
            return await asyncio.wait_for(fired, 1.0) - deadline
        finally:
            loop.remove_reader(timer.fileno())
            timer.close()

    assert asyncio.run(wait_once()) >= 0.0


def test_wake_lead_learns_the_lateness_of_each_sleep_length():
    lead = WakeLead()
    assert lead.lead(0.01) == 0.0002 and lead.lead(0.38) == 0.0004  # before anything is measured
    for late in [0.00005] * 15 + [0.0003]:  # one outlier among short sleeps: not the estimate
        lead.observe(0.01, late)
    assert lead.lead(0.01) == pytest.approx(0.00005 + WakeLead.MARGIN)
    for late in [0.0002, 0.00025] * 8:
        lead.observe(0.1, late)
    assert lead.lead(0.1) == pytest.approx(0.00025 + WakeLead.MARGIN)
    assert lead.lead(0.01) == pytest.approx(0.0001), "long sleeps leave the short estimate alone"


def test_wake_lead_stays_within_its_bounds():
    lead = WakeLead()
    for _ in range(WakeLead.WINDOW):
        lead.observe(0.05, 0.02)  # a stalled loop, not a wake-up: do not spin 20 ms
        lead.observe(0.005, 0.0)
    assert lead.lead(0.05) == WakeLead.CEILING and lead.lead(0.005) == WakeLead.FLOOR


def test_wake_lead_for_a_takeover_covers_the_latest_of_its_recent_wakeups():
    lead = WakeLead()
    assert lead.lead(0.038, takeover=True) == 0.001  # generous before anything is measured
    lead.observe(0.038, 0.0003, takeover=True)
    assert lead.lead(0.038, takeover=True) == pytest.approx(0.0003 + WakeLead.MARGIN)
    lead.observe(0.008, 0.0005, takeover=True)
    lead.observe(0.038, 0.0001, takeover=True)
    assert lead.lead(0.5, takeover=True) == pytest.approx(0.0005 + WakeLead.MARGIN), "the largest, not the last"
    for _ in range(WakeLead.TAKEOVER_WINDOW):
        lead.observe(0.038, 0.0001, takeover=True)
    assert lead.lead(0.038, takeover=True) == pytest.approx(0.0001 + WakeLead.MARGIN), "old samples age out"
    lead.observe(0.038, 0.05, takeover=True)  # a stalled loop
    assert lead.lead(0.038, takeover=True) == WakeLead.TAKEOVER_CEILING
    assert lead.lead(0.038) == 0.0004 and lead.lead(0.008) == 0.0002, "the other classes are untouched"
