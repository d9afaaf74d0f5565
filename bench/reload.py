"""`fastvrrp bench reload`: do the adverts of unchanged instances keep their pace through a
reload (SIGHUP), and does a backup take over meanwhile -- fastvrrp and keepalived in the same run.

A router runs N VRRPv3 masters at 10 ms (priority 100) beside a fastvrrp backup of the same N
instances (priority 50) in another namespace: a backup takes over when an advert is 38 ms late
(Master_Down_Interval), which is how a reload turns into a failover (a known keepalived
complaint).  The master's configuration file does not change; it is sent SIGHUP `--reloads`
times, a second apart.  A capture stamps each advert in the kernel as it leaves the master; the
gaps that end within `WINDOW` after a SIGHUP are the reload's.
"""

from __future__ import annotations

import argparse
import itertools
import signal
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

COUNTS = (1, 255)
WINDOW = 0.5
"""Seconds after a SIGHUP whose gaps are the reload's (either implementation is done by then)."""
MASTER_DOWN = 0.038
"""Master_Down_Interval of the priority-50 backup at 10 ms (3 x 10 + 206 x 10 / 256 ms)."""


def measure(impl: str, count: int, reloads: int, workdir: Path) -> dict:
    """Gaps (seconds) of `count` masters within `WINDOW` after each SIGHUP, and the backup's takeovers."""
    with netns.Topology(["a", "b"]) as topo:
        master = Peer(topo, "a", impl, render_instances("rl-a", count, state="MASTER", priority=100), workdir / "a")
        backup = Peer(
            topo, "b", "fastvrrp", render_instances("rl-b", count, state="BACKUP", priority=50), workdir / "b"
        )
        master.start()
        if not master.wait_ready() or wait_until(lambda: vip_count(topo, "a") == count, 30, 0.1) is None:
            raise RuntimeError(f"{impl}: {count} instances did not all become master: {master.log()[-2000:]}")
        backup.start()
        if not backup.wait_ready(60):
            raise RuntimeError(f"the backup did not start: {backup.log()[-2000:]}")
        time.sleep(1.0)
        takeovers_before = backup.log().count("Entering MASTER STATE")
        capture = Capture(topo, "a", workdir / "reload.pcap", "ip proto 112 and src host 10.0.201.1", snaplen=64)
        time.sleep(0.5)
        sighups = []
        for _ in range(reloads):
            sighups.append(time.monotonic())
            master.signal(signal.SIGHUP)
            time.sleep(1.0)
        frames = capture.frames()
        takeovers = backup.log().count("Entering MASTER STATE") - takeovers_before
        masters = vip_count(topo, "a")
        backup.stop()
        master.stop()
    by_vrid: dict[int, list[float]] = defaultdict(list)
    for frame in frames:
        fields = vrrp_fields(frame.data)
        if fields is not None and fields[2] > 0:
            by_vrid[fields[1]].append(frame.time)
    gaps = [
        b - a
        for times in by_vrid.values()
        for a, b in itertools.pairwise(times)
        if any(hup <= b <= hup + WINDOW for hup in sighups)
    ]
    return {"gaps": gaps, "takeovers": takeovers, "masters_after": masters, "dropped": capture.dropped}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fastvrrp bench reload", description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default=",".join(map(str, COUNTS)))
    parser.add_argument("--impls", default=",".join(IMPLEMENTATIONS))
    parser.add_argument("--reloads", type=int, default=5, help="SIGHUPs per run, a second apart")
    parser.add_argument("--results", type=Path, default=RESULTS, help="RESULTS.md to update ('' for none)")
    args = parser.parse_args(argv)
    netns.cleanup_stale()
    before = machine()
    rows = []
    with tempfile.TemporaryDirectory(prefix="fastvrrp-reload-") as tmp:
        for count, impl in itertools.product(map(int, args.counts.split(",")), args.impls.split(",")):
            load = machine()["load"].removeprefix("load average ")
            r = measure(impl, count, args.reloads, Path(tmp) / f"{impl}-{count}")
            gaps = r["gaps"]
            row = [impl, str(count), load, str(len(gaps))]
            row += [f"{percentile(gaps, q) * 1e3:.2f}" if gaps else "-" for q in (50, 99)]
            row += [f"{max(gaps) * 1e3:.2f}" if gaps else "-", str(sum(g > MASTER_DOWN for g in gaps))]
            row += [str(r["takeovers"]), f"{r['masters_after']}/{count}", str(r["dropped"])]
            print(" | ".join(row), flush=True)
            rows.append(row)
    after = machine()
    header = ["impl", "instances", "load (1/5/15 min)", "gaps", "p50 ms", "p99 ms", "max ms"]
    header += ["gaps > 38 ms", "backup takeovers", "masters at end", "capture drops"]
    table = markdown_table(header, rows)
    print(table)
    if str(args.results) not in ("", "."):
        body = "\n".join(
            [
                f"`fastvrrp bench reload --reloads {args.reloads}`: N masters at 10 ms, a fastvrrp backup of",
                "the same N at priority 50 beside them; the master's unchanged file is reloaded (SIGHUP)",
                f"{args.reloads} times, a second apart. Gaps between adverts of one VRID that end within",
                f"{WINDOW:g} s after a SIGHUP, stamped by the kernel as they leave the master. A gap over 38 ms",
                "lets the backup take over.",
                f"On {before['cpu']}, {before['date']}; {before['keepalived']}. {before['load']} before,",
                f"{after['load']} after.",
                "",
                table,
            ]
        )
        write_section("Reload", body, args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
