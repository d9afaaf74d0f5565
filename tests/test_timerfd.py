"""The timerfd timer source fires at its absolute deadline, never before, and can be disarmed."""

import asyncio
import select
import time

from fastvrrp.timerfd import TimerFd


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
