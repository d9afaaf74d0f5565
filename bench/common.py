"""What the namespace benchmarks share: one clock, a kernel-stamped capture, statistics, and
`bench/RESULTS.md` sections.

One clock: every event is put on CLOCK_MONOTONIC (`time.monotonic()`), the clock fastvrrp's
timers run on and `RtnlMonitor` stamps netlink events with.  Packets are stamped by the kernel
as they reach the capturing interface (tcpdump, nanosecond pcap), on CLOCK_REALTIME; the
offset between the two clocks is read once per capture from the tightest of many back-to-back
readings.  NTP slews both clocks alike and this machine's clock is not stepped during a run,
so the offset error stays below a microsecond; what remains is the few microseconds a frame
takes across the bridge, and the wake-up of the netlink listener (tens of µs idle, more when
the machine is loaded).
"""

from __future__ import annotations

import datetime
import os
import re
import select
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import dpkt

from fastvrrp.arrival import realtime_offset
from fastvrrp.netns import ROUTER_IFNAME, Topology

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


class Frame(NamedTuple):
    """One captured frame: monotonic time of arrival at the capturing interface, and its bytes."""

    time: float
    data: bytes


class Capture:
    """tcpdump on `em1` of a namespace, nanosecond kernel timestamps, read back as `Frame`s.

    A separate process: packet stamping never competes with the benchmark's own threads, and
    the timestamp is the kernel's, taken when the frame arrived, whenever tcpdump reads it.
    """

    def __init__(
        self, topo: Topology, role: str, path: Path, bpf: str, *, snaplen: int = 128, idle: bool = False
    ) -> None:
        """`idle`: tcpdump as SCHED_IDLE, never ahead of another task for a CPU (its stamps are the
        kernel's, whenever it reads them), at the risk of drops when the CPUs are busy."""
        self.path = path
        argv = ["chrt", "--idle", "0"] if idle else []
        argv += ["tcpdump", "--immediate-mode", "-U", "-n", "-B", "16384", "-s", str(snaplen)]
        argv += ["--time-stamp-precision=nano", "-i", ROUTER_IFNAME, "-w", str(path), bpf]
        self.offset = realtime_offset(samples=50)
        self.proc = topo.popen(role, argv, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stderr], [], [], 5)
        line = self.proc.stderr.readline() if ready else ""
        if "listening on" not in line:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"tcpdump did not start in {role}: {line!r}")
        self.dropped: int | None = None

    def stop(self) -> None:
        """Let the last frames land, stop tcpdump, note how many frames the kernel dropped."""
        if self.proc.poll() is None:
            time.sleep(0.2)
            self.proc.terminate()
            _, err = self.proc.communicate(timeout=10)
            found = re.search(r"(\d+) packets? dropped by kernel", err or "")
            self.dropped = int(found.group(1)) if found else None

    def frames(self) -> list[Frame]:
        self.stop()
        out = []
        with open(self.path, "rb") as f:
            for stamp, data in dpkt.pcap.Reader(f):
                out.append(Frame(float(stamp) - self.offset, data))
        return out


def vrrp_fields(data: bytes) -> tuple[str, int, int] | None:
    """(IPv4 source, VRID, priority) of an Ethernet frame carrying a VRRP advert, else None."""
    if len(data) < 14 + 20 + 4 or data[12:14] != b"\x08\x00" or data[14 + 9] != 112:
        return None
    ihl = (data[14] & 0x0F) * 4
    vrrp = 14 + ihl
    return ".".join(str(b) for b in data[14 + 12 : 14 + 16]), data[vrrp + 1], data[vrrp + 2]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: every figure reported was measured)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


@dataclass(frozen=True)
class Summary:
    n: int
    min: float
    median: float
    p95: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary | None:
        if not values:
            return None
        return cls(len(values), min(values), statistics.median(values), percentile(values, 95), max(values))

    def text(self, scale: float = 1e3, digits: int = 2) -> str:
        """`min / median / p95 / max` in milliseconds (by default)."""
        return " / ".join(f"{v * scale:.{digits}f}" for v in (self.min, self.median, self.p95, self.max))


def machine() -> dict[str, str]:
    """Where and when a benchmark ran, and how busy the machine was: results mean little without it."""
    model = "?"
    for line in subprocess.run(["lscpu"], check=False, capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    return {
        "cpu": f"{model}, {os.cpu_count()} CPUs",
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "load": load(),
        "keepalived": keepalived_version(),
    }


def load() -> str:
    with open("/proc/loadavg") as f:
        one, five, fifteen = f.read().split()[:3]
    return f"load average {one} {five} {fifteen}"


def keepalived_version() -> str:
    try:
        out = subprocess.run(["keepalived", "--version"], check=False, capture_output=True, text=True, timeout=10)
    except OSError:
        return "not installed"
    first = (out.stderr or out.stdout).splitlines()
    return first[0].strip() if first else "?"


def write_section(title: str, body: str, path: Path = RESULTS) -> None:
    """Replace (or append) the `## title` section of RESULTS.md, leaving the others as they are."""
    text = path.read_text() if path.exists() else "# fastvrrp benchmark results\n"
    heading = f"## {title}\n"
    section = heading + "\n" + body.rstrip() + "\n"
    start = text.find(heading)
    if start < 0:
        text = text.rstrip() + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + section + (text[end:] if end >= 0 else "")
    path.write_text(text)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def render_instances(router_id: str, count: int, *, state: str, priority: int, advert_int: str = "0.01") -> str:
    """A keepalived.conf with `count` VRRPv3 instances on em1 (VRID k, VIP 10.0.202.k): both
    implementations read it unchanged."""
    blocks = [f"global_defs {{\n   router_id {router_id}\n}}\n"]
    for vrid in range(1, count + 1):
        blocks.append(
            f"vrrp_instance VI_{vrid} {{\n    state {state}\n    interface em1\n    virtual_router_id {vrid}\n"
            f"    priority {priority}\n    version 3\n    advert_int {advert_int}\n"
            f"    virtual_ipaddress {{\n        10.0.202.{vrid}/32\n    }}\n}}\n"
        )
    return "\n".join(blocks)


def vip_count(topo: Topology, role: str) -> int:
    """How many of `render_instances`' VIPs router `role` holds now."""
    out = topo.run(role, ["ip", "-4", "-o", "addr", "show", "dev", ROUTER_IFNAME]).stdout
    return out.count(" 10.0.202.")
