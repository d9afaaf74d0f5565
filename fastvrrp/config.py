"""keepalived.conf -> `Config`: the VRRP part, every finding located at FILE:LINE.

A keepalived user must be able to point fastvrrp at the file they already have.  So the
syntax is keepalived's (line-based statements, `{ }` blocks, `!`/`#` comments, quotes,
`include` with globs relative to the including file), the defaults are keepalived 2.2.7's,
and the sections fastvrrp does not run (LVS, static routes...) are skipped with a warning
rather than refused.  Where keepalived would log a complaint and start with a guessed value,
fastvrrp refuses with an error that says what to write instead: a failover pair must not
come up on a guess.  All errors are collected before `ConfigError` is raised, so one run of
`fastvrrp check` shows them all.
"""

from __future__ import annotations

import glob
import ipaddress
import os
import re
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable, Container, Iterable, NamedTuple, TextIO

from .config_model import (
    ERROR,
    MAX_LABEL,
    WARNING,
    Authentication,
    Config,
    Diagnostic,
    FileCheck,
    GlobalDefs,
    IPAddress,
    Notifies,
    NotifyFifo,
    ScriptCommand,
    SyncGroup,
    TcpCheck,
    TrackedInterface,
    TrackedScript,
    UnicastPeer,
    VirtualAddress,
    VrrpInstance,
    VrrpScript,
    label_fits,
)

__all__ = ["ConfigError", "check_command", "format_config", "load_config"]


class ConfigError(Exception):
    """The configuration cannot be run; `.diagnostics` holds every error and warning found."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("\n".join(str(d) for d in diagnostics))
        self.diagnostics = diagnostics


# ---------------------------------------------------------------------------------------------
# Lexer: lines -> tokens, with includes spliced in where they stand (keepalived reads them so).

WORD, OPEN, CLOSE, EOL = "word", "{", "}", "eol"


class Token(NamedTuple):
    text: str
    file: str
    line: int
    kind: str


_INCLUDE = re.compile(r"\s*include\s+(.*)")
_GLOB_MAGIC = re.compile(r"[*?[]")
_ESCAPES = {"a": "\a", "b": "\b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_MAX_IFNAME = 15  # IFNAMSIZ - 1: the kernel refuses longer interface names


_COMMENT = re.compile(r"[#!]")
_PLAIN_TOKEN = re.compile(r"[{}]|[^\s{}]+")
"""A token of a line without quotes (its comment cut off): a brace, or a word up to one."""


class _Lexer:
    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        self.files: list[str] = []

    def read(self, path: str, including: tuple[str, ...] = ()) -> list[Token]:
        """Tokens of `path`; OSError escapes so that the caller decides what a missing file means."""
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
        self.files.append(path)
        chain = including + (os.path.realpath(path),)
        tokens: list[Token] = []
        for number, line in enumerate(text.splitlines(), 1):
            include = _INCLUDE.fullmatch(line)
            if include:
                tokens.extend(self._include(include.group(1), path, number, chain))
            else:
                tokens.extend(self._split(line, path, number))
                tokens.append(Token("", path, number, EOL))
        return tokens

    def _include(self, argument: str, path: str, number: int, chain: tuple[str, ...]) -> list[Token]:
        """keepalived resolves an include relative to the directory of the file that says it."""
        pattern = re.split(r"\s[#!]|^[#!]", argument, maxsplit=1)[0].strip().strip("\"'")
        tokens: list[Token] = []
        for alternative in _expand_braces(pattern):
            full = os.path.join(os.path.dirname(path), alternative)
            matches = sorted(glob.glob(full))
            if not matches and not _GLOB_MAGIC.search(alternative):
                self._add(path, number, WARNING, f"include {alternative}: no such file; nothing included")
            for match in matches:
                if os.path.realpath(match) in chain:
                    self._add(path, number, ERROR, f"include {alternative} includes {match} again, a loop; remove it")
                elif os.path.isdir(match):
                    self._add(path, number, WARNING, f"include {match} is a directory; write {match}/*.conf")
                else:
                    try:
                        tokens.extend(self.read(match, chain))
                    except OSError as e:
                        self._add(path, number, ERROR, f"include {match}: cannot read it ({e.strerror})")
        return tokens

    def _split(self, line: str, path: str, number: int) -> list[Token]:
        """Words, quoted parts joined to their neighbours as in a shell; braces are tokens even when
        they touch a word (`eth0{`), comments run from an unquoted `!` or `#` to the end of line."""
        if '"' not in line and "'" not in line:  # most lines: one regular expression does it
            code = _COMMENT.split(line, 1)[0]
            return [Token(w, path, number, w if w in "{}" else WORD) for w in _PLAIN_TOKEN.findall(code)]
        tokens: list[Token] = []
        i, end = 0, len(line)
        while i < end:
            ch = line[i]
            if ch.isspace():
                i += 1
            elif ch in "#!":
                break
            elif ch in "{}":
                tokens.append(Token(ch, path, number, ch))
                i += 1
            else:
                word: list[str] = []
                while i < end and not line[i].isspace() and line[i] not in "{}#!":
                    if line[i] in "\"'":
                        part, i = self._quoted(line, i, path, number)
                        word.append(part)
                    else:
                        word.append(line[i])
                        i += 1
                tokens.append(Token("".join(word), path, number, WORD))
        return tokens

    def _quoted(self, line: str, start: int, path: str, number: int) -> tuple[str, int]:
        """A quoted part; double quotes take keepalived's backslash escapes, single quotes none."""
        quote, i, out = line[start], start + 1, []
        while i < len(line):
            ch = line[i]
            if ch == quote:
                return "".join(out), i + 1
            if ch == "\\" and quote == '"' and i + 1 < len(line):
                text, i = _unescape(line, i + 1)
                out.append(text)
            else:
                out.append(ch)
                i += 1
        self._add(path, number, ERROR, f"unterminated quoted string; close it with {quote}")
        return "".join(out), i

    def _add(self, path: str, number: int, severity: str, message: str) -> None:
        self.diagnostics.append(Diagnostic(path, number, severity, message))


def _unescape(line: str, i: int) -> tuple[str, int]:
    """One escape after a backslash at i - 1: \\n \\t ..., \\xHH, \\ooo, \\cC, else the character."""
    ch = line[i]
    if ch in _ESCAPES:
        return _ESCAPES[ch], i + 1
    hex_digits = re.match(r"x([0-9a-fA-F]{1,2})", line[i : i + 3])
    if hex_digits:
        return chr(int(hex_digits.group(1), 16)), i + 1 + len(hex_digits.group(1))
    octal = re.match(r"[0-7]{1,3}", line[i : i + 3])
    if octal:
        return chr(int(octal.group(), 8)), i + len(octal.group())
    if ch == "c" and i + 1 < len(line):
        return chr(ord(line[i + 1]) & 0x1F), i + 2
    return ch, i + 1


def _expand_braces(pattern: str) -> list[str]:
    """csh-style `{a,b}` alternatives, which keepalived's glob(GLOB_BRACE) expands; Python's glob does not."""
    start = pattern.find("{")
    if start < 0:
        return [pattern]
    depth, parts, last = 0, [], start + 1
    for i in range(start, len(pattern)):
        if pattern[i] == "{":
            depth += 1
        elif pattern[i] == "}":
            depth -= 1
            if depth == 0:
                parts.append(pattern[last:i])
                head, tail = pattern[:start], pattern[i + 1 :]
                return [out for part in parts for out in _expand_braces(head + part + tail)]
        elif pattern[i] == "," and depth == 1:
            parts.append(pattern[last:i])
            last = i + 1
    return [pattern]


# ---------------------------------------------------------------------------------------------
# Parser: tokens -> statements.  A statement is a keyword, the words after it on its line, and
# the block that follows it, whether `{` is on the same line or the next.


@dataclass(frozen=True)
class Statement:
    keyword: Token
    args: tuple[Token, ...]
    block: tuple[Statement, ...] | None

    @property
    def name(self) -> str:
        return self.keyword.text


def _parse(tokens: list[Token], diagnostics: list[Diagnostic]) -> list[Statement]:
    pos = 0

    def block(opener: Token | None) -> list[Statement]:
        nonlocal pos
        statements: list[Statement] = []
        while pos < len(tokens):
            token = tokens[pos]
            pos += 1
            if token.kind == EOL:
                continue
            if token.kind == CLOSE:
                if opener is not None:
                    return statements
                diagnostics.append(Diagnostic(token.file, token.line, ERROR, "'}' closes nothing; remove it"))
                continue
            if token.kind == OPEN:
                diagnostics.append(
                    Diagnostic(token.file, token.line, ERROR, "'{' without a keyword before it; name the block")
                )
                block(token)
                continue
            args: list[Token] = []
            while pos < len(tokens) and tokens[pos].kind == WORD:
                args.append(tokens[pos])
                pos += 1
            ahead = pos
            while ahead < len(tokens) and tokens[ahead].kind == EOL:
                ahead += 1
            sub = None
            if ahead < len(tokens) and tokens[ahead].kind == OPEN:
                pos = ahead + 1
                sub = tuple(block(tokens[ahead]))
            statements.append(Statement(token, tuple(args), sub))
        if opener is not None:
            diagnostics.append(Diagnostic(opener.file, opener.line, ERROR, "'{' opened here is never closed; add '}'"))
        return statements

    return block(None)


# ---------------------------------------------------------------------------------------------
# Keywords fastvrrp knows keepalived has but does not act on: a warning says they are ignored,
# which an "unknown keyword" warning would not.

_NON_VRRP_SECTIONS = frozenset(
    "virtual_server virtual_server_group static_ipaddress static_routes static_rules bfd_instance "
    "linkbeat_interfaces track_group net_namespace net_namespace_ipvs namespace_with_ipsets instance "
    "use_pid_dir linkbeat_use_polling child_wait_time".split()
)
_UNIMPLEMENTED_SECTIONS = frozenset(
    "vrrp_track_process track_file vrrp_track_file garp_group interface_up_down_delays".split()
)
_UNIMPLEMENTED_GLOBAL = frozenset(
    "notification_email notification_email_from smtp_server smtp_helo_name smtp_connect_timeout smtp_alert "
    "smtp_alert_vrrp smtp_alert_checker checker_log_all_failures no_email_faults lvs_id lvs_sync_daemon "
    "lvs_timeouts lvs_flush lvs_flush_on_stop vrrp_mcast_group4 vrrp_mcast_group6 default_interface "
    "vrrp_garp_interval vrrp_gna_interval vrrp_min_garp vrrp_garp_extra_if vrrp_down_timer_adverts "
    "vrrp_lower_prio_no_advert vrrp_higher_prio_send_advert vrrp_iptables vrrp_ipsets nftables "
    "vrrp_check_unicast_src vrrp_skip_check_adv_addr vrrp_strict vrrp_notify_priority_changes "
    "checker_priority checker_no_swap "
    "checker_rt_priority checker_cpu_affinity snmp_socket enable_snmp_vrrp enable_snmp_checker enable_snmp_rfc "
    "enable_snmp_rfcv2 enable_snmp_rfcv3 enable_traps enable_dbus dynamic_interfaces vrrp_startup_delay "
    "vrrp_delay_after_boot max_auto_priority vmac_prefix umask".split()
)
_UNIMPLEMENTED_INSTANCE = frozenset(
    "use_vmac use_vmac_addr vmac_xmit_base use_ipvlan native_ipv6 vrf track_file track_process track_bfd "
    "mcast_dst_ip track_src_ip check_unicast_src unicast_fault_no_peer unicast_ttl old_unicast_checksum "
    "garp_extra_if down_timer_adverts timer_expired_backup lower_prio_no_advert higher_prio_send_advert "
    "no_virtual_ipaddress promote_secondaries virtual_routes virtual_rules skip_check_adv_addr strict_mode "
    "debug notify_master_rx_lower_pri notify_priority_changes notify_deleted smtp_alert kernel_rx_buf_size "
    "linkbeat_use_polling".split()
)
_UNIMPLEMENTED_SYNC_GROUP = frozenset(
    "track_file track_process track_bfd notify_deleted notify_priority_changes smtp_alert global_tracking".split()
)
_VIP_OPTIONS_WITH_VALUE = frozenset("brd peer preferred_lft".split())
_VIP_FLAGS = frozenset("home -nodad mngtmpaddr noprefixroute autojoin no_track use_vmac".split())
_SCOPES = frozenset("site link host nowhere global".split())
_FIFO_KEYWORDS = ("notify_fifo", "vrrp_notify_fifo")
_FIFO_SCRIPT_KEYWORDS = ("notify_fifo_script", "vrrp_notify_fifo_script")
_NOTIFY_KEYWORDS = {"notify_master": "master", "notify_backup": "backup", "notify_fault": "fault",
                    "notify_stop": "stop", "notify": "any"}
_TRUE, _FALSE = frozenset("on true yes".split()), frozenset("off false no".split())


# ---------------------------------------------------------------------------------------------
# Drafts: what a block said, with where it said it, before defaults and cross-checks apply.


@dataclass
class _Draft:
    """Values of one block keyed by model field name, and the keyword token that set each."""

    name: str
    where: Token
    values: dict[str, Any] = field(default_factory=dict)
    at: dict[str, Token] = field(default_factory=dict)


@dataclass
class _TrackEntry:
    name: Token
    weight: int | None
    reverse: bool | None


@dataclass
class _Loader:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    failed: set[tuple[str, str]] = field(default_factory=set)
    """(section, name) of blocks already reported broken: naming them elsewhere is no new error."""

    # -- reporting ---------------------------------------------------------------------------
    def error(self, token: Token, message: str) -> None:
        self.diagnostics.append(Diagnostic(token.file, token.line, ERROR, message))

    def warn(self, token: Token, message: str) -> None:
        self.diagnostics.append(Diagnostic(token.file, token.line, WARNING, message))

    def ignored(self, st: Statement) -> None:
        self.warn(st.keyword, f"'{st.name}' is a keepalived keyword fastvrrp does not implement; ignored")

    def unknown(self, st: Statement, where: str) -> None:
        self.warn(st.keyword, f"unknown keyword '{st.name}' in {where}; ignored")

    # -- values ------------------------------------------------------------------------------
    def no_block(self, st: Statement) -> None:
        if st.block is not None:
            self.error(st.keyword, f"{st.name} takes no block; remove the {{ ... }} after it")

    def one(self, st: Statement, example: str) -> Token | None:
        """The single value of `keyword VALUE`; extra words are ignored, as keepalived does."""
        self.no_block(st)
        if not st.args:
            self.error(st.keyword, f"{st.name} needs a value; write `{st.name} {example}`")
            return None
        if len(st.args) > 1:
            extra = " ".join(t.text for t in st.args[1:])
            self.warn(st.args[1], f"{st.name} takes one value; '{extra}' ignored")
        return st.args[0]

    def integer(self, st: Statement, low: int, high: int) -> int | None:
        token = self.one(st, str(max(low, 1)))
        return None if token is None else self.number(st.name, token, low, high)

    def number(self, label: str, token: Token, low: int, high: int) -> int | None:
        """A whole number in `low..high`, named `label` in the message."""
        if not re.fullmatch(r"[+-]?\d+", token.text):
            self.error(token, f"{label} {token.text!r} is not a whole number; write a number between {low} and {high}")
            return None
        value = int(token.text)
        if not low <= value <= high:
            self.error(token, f"{label} {value} is out of range {low}..{high}; write a number between {low} and {high}")
            return None
        return value

    def seconds(self, st: Statement, low: Decimal, high: Decimal, example: str) -> Decimal | None:
        """A decimal number of seconds (keepalived's <TIMER>)."""
        token = self.one(st, example)
        if token is None:
            return None
        if not re.fullmatch(r"\d+(\.\d*)?|\.\d+", token.text):
            self.error(token, f"{st.name} {token.text!r} is not a number of seconds; write a number like 1 or 0.5")
            return None
        value = Decimal(token.text)
        if not low <= value <= high:
            self.error(
                token,
                f"{st.name} {token.text} is out of range {low}..{high} seconds; "
                f"write a number of seconds between {low} and {high}",
            )
            return None
        return value

    def cpus(self, st: Statement) -> tuple[int, ...] | None:
        """`vrrp_cpu_affinity CPU ...`: CPU numbers, as `taskset -c` counts them."""
        self.no_block(st)
        if not st.args:
            self.error(st.keyword, f"{st.name} needs CPU numbers; write `{st.name} 0 1`")
            return None
        cpus = [self.number(st.name, token, 0, 4095) for token in st.args]
        return None if None in cpus else tuple(sorted(set(cpus)))  # type: ignore[arg-type]

    def flag(self, st: Statement) -> bool:
        """A keyword that takes no value."""
        self.no_block(st)
        if st.args:
            self.warn(st.args[0], f"{st.name} takes no value; '{' '.join(t.text for t in st.args)}' ignored")
        return True

    def boolean(self, st: Statement) -> bool | None:
        """keepalived's `keyword [<BOOL>]`: alone it means on."""
        if not st.args:
            self.no_block(st)
            return True
        token = self.one(st, "on")
        text = token.text.lower() if token else ""
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        self.error(st.args[0], f"{st.name} {st.args[0].text!r} is not a boolean; write on or off")
        return None

    def choice(self, st: Statement, choices: tuple[str, ...]) -> str | None:
        token = self.one(st, choices[0])
        if token is None:
            return None
        if token.text not in choices:
            options = " or ".join(f"`{st.name} {c}`" for c in choices)
            self.error(token, f"{st.name} {token.text} is not one of {', '.join(choices)}; write {options}")
            return None
        return token.text

    def address(self, label: str, token: Token) -> IPAddress | None:
        try:
            return ipaddress.ip_address(token.text)
        except ValueError:
            self.error(token, f"{label} {token.text!r} is not an IP address; write one like 10.0.0.1 or fe80::1")
            return None

    def one_address(self, st: Statement) -> IPAddress | None:
        token = self.one(st, "192.0.2.1")
        return None if token is None else self.address(st.name, token)

    def interface_name(self, st: Statement) -> str | None:
        token = self.one(st, "eth0")
        if token and (len(token.text) > _MAX_IFNAME or "/" in token.text):
            self.error(token, f"{st.name} {token.text!r} is not a valid interface name; "
                              f"write at most {_MAX_IFNAME} characters, no '/'")
            return None
        return token and token.text

    def command(self, st: Statement) -> ScriptCommand | None:
        """`keyword <STRING>|<QUOTED-STRING> [username [:][groupname]]`."""
        self.no_block(st)
        if not st.args or not st.args[0].text.strip():
            self.error(st.keyword, f"{st.name} needs a command; write `{st.name} \"/path/to/script arg\"`")
            return None
        user, group = self.user_group(st, st.args[1:])
        command = ScriptCommand(st.args[0].text, user, group, st.keyword.file, st.keyword.line)
        try:
            command.argv
        except ValueError:
            self.error(st.args[0], f"{st.name} {command.command!r} has an unbalanced quote; keep single quotes "
                                   "in pairs inside the command")
            return None
        return command

    def user_group(self, st: Statement, words: tuple[Token, ...]) -> tuple[str | None, str | None]:
        """`[username [:][groupname]]` after a command: unquoted arguments would land here."""
        if len(words) > 2:
            self.warn(words[0], f"{st.name} takes a command, a user and a group; to pass arguments quote the "
                                f"command: `{st.name} \"{' '.join(t.text for t in st.args)}\"`")
        user = words[0].text if words else None
        group = words[1].text.lstrip(":") or None if len(words) > 1 else None
        return user, group

    def account(self, st: Statement) -> tuple[str, str | None] | None:
        """`username [:][groupname]`, whom scripts run as (script_user, a vrrp_script's user)."""
        self.no_block(st)
        if not st.args:
            self.error(st.keyword, f"{st.name} needs a user name; write `{st.name} keepalived_script`")
            return None
        if len(st.args) > 2:
            extra = " ".join(t.text for t in st.args[2:])
            self.warn(st.args[2], f"{st.name} takes a user and a group; '{extra}' ignored")
        group = st.args[1].text.lstrip(":") or None if len(st.args) > 1 else None
        return st.args[0].text, group

    def block_of(self, st: Statement) -> tuple[Statement, ...]:
        if st.block is None:
            self.error(st.keyword, f"{st.name} needs a block; write `{st.name} {{ ... }}`")
            return ()
        return st.block

    def set(self, draft: _Draft, st: Statement, name: str, value: object) -> None:
        """Record a value; a repeated keyword is worth a warning since only the last one counts.

        An invalid value (None, already reported) still counts as given, so that the instance
        is not also reported as missing it."""
        if name in draft.at:
            first = draft.at[name]
            self.warn(st.keyword, f"{st.name} given again (first at line {first.line}); the last one counts")
        draft.at[name] = st.keyword
        if value is not None:
            draft.values[name] = value

    # -- sections ----------------------------------------------------------------------------
    def load(self, statements: list[Statement]) -> Config:
        globals_: list[Statement] = []
        instances: list[_Draft] = []
        scripts: dict[str, VrrpScript] = {}
        groups: list[_Draft] = []
        instance_names: set[str] = set()
        for st in statements:
            if st.name == "global_defs":
                globals_.extend(self.block_of(st))
            elif st.name == "vrrp_instance":
                draft = self.named(st, instance_names)
                if draft:
                    instance_names.add(draft.name)
                    instances.append(self.instance(draft, self.block_of(st)))
            elif st.name == "vrrp_script":
                draft = self.named(st, scripts)
                script = draft and self.script(draft, self.block_of(st))
                if script:
                    scripts[script.name] = script
            elif st.name == "vrrp_sync_group":
                draft = self.named(st, {d.name for d in groups})
                if draft:
                    groups.append(self.sync_group(draft, self.block_of(st)))
            elif st.name in _NON_VRRP_SECTIONS:
                self.warn(st.keyword, f"'{st.name}' is not VRRP configuration; fastvrrp skips it")
            elif st.name in _UNIMPLEMENTED_SECTIONS:
                self.warn(st.keyword, f"'{st.name}' is a keepalived section fastvrrp does not implement; skipped")
            else:
                self.unknown(st, "the top level")
        global_defs = self.global_defs(globals_)
        built = []
        for draft in instances:
            instance = self.finish_instance(draft, global_defs, scripts)
            if instance is None:
                self.failed.add(("vrrp_instance", draft.name))
            else:
                built.append(instance)
        self.check_vrids(built, {d.name: d for d in instances})
        sync_groups = self.finish_sync_groups(groups, built, scripts)
        return Config(global_defs, tuple(built), tuple(scripts.values()), sync_groups)

    def named(self, st: Statement, taken: Container[str]) -> _Draft | None:
        kind = st.name
        if len(st.args) != 1:
            self.error(st.keyword, f"{kind} needs one name; write `{kind} NAME {{ ... }}`")
            return None
        name = st.args[0].text
        if name in taken:
            self.error(st.args[0], f"{kind} {name} is defined twice; rename one of them")
            return None
        return _Draft(name, st.keyword)

    def global_defs(self, statements: list[Statement]) -> GlobalDefs:
        draft = _Draft("global_defs", statements[0].keyword if statements else Token("", "", 0, WORD))
        delays = {"vrrp_garp_master_delay": "vrrp_garp_master_delay_s",
                  "vrrp_garp_master_refresh": "vrrp_garp_master_refresh_s",
                  "vrrp_garp_lower_prio_delay": "vrrp_garp_lower_prio_delay_s"}
        repeats = ("vrrp_garp_master_repeat", "vrrp_garp_master_refresh_repeat", "vrrp_garp_lower_prio_repeat")
        for st in statements:
            if st.name == "router_id":
                token = self.one(st, "LVS_201-1")
                self.set(draft, st, "router_id", token and token.text)
            elif st.name == "vrrp_version":
                self.set(draft, st, "vrrp_version", self.integer(st, 2, 3))
            elif st.name in delays:
                self.set(draft, st, delays[st.name], self.integer(st, 0, 86400))
            elif st.name in repeats:
                self.set(draft, st, st.name, self.integer(st, 0, 255))
            elif st.name == "v3_checksum_as_v2":
                self.set(draft, st, "v3_checksum_as_v2", self.boolean(st))
            elif st.name == "enable_script_security":
                self.set(draft, st, "enable_script_security", self.flag(st))
            elif st.name == "script_user":
                account = self.account(st)
                self.set(draft, st, "script_user", account and account[0])
                draft.values["script_group"] = account and account[1]
            elif st.name in _FIFO_KEYWORDS:
                token = self.fifo_path(st)
                self.set(draft, st, st.name, token and token.text)
            elif st.name in _FIFO_SCRIPT_KEYWORDS:
                self.set(draft, st, st.name, self.command(st))
            elif st.name == "vrrp_priority":
                self.set(draft, st, "vrrp_priority", self.integer(st, -20, 19))
            elif st.name == "vrrp_rt_priority":
                self.set(draft, st, "vrrp_rt_priority", self.integer(st, 1, 99))
            elif st.name == "vrrp_rlimit_rttime":
                self.set(draft, st, "vrrp_rlimit_rttime_us", self.integer(st, 1, 10_000_000))
            elif st.name == "vrrp_no_swap":
                self.set(draft, st, "vrrp_no_swap", self.flag(st))
            elif st.name == "log_unknown_vrids":
                self.set(draft, st, "log_unknown_vrids", self.flag(st))
            elif st.name == "vrrp_cpu_affinity":
                self.set(draft, st, "vrrp_cpu_affinity", self.cpus(st))
            elif st.name in _UNIMPLEMENTED_GLOBAL:
                self.ignored(st)
            else:
                self.unknown(st, "global_defs")
        values = draft.values
        values["notify_fifos"] = self.notify_fifos(draft)
        values.setdefault("vrrp_garp_lower_prio_delay_s", values.get("vrrp_garp_master_delay_s", 5))
        values.setdefault("vrrp_garp_lower_prio_repeat", values.get("vrrp_garp_master_repeat", 5))
        return GlobalDefs(**values)

    def fifo_path(self, st: Statement) -> Token | None:
        """`notify_fifo PATH [username [:][groupname]]`: the owner words are keepalived's, not acted on."""
        self.no_block(st)
        if not st.args:
            self.error(st.keyword, f"{st.name} needs a path; write `{st.name} /run/keepalived.fifo`")
            return None
        if len(st.args) > 1:
            extra = " ".join(t.text for t in st.args[1:])
            self.warn(st.args[1], f"{st.name}: the FIFO's owner '{extra}' is not implemented; fastvrrp creates it "
                                  "root-owned, mode 0600")
        return st.args[0]

    def notify_fifos(self, draft: _Draft) -> tuple[NotifyFifo, ...]:
        """Pair `notify_fifo` with `notify_fifo_script`, `vrrp_notify_fifo` with `vrrp_notify_fifo_script`."""
        fifos: list[NotifyFifo] = []
        for keyword in _FIFO_KEYWORDS:
            script_keyword = f"{keyword}_script"
            path = draft.values.pop(keyword, None)
            script = draft.values.pop(script_keyword, None)
            if script_keyword in draft.at and keyword not in draft.at:
                self.error(draft.at[script_keyword], f"{script_keyword} without {keyword}: the script reads the "
                                                     f"FIFO named by {keyword}; add `{keyword} /run/keepalived.fifo` "
                                                     f"to global_defs, or remove {script_keyword}")
            if path is None:
                continue
            if script is not None and script.user is None and "script_user" in draft.values:
                script = replace(script, user=draft.values["script_user"], group=draft.values.get("script_group"))
            if any(f.path == path for f in fifos):
                self.warn(draft.at[keyword], f"{keyword} {path} is notify_fifo's FIFO already: each line is written "
                                             f"once{f', and {script_keyword} is not started' if script else ''}; "
                                             f"name another FIFO or remove {keyword}")
                continue
            fifos.append(NotifyFifo(path, script, keyword))
        return tuple(fifos)

    def script(self, draft: _Draft, statements: tuple[Statement, ...]) -> VrrpScript | None:
        for st in statements:
            if st.name == "script":
                self.set(draft, st, "script", self.command(st))
            elif st.name in ("interval", "timeout"):
                value = self.seconds(st, Decimal("0.001"), Decimal(86400), "2")
                self.set(draft, st, f"{st.name}_s", value and float(value))
            elif st.name == "weight":
                weight, reverse = self.weight(st, st.args)
                self.set(draft, st, "weight", weight)
                draft.values["reverse"] = bool(reverse)
            elif st.name in ("rise", "fall"):
                self.set(draft, st, st.name, self.integer(st, 1, 2**31 - 1))
            elif st.name == "init_fail":
                self.set(draft, st, "init_fail", self.flag(st))
            elif st.name == "user":
                self.set(draft, st, "user", self.account(st))
            elif st.name == "check":
                self.set(draft, st, "check", self.health_check(st))
            else:
                self.unknown(st, f"vrrp_script {draft.name}")
        if "script" in draft.at and "check" in draft.at:
            self.error(draft.at["check"], f"vrrp_script {draft.name} has both a script and a check; "
                                          "keep one of them, or split them into two vrrp_script blocks")
            self.failed.add(("vrrp_script", draft.name))
            return None
        if "script" not in draft.values and "check" not in draft.values:
            if "script" not in draft.at and "check" not in draft.at:
                self.error(draft.where, f"vrrp_script {draft.name} has no script; "
                                        'write `script "/path/to/check"` in it')
            self.failed.add(("vrrp_script", draft.name))
            return None
        values = draft.values
        values.setdefault("timeout_s", values.get("interval_s", 1.0))
        if "user" in values and "script" in values:
            user, group = values.pop("user")
            values["script"] = replace(values["script"], user=user, group=group)
        values.pop("user", None)
        return VrrpScript(draft.name, file=draft.where.file, line=draft.where.line, **values)

    def health_check(self, st: Statement) -> TcpCheck | FileCheck | None:
        """fastvrrp's `check tcp ADDRESS:PORT` or `check file PATH [exists]` (README, Health checks)."""
        self.no_block(st)
        words = [t.text for t in st.args]
        example = "write `check tcp 127.0.0.1:80`, `check file /run/service.state` or `check file PATH exists`"
        if len(words) == 2 and words[0] == "tcp":
            host, _, port = words[1].rpartition(":")
            try:
                address = ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
            except ValueError:
                address = None
            if address is None or not port.isdigit() or not 1 <= int(port) <= 65535:
                self.error(st.args[1], f"check tcp {words[1]!r} is not ADDRESS:PORT; write an IP address and a "
                                       "port 1..65535, like 127.0.0.1:80 or [::1]:80")
                return None
            return TcpCheck(address, int(port))
        if len(words) in (2, 3) and words[0] == "file" and words[2:] in ([], ["exists"]):
            if not os.path.isabs(words[1]):
                self.error(st.args[1], f"check file {words[1]!r} is not an absolute path; write one like "
                                       "/run/service.state")
                return None
            return FileCheck(words[1], exists=len(words) == 3)
        self.error(st.args[0] if st.args else st.keyword, f"check {' '.join(words)!r} is not a check; {example}")
        return None

    def weight(self, st: Statement, words: tuple[Token, ...]) -> tuple[int | None, bool | None]:
        """`weight N [reverse|noreverse]` as it follows a track entry or stands in a vrrp_script."""
        if not words:
            self.error(st.keyword, f"{st.name} needs a weight; write `weight -20` (-253..253)")
            return None, None
        weight = self.number("weight", words[0], -253, 253)
        reverse = None
        for extra in words[1:]:
            if extra.text in ("reverse", "noreverse"):
                reverse = extra.text == "reverse"
            else:
                self.warn(extra, f"'{extra.text}' after the weight is not reverse or noreverse; ignored")
        return weight, reverse

    def tracks(self, st: Statement, what: str) -> list[_TrackEntry]:
        entries = []
        for entry in self.block_of(st):
            words = entry.args
            if words and words[0].text == "weight":
                weight, reverse = self.weight(entry, words[1:])
                if weight is None:
                    continue
            elif words:
                self.warn(words[0], f"'{words[0].text}' after {what} {entry.name} is not `weight N`; ignored")
                weight, reverse = None, None
            else:
                weight, reverse = None, None
            entries.append(_TrackEntry(entry.keyword, weight, reverse))
        return entries

    def notify(self, draft: _Draft, st: Statement) -> None:
        command = self.command(st)
        if command:
            notifies = draft.values.setdefault("notifies", {})
            if _NOTIFY_KEYWORDS[st.name] in notifies:
                self.warn(st.keyword, f"{st.name} given again; the last one counts")
            notifies[_NOTIFY_KEYWORDS[st.name]] = command

    def instance(self, draft: _Draft, statements: tuple[Statement, ...]) -> _Draft:
        """Value keywords map to a model field and a reader; lists and notifies accumulate."""
        integer, seconds = self.integer, self.seconds
        readers: dict[str, tuple[str, Callable[[Statement], Any]]] = {
            "state": ("state", lambda st: self.choice(st, ("MASTER", "BACKUP"))),
            "interface": ("interface", self.interface_name),
            "virtual_router_id": ("virtual_router_id", lambda st: integer(st, 1, 255)),
            "priority": ("priority", lambda st: integer(st, 1, 255)),
            "advert_int": ("advert_int", lambda st: seconds(st, Decimal("0.01"), Decimal(255), "1")),
            "version": ("version", lambda st: integer(st, 2, 3)),
            "nopreempt": ("preempt", lambda st: not self.flag(st)),
            "preempt": ("preempt", self.flag),
            "preempt_delay": ("preempt_delay_s", lambda st: seconds(st, Decimal(0), Decimal(1000), "10")),
            "authentication": ("authentication", self.authentication),
            "unicast_src_ip": ("unicast_src_ip", self.one_address),
            "mcast_src_ip": ("mcast_src_ip", self.one_address),
            "accept": ("accept", self.flag),
            "no_accept": ("accept", lambda st: not self.flag(st)),
            "garp_master_delay": ("garp_master_delay_s", lambda st: integer(st, 0, 86400)),
            "garp_master_repeat": ("garp_master_repeat", lambda st: integer(st, 0, 255)),
            "garp_master_refresh": ("garp_master_refresh_s", lambda st: integer(st, 0, 86400)),
            "garp_master_refresh_repeat": ("garp_master_refresh_repeat", lambda st: integer(st, 0, 255)),
            "garp_lower_prio_delay": ("garp_lower_prio_delay_s", lambda st: integer(st, 0, 86400)),
            "garp_lower_prio_repeat": ("garp_lower_prio_repeat", lambda st: integer(st, 0, 255)),
            "v3_checksum_as_v2": ("v3_checksum_as_v2", self.boolean),
            "dont_track_primary": ("dont_track_primary", self.flag),
        }
        for st in statements:
            if st.name in readers:
                name, read = readers[st.name]
                self.set(draft, st, name, read(st))
            elif st.name in ("virtual_ipaddress", "virtual_ipaddress_excluded"):
                self.vips(draft, st, st.name)
            elif st.name == "unicast_peer":
                self.unicast_peers(draft, st)
            elif st.name in ("track_interface", "track_script"):
                draft.values.setdefault(f"{st.name}s", []).extend(self.tracks(st, st.name.removeprefix("track_")))
            elif st.name in _NOTIFY_KEYWORDS:
                self.notify(draft, st)
            elif st.name in _UNIMPLEMENTED_INSTANCE:
                self.ignored(st)
            else:
                self.unknown(st, f"vrrp_instance {draft.name}")
        return draft

    def authentication(self, st: Statement) -> Authentication | None:
        values: dict[str, str] = {}
        if st.block is None:
            self.block_of(st)
            return None
        for entry in st.block:
            if entry.name == "auth_type":
                values["auth_type"] = self.choice(entry, ("PASS", "AH")) or ""
            elif entry.name == "auth_pass":
                token = self.one(entry, "1111")
                if token and len(token.text.encode()) > 8:
                    self.warn(token, f"auth_pass is longer than 8 characters; only {token.text[:8]!r} is used")
                values["auth_pass"] = token.text if token else ""
            else:
                self.unknown(entry, "authentication")
        if "auth_type" not in values:
            self.error(st.keyword, "authentication has no auth_type; write `auth_type PASS` in it")
        elif "auth_pass" not in values:
            self.error(st.keyword, "authentication has no auth_pass; write `auth_pass SECRET` (8 characters used)")
        elif values["auth_type"] and values["auth_pass"]:
            return Authentication(values["auth_type"], values["auth_pass"])
        return None

    def vips(self, draft: _Draft, st: Statement, name: str) -> None:
        """One address per line: `<IP>[/<MASK>] [dev IF] [label L] [scope S] [other ip-address options]`."""
        entries = self.block_of(st)
        if st.block is not None and not entries:
            self.error(st.keyword, f"{name} lists no address; write one address per line, like 10.0.0.1/24")
        found = draft.values.setdefault(name, [])
        draft.at.setdefault(name, st.keyword)
        for entry in entries:
            vip = self.vip(entry)
            if vip:
                found.append((vip, entry.keyword))

    def vip(self, entry: Statement) -> VirtualAddress | None:
        try:
            address = ipaddress.ip_interface(entry.name)
        except ValueError:
            self.error(
                entry.keyword,
                f"virtual address {entry.name!r} is not an IP address; write one like 10.0.0.1/24 or 2001:db8::1/64",
            )
            return None
        options: dict[str, str] = {}
        words = list(entry.args)
        while words:
            word = words.pop(0)
            if word.text in ("dev", "label", "scope") or word.text in _VIP_OPTIONS_WITH_VALUE:
                if not words:
                    self.error(word, f"{word.text} needs a value after it")
                    return None
                options[word.text] = words.pop(0).text
                if word.text in _VIP_OPTIONS_WITH_VALUE:
                    self.warn(word, f"virtual address option '{word.text}' is not implemented by fastvrrp; ignored")
            elif word.text in _VIP_FLAGS:
                self.warn(word, f"virtual address option '{word.text}' is not implemented by fastvrrp; ignored")
            else:
                self.error(word, f"'{word.text}' is not a virtual address option; write dev IF, label L or scope S")
                return None
        if "scope" in options and options["scope"] not in _SCOPES:
            self.error(entry.keyword, f"scope {options['scope']} is not one of {', '.join(sorted(_SCOPES))}")
            return None
        return VirtualAddress(address, options.get("dev", ""), options.get("label"), options.get("scope"))

    def unicast_peers(self, draft: _Draft, st: Statement) -> None:
        peers = draft.values.setdefault("unicast_peers", [])
        for entry in self.block_of(st):
            address = self.address("unicast_peer", entry.keyword)
            ttl: dict[str, int | None] = {}
            words = list(entry.args)
            while words:
                word = words.pop(0)
                if word.text in ("min_ttl", "max_ttl") and words:
                    ttl[word.text] = self.number(word.text, words.pop(0), 0, 255)
                else:
                    self.warn(word, f"'{word.text}' after unicast_peer {entry.name} is not "
                                    "min_ttl N or max_ttl N; ignored")
            if address:
                peers.append((UnicastPeer(address, **ttl), entry.keyword))

    def sync_group(self, draft: _Draft, statements: tuple[Statement, ...]) -> _Draft:
        for st in statements:
            if st.name == "group":
                members = [t for entry in self.block_of(st) for t in (entry.keyword, *entry.args)]
                if st.block is not None and not members:
                    self.error(st.keyword, "group lists no vrrp_instance; write their names, one per line")
                draft.values.setdefault("members", []).extend(members)
                draft.at.setdefault("members", st.keyword)
            elif st.name == "track_interface":
                draft.values.setdefault("track_interfaces", []).extend(self.tracks(st, "interface"))
            elif st.name == "track_script":
                draft.values.setdefault("track_scripts", []).extend(self.tracks(st, "script"))
            elif st.name in _NOTIFY_KEYWORDS:
                self.notify(draft, st)
            elif st.name == "sync_group_tracking_weight":
                self.set(draft, st, "tracking_weight", self.flag(st))
            elif st.name in _UNIMPLEMENTED_SYNC_GROUP:
                self.ignored(st)
            else:
                self.unknown(st, f"vrrp_sync_group {draft.name}")
        if "members" not in draft.at:
            self.error(draft.where, f"vrrp_sync_group {draft.name} has no group; write `group {{ VI_1 VI_2 }}` in it")
        return draft

    # -- cross-checks and defaults -----------------------------------------------------------
    def tracked_scripts(self, entries: list[_TrackEntry], scripts: dict[str, VrrpScript]) -> tuple[TrackedScript, ...]:
        """A track_script entry without a weight takes the vrrp_script's (keepalived.conf(5))."""
        tracked = []
        for entry in entries:
            script = scripts.get(entry.name.text)
            if script is None and ("vrrp_script", entry.name.text) in self.failed:
                continue
            if script is None:
                known = ", ".join(sorted(scripts)) or "none defined"
                self.error(
                    entry.name,
                    f"track_script {entry.name.text} names no vrrp_script (known: {known}); "
                    f"define `vrrp_script {entry.name.text} {{ script ... }}` or fix the name",
                )
                continue
            weight = script.weight if entry.weight is None else entry.weight
            reverse = script.reverse if entry.reverse is None else entry.reverse
            tracked.append(TrackedScript(script.name, weight, reverse))
        return tuple(tracked)

    def finish_instance(self, draft: _Draft, g: GlobalDefs, scripts: dict[str, VrrpScript]) -> VrrpInstance | None:
        v, at, name = draft.values, draft.at, draft.name
        where = f"vrrp_instance {name}"
        missing = {
            "interface": f"{where} has no interface; write `interface eth0` in it (the link to the other routers)",
            "virtual_router_id": f"{where} has no virtual_router_id; write `virtual_router_id N` in it, "
            "N between 1 and 255 and the same on every router of this virtual router",
            "virtual_ipaddress": f"{where} has no virtual_ipaddress; "
            "write `virtual_ipaddress { 10.0.0.100/24 }` in it",
        }
        for key, message in missing.items():
            if key not in at:
                self.error(draft.where, message)
        vips: list[tuple[VirtualAddress, Token]] = v.get("virtual_ipaddress", [])
        if not all(k in v for k in ("interface", "virtual_router_id")) or not vips:
            return None
        interface: str = v["interface"]
        family = vips[0][0].address.version
        for vip, token in vips[1:]:
            if vip.address.version != family:
                self.error(
                    token,
                    f"{vip.address} is IPv{vip.address.version} but {where} advertises IPv{family} "
                    f"({vips[0][0].address} comes first); move it to virtual_ipaddress_excluded or another instance",
                )
        version: int = v.get("version") or (3 if family == 6 else g.vrrp_version)
        if v.get("version") == 2 and family == 6:
            self.error(
                at["version"],
                f"{where} has IPv6 virtual addresses ({vips[0][0].address}), which VRRPv2 cannot carry; "
                "write `version 3`",
            )
        advert_int_cs = self.advert_interval(draft, version)
        authentication: Authentication | None = v.get("authentication")
        if authentication and version == 3:
            self.error(
                at["authentication"],
                f"{where} runs VRRPv3, which has no authentication (RFC 5798); "
                "remove the authentication block, or write `version 2`",
            )
        if authentication and authentication.auth_type == "AH":
            self.error(at["authentication"], "auth_type AH (IPsec AH, dropped by RFC 3768) is not implemented by "
                                             "fastvrrp; write `auth_type PASS` on every router, or no authentication")
        priority: int = v.get("priority") or (255 if v.get("state") == "MASTER" else 100)
        state: str = v.get("state") or ("MASTER" if priority == 255 else "BACKUP")
        preempt, delay = self.preemption(draft, state, priority)
        peers: list[tuple[UnicastPeer, Token]] = v.get("unicast_peers", [])
        for label, address in (("unicast_src_ip", v.get("unicast_src_ip")), ("mcast_src_ip", v.get("mcast_src_ip"))):
            if address is not None and address.version != family:
                self.error(at[label], f"{label} {address} is not IPv{family} like {where}'s virtual addresses; "
                                      f"write an IPv{family} address of {interface}")
        for peer, token in peers:
            if peer.address.version != family:
                self.error(token, f"unicast_peer {peer.address} is not IPv{family} like {where}'s virtual addresses; "
                                  f"write the peer's IPv{family} address")
        track_interfaces = []
        for entry in v.get("track_interfaces", []):
            if entry.name.text == interface:
                self.warn(entry.name, f"track_interface {interface} is {where}'s own interface, "
                                      "tracked already; ignored")
            else:
                track_interfaces.append(TrackedInterface(entry.name.text, entry.weight or 0, bool(entry.reverse)))
        excluded = v.get("virtual_ipaddress_excluded", [])
        for vip, token in [*vips, *excluded]:
            dev = vip.dev or interface
            if vip.label and not label_fits(dev, vip.label):
                self.error(token, f"label {vip.label} of {vip.address} must be {dev} or start with '{dev}:', "
                                  f"at most {MAX_LABEL} characters; write a label like {dev}:1")
        return VrrpInstance(
            name=name,
            state=state,
            interface=interface,
            virtual_router_id=v["virtual_router_id"],
            priority=priority,
            version=version,
            advert_int_cs=advert_int_cs,
            virtual_ipaddress=tuple(replace(vip, dev=vip.dev or interface) for vip, _ in vips),
            virtual_ipaddress_excluded=tuple(replace(vip, dev=vip.dev or interface) for vip, _ in excluded),
            preempt=preempt,
            preempt_delay_s=delay,
            accept=v.get("accept", True),
            authentication=authentication,
            unicast_src_ip=v.get("unicast_src_ip"),
            mcast_src_ip=v.get("mcast_src_ip"),
            unicast_peers=tuple(peer for peer, _ in peers),
            garp_master_delay_s=v.get("garp_master_delay_s", g.vrrp_garp_master_delay_s),
            garp_master_repeat=v.get("garp_master_repeat", g.vrrp_garp_master_repeat),
            garp_master_refresh_s=v.get("garp_master_refresh_s", g.vrrp_garp_master_refresh_s),
            garp_master_refresh_repeat=v.get("garp_master_refresh_repeat", g.vrrp_garp_master_refresh_repeat),
            garp_lower_prio_delay_s=v.get("garp_lower_prio_delay_s", g.vrrp_garp_lower_prio_delay_s),
            garp_lower_prio_repeat=v.get("garp_lower_prio_repeat", g.vrrp_garp_lower_prio_repeat),
            track_interfaces=tuple(track_interfaces),
            track_scripts=self.tracked_scripts(v.get("track_scripts", []), scripts),
            notifies=Notifies(**v.get("notifies", {})),
            v3_checksum_as_v2=v.get("v3_checksum_as_v2", g.v3_checksum_as_v2),
            dont_track_primary=v.get("dont_track_primary", False),
            file=draft.where.file,
            line=draft.where.line,
        )

    def advert_interval(self, draft: _Draft, version: int) -> int:
        """Centiseconds.  v2 carries whole seconds 1..255 (RFC 3768 §5.3.7), v3 centiseconds
        1..4095 (RFC 5798 §5.2.7); keepalived rounds a v3 value to 10 ms, and so do we."""
        given: Decimal | None = draft.values.get("advert_int")
        if given is None:
            return 100
        token = draft.at["advert_int"]
        where = f"vrrp_instance {draft.name}"
        if version == 2:
            if given != given.to_integral_value():
                self.error(
                    token,
                    f"advert_int {given} is not a whole number of seconds, which VRRPv2 needs (1..255); "
                    f"write `version 3` in {where} for sub-second adverts, or a whole number like `advert_int 1`",
                )
                return 100
            return int(given) * 100
        centiseconds = int((given * 100).to_integral_value(ROUND_HALF_UP))
        if not 1 <= centiseconds <= 4095:
            self.error(
                token,
                f"advert_int {given} is out of range 0.01..40.95 for VRRPv3; write a number of seconds "
                "between 0.01 and 40.95",
            )
            return 100
        if centiseconds != given * 100:
            self.warn(token, f"advert_int {given} is not a multiple of 10 ms; VRRPv3 uses {centiseconds / 100:g}")
        return centiseconds

    def preemption(self, draft: _Draft, state: str, priority: int) -> tuple[bool, float]:
        """keepalived clears nopreempt and preempt_delay where they cannot work, with a warning."""
        preempt: bool = draft.values.get("preempt", True)
        delay: Decimal = draft.values.get("preempt_delay_s", Decimal(0))
        if not preempt and priority == 255:
            self.warn(draft.at["preempt"], "nopreempt has no effect with priority 255: the address owner always "
                                           "takes over (RFC 5798 §6.4.2); ignored, as keepalived does")
            preempt = True
        elif not preempt and state == "MASTER":
            self.warn(draft.at["preempt"], "nopreempt does not work with state MASTER; ignored, as keepalived does; "
                                           "write `state BACKUP` to keep nopreempt")
            preempt = True
        if delay and state == "MASTER":
            self.warn(draft.at["preempt_delay_s"], "preempt_delay does not work with state MASTER; ignored, "
                                                   "as keepalived does; write `state BACKUP` to keep it")
            delay = Decimal(0)
        elif delay and not preempt:
            self.warn(draft.at["preempt_delay_s"], "preempt_delay has no effect with nopreempt; ignored")
            delay = Decimal(0)
        return preempt, float(delay)

    def check_vrids(self, instances: list[VrrpInstance], drafts: dict[str, _Draft]) -> None:
        """One VRID per interface and family: adverts of both would arrive on one socket, and
        keepalived refuses it too.  Unicast instances whose peers do not overlap never meet."""
        seen: dict[tuple[str, int, int], VrrpInstance] = {}
        for instance in instances:
            key = (instance.interface, instance.family, instance.virtual_router_id)
            first = seen.setdefault(key, instance)
            if first is instance:
                continue
            peers = {p.address for p in instance.unicast_peers}
            if peers and first.unicast_peers and not peers & {p.address for p in first.unicast_peers}:
                continue
            self.error(
                drafts[instance.name].at["virtual_router_id"],
                f"virtual_router_id {instance.virtual_router_id} is already used on {instance.interface} "
                f"for IPv{instance.family} by vrrp_instance {first.name} ({first.file}:{first.line}); "
                "write a VRID no other instance on this interface uses",
            )

    def finish_sync_groups(
        self, drafts: list[_Draft], instances: list[VrrpInstance], scripts: dict[str, VrrpScript]
    ) -> tuple[SyncGroup, ...]:
        names = {i.name for i in instances}
        member_of: dict[str, str] = {}
        groups = []
        for draft in drafts:
            members: list[Token] = draft.values.get("members", [])
            for token in members:
                if ("vrrp_instance", token.text) in self.failed:
                    continue
                if token.text not in names:
                    known = ", ".join(sorted(names)) or "none defined"
                    self.error(token, f"vrrp_sync_group {draft.name} names vrrp_instance {token.text}, which is "
                                      f"not defined (known: {known}); fix the name or define the instance")
                elif member_of.setdefault(token.text, draft.name) != draft.name:
                    self.error(token, f"vrrp_instance {token.text} is already in vrrp_sync_group "
                                      f"{member_of[token.text]}; an instance can be in one group only")
            groups.append(
                SyncGroup(
                    name=draft.name,
                    members=tuple(t.text for t in members),
                    track_interfaces=tuple(
                        TrackedInterface(e.name.text, e.weight or 0, bool(e.reverse))
                        for e in draft.values.get("track_interfaces", [])
                    ),
                    track_scripts=self.tracked_scripts(draft.values.get("track_scripts", []), scripts),
                    notifies=Notifies(**draft.values.get("notifies", {})),
                    tracking_weight=draft.values.get("tracking_weight", False),
                    file=draft.where.file,
                    line=draft.where.line,
                )
            )
        return tuple(groups)


# ---------------------------------------------------------------------------------------------
# Entry points.


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read `path` and its includes into a `Config`; warnings ride along in `Config.warnings`.

    Raises `ConfigError` carrying every diagnostic when there is at least one error, and
    `OSError` when `path` itself cannot be read (a missing file is not a configuration error).
    """
    diagnostics: list[Diagnostic] = []
    lexer = _Lexer(diagnostics)
    tokens = lexer.read(os.fspath(path))
    loader = _Loader(diagnostics)
    config = loader.load(_parse(tokens, diagnostics))
    order = {name: i for i, name in enumerate(lexer.files)}
    ranked = sorted(diagnostics, key=lambda d: (order.get(d.file, -1), d.line))
    if any(d.severity == ERROR for d in ranked):
        raise ConfigError(ranked)
    return replace(config, warnings=tuple(ranked), files=tuple(lexer.files))


def format_config(config: Config) -> str:
    """The model as an operator reads it: one block per instance, times in milliseconds."""
    g = config.global_defs
    lines = [
        f"global_defs: router_id {g.router_id or '(host name)'}, vrrp_version {g.vrrp_version}, "
        f"garp master delay {g.vrrp_garp_master_delay_s} s repeat {g.vrrp_garp_master_repeat} "
        f"refresh {_refresh(g.vrrp_garp_master_refresh_s)}"
    ]
    for fifo in g.notify_fifos:
        reader = f", read by {fifo.script.command!r}" if fifo.script else ""
        lines.append(f"{fifo.keyword}: {fifo.path}{reader}")
    for i in config.instances:
        lines += [
            "",
            f"vrrp_instance {i.name} ({i.file}:{i.line})",
            f"  state:      {i.state}",
            f"  interface:  {i.interface}",
            f"  VRID:       {i.virtual_router_id}",
            f"  priority:   {i.priority}",
            f"  version:    VRRPv{i.version} (IPv{i.family})",
            f"  interval:   {i.advert_int_ms} ms",
            f"  preempt:    {'yes' if i.preempt else 'no (nopreempt)'}"
            + (f", delay {i.preempt_delay_s:g} s" if i.preempt_delay_s else ""),
            f"  accept:     {'yes' if i.accept else 'no'}",
            f"  auth:       {i.authentication.auth_type if i.authentication else 'none'}",
            f"  VIPs:       {_addresses(i.virtual_ipaddress)}",
        ]
        if i.virtual_ipaddress_excluded:
            lines.append(f"  excluded:   {_addresses(i.virtual_ipaddress_excluded)}")
        if i.unicast_peers:
            source = f" from {i.unicast_src_ip}" if i.unicast_src_ip else ""
            lines.append(f"  unicast:    to {', '.join(str(p.address) for p in i.unicast_peers)}{source}")
        lines.append(
            f"  garp:       delay {i.garp_master_delay_s} s, repeat {i.garp_master_repeat}, "
            f"refresh {_refresh(i.garp_master_refresh_s)}"
        )
        lines.append(f"  tracking:   {_tracking(i.track_interfaces, i.track_scripts)}")
        lines.append(f"  notify:     {_notifies(i.notifies)}")
    for s in config.scripts:
        what = repr(s.script.command) if s.script else f"check {s.check}"
        lines += [
            "",
            f"vrrp_script {s.name}: {what} every {s.interval_s:g} s, timeout {s.timeout_s:g} s, "
            f"weight {s.weight}{' reverse' if s.reverse else ''}, rise {s.rise}, fall {s.fall}",
        ]
    for group in config.sync_groups:
        lines += ["", f"vrrp_sync_group {group.name}: {', '.join(group.members)}"]
        if group.track_interfaces or group.track_scripts:
            lines.append(f"  tracking:   {_tracking(group.track_interfaces, group.track_scripts)}")
        lines.append(f"  notify:     {_notifies(group.notifies)}")
    return "\n".join(lines) + "\n"


def _refresh(seconds: int) -> str:
    return f"every {seconds} s" if seconds else "off"


def _addresses(vips: tuple[VirtualAddress, ...]) -> str:
    return ", ".join(
        f"{v.address} dev {v.dev}" + (f" label {v.label}" if v.label else "") + (f" scope {v.scope}" if v.scope else "")
        for v in vips
    )


def _column(items: list[str]) -> str:
    """Items one under the other, aligned after a `  label:     ` prefix."""
    return ("\n" + " " * 14).join(items) or "none"


def _tracking(interfaces: tuple[TrackedInterface, ...], scripts: tuple[TrackedScript, ...]) -> str:
    def weight(w: int, reverse: bool) -> str:
        return (f" weight {w:+d}" if w else " (fault)") + (" reverse" if reverse else "")

    items = [f"interface {t.name}{weight(t.weight, t.reverse)}" for t in interfaces]
    items += [f"script {t.name}{weight(t.weight, t.reverse)}" for t in scripts]
    return _column(items)


def _notifies(notifies: Notifies) -> str:
    return _column(
        [
            f"{state} {command.command!r}"
            for state in ("master", "backup", "fault", "stop", "any")
            if (command := getattr(notifies, state)) is not None
        ]
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def check_command(path: str, stdout: TextIO, stderr: TextIO, scripts: bool = True) -> int:
    """`fastvrrp check`: 0 valid (warnings on stderr), 1 errors, 2 the file cannot be read.

    With `scripts`, the scripts are checked on this host as `fastvrrp run` checks them before
    it starts (missing, not executable, unknown user, insecure under enable_script_security):
    a file that `check` passes is one that `run` accepts.
    """
    from .scripts import script_problems

    try:
        config = load_config(path)
        problems = script_problems(config) if scripts else []
        if problems:
            order = {name: i for i, name in enumerate(config.files)}
            raise ConfigError(sorted([*config.warnings, *problems], key=lambda d: (order.get(d.file, -1), d.line)))
    except OSError as e:
        print(f"{path}: cannot read it ({e.strerror})", file=stderr)
        return 2
    except ConfigError as e:
        for diagnostic in e.diagnostics:
            print(diagnostic, file=stderr)
        errors = sum(d.severity == ERROR for d in e.diagnostics)
        warnings = len(e.diagnostics) - errors
        print(f"{path}: {_count(errors, 'error')}, {_count(warnings, 'warning')}", file=stderr)
        return 1
    for diagnostic in config.warnings:
        print(diagnostic, file=stderr)
    stdout.write(format_config(config))
    return 0
