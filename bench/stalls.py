"""When a CPU could not run even a real-time task: a sleeper on every CPU, and its late wake-ups.

A virtual machine's vCPUs are descheduled by the host, one at a time or all together.  On the
benchmark VM a plain 1 ms sleeper, alone on an idle guest, woke 10-23 ms late a few times a
minute, on both CPUs at the same moments; ftrace showed other late adverts coming from one vCPU
stopped alone (its timer interrupt took 4-8 ms, the CPU otherwise idle) or from `kdamond`
holding the daemon's CPU in the kernel for 0.5 ms.  An advert due then leaves that late
whatever sends it.

`StallProbe` runs a sleeper per CPU (`stall_probe.c`: in C, so that waking costs it
microseconds) at real-time priority beside what a benchmark measures: a busy daemon does not
make it late, only a CPU that nothing could run on (a stopped vCPU, or a
kernel without preemption busy in a kernel thread or a system call, the daemon's own included).
A benchmark that pins the daemon to one CPU reports each gap also net of that CPU's stalls,
next to the raw figure; `guest` (every CPU at once) is the host's alone.  The threshold, 1 ms,
is above what a system call of the daemon holds a CPU for, except a 255-advert burst (0.5 ms at
the median, 1.0 at p99 on that VM).  The sleepers cost well under 1 % of each CPU, alike for
every implementation measured.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

PERIOD = 0.001
THRESHOLD = 0.001


def _compiled() -> str:
    """The sleeper (`stall_probe.c`), built once per source version in the temp directory."""
    source = Path(__file__).with_name("stall_probe.c")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    binary = Path(tempfile.gettempdir()) / f"fastvrrp-stall-probe-{digest}"
    if not binary.exists():
        partial = binary.with_suffix(f".{os.getpid()}")
        subprocess.run(["cc", "-O2", "-o", str(partial), str(source)], check=True, capture_output=True)
        partial.replace(binary)
    return str(binary)


class StallProbe:
    """One sleeper process per CPU (pinned); `stop()` gives each CPU's stall windows."""

    def __init__(self, period: float = PERIOD, threshold: float = THRESHOLD) -> None:
        argv = [_compiled(), str(round(period * 1e9)), str(round(threshold * 1e9))]
        self.procs = {
            cpu: subprocess.Popen(["taskset", "-c", str(cpu), *argv], stdout=subprocess.PIPE, text=True)
            for cpu in sorted(os.sched_getaffinity(0))
        }
        for proc in self.procs.values():
            proc.stdout.readline()  # "ready"
        self.windows: dict[int, list[tuple[float, float]]] = {}

    def stop(self) -> dict[int, list[tuple[float, float]]]:
        """CPU -> the windows (start, end), monotonic and in order, when it ran nothing."""
        for cpu, proc in self.procs.items():
            proc.terminate()
            out, _ = proc.communicate(timeout=10)
            self.windows[cpu] = sorted(tuple(map(float, line.split())) for line in out.splitlines() if line.strip())
        return self.windows

    @property
    def guest(self) -> list[tuple[float, float]]:
        """When every CPU was stalled at once."""
        return intersect(list(self.windows.values()))


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
