"""`bench/stalls.py`: which moments count as the whole guest stopped, and what a gap keeps net of them."""

from __future__ import annotations

import os
import time

import pytest

from bench.stalls import StallProbe, intersect, stalled_within


def test_a_stall_is_when_every_cpu_was_late_at_once():
    cpu0 = [(1.0, 1.010), (2.0, 2.002)]
    cpu1 = [(1.002, 1.012), (3.0, 3.005)]  # late at 3.0 alone: that CPU was busy, not the guest
    assert intersect([cpu0, cpu1]) == [(1.002, 1.010)]
    assert intersect([cpu0]) == sorted(cpu0)
    assert intersect([]) == []


def test_a_gap_keeps_only_what_lies_outside_the_stalls():
    stalls = [(10.005, 10.015), (10.100, 10.101)]
    assert stalled_within(10.0, 10.020, stalls) == pytest.approx(0.010)
    assert stalled_within(10.010, 10.020, stalls) == pytest.approx(0.005), "a stall that began before the gap"
    assert stalled_within(10.020, 10.030, stalls) == 0.0
    assert stalled_within(10.0, 10.2, stalls) == pytest.approx(0.011)


def test_the_probe_runs_on_every_cpu_and_reports_windows_in_order():
    probe = StallProbe()
    assert sorted(probe.procs) == sorted(os.sched_getaffinity(0))
    time.sleep(0.2)
    windows = probe.stop()
    assert sorted(windows) == sorted(probe.procs)
    for cpu_windows in [*windows.values(), probe.guest]:
        assert all(start < end for start, end in cpu_windows) and cpu_windows == sorted(cpu_windows)
    assert all(proc.returncode is not None for proc in probe.procs.values()), "no sleeper left behind"
