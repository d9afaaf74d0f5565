"""`fastvrrp bench advert_gap`: how regularly does a master send its adverts at 10 ms, seen on
the wire, with 1, 50 and 255 instances -- fastvrrp and keepalived in the same run.

One router in a namespace runs N VRRPv3 instances (VRID 1..N, priority 100, alone on the
segment, so all become master); a capture stamps every advert in the kernel as it leaves the
router's `em1` (`--at client`: as it reaches a client across the bridge, which adds the
client's softirq scheduling to what is measured).  The gap between two consecutive adverts of one VRID is what a
backup sees; every gap of every instance is pooled.  A late advert is what makes a backup
with a 38 ms Master_Down_Interval take over by mistake.
"""

from __future__ import annotations

import argparse
import os
import itertools
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from fastvrrp import netns
from fastvrrp.peers import IMPLEMENTATIONS, Peer, wait_until

from .common import (
    RESULTS,
    Capture,
    machine,
    markdown_table,
    percentile,
    render_instances,
    vip_count,
    vrrp_fields,
    write_section,
)
from .stalls import StallProbe, stalled_within
from .stalls import summary as stall_summary

COUNTS = (1, 50, 255)
DAEMON_CPU = max(os.sched_getaffinity(0))
"""The daemon (either implementation) runs here: its gaps are also reported net of the time
this CPU could run nothing (`stalls.StallProbe`)."""


def measure(impl: str, count: int, seconds: float, workdir: Path, at: str = "a") -> dict:
    """Gaps (seconds) of `count` masters over `seconds`, and what the capture may have missed."""
    with netns.Topology(["a", "client"]) as topo:
        config = render_instances("gap-a", count, state="MASTER", priority=100)
        peer = Peer(topo, "a", impl, config, workdir, cpus=str(DAEMON_CPU))
        peer.start()
        if not peer.wait_ready() or wait_until(lambda: vip_count(topo, "a") == count, 20, 0.1) is None:
            raise RuntimeError(f"{impl}: {count} instances did not all become master: {peer.log()[-2000:]}")
        time.sleep(0.5)
        capture = Capture(topo, at, workdir / "gap.pcap", "ip proto 112", snaplen=64)
        probe = StallProbe()
        time.sleep(seconds)
        stalls = probe.stop()[DAEMON_CPU]
        frames = capture.frames()
        masters = vip_count(topo, "a")
        peer.stop()
    by_vrid: dict[int, list[float]] = defaultdict(list)
    for frame in frames:
        fields = vrrp_fields(frame.data)
        if fields is not None and fields[2] > 0:
            by_vrid[fields[1]].append(frame.time)
    pairs = [pair for times in by_vrid.values() for pair in itertools.pairwise(times)]
    gaps = [b - a for a, b in pairs]
    net = [b - a - stalled_within(a, b, stalls) for a, b in pairs]
    return {
        "gaps": gaps, "net": net, "stalls": stalls, "guest": probe.guest,
        "dropped": capture.dropped, "adverts": len(frames), "masters_after": masters,
    }  # fmt: skip


def _tail(gaps: list[float]) -> list[str]:
    """p99 and max in ms, and how many gaps exceed 11 ms."""
    if not gaps:
        return ["-"] * 3
    return [f"{percentile(gaps, 99) * 1e3:.3f}", f"{max(gaps) * 1e3:.3f}", str(sum(g > 0.011 for g in gaps))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fastvrrp bench advert_gap", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="capture length per run")
    parser.add_argument("--counts", default=",".join(map(str, COUNTS)))
    parser.add_argument("--impls", default=",".join(IMPLEMENTATIONS))
    parser.add_argument("--repeat", type=int, default=1, help="runs of each case (the box is shared: repeat)")
    parser.add_argument("--at", choices=("router", "client"), default="router", help="where adverts are stamped")
    parser.add_argument("--results", type=Path, default=RESULTS, help="RESULTS.md to update ('' for none)")
    args = parser.parse_args(argv)
    netns.cleanup_stale()
    before = machine()
    rows = []
    with tempfile.TemporaryDirectory(prefix="fastvrrp-gap-") as tmp:
        for run, count, impl in itertools.product(
            range(args.repeat), map(int, args.counts.split(",")), args.impls.split(",")
        ):
            load = machine()["load"]
            result = measure(
                impl, count, args.seconds, Path(tmp) / f"{impl}-{count}-{run}", "a" if args.at == "router" else "client"
            )
            gaps, net = result["gaps"], result["net"]
            row = [impl, str(count), str(run + 1), load.removeprefix("load average ")]
            row += [f"{percentile(gaps, 50) * 1e3:.3f}" if gaps else "-"] + _tail(gaps) + _tail(net)
            row += [stall_summary(result["stalls"]), stall_summary(result["guest"])]
            row += [str(len(gaps)), str(result["dropped"]), f"{result['masters_after']}/{count}"]
            print(" | ".join(row), flush=True)
            rows.append(row)
    after = machine()
    header = ["impl", "instances", "run", "load (1/5/15 min)", "p50 ms", "p99 ms", "max ms", "gaps > 11 ms"]
    header += ["net: p99 ms", "net: max ms", "net: > 11 ms", "its CPU stalled: n / longest ms"]
    header += ["guest stalled: n / longest ms"]
    header += ["gaps", "capture drops", "masters at end"]
    table = markdown_table(header, rows)
    print(table)
    if str(args.results) not in ("", "."):
        body = "\n".join(
            [
                f"`fastvrrp bench advert_gap --seconds {args.seconds:g} --repeat {args.repeat}`: inter-advert gaps",
                f"of one VRID at 10 ms, every instance pooled, stamped by the kernel where seen ({args.at}).",
                f"On {before['cpu']}, {before['date']}; {before['keepalived']}. {before['load']} before,",
                f"{after['load']} after; the box is shared with other engineers' test runs (load per run",
                "in the table). Target for fastvrrp: p99 ≤ 10.2 ms, max ≤ 11 ms. The daemon runs on the last",
                "CPU; `net`: each gap less the time within it when that CPU ran nothing, not even a real-time",
                "1 ms sleeper (`bench/stalls.py`: late by over 1 ms; `guest stalled`: every CPU at once). The",
                "raw figures are the wire's.",
                "",
                table,
            ]
        )
        write_section("Advert timing", body, args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
