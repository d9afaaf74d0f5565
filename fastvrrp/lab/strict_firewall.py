"""The experiment's strict firewall, put on a lab router, read back, and healed.

The rules are the backup's from EXPERIMENT.md: accepts for established traffic, ICMP, loopback,
ssh and http, then a REJECT for everything else, VRRP included.  They are loaded inside the
router's namespace only (`ip netns exec`), never in the namespace the lab was started from.
iptables is used when installed, as on the experiment's servers; nftables otherwise.
"""

from __future__ import annotations

import shlex
import shutil

from .. import firewall
from ..netns import Topology

IPTABLES = "iptables"
NFTABLES = "nftables"

_IPTABLES_RULES = """*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p {icmp} -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT
-A INPUT -p tcp -m state --state NEW -m tcp --dport 80 -j ACCEPT
-A INPUT -j REJECT --reject-with {reject}
-A FORWARD -j REJECT --reject-with {reject}
COMMIT
"""

_NFT_RULES = """table inet filter {
    chain input {
        type filter hook input priority filter; policy accept;
        ct state established,related accept
        meta l4proto { icmp, ipv6-icmp } accept
        iifname "lo" accept
        tcp dport 22 ct state new accept
        tcp dport 80 ct state new accept
        reject with icmpx type admin-prohibited
    }
    chain forward {
        type filter hook forward priority filter; policy accept;
        reject with icmpx type admin-prohibited
    }
}
"""


def tools(kind: str, family: int) -> list[str]:
    """The commands the lab runs for `kind`: what must be installed."""
    if kind == NFTABLES:
        return ["nft"]
    prefix = "iptables" if family == 4 else "ip6tables"
    return [f"{prefix}-restore", f"{prefix}-save", prefix]


def choose(preference: str | None, family: int) -> str | None:
    """iptables when present (the experiment's tool), else nftables; None when neither is."""
    order = [preference] if preference else [IPTABLES, NFTABLES]
    for kind in order:
        if all(shutil.which(tool) for tool in tools(kind, family)):
            return kind
    return None


def rules(kind: str, family: int) -> str:
    """The experiment's ruleset in the syntax of `kind`, for `family` (4 or 6)."""
    if kind == NFTABLES:
        return _NFT_RULES
    if family == 4:
        return _IPTABLES_RULES.format(icmp="icmp", reject="icmp-host-prohibited")
    return _IPTABLES_RULES.format(icmp="ipv6-icmp", reject="icmp6-adm-prohibited")


def apply(topology: Topology, role: str, kind: str, family: int) -> str:
    """Load the ruleset in router `role`'s namespace; returns the command shown to the user."""
    if kind == NFTABLES:
        topology.run(role, ["nft", "-f", "-"], input=rules(kind, family))
        return "nft -f strict.nft"
    command = "iptables-restore" if family == 4 else "ip6tables-restore"
    topology.run(role, [command], input=rules(kind, family))
    return f"{command} < strict.rules"


def listing(topology: Topology, role: str, kind: str, family: int) -> str:
    """What `iptables-save` / `nft -j list ruleset` prints in router `role`'s namespace."""
    if kind == NFTABLES:
        return topology.run(role, ["nft", "-j", "list", "ruleset"]).stdout
    return topology.run(role, ["iptables-save" if family == 4 else "ip6tables-save"]).stdout


def diagnose(topology: Topology, role: str, kind: str, family: int, ifname: str, link) -> firewall.Finding:
    """The doctor's analysis of router `role`'s ruleset for adverts arriving on `ifname`."""
    advert = firewall.Advert(family, ifname, link)
    text = listing(topology, role, kind, family)
    if kind == NFTABLES:
        return firewall.analyse_nftables(text, advert)
    return firewall.analyse_iptables(text, advert, "iptables" if family == 4 else "ip6tables")


def append_accept(topology: Topology, role: str, kind: str, family: int) -> str:
    """What users try first: an accept appended to the input chain, after the REJECT."""
    if kind == NFTABLES:
        argv = ["nft", "add", "rule", "inet", "filter", "input", "meta", "l4proto", "vrrp", "accept"]
    else:
        argv = ["iptables" if family == 4 else "ip6tables", "-A", "INPUT", "-p", "vrrp", "-j", "ACCEPT"]
    topology.run(role, argv)
    return shlex.join(argv)


def heal(topology: Topology, role: str, finding: firewall.Finding) -> str:
    """Run the finding's fix (an insert before the blocking rule) in `role`'s namespace."""
    topology.run(role, shlex.split(finding.fix))
    return finding.fix
