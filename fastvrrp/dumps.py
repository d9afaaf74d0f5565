"""keepalived-style dump files: SIGUSR1 writes `fastvrrp.data`, SIGUSR2 `fastvrrp.stats`.

The layout follows keepalived's `/tmp/keepalived.data` and `/tmp/keepalived.stats`, so that
exporters and scripts that scrape those files keep working; the directory is an option
(`--dump-dir`) because several daemons share one /tmp in the lab and the tests.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Mapping

from .protocol import VirtualRouter

DATA_FILE = "fastvrrp.data"
STATS_FILE = "fastvrrp.stats"

_STATS_LAYOUT: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Advertisements", (("Received", "advert_rcvd"), ("Sent", "advert_sent"))),
    ("", (("Became master", "become_master"), ("Released master", "release_master"))),
    (
        "Packet Errors",
        (
            ("Length", "packet_len_err"),
            ("TTL", "ip_ttl_err"),
            ("Invalid Type", "invalid_type_rcvd"),
            ("Advertisement Interval", "advert_interval_err"),
            ("Address List", "addr_list_err"),
        ),
    ),
    (
        "Authentication Errors",
        (("Invalid Type", "invalid_authtype"), ("Type Mismatch", "authtype_mismatch"), ("Failure", "auth_failure")),
    ),
    ("Priority Zero", (("Received", "pri_zero_rcvd"), ("Sent", "pri_zero_sent"))),
)


UNCLAIMED = "adverts for no instance here"
"""Heading of a socket's block of drops that name no instance (a foreign VRID, a broken header)."""


def format_stats(
    routers: Iterable[VirtualRouter], unclaimed: Mapping[tuple[str, int], Mapping[str, int]] | None = None
) -> str:
    """keepalived's statistics dump, one block per instance, then every other counter we keep;
    then, per (interface, family) socket, what it dropped that no instance could be charged with."""
    lines = []
    for router in routers:
        counters = router.counters
        lines.append(f"VRRP Instance: {router.name}")
        shown = set()
        for heading, rows in _STATS_LAYOUT:
            indent = "  "
            if heading:
                lines.append(f"  {heading}:")
                indent = "    "
            for label, key in rows:
                lines.append(f"{indent}{label}: {counters.get(key, 0)}")
                shown.add(key)
        others = sorted(k for k in counters if k not in shown)
        if others:
            lines.append("  Other:")
            lines.extend(f"    {key}: {counters[key]}" for key in others)
    for (ifname, family), drops in sorted((unclaimed or {}).items()):
        if drops:
            lines.append(f"Interface {ifname} IPv{family}: {UNCLAIMED}")
            lines.extend(f"  {key}: {n}" for key, n in sorted(drops.items()))
    return "\n".join(lines) + "\n"


def format_data(routers: Iterable[VirtualRouter]) -> str:
    """keepalived's data dump: each instance's configuration and current state."""
    lines = [f"------< VRRP Topology >------  {time.strftime('%Y-%m-%d %H:%M:%S')}"]
    for router in routers:
        s = router.settings
        master = ipaddress.ip_address(router.master_address) if router.master_address else "none"
        interval = f"{s.advert_interval_cs // 100} sec" if s.version == 2 else f"{s.advert_interval_cs * 10} milli-sec"
        lines += [
            f" VRRP Instance = {s.name}",
            f"   VRRP Version = {s.version}",
            f"   State = {router.state}",
            f"   Interface = {s.interface}",
            f"   Using src_ip = {ipaddress.ip_address(s.primary_address)}",
            f"   Virtual Router ID = {s.vrid}",
            f"   Priority = {s.priority}",
            f"   Effective priority = {router.effective_priority}",
            f"   Advert interval = {interval}",
            f"   Preempt = {'enabled' if s.preempt else 'disabled'}",
            f"   Preempt delay = {s.preempt_delay:g} secs",
            f"   Accept = {'enabled' if s.accept_mode else 'disabled'}",
            f"   Master router = {master}",
            f"   Virtual IP ({len(s.vips)}):",
        ]
        lines += [f"     {ipaddress.ip_address(v)} dev {s.interface}" for v in s.vips]
    return "\n".join(lines) + "\n"


def parse_stats(text: str) -> dict[str, dict[str, int]]:
    """Read a stats dump back into counters by keepalived's names, per instance (and per
    "Interface IF IPvN" for the drops no instance was charged with)."""
    labels = {(heading, label): key for heading, rows in _STATS_LAYOUT for label, key in rows}
    result: dict[str, dict[str, int]] = {}
    counters: dict[str, int] = {}
    heading = ""
    raw = False  # counters listed by their own names
    for line in text.splitlines():
        if line.startswith("VRRP Instance: "):
            counters = result.setdefault(line.split(": ", 1)[1], {})
            heading, raw = "", False
        elif line.startswith("Interface ") and line.endswith(f": {UNCLAIMED}"):
            counters = result.setdefault(line.split(": ", 1)[0], {})
            heading, raw = "", True
        elif line.endswith(":") and line.startswith("  ") and not line.startswith("    "):
            heading = line.strip()[:-1]
        elif ": " in line:
            label, value = line.strip().rsplit(": ", 1)
            depth_heading = heading if line.startswith("    ") else ""
            key = label if raw else labels.get((depth_heading, label), label if depth_heading == "Other" else None)
            if key is not None:
                counters[key] = int(value)
    return result
