"""When the whole guest stopped: a sleeper on every CPU, late on all of them at once.

A virtual machine's vCPUs can all be descheduled by the host together.  On the benchmark VM a
plain 1 ms sleeper, alone on an idle guest, woke 10-23 ms late a few times a minute, on both
CPUs at the same moments; an advert due then leaves that late whatever sends it.  A benchmark
runs `StallProbe` beside what it measures and reports each gap also net of the stalls inside
it, next to the raw figure: the daemon's share of a late advert, not the host's.

A stall is a moment when every CPU's sleeper was late by more than `THRESHOLD` (the
intersection of their late windows).  The sleepers run at real-time priority, so a busy daemon
does not make them late, and one CPU held in the kernel (on a kernel without preemption: the
daemon's burst in a system call, or a kernel thread) is not a stall of the guest.  Traced on
the benchmark VM, the late adverts that remain came from one vCPU stopped alone (its timer
interrupt took 4-8 ms) or from `kdamond` holding the daemon's CPU for 0.5 ms: not counted
here.  The sleepers cost about 1 % of each CPU, alike for every implementation measured.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

PERIOD = 0.001
THRESHOLD = 0.001


def _probe(period: float, threshold: float) -> None:
    """Sleep `period` at a time until SIGTERM; print each late wake-up's window, monotonic."""
    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    with contextlib.suppress(OSError):
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    late = []
    due = time.monotonic() + period
    print("ready", flush=True)
    while not stop:
        time.sleep(max(0.0, due - time.monotonic()))
        now = time.monotonic()
        if now - due > threshold:
            late.append(f"{due:.6f} {now:.6f}")
        due = max(due + period, now)
    print("\n".join(late), flush=True)


class StallProbe:
    """One sleeper process per CPU (pinned); `stop()` returns the guest's stall windows."""

    def __init__(self, period: float = PERIOD, threshold: float = THRESHOLD) -> None:
        argv = [sys.executable, "-m", "bench.stalls", "--period", str(period), "--threshold", str(threshold)]
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.procs = [
            subprocess.Popen(["taskset", "-c", str(cpu), *argv], stdout=subprocess.PIPE, text=True, cwd=root)
            for cpu in sorted(os.sched_getaffinity(0))
        ]
        for proc in self.procs:
            proc.stdout.readline()  # "ready"
        self.windows: list[tuple[float, float]] = []

    def stop(self) -> list[tuple[float, float]]:
        """The stall windows (start, end) seen while it ran, in time order."""
        per_cpu = []
        for proc in self.procs:
            proc.terminate()
            out, _ = proc.communicate(timeout=10)
            per_cpu.append([tuple(map(float, line.split())) for line in out.splitlines() if line.strip()])
        self.windows = intersect(per_cpu)
        return self.windows


def intersect(per_cpu: Sequence[Sequence[tuple[float, float]]]) -> list[tuple[float, float]]:
    """The windows covered on every CPU at once."""
    if not per_cpu:
        return []
    common = sorted(per_cpu[0])
    for windows in per_cpu[1:]:
        common = [
            (max(a, c), min(b, d)) for a, b in common for c, d in sorted(windows) if max(a, c) < min(b, d)
        ]
    return sorted(common)


def stalled_within(start: float, end: float, windows: Sequence[tuple[float, float]]) -> float:
    """Seconds of [start, end] inside stall windows."""
    return sum(max(0.0, min(end, b) - max(start, a)) for a, b in windows)


def summary(windows: Sequence[tuple[float, float]]) -> str:
    """`count / longest ms` of the stall windows."""
    longest = max((b - a for a, b in windows), default=0.0)
    return f"{len(windows)} / {longest * 1e3:.1f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--period", type=float, default=PERIOD)
    parser.add_argument("--threshold", type=float, default=THRESHOLD)
    args = parser.parse_args(argv)
    _probe(args.period, args.threshold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
