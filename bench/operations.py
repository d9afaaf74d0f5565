"""`fastvrrp bench operations`: what health checks and notify scripts cost the daemon.

1. In-process TCP checks at 10 ms: one router with 50 VRRPv3 instances (1 s adverts, so that
   adverts cost little), first without checks, then all 50 tracking one shared
   `check tcp 127.0.0.1:PORT` at `interval 0.01` (`shared`), then each tracking a `vrrp_script`
   of its own that all probe the same target (`same`: 50 scripts, one prober), then each
   tracking its own target (`each`: 50 checks, 5 000 connects a second).  CPU is the daemon's
   user + system time from /proc over windows of `--seconds`; the listener is another process
   and counts the connections it accepted.  The check's cost is the difference.
2. A notify script that sleeps 10 s: one master at 10 ms whose `notify_backup`, `notify_master`
   and `notify` all sleep 10 s, against the same master without notify scripts; the gaps
   between its adverts are stamped by the kernel as they leave `em1` while the scripts sleep.
3. Metrics scrapes: masters at 10 ms serving `--metrics`, scraped once or ten times a second, or not.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from fastvrrp import netns
from fastvrrp.peers import Peer, wait_until

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
from .cpu import measure as measure_cpu

INSTANCES = 50
BASE_PORT = 8100
LISTENER = """
import selectors, signal, socket, sys
sel = selectors.DefaultSelector()
for port in map(int, sys.argv[1:]):
    s = socket.create_server(("127.0.0.1", port), backlog=4096)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
accepted = 0
signal.signal(signal.SIGTERM, lambda *_: (print(accepted, flush=True), sys.exit(0)))
while True:
    for key, _ in sel.select():
        try:
            while True:
                key.fileobj.accept()[0].close()
                accepted += 1
        except BlockingIOError:
            pass
"""
CHECK_CASES = ("none", "shared", "same", "each")


def checks_config(case: str) -> str:
    """50 instances; `none`, one `shared` check tracked by all, 50 scripts probing the `same` target, or one `each`."""
    text = render_instances("ops", INSTANCES, state="MASTER", priority=100, advert_int="1")
    if case == "none":
        return text
    scripts, blocks = [], text.split("vrrp_instance ")
    for k in range(1, INSTANCES + 1):
        name = "web" if case == "shared" else f"web{k}"
        port = BASE_PORT + k if case == "each" else BASE_PORT
        if case != "shared" or k == 1:
            scripts.append(
                f"vrrp_script {name} {{\n    check tcp 127.0.0.1:{port}\n    interval 0.01\n    timeout 0.005\n}}\n"
            )
        blocks[k] = blocks[k].replace("    virtual_ipaddress", f"    track_script {{\n        {name}\n    }}\n"
                                      "    virtual_ipaddress", 1)
    return "".join(scripts) + "vrrp_instance ".join(blocks)


def check_cost(case: str, windows: int, seconds: float, workdir: Path) -> dict:
    ports = [str(BASE_PORT + k) for k in range(1, INSTANCES + 1)] if case == "each" else [str(BASE_PORT)]
    with netns.Topology(["a"]) as topo:
        listener = topo.popen("a", [sys.executable, "-c", LISTENER, *ports], stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(0.5)
            peer = Peer(topo, "a", "fastvrrp", checks_config(case), workdir)
            peer.start()
            if not peer.wait_ready() or wait_until(lambda: vip_count(topo, "a") == INSTANCES, 20, 0.1) is None:
                raise RuntimeError(f"{case}: the instances did not all become master: {peer.log()[-2000:]}")
            time.sleep(1.0)
            shares, _ = measure_cpu(peer, windows, seconds)
            status = json.loads(topo.run("a", [sys.executable, "-m", "fastvrrp", "status", "--json"]).stdout)
            peer.stop()
        finally:
            listener.terminate()
            accepted, _ = listener.communicate(timeout=10)
    runs = sum(c["runs"] for c in status["checks"].values())
    up = all(c["up"] for c in status["checks"].values())
    return {"shares": shares, "runs": runs, "checks": len(status["checks"]), "up": up, "uptime": status["uptime"],
            "accepted": int(accepted.strip() or 0)}


def sleeper(workdir: Path) -> Path:
    path = workdir / "sleep10.sh"
    workdir.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nsleep 10\n")
    path.chmod(0o755)
    return path


def notify_gaps(with_notify: bool, seconds: float, workdir: Path) -> dict:
    text = render_instances("notify", 1, state="MASTER", priority=100, advert_int="0.01")
    if with_notify:
        script = sleeper(workdir)
        text = text.replace("    virtual_ipaddress", f'    notify_backup "{script}"\n    notify_master "{script}"\n'
                            f'    notify "{script}"\n    virtual_ipaddress', 1)
    with netns.Topology(["a"]) as topo:
        peer = Peer(topo, "a", "fastvrrp", text, workdir)
        peer.start()
        if not peer.wait_ready() or wait_until(lambda: vip_count(topo, "a") == 1, 10, 0.02) is None:
            raise RuntimeError(f"no master: {peer.log()[-2000:]}")
        capture = Capture(topo, "a", workdir / "notify.pcap", "ip proto 112", snaplen=64)
        time.sleep(seconds)
        frames = capture.frames()
        running = topo.run("a", ["pgrep", "-f", "sleep 10"], check=False).stdout.split()
        peer.stop()
    times = [f.time for f in frames if (fields := vrrp_fields(f.data)) is not None and fields[2] > 0]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return {"gaps": gaps, "dropped": capture.dropped, "sleeping": len(running)}


SCRAPER = """
import sys, time, urllib.request
url, period = sys.argv[1], float(sys.argv[2])
while True:
    urllib.request.urlopen(url, timeout=5).read()
    time.sleep(period)
"""


def scrape_gaps(period: float | None, count: int, seconds: float, workdir: Path) -> dict:
    """Advert gaps of `count` masters at 10 ms, serving metrics, scraped every `period` seconds or not."""
    with netns.Topology(["a"]) as topo:
        peer = OpsPeer(topo, "a", "fastvrrp", render_instances("scrape", count, state="MASTER", priority=100), workdir)
        peer.extra_args = ("--metrics", "127.0.0.1:9650")
        peer.start()
        if not peer.wait_ready() or wait_until(lambda: vip_count(topo, "a") == count, 20, 0.1) is None:
            raise RuntimeError(f"the instances did not all become master: {peer.log()[-2000:]}")
        argv = [sys.executable, "-c", SCRAPER, "http://127.0.0.1:9650/metrics", str(period)]
        scraper = topo.popen("a", argv) if period is not None else None
        try:
            time.sleep(0.5)
            capture = Capture(topo, "a", workdir / "scrape.pcap", "ip proto 112", snaplen=64)
            time.sleep(seconds)
            frames = capture.frames()
        finally:
            if scraper is not None:
                scraper.kill()
                scraper.wait()
        peer.stop()
    by_vrid: dict[int, list[float]] = {}
    for frame in frames:
        fields = vrrp_fields(frame.data)
        if fields is not None and fields[2] > 0:
            by_vrid.setdefault(fields[1], []).append(frame.time)
    gaps = [b - a for times in by_vrid.values() for a, b in itertools.pairwise(times)]
    return {"gaps": gaps, "dropped": capture.dropped}


class OpsPeer(Peer):
    """A fastvrrp Peer with extra `fastvrrp run` arguments."""

    extra_args: tuple[str, ...] = ()

    def argv(self) -> list[str]:
        return super().argv() + list(self.extra_args)


PARTS = ("checks", "notify", "scrape")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fastvrrp bench operations", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="CPU window / capture length")
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--scrape-instances", type=int, default=50, help="masters at 10 ms while /metrics is scraped")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--cases", default=",".join(CHECK_CASES),
                        help=f"check cases, comma-separated subset of {','.join(CHECK_CASES)} (none is the baseline)")
    parser.add_argument("--results", type=lambda text: Path(text) if text else None, default=RESULTS,
                        help="RESULTS.md to update ('' for none)")
    args = parser.parse_args(argv)
    parts, cases = args.parts.split(","), args.cases.split(",")
    if not set(parts) <= set(PARTS) or not set(cases) <= set(CHECK_CASES):
        parser.error(f"--parts takes {','.join(PARTS)}; --cases takes {','.join(CHECK_CASES)}")
    netns.cleanup_stale()
    before = machine()
    check_rows, gap_rows, scrape_rows = [], [], []
    with tempfile.TemporaryDirectory(prefix="fastvrrp-ops-") as tmp:
        baseline = None
        for case in CHECK_CASES if "checks" in parts else ():
            if case not in cases:
                continue
            result = check_cost(case, args.windows, args.seconds, Path(tmp) / case)
            shares = result["shares"]
            mean = sum(shares) / len(shares)
            baseline = mean if case == "none" else baseline
            rate = result["runs"] / result["uptime"] if result["checks"] else 0
            connects = result["accepted"] / result["uptime"]
            cost = None if baseline is None or case == "none" else mean - baseline
            row = [case, str(result["checks"]), f"{rate:.0f}", f"{connects:.0f}"]
            row += [" / ".join(f"{s:.1f}" for s in shares), f"{mean:.1f}", "-" if cost is None else f"{cost:.1f}"]
            row += ["-" if cost is None or not connects else f"{cost / 100 / connects * 1e6:.1f}"]
            row += ["yes" if result["up"] else "NO"]
            print(" | ".join(row), flush=True)
            check_rows.append(row)
        for with_notify in (False, True) if "notify" in parts else ():
            result = notify_gaps(with_notify, args.seconds * 2, Path(tmp) / f"notify-{with_notify}")
            gaps = result["gaps"]
            row = ["sleep 10 s" if with_notify else "none", str(result["sleeping"]), str(len(gaps))]
            row += [f"{percentile(gaps, q) * 1e3:.3f}" for q in (50, 99)] + [f"{max(gaps) * 1e3:.3f}"]
            row += [str(sum(abs(g - 0.01) > 0.001 for g in gaps)), str(result["dropped"])]
            print(" | ".join(row), flush=True)
            gap_rows.append(row)
        for period in (None, 1.0, 0.1) if "scrape" in parts else ():
            result = scrape_gaps(period, args.scrape_instances, args.seconds, Path(tmp) / f"scrape-{period}")
            gaps = result["gaps"]
            row = [f"{1 / period:g} / s" if period else "none", str(args.scrape_instances), str(len(gaps))]
            row += [f"{percentile(gaps, q) * 1e3:.3f}" for q in (50, 99)] + [f"{max(gaps) * 1e3:.3f}"]
            row += [str(sum(abs(g - 0.01) > 0.001 for g in gaps)), str(result["dropped"])]
            print(" | ".join(row), flush=True)
            scrape_rows.append(row)
    after = machine()
    sections = [
        (
            f"`fastvrrp bench operations` ({before['date']}; {before['cpu']}; {before['load']} before, "
            f"{after['load']} after). The machine is shared with other sessions: load is part of the figure."
        )
    ]
    if check_rows:
        sections.append(
            "In-process TCP checks at `interval 0.01`, 50 instances (1 s adverts), daemon CPU in % of one core "
            f"per {args.seconds:g} s window; \"runs/s\" counts each script's results, \"connects/s\" the "
            "connections the listener accepted; \"cost\" is the mean minus the run without checks, "
            "\"µs/connect\" the cost per accepted connection:\n\n"
            + markdown_table(
                ["checks", "scripts", "runs/s", "connects/s", "CPU windows %", "mean %", "cost %", "µs/connect",
                 "all up"], check_rows
            )
        )
    if gap_rows:
        sections.append(
            "A notify script sleeping 10 s (notify_backup, notify_master and notify all sleep) against none; "
            "one master at 10 ms, adverts stamped by the kernel leaving `em1` while the scripts run "
            f"({args.seconds * 2:g} s capture); gaps in ms, \"off\" = gaps more than 1 ms from 10 ms:\n\n"
            + markdown_table(["notify", "sleeping", "gaps", "p50", "p99", "max", "off > 1 ms", "dropped"], gap_rows)
        )
    if scrape_rows:
        sections.append(
            f"`--metrics` served, {args.scrape_instances} masters at 10 ms, /metrics scraped from the same "
            f"namespace once or ten times a second, or not ({args.seconds:g} s capture; gaps in ms):\n\n"
            + markdown_table(["scrapes", "instances", "gaps", "p50", "p99", "max", "off > 1 ms", "dropped"],
                             scrape_rows)
        )
    body = "\n\n".join(sections)
    if args.results is not None:
        write_section("Operations", body, args.results)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
