"""What a keepalived.conf says about VRRP, as frozen values.

The parser (`fastvrrp.config`) fills these in with keepalived 2.2.7's defaults already applied,
so nothing downstream has to know which keyword was left out: a `VrrpInstance` is complete.
Times keep the unit in their name; the advert interval is in centiseconds because that is
what VRRPv3 puts on the wire (RFC 5798 §5.2.7) and what keepalived rounds to.  Where a block
was written (`file`, `line`) is not configuration: it is left out of equality, so a reload can
compare instances to find the ones that really changed.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface
from typing import NamedTuple

from .advert import AUTH_AH, AUTH_PASS, VRRP_GROUP_V4, VRRP_GROUP_V6, password_key

IPAddress = IPv4Address | IPv6Address
IPInterface = IPv4Interface | IPv6Interface

ERROR = "error"
WARNING = "warning"


class Diagnostic(NamedTuple):
    """One finding about the configuration, located where the user can fix it."""

    file: str
    line: int
    severity: str
    """`ERROR` or `WARNING`."""
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class ScriptCommand:
    """A command keepalived would run (notify, vrrp_script), and as whom.

    `command` is kept as written: keepalived splits it at unquoted spaces and keeps
    single-quoted parts whole, which is what `argv` does.
    """

    command: str
    user: str | None = None
    group: str | None = None
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.command)


@dataclass(frozen=True)
class Authentication:
    """VRRPv2 authentication (RFC 2338 §5.3.6; RFC 3768 keeps the field, drops the meaning)."""

    auth_type: str
    """"PASS" or "AH"."""
    password: str

    @property
    def wire_type(self) -> int:
        return AUTH_PASS if self.auth_type == "PASS" else AUTH_AH

    @property
    def key(self) -> bytes:
        """The 8 bytes on the wire: keepalived uses the first 8 characters, zero-padded."""
        return password_key(self.password)


MAX_LABEL = 15
"""IFNAMSIZ - 1: an address label is kept like an interface name."""


def label_fits(dev: str, label: str) -> bool:
    """iproute2's rule for an address label: the device's name, or it and a `:` suffix, so that
    `ip addr` shows the address under its interface."""
    return len(label) <= MAX_LABEL and (label == dev or label.startswith(dev + ":"))


@dataclass(frozen=True)
class VirtualAddress:
    """One `virtual_ipaddress` line: the address with its prefix, and where it goes."""

    address: IPInterface
    """Without a prefix in the file: /32 for IPv4, /128 for IPv6 (as keepalived)."""
    dev: str
    """The `dev` given, else the instance's interface."""
    label: str | None = None
    scope: str | None = None


@dataclass(frozen=True)
class UnicastPeer:
    address: IPAddress
    min_ttl: int | None = None
    max_ttl: int | None = None


@dataclass(frozen=True)
class TrackedInterface:
    """A `track_interface` entry: weight 0 means FAULT while the interface is down."""

    name: str
    weight: int = 0
    reverse: bool = False


@dataclass(frozen=True)
class TrackedScript:
    """A `track_script` entry; `weight` is already the script's own when the entry gave none."""

    name: str
    weight: int = 0
    reverse: bool = False


@dataclass(frozen=True)
class TcpCheck:
    """fastvrrp's `check tcp ADDRESS:PORT`: up while a TCP connect completes within the timeout.

    Run inside the daemon, without a fork, so that it can run every few milliseconds.
    """

    address: IPAddress
    port: int

    def __str__(self) -> str:
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"tcp {host}:{self.port}"


@dataclass(frozen=True)
class FileCheck:
    """fastvrrp's `check file PATH [exists]`, in process like `TcpCheck`.

    Without `exists`, keepalived's `track_file` reading: the file's number, 0 is up and
    anything else down, a missing or empty file reads as 0.  With `exists`: up while the
    file exists.
    """

    path: str
    exists: bool = False

    def __str__(self) -> str:
        return f"file {self.path}" + (" exists" if self.exists else "")


@dataclass(frozen=True)
class VrrpScript:
    """A `vrrp_script` block: a check run every `interval_s`, judged by its exit status.

    Exactly one of `script` (a command, forked) and `check` (fastvrrp's in-process check) is set.
    """

    name: str
    script: ScriptCommand | None = None
    interval_s: float = 1.0
    timeout_s: float = 1.0
    """keepalived's default is the interval."""
    weight: int = 0
    reverse: bool = False
    rise: int = 1
    fall: int = 1
    init_fail: bool = False
    check: TcpCheck | FileCheck | None = None
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Notifies:
    """Scripts run on state changes; `notify` gets `INSTANCE|GROUP name STATE priority` appended."""

    master: ScriptCommand | None = None
    backup: ScriptCommand | None = None
    fault: ScriptCommand | None = None
    stop: ScriptCommand | None = None
    any: ScriptCommand | None = None
    """The `notify` keyword: run on every transition, after the specific one."""


@dataclass(frozen=True)
class VrrpInstance:
    """One virtual router as this host takes part in it."""

    name: str
    state: str
    """Initial state wanted, "MASTER" or "BACKUP". keepalived derives it from the priority when
    omitted (255 -> MASTER); every instance still starts in BACKUP (init) on the wire."""
    interface: str
    virtual_router_id: int
    priority: int
    """1..255; omitted: 255 with `state MASTER`, else 100 (keepalived)."""
    version: int
    """2 or 3: the instance's `version`, else 3 for IPv6, else global `vrrp_version`."""
    advert_int_cs: int
    """Advertisement interval in centiseconds: v2 whole seconds (100..25500), v3 1..4095."""
    virtual_ipaddress: tuple[VirtualAddress, ...]
    """Advertised addresses, all of one family; the first one's family is the instance's."""
    virtual_ipaddress_excluded: tuple[VirtualAddress, ...] = ()
    """Added and removed with the VIPs but not advertised; may mix families."""
    preempt: bool = True
    """RFC 5798 Preempt_Mode; `nopreempt` clears it (not with `state MASTER` or priority 255)."""
    preempt_delay_s: float = 0.0
    accept: bool = True
    """RFC 5798 Accept_Mode; keepalived (without strict mode) defaults it on, v2 included."""
    authentication: Authentication | None = None
    unicast_src_ip: IPAddress | None = None
    mcast_src_ip: IPAddress | None = None
    unicast_peers: tuple[UnicastPeer, ...] = ()
    garp_master_delay_s: int = 5
    garp_master_repeat: int = 5
    garp_master_refresh_s: int = 0
    """0: no periodic refresh while master."""
    garp_master_refresh_repeat: int = 1
    garp_lower_prio_delay_s: int = 5
    garp_lower_prio_repeat: int = 5
    track_interfaces: tuple[TrackedInterface, ...] = ()
    track_scripts: tuple[TrackedScript, ...] = ()
    notifies: Notifies = Notifies()
    v3_checksum_as_v2: bool = False
    """Send the v3 IPv4 checksum without the pseudo-header (RFC 9568, Cisco, Juniper)."""
    dont_track_primary: bool = False
    """Do not go to FAULT when `interface` goes down."""
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    @property
    def family(self) -> int:
        """4 or 6, from the advertised addresses."""
        return self.virtual_ipaddress[0].address.version

    @property
    def advert_int_ms(self) -> int:
        return self.advert_int_cs * 10

    @property
    def multicast_group(self) -> str:
        return VRRP_GROUP_V4 if self.family == 4 else VRRP_GROUP_V6


@dataclass(frozen=True)
class SyncGroup:
    """`vrrp_sync_group`: member instances change state together."""

    name: str
    members: tuple[str, ...]
    track_interfaces: tuple[TrackedInterface, ...] = ()
    track_scripts: tuple[TrackedScript, ...] = ()
    notifies: Notifies = Notifies()
    tracking_weight: bool = False
    """keepalived's `sync_group_tracking_weight`: members use tracking weights instead of FAULT."""
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class NotifyFifo:
    """`notify_fifo PATH` (or `vrrp_notify_fifo`), with the script keepalived starts to read it.

    keepalived starts `notify_fifo_script` (`vrrp_notify_fifo_script`) once, with the FIFO's
    path as its last argument, and sends it SIGTERM when it stops.
    """

    path: str
    script: ScriptCommand | None = None
    """Its user and group are `script_user`'s when its line named none: resolved at load time,
    as keepalived does, so that whoever starts it needs no `GlobalDefs`."""
    keyword: str = "notify_fifo"
    """`notify_fifo` or `vrrp_notify_fifo`: which one the file wrote, for messages."""

    @property
    def argv(self) -> list[str]:
        assert self.script is not None
        return self.script.argv + [self.path]


@dataclass(frozen=True)
class GlobalDefs:
    """The VRRP-relevant part of `global_defs`; instances copy the garp defaults from it."""

    router_id: str | None = None
    vrrp_version: int = 2
    vrrp_garp_master_delay_s: int = 5
    vrrp_garp_master_repeat: int = 5
    vrrp_garp_master_refresh_s: int = 0
    vrrp_garp_master_refresh_repeat: int = 1
    vrrp_garp_lower_prio_delay_s: int = 5
    """keepalived's default is vrrp_garp_master_delay."""
    vrrp_garp_lower_prio_repeat: int = 5
    """keepalived's default is vrrp_garp_master_repeat."""
    v3_checksum_as_v2: bool = False
    enable_script_security: bool = False
    script_user: str | None = None
    script_group: str | None = None
    notify_fifos: tuple[NotifyFifo, ...] = ()
    """`notify_fifo` and `vrrp_notify_fifo`: FIFOs that get a line per state change."""
    vrrp_priority: int | None = None
    """The daemon's nice value (-20..19), as keepalived's VRRP process."""
    vrrp_rt_priority: int | None = None
    """SCHED_RR priority (1..99) of the daemon's event loop."""
    vrrp_rlimit_rttime_us: int = 10_000
    """RLIMIT_RTTIME under `vrrp_rt_priority`: CPU time without blocking before SIGXCPU (µs)."""
    vrrp_no_swap: bool = False
    """Lock the daemon's memory (mlockall): no page fault on a takeover's path."""
    log_unknown_vrids: bool = False
    """Log adverts for a VRID no instance here runs (counted per interface either way)."""
    vrrp_cpu_affinity: tuple[int, ...] = ()


@dataclass(frozen=True)
class Config:
    global_defs: GlobalDefs
    instances: tuple[VrrpInstance, ...]
    scripts: tuple[VrrpScript, ...] = ()
    sync_groups: tuple[SyncGroup, ...] = ()
    warnings: tuple[Diagnostic, ...] = ()
    files: tuple[str, ...] = ()
    """Every file read, the main one first: what a reload has to watch."""

    def instance(self, name: str) -> VrrpInstance:
        for instance in self.instances:
            if instance.name == name:
                return instance
        raise KeyError(name)

    def script(self, name: str) -> VrrpScript:
        for script in self.scripts:
            if script.name == name:
                return script
        raise KeyError(name)
