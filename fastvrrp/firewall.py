"""Does this host's firewall let VRRP in, and if not, which rule stops it and what fixes it.

The lesson of the master/backup experiment: a REJECT at the end of INPUT blocks IP protocol 112,
each router then hears nobody and both become master.  VRRP has no port, so it must be accepted
by protocol, *before* the rule that blocks it; `iptables -A` appends after that rule and heals
nothing.  This module walks a ruleset the way the kernel would for one VRRP advert arriving on
one interface and names the first rule that rejects or drops it, with the fix in the syntax of
the firewall that holds the rule (`iptables -I CHAIN N ...`, `nft insert rule ... position H`).

It reads what `iptables-save` / `ip6tables-save` and `nft -j list ruleset` print, so the
analysis is a pure function of text, tested on canned outputs.  A match it cannot evaluate
(a module it does not know) makes the rule count as not matching, and the rule is listed in
`Finding.unsure` so the report can say so instead of guessing.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

_VRRP_NAMES = {"vrrp", "112"}
_ANY_PROTOCOL = {"all", "0"}
_NEW_STATES = {"NEW", "UNTRACKED"}
"""VRRP adverts are multicast and never answered, so conntrack never calls them ESTABLISHED."""
_BLOCKING = {"DROP", "REJECT"}
_IPTABLES_PATH = [("raw", "PREROUTING"), ("mangle", "PREROUTING"), ("mangle", "INPUT"), ("filter", "INPUT")]
"""The tables and chains an incoming packet for this host traverses, in order (nat sees no VRRP)."""
_IPTABLES_NFT_TABLES = {"filter", "raw", "mangle", "nat", "security"}


@dataclass(frozen=True)
class Advert:
    """A VRRP advert as a firewall sees it: protocol 112 to the group, arriving on `ifname`."""

    family: int
    ifname: str
    link: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    """The interface's subnet: where peers send from (None: unknown, `-s` rules never match)."""

    @property
    def group(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        return ipaddress.ip_address("224.0.0.18" if self.family == 4 else "ff02::12")


@dataclass(frozen=True)
class Finding:
    """The verdict of one firewall on one advert, with the fix when it blocks."""

    firewall: str
    """`iptables`, `ip6tables` or `nftables`."""
    blocked: bool
    where: str = ""
    """Table and chain of the deciding rule, `filter INPUT rule 6`, `inet filter input handle 9`."""
    rule: str = ""
    """The deciding rule as the firewall prints it (or the chain's policy)."""
    fix: str = ""
    """The command that lets VRRP in, inserted before `rule`."""
    unsure: tuple[str, ...] = field(default=())
    """Rules before the verdict with matches we could not evaluate."""


def _iface_matches(pattern: str, ifname: str) -> bool:
    """iptables' rule: a trailing `+` matches any interface with that prefix."""
    return ifname.startswith(pattern[:-1]) if pattern.endswith("+") else pattern == ifname


def _net_matches(text: str, address, link) -> bool | None:
    """Whether `text` (address/prefix list) covers `address`, or for sources the peers' `link`."""
    nets = [ipaddress.ip_network(part, strict=False) for part in text.split(",")]
    if address is not None:
        return any(address.version == n.version and address in n for n in nets)
    if link is None:
        return False
    return any(link.version == n.version and link.overlaps(n) for n in nets)


# ---------------------------------------------------------------------------------------------
# iptables-save


@dataclass
class _IptRule:
    chain: str
    index: int
    text: str
    args: list[str]


def parse_iptables_save(text: str) -> dict[str, tuple[dict[str, str], dict[str, list[_IptRule]]]]:
    """`iptables-save` output → {table: ({chain: policy}, {chain: [rules in order]})}."""
    tables: dict[str, tuple[dict[str, str], dict[str, list[_IptRule]]]] = {}
    policies: dict[str, str] = {}
    rules: dict[str, list[_IptRule]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("*"):
            policies, rules = {}, {}
            tables[line[1:]] = (policies, rules)
        elif line.startswith(":"):
            name, policy = line[1:].split()[:2]
            policies[name] = policy
            rules.setdefault(name, [])
        elif line.startswith("-A "):
            args = shlex.split(line)
            chain = args[1]
            chain_rules = rules.setdefault(chain, [])
            chain_rules.append(_IptRule(chain, len(chain_rules) + 1, line, args[2:]))
    return tables


def _ipt_match(args: list[str], advert: Advert) -> tuple[bool | None, str | None, bool]:
    """Evaluate one rule: (True/False, or None when a match we do not know decides; its target;
    whether the target is a goto, whose chain does not come back to this one).

    iptables-save prints every option with its value except a few flags; a word that does not
    start with `-` after an option is that option's value.
    """
    results: list[bool] = []
    unknown = False
    target: str | None = None
    goto = False
    negate = False
    i = 0
    while i < len(args):
        word = args[i]
        value = args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("-") else ""
        i += 2 if value else 1
        if word == "!":
            negate = True
            continue
        result: bool | None = None
        if word in ("-p", "--protocol"):
            result = value.lower() in _ANY_PROTOCOL or value.lower() in _VRRP_NAMES
        elif word in ("-i", "--in-interface"):
            result = _iface_matches(value, advert.ifname)
        elif word in ("-d", "--destination"):
            result = _net_matches(value, advert.group, None)
        elif word in ("-s", "--source"):
            result = _net_matches(value, None, advert.link)
        elif word in ("--state", "--ctstate"):
            result = bool(_NEW_STATES & set(value.upper().split(",")))
        elif word == "--pkt-type":
            result = value.lower() == "multicast"
        elif word == "--dst-type":
            result = "MULTICAST" in value.upper().split(",")
        elif word in ("--dport", "--sport", "--dports", "--sports", "--destination-port", "--source-port"):
            result = False  # VRRP has no ports
        elif word in ("-j", "--jump", "-g", "--goto"):
            target, goto = value, word in ("-g", "--goto")
            break  # target options (--reject-with ...) follow and decide nothing here
        elif word in ("-m", "--match", "--comment", "-c"):
            pass
        else:
            unknown = True
        if result is not None:
            results.append(result != negate)
        negate = False
    if not all(results):
        return False, target, goto
    return (None if unknown else True), target, goto


def analyse_iptables(text: str, advert: Advert, command: str = "iptables") -> Finding:
    """Follow an advert through `iptables-save` output; the first DROP/REJECT it meets blocks it.

    An ACCEPT ends a table's verdict, the next table still sees the packet (raw, mangle, then
    filter), as in the kernel.  Jumps into user chains are followed; the fix goes into the base
    chain, before the rule where the blocked path leaves it, so it applies whatever the user
    chain does to others.
    """
    tables = parse_iptables_save(text)
    unsure: list[str] = []
    for table, chain in _IPTABLES_PATH:
        if table not in tables or chain not in tables[table][0]:
            continue
        policies, rules = tables[table]
        verdict, path = _ipt_walk(rules, chain, advert, unsure, depth=0)
        if verdict is None:
            verdict = policies.get(chain, "ACCEPT")
            if verdict in _BLOCKING:
                t = "" if table == "filter" else f"-t {table} "
                fix = f"{command} {t}-A {chain} -i {advert.ifname} -p vrrp -j ACCEPT"
                where = f"{table} {chain} policy"
                return Finding(command, True, where, f":{chain} {verdict}", fix, tuple(unsure))
            continue
        if verdict in _BLOCKING:
            base = path[0]
            t = "" if table == "filter" else f"-t {table} "
            fix = f"{command} {t}-I {chain} {base.index} -i {advert.ifname} -p vrrp -j ACCEPT"
            last = path[-1]
            where = f"{table} {last.chain} rule {last.index}"
            return Finding(command, True, where, last.text, fix, tuple(unsure))
    return Finding(command, False, unsure=tuple(unsure))


def _ipt_walk(
    rules: dict[str, list[_IptRule]], chain: str, advert: Advert, unsure: list[str], depth: int
) -> tuple[str | None, list[_IptRule]]:
    """(ACCEPT/DROP/REJECT or None when the chain falls through or RETURNs, rules on the way)."""
    if depth > 16:
        return None, []
    for rule in rules.get(chain, []):
        matches, target, goto = _ipt_match(rule.args, advert)
        if matches is None:
            unsure.append(rule.text)
        if not matches or target is None:
            continue
        if target in _BLOCKING or target == "ACCEPT":
            return target, [rule]
        if target == "RETURN":
            return None, []
        if target in rules:
            verdict, path = _ipt_walk(rules, target, advert, unsure, depth + 1)
            if verdict is not None:
                return verdict, [rule, *path]
            if goto:
                return None, []
    return None, []


def iptables_is_nft(version_text: str) -> bool:
    """`iptables -V` says `(nf_tables)` when its rules live in nftables tables."""
    return "nf_tables" in version_text


# ---------------------------------------------------------------------------------------------
# nftables (`nft -j list ruleset`)


def _nft_values(right) -> list:
    if isinstance(right, dict) and "set" in right:
        return [v for v in right["set"]]
    if isinstance(right, list):
        return right
    return [right]


def _nft_key(left) -> str | None:
    """A match's left side as `meta l4proto`, `ip protocol`, `ct state`, `tcp dport` ..."""
    if not isinstance(left, dict):
        return None
    if "meta" in left:
        return f"meta {left['meta'].get('key')}"
    if "ct" in left:
        return f"ct {left['ct'].get('key')}"
    if "payload" in left:
        return f"{left['payload'].get('protocol')} {left['payload'].get('field')}"
    return None


def _nft_address_match(values: list, address, link) -> bool:
    texts = []
    for v in values:
        if isinstance(v, dict) and "prefix" in v:
            texts.append(f"{v['prefix']['addr']}/{v['prefix']['len']}")
        elif isinstance(v, str):
            texts.append(v)
        else:
            return False
    return bool(_net_matches(",".join(texts), address, link)) if texts else False


def _nft_expr_matches(expr: dict, advert: Advert) -> bool | None:
    """True/False for a match we understand, None for one we do not."""
    match = expr["match"]
    key = _nft_key(match.get("left"))
    values = _nft_values(match.get("right"))
    op = match.get("op", "==")
    if any(isinstance(v, str) and v.startswith("@") for v in values):
        return None  # a named set: its elements are not in the rule
    result: bool | None
    if key in ("meta l4proto", "ip protocol", "ip6 nexthdr"):
        result = any(str(v).lower() in _VRRP_NAMES for v in values)
        if key == "ip protocol" and advert.family != 4 or key == "ip6 nexthdr" and advert.family != 6:
            return False
    elif key in ("meta iifname", "meta iif"):
        result = any(fnmatch.fnmatchcase(advert.ifname, str(v)) for v in values)
    elif key == "ct state":
        result = any(str(v).upper() in _NEW_STATES for v in values)
    elif key == "meta pkttype":
        result = "multicast" in [str(v) for v in values]
    elif key == "meta nfproto":
        result = ("ipv4" if advert.family == 4 else "ipv6") in [str(v) for v in values]
    elif key in ("ip daddr", "ip6 daddr"):
        if (key == "ip daddr") != (advert.family == 4):
            return False
        result = _nft_address_match(values, advert.group, None)
    elif key in ("ip saddr", "ip6 saddr"):
        if (key == "ip saddr") != (advert.family == 4):
            return False
        result = _nft_address_match(values, None, advert.link)
    elif key is not None and key.split()[0] in ("tcp", "udp", "sctp", "icmp", "icmpv6", "th"):
        return False  # a transport header VRRP does not have
    else:
        return None
    return result if op in ("==", "in") else not result if op == "!=" else None


def _nft_value_text(right) -> str:
    def one(v) -> str:
        if isinstance(v, dict) and "prefix" in v:
            return f"{v['prefix']['addr']}/{v['prefix']['len']}"
        return json.dumps(v) if isinstance(v, dict) else str(v)

    if isinstance(right, list) or isinstance(right, dict) and "set" in right:
        return "{ " + ", ".join(one(v) for v in _nft_values(right)) + " }"
    return one(right)


def _nft_rule_text(rule: dict) -> str:
    """A rule in roughly the syntax `nft list ruleset` prints, for people to recognise it."""
    words = []
    for expr in rule.get("expr", []):
        if "match" in expr:
            m = expr["match"]
            op = "" if m.get("op") in ("==", "in") else f"{m.get('op')} "
            words.append(f"{_nft_key(m.get('left')) or '?'} {op}{_nft_value_text(m.get('right'))}")
        elif "reject" in expr:
            r = expr["reject"] or {}
            words.append("reject" + (f" with {r['type']} {r['expr']}" if r.get("expr") else ""))
        elif "jump" in expr or "goto" in expr:
            word = "jump" if "jump" in expr else "goto"
            words.append(f"{word} {expr[word]['target']}")
        else:
            words += [name for name in expr if name in ("accept", "drop", "return", "counter", "log", "xt")]
    return " ".join(words) + f" # handle {rule['handle']}"


def analyse_nftables(data: str | dict, advert: Advert, skip_iptables_tables: bool = False) -> Finding:
    """Follow an advert through every base chain on the prerouting and input hooks.

    In nftables an `accept` ends only its own base chain: the next base chain on the same hook
    still sees the packet, so every one of them must let VRRP through.  With
    `skip_iptables_tables`, the tables iptables-nft manages are left to `analyse_iptables`.
    """
    ruleset = json.loads(data) if isinstance(data, str) else data
    items = ruleset.get("nftables", [])
    rules: dict[tuple[str, str, str], list[dict]] = {}
    for item in items:
        if "rule" in item:
            r = item["rule"]
            rules.setdefault((r["family"], r["table"], r["chain"]), []).append(r)
    base = nft_input_chains(ruleset, advert.family, skip_iptables_tables)
    unsure: list[str] = []
    for chain in base:
        key = (chain["family"], chain["table"], chain["name"])
        verdict, path = _nft_walk(rules, key, advert, unsure, 0)
        if verdict is None and chain.get("policy") == "drop":
            fix = f'nft add rule {" ".join(key)} iifname "{advert.ifname}" meta l4proto vrrp accept'
            where = f"{' '.join(key)} policy"
            return Finding("nftables", True, where, "policy drop", fix, tuple(unsure))
        if verdict in ("drop", "reject"):
            first, last = path[0], path[-1]
            fix = (
                f"nft insert rule {' '.join(key)} position {first['handle']} "
                f'iifname "{advert.ifname}" meta l4proto vrrp accept'
            )
            where = f"{last['family']} {last['table']} {last['chain']} handle {last['handle']}"
            return Finding("nftables", True, where, _nft_rule_text(last), fix, tuple(unsure))
    return Finding("nftables", False, unsure=tuple(unsure))


def nft_input_chains(ruleset: dict, family: int, skip_iptables_tables: bool = False) -> list[dict]:
    """Base chains an incoming packet of `family` meets (prerouting, then input; by priority)."""
    families = {"inet", "ip" if family == 4 else "ip6"}
    hook_order = {"prerouting": 0, "input": 1}
    base = [
        i["chain"]
        for i in ruleset.get("nftables", [])
        if "chain" in i and i["chain"]["family"] in families and i["chain"].get("hook") in hook_order
    ]
    if skip_iptables_tables:
        base = [c for c in base if not (c["family"] in ("ip", "ip6") and c["table"] in _IPTABLES_NFT_TABLES)]
    return sorted(base, key=lambda c: (hook_order[c["hook"]], c.get("prio", 0)))


def _nft_walk(
    rules: dict[tuple[str, str, str], list[dict]],
    key: tuple[str, str, str],
    advert: Advert,
    unsure: list[str],
    depth: int,
) -> tuple[str | None, list[dict]]:
    if depth > 16:
        return None, []
    for rule in rules.get(key, []):
        matches, unknown, verdict, target = True, False, None, None
        for expr in rule.get("expr", []):
            if "match" in expr:
                result = _nft_expr_matches(expr, advert)
                unknown = unknown or result is None
                matches = matches and result is not False
            elif "xt" in expr:
                unknown = True
            for word in ("accept", "drop", "reject", "return"):
                if word in expr:
                    verdict = word
            for word in ("jump", "goto"):
                if word in expr:
                    verdict, target = word, expr[word]["target"]
        if matches and unknown:
            unsure.append(_nft_rule_text(rule))
            matches = False
        if not matches or verdict is None:
            continue
        if verdict in ("accept", "drop", "reject"):
            return verdict, [rule]
        if verdict == "return":
            return None, []
        sub, path = _nft_walk(rules, (key[0], key[1], target), advert, unsure, depth + 1)
        if sub is not None:
            return sub, [rule, *path]
        if verdict == "goto":
            return None, []
    return None, []


def explain(finding: Finding) -> list[str]:
    """Lines for a person: what blocks VRRP, the fix, and why the position matters."""
    if not finding.blocked:
        lines = [f"{finding.firewall}: lets VRRP (IP protocol 112) in"]
    else:
        lines = [
            f"{finding.firewall}: {finding.where} blocks VRRP (IP protocol 112) before any rule accepts it:",
            f"    {finding.rule}",
            f"  fix: {finding.fix}",
        ]
        if finding.firewall == "nftables":
            lines.append("  (`insert ... position H` puts the rule before handle H; `add` would land after it)")
        elif " -I " in finding.fix:
            lines.append(
                f"  (insert it: `{finding.firewall} -A INPUT -p vrrp -j ACCEPT` appends after the blocking rule"
                " and heals nothing)"
            )
        lines.append("  then save the ruleset the way this host loads it at boot, and do the same on every peer")
    lines += [f"  could not evaluate: {text}" for text in finding.unsure]
    return lines


def findings_for(sources: Iterable[tuple[str, str]], advert: Advert, iptables_nft: bool) -> list[Finding]:
    """Analyse each `(kind, output)` pair: kind is iptables, ip6tables or nftables.

    An nftables ruleset with no chain on the input path (only iptables-nft's own tables, or
    nothing) gives no finding: there is nothing of its own to report.
    """
    found = []
    for kind, text in sources:
        if not text.strip():
            continue
        if kind == "nftables":
            ruleset = json.loads(text)
            if nft_input_chains(ruleset, advert.family, iptables_nft):
                found.append(analyse_nftables(ruleset, advert, skip_iptables_tables=iptables_nft))
        else:
            found.append(analyse_iptables(text, advert, kind))
    return found
