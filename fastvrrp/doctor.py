"""`fastvrrp doctor`: why routers that should hear each other do not (split brain), with the fix.

For each instance of a keepalived.conf it checks, in the network namespace it runs in, the three
things that silently stop adverts before any daemon sees them: a firewall rule that drops or
rejects IP protocol 112 on the instance's interface, the interface not having joined the VRRP
multicast group while a daemon runs, and strict reverse-path filtering.  Each problem comes
with the exact command that fixes it.  Reading is all it does: it changes nothing.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from . import firewall
from .config_model import VrrpInstance

_DAEMONS = ("keepalived", "fastvrrp")


@dataclass(frozen=True)
class Check:
    """One verdict on one instance: `ok` False is a problem; `lines` explain it and say the fix."""

    name: str
    ok: bool
    lines: tuple[str, ...] = field(default=())


def _run(argv: list[str]) -> str:
    """Output of a read-only command, '' when it is missing or fails (no firewall of that kind)."""
    if shutil.which(argv[0]) is None:
        return ""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    return result.stdout if result.returncode == 0 else ""


def interface_network(ifname: str, family: int) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The first global subnet on `ifname`: where multicast peers send from."""
    out = _run(["ip", "-j", f"-{family}", "addr", "show", "dev", ifname])
    for link in json.loads(out or "[]"):
        for addr in link.get("addr_info", []):
            if addr.get("scope") == "global":
                return ipaddress.ip_network(f"{addr['local']}/{addr['prefixlen']}", strict=False)
    return None


def check_firewall(instance: VrrpInstance) -> Check:
    """Walk the advert through iptables (or ip6tables) and nftables as they are now."""
    advert = firewall.Advert(
        instance.family, instance.interface, interface_network(instance.interface, instance.family)
    )
    save = "iptables-save" if instance.family == 4 else "ip6tables-save"
    command = "iptables" if instance.family == 4 else "ip6tables"
    iptables_nft = firewall.iptables_is_nft(_run([command, "-V"]))
    sources = [(command, _run([save])), ("nftables", _run(["nft", "-j", "list", "ruleset"]))]
    findings = firewall.findings_for(sources, advert, iptables_nft)
    if not findings:
        return Check("firewall", True, ("no iptables or nftables rules",))
    lines = tuple(line for finding in findings for line in firewall.explain(finding))
    return Check("firewall", not any(f.blocked for f in findings), lines)


def igmp_groups(text: str, family: int) -> dict[str, set[str]]:
    """/proc/net/igmp or /proc/net/igmp6 → {interface: groups joined}."""
    groups: dict[str, set[str]] = {}
    current = ""
    for line in text.splitlines()[1 if family == 4 else 0 :]:
        fields = line.split()
        if not fields:
            continue
        if family == 6:
            ifname, group = fields[1], fields[2]
            groups.setdefault(ifname, set()).add(str(ipaddress.IPv6Address(bytes.fromhex(group))))
        elif not line[0].isspace():
            current = fields[1].rstrip(":")
            groups.setdefault(current, set())
        else:
            group = ipaddress.IPv4Address(int(fields[0], 16).to_bytes(4, "little"))
            groups[current].add(str(group))
    return groups


def running_daemons() -> list[tuple[int, str]]:
    """VRRP daemons (keepalived, `fastvrrp run`) whose network namespace is ours."""
    own = os.readlink("/proc/self/ns/net")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if os.readlink(entry / "ns/net") != own:
                continue
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        name = os.path.basename(words[0]) if words else ""
        if name == "keepalived" or "fastvrrp" in words[:3] and "run" in words[:4]:
            found.append((int(entry.name), name if name == "keepalived" else "fastvrrp"))
    return found


def check_multicast(instance: VrrpInstance, daemons: list[tuple[int, str]], proc: Path = Path("/proc")) -> Check:
    """The kernel hands multicast adverts to a raw socket only if the group was joined on the link."""
    if instance.unicast_peers:
        return Check("multicast", True, ("unicast peers: no group needed",))
    group = instance.multicast_group
    if not daemons:
        return Check("multicast", True, (f"no VRRP daemon runs here: membership of {group} not checked",))
    name = "net/igmp" if instance.family == 4 else "net/igmp6"
    joined = igmp_groups((proc / name).read_text(), instance.family).get(instance.interface, set())
    who = ", ".join(f"{n} {pid}" for pid, n in daemons)
    if group in joined:
        return Check("multicast", True, (f"{instance.interface} has joined {group} ({who} running)",))
    return Check(
        "multicast",
        False,
        (
            f"{instance.interface} has not joined {group} although {who} runs: adverts are not delivered",
            f"  check that the daemon uses {instance.interface}, and `ip maddr show dev {instance.interface}`",
        ),
    )


def check_rp_filter(instance: VrrpInstance, proc: Path = Path("/proc")) -> Check:
    """Strict reverse-path filtering drops adverts whose source is not routed back via the link.

    The kernel applies max(all, interface): both settings matter.
    """
    if instance.family != 4:
        return Check("rp_filter", True, ("IPv6 has no rp_filter",))
    conf = proc / "sys/net/ipv4/conf"
    values = {}
    for scope in ("all", instance.interface):
        try:
            values[scope] = int((conf / scope / "rp_filter").read_text())
        except (OSError, ValueError):
            values[scope] = 0
    effective = max(values.values())
    text = f"{instance.interface}: {values[instance.interface]}, all: {values['all']} (effective {effective})"
    if effective != 1:
        return Check("rp_filter", True, (text,))
    if instance.unicast_peers:
        astray = [str(p.address) for p in instance.unicast_peers if route_device(str(p.address)) != instance.interface]
        why = f"peers {', '.join(astray)} are routed through another interface" if astray else ""
    else:
        on_link = interface_network(instance.interface, 4) is not None
        why = "" if on_link else f"{instance.interface} has no IPv4 subnet, so no peer is routed back through it"
    if not why:
        return Check("rp_filter", True, (text + ": strict, and the peers are reached through " + instance.interface,))
    fixes = [f"sysctl -w net.ipv4.conf.{scope}.rp_filter=2" for scope, v in values.items() if v == 1]
    return Check("rp_filter", False, (f"{text}: strict, and {why}", *(f"  fix: {fix}" for fix in fixes)))


def route_device(address: str) -> str | None:
    """The interface the kernel would send to `address` through (what strict rp_filter compares)."""
    routes = json.loads(_run(["ip", "-j", "route", "get", address]) or "[]")
    return routes[0].get("dev") if routes else None


def diagnose(instance: VrrpInstance, daemons: list[tuple[int, str]]) -> list[Check]:
    return [check_firewall(instance), check_multicast(instance, daemons), check_rp_filter(instance)]


def report(instance: VrrpInstance, checks: list[Check], out: TextIO) -> None:
    family = "IPv4" if instance.family == 4 else "IPv6"
    print(
        f"{instance.name}: {instance.interface}, {family}, VRID {instance.virtual_router_id}, "
        f"group {instance.multicast_group}",
        file=out,
    )
    for check in checks:
        lines = list(check.lines) or [""]
        print(f"  {check.name:<10} {'ok' if check.ok else 'PROBLEM':<8} {lines[0]}", file=out)
        for line in lines[1:]:
            print(f"  {'':<10} {'':<8} {line}", file=out)


def doctor_command(path: str, out: TextIO, err: TextIO) -> int:
    """Exit 0 when nothing blocks VRRP, 1 when a problem was found, 2 when the config is unusable."""
    from .config import ConfigError, load_config

    try:
        config = load_config(path)
    except ConfigError as e:
        for diagnostic in e.diagnostics:
            print(diagnostic, file=err)
        return 2
    except OSError as e:
        print(f"fastvrrp doctor: {path}: {e.strerror}", file=err)
        return 2
    if os.geteuid() != 0:
        print("fastvrrp doctor: not root: the firewall rules may not be readable", file=err)
    daemons = running_daemons()
    problems = 0
    for instance in config.instances:
        checks = diagnose(instance, daemons)
        report(instance, checks, out)
        problems += sum(not c.ok for c in checks)
    print(f"{problems} problem(s) found" if problems else "nothing blocks VRRP here", file=out)
    return 1 if problems else 0
