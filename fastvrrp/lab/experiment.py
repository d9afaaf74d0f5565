"""The experiment's steps, run against two routers and a pinging client in throw-away namespaces.

Each step acts (start, stop, kill, firewall, fix), waits until the VIP sits where the protocol
says it should or the protocol's bound plus a margin has passed, watches a little longer so
late effects show (a flapping VIP, re-announcements), then records what it saw.  The
expected owners only tell the lab when to stop waiting: the outcome recorded is the one
observed, so a daemon that misbehaves shows up in the report instead of being papered over.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from .. import firewall
from ..netns import Topology
from ..peers import IMPLEMENTATIONS, InstanceSpec, Peer, vip_holders, wait_until
from . import strict_firewall
from .bounds import master_down_interval, skew_time
from .pinger import Pinger
from .sniffer import Sniffer
from .timeline import GARP, NOTE, STATE, STEP, UNSOLICITED_NA, VIP_ADD, VIP_DEL, Event, Timeline
from .watchers import LogReader, VipWatcher

ROLES = ("r1", "r2")
CLIENT = "client"
ROUTER_IDS = {"r1": "LVS_201-1", "r2": "LVS_201-2"}
INSTANCE = "VIP_test_1"
VIP_V4 = "10.0.201.100"
VIP_V6 = "fd00:201::100"
WORKDIR_PREFIX = "fastvrrp-lab-"
"""Configs and daemon logs of a run live in TMPDIR/fastvrrp-lab-PID-*, removed at its end."""


class LabError(RuntimeError):
    """The lab cannot run as asked (bad options, missing tool); nothing was built."""


@dataclass(frozen=True)
class LabConfig:
    """What the experiment varies; the defaults are the experiment's own (v2, 1 s, 100/50)."""

    impls: tuple[str, str] = ("fastvrrp", "fastvrrp")
    version: int = 2
    interval: float = 1.0
    priorities: tuple[int, int] = (100, 50)
    ipv6: bool = False
    firewall: str | None = None
    """`iptables`, `nftables`, or None: iptables when installed, else nftables."""
    ping_interval: float = 0.01

    def check(self) -> None:
        """Refuse combinations the protocol or the experiment does not allow, before any setup."""
        for impl in self.impls:
            if impl not in IMPLEMENTATIONS:
                raise LabError(f"implementation must be one of {', '.join(IMPLEMENTATIONS)}, not {impl!r}")
        if self.version not in (2, 3):
            raise LabError(f"VRRP version must be 2 or 3, not {self.version}")
        if self.ipv6 and self.version == 2:
            raise LabError("VRRPv2 carries IPv4 only (RFC 3768): use --version 3 with --ipv6")
        if self.version == 2 and (self.interval != int(self.interval) or not 1 <= self.interval <= 255):
            raise LabError(f"a v2 advert interval is whole seconds, 1..255 (RFC 3768 §5.3.7), not {self.interval}")
        if self.version == 3 and not 0.01 <= self.interval <= 40.95:
            raise LabError(f"a v3 advert interval is 0.01..40.95 s (RFC 5798 §5.2.7), not {self.interval}")
        high, low = self.priorities
        if not (1 <= low < high <= 254):
            raise LabError(f"priorities must be 1..254 with r1's above r2's (r1 is the master), not {high}/{low}")

    @property
    def family(self) -> int:
        return 6 if self.ipv6 else 4

    @property
    def vip(self) -> str:
        return VIP_V6 if self.ipv6 else VIP_V4

    def spec(self, role: str) -> InstanceSpec:
        """The keepalived.conf instance of EXPERIMENT.md for router `role`."""
        index = ROLES.index(role)
        advert_int = str(int(self.interval)) if self.version == 2 else f"{self.interval:g}"
        return InstanceSpec(
            state="MASTER" if index == 0 else "BACKUP",
            priority=self.priorities[index],
            version=self.version,
            advert_int=advert_int,
            password="1111" if self.version == 2 else None,
            vip=self.vip,
            name=INSTANCE,
        )


@dataclass(frozen=True)
class Step:
    """One action of the experiment and how its takeover is measured."""

    number: str
    title: str
    action: str
    expected: tuple[str, ...]
    """Live VIP holders the protocol predicts: the lab waits for them, it does not assume them."""
    watch: tuple[str, str]
    """(router, vip+ or vip-): the event that completes the takeover."""
    bound: float
    bound_text: str
    announcer: str
    """The router whose gratuitous ARPs (unsolicited NAs) this step should bring."""
    starts_daemon: bool = False


def steps(config: LabConfig) -> list[Step]:
    """The six steps of the issue with RFC bounds; step 4 is a crash and a restart, and 5b shows
    the experiment's lesson: an appended accept lands after the REJECT and heals nothing."""
    v, i = config.version, config.interval
    p1, p2 = config.priorities
    mdi1, mdi2 = master_down_interval(v, p1, i), master_down_interval(v, p2, i)
    return [
        Step("1", "start both routers", "start-both", ("r1",), ("r1", VIP_ADD), mdi1,
             "Master_Down_Interval of r1", "r1", True),
        Step("2", "stop r1 (SIGTERM): priority 0", "stop-r1", ("r2",), ("r2", VIP_ADD), skew_time(v, p2, i),
             "Skew_Time of r2 after priority 0", "r2"),
        Step("3", "start r1 again: it preempts", "start-r1", ("r1",), ("r1", VIP_ADD), mdi1,
             "Master_Down_Interval of r1 (from start)", "r1", True),
        Step("4a", "kill r1 (SIGKILL)", "kill-r1", ("r2",), ("r2", VIP_ADD), mdi2,
             "Master_Down_Interval of r2", "r2"),
        Step("4b", "restart r1", "start-r1", ("r1",), ("r1", VIP_ADD), mdi1,
             "Master_Down_Interval of r1 (from start)", "r1", True),
        Step("5", "strict firewall on r2 (REJECT after ICMP/lo/ssh/http)", "firewall-r2", ("r1", "r2"),
             ("r2", VIP_ADD), mdi2, "Master_Down_Interval of r2 (it hears nothing)", "r2"),
        Step("5b", "append an accept for VRRP on r2 (after the REJECT)", "append-r2", ("r1", "r2"),
             ("r2", VIP_DEL), i, "one advert interval of r1, were its adverts let in", "r1"),
        Step("6", "insert the accept before the REJECT on r2", "heal-r2", ("r1",), ("r2", VIP_DEL), i,
             "one advert interval of r1", "r1"),
    ]  # fmt: skip


@dataclass
class StepResult:
    """What one step did, as observed."""

    number: str
    name: str
    owners: list[str]
    """Routers whose daemon runs and whose interface carries the VIP when the step settled."""
    stale: list[str]
    """Routers carrying the VIP with no daemon running (after SIGKILL)."""
    states: dict[str, str]
    """Each router's last logged state (STOPPED when its daemon does not run)."""
    takeover_ms: float | None
    bound_ms: float
    bound_text: str
    watched: str
    since: str
    """What the takeover is measured from: the lab's action, or a started daemon being up."""
    startup_ms: float | None
    first_garp_ms: float | None
    pings_sent: int
    pings_lost: int
    started: float
    settled: float
    notes: list[str] = field(default_factory=list)

    @property
    def split_brain(self) -> bool:
        return len(self.owners) > 1


@dataclass
class LabResult:
    config: LabConfig
    t0: float
    steps: list[StepResult]
    events: list[Event]
    ping_sent: list[float]
    ping_lost: list[float]
    firewall: str
    wall_s: float

    @property
    def split_brain(self) -> bool:
        return any(step.split_brain for step in self.steps)


def first_after(events: Iterable[Event], t: float, source: str, kinds: Iterable[str]) -> Event | None:
    """The first event of `kinds` from `source` at or after `t` (events in time order)."""
    kinds = set(kinds)
    return next((e for e in events if e.t >= t and e.source == source and e.kind in kinds), None)


def states_at(events: Iterable[Event], t: float, roles: Iterable[str]) -> dict[str, str]:
    """Each router's last logged state at `t` (`-` before its first)."""
    states = {role: "-" for role in roles}
    for event in events:
        if event.t > t:
            break
        if event.kind == STATE and event.source in states:
            states[event.source] = event.data.get("state", event.text)
    return states


def count_between(times: Iterable[float], start: float, end: float) -> int:
    return sum(start <= t < end for t in times)


def measure(
    step: Step,
    events: list[Event],
    started: float,
    settled: float,
    end: float,
    holders: list[str],
    running: dict[str, bool],
    ping_sent: list[float],
    ping_lost: list[float],
) -> StepResult:
    """A step's result from the merged timeline: pure, so it is tested without namespaces.

    `end` is when the next step begins: pings lost until then belong to this step.
    """
    role, kind = step.watch
    since = started
    if step.starts_daemon:
        # A starting daemon's clock starts when it is up (its first state), not at exec:
        # Python's start-up is not protocol time.  The start-up is reported on its own.
        ready = first_after(events, started, role, [STATE])
        since = ready.t if ready is not None else started
    done = first_after(events, since, role, [kind])
    if done is not None and done.t >= end:
        done = None  # the next step's doing
    garp = next(
        (
            e
            for e in events
            if started <= e.t < end and e.kind in (GARP, UNSOLICITED_NA) and e.data.get("router") == step.announcer
        ),
        None,
    )
    states = states_at(events, settled, ROLES)
    for r, alive in running.items():
        if not alive:
            states[r] = "STOPPED"
    stale = [r for r in holders if not running.get(r)]
    notes = [
        f"{r} still carries the VIP with no daemon running: its kernel answers ARP and pings for it "
        "until a restart removes it (a daemon crash is not a host crash)"
        for r in stale
    ]
    return StepResult(
        number=step.number,
        name=step.title,
        owners=[r for r in holders if running.get(r)],
        stale=stale,
        states=states,
        takeover_ms=None if done is None else (done.t - since) * 1e3,
        since=f"{role} up" if since != started else "action",
        startup_ms=(since - started) * 1e3 if since != started else None,
        bound_ms=step.bound * 1e3,
        bound_text=step.bound_text,
        watched=f"VIP {'on' if kind == VIP_ADD else 'off'} {role}",
        first_garp_ms=None if garp is None else (garp.t - started) * 1e3,
        pings_sent=count_between(ping_sent, started, end),
        pings_lost=count_between(ping_lost, started, end),
        started=started,
        settled=settled,
        notes=notes,
    )


class Lab:
    """Builds the namespaces, runs the steps, and always takes everything down again."""

    def __init__(self, config: LabConfig, out: TextIO, workdir: Path | None = None) -> None:
        config.check()
        self.config = config
        self.out = out
        self.workdir = workdir
        kind = strict_firewall.choose(config.firewall, config.family)
        if kind is None:
            wanted = config.firewall or "iptables or nftables"
            raise LabError(
                f"{wanted} is not installed: the split-brain step needs a firewall (apt-get install iptables)"
            )
        self.firewall_kind = kind
        self.timeline = Timeline(out=out)
        self.topology: Topology | None = None
        self.peers: dict[str, Peer] = {}
        self.finding: firewall.Finding | None = None

    def run(self) -> LabResult:
        start = time.monotonic()
        workdirs = tempfile.TemporaryDirectory(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-")
        with workdirs as tmp, Topology([*ROLES, CLIENT]) as topology:
            self.topology = topology
            workdir = self.workdir or Path(tmp)
            return self._run(topology, workdir, start)

    def _run(self, topology: Topology, workdir: Path, start: float) -> LabResult:
        config, timeline = self.config, self.timeline
        readers = {role: LogReader(role, INSTANCE) for role in ROLES}
        for role in ROLES:
            reader = readers[role]
            self.peers[role] = Peer(
                topology, role, config.impls[ROLES.index(role)], config.spec(role).render(ROUTER_IDS[role]),
                workdir / role, on_line=lambda t, line, reader=reader: self._log_line(reader, t, line),
            )  # fmt: skip
        macs = {_mac(topology, role): role for role in (*ROLES, CLIENT)}
        watchers = [VipWatcher(topology.name(role), role, config.vip, timeline.add) for role in ROLES]
        sniffer = Sniffer(topology.name(CLIENT), config.vip, macs, timeline.add, config.interval)
        pinger = Pinger(topology.name(CLIENT), config.vip, config.family, config.ping_interval, sniffer.loss)
        marks: list[tuple[Step, float, float, list[str], dict[str, bool]]] = []
        with contextlib.ExitStack() as stack:
            for peer in self.peers.values():
                stack.callback(_kill_if_running, peer)
            for watcher in watchers:
                watcher.start()
                stack.callback(watcher.stop)
            sniffer.start()
            stack.callback(sniffer.stop)
            stack.callback(timeline.close)
            self._banner(topology)
            timeline.start()
            pinger.start()
            stack.callback(pinger.stop)
            for step in steps(config):
                marks.append(self._step(step))
            end = timeline.note("lab", STEP, "end: stopping both daemons").t
            pinger.stop()
            time.sleep(0.1)  # the last replies land
            sniffer.stop()
            for role in reversed(ROLES):  # the backup first: no takeover on the way out
                if self.peers[role].running:
                    self.peers[role].stop()
        events = timeline.sorted_events()
        results = []
        for n, (step, started, settled, holders, running) in enumerate(marks):
            until = marks[n + 1][1] if n + 1 < len(marks) else end
            result = measure(
                step, events, started, settled, until, holders, running, sniffer.loss.sent, sniffer.loss.lost
            )
            if step.action == "firewall-r2" and self.finding is not None:
                result.notes += firewall.explain(self.finding)
            results.append(result)
        return LabResult(
            config, timeline.t0, results, events, sniffer.loss.sent, sniffer.loss.lost, self.firewall_kind,
            time.monotonic() - start,
        )  # fmt: skip

    def _banner(self, topology: Topology) -> None:
        c = self.config
        family = "IPv6" if c.ipv6 else "IPv4"
        lines = [
            f"fastvrrp lab: VRRPv{c.version} {family}, advert_int {c.interval:g} s, VRID 150, VIP {c.vip}",
            *(
                f"  {role}: {c.impls[i]}, priority {c.priorities[i]}, {topology[role].ip}"
                f"{' ' + topology[role].ip6 if c.ipv6 else ''} on em1 (namespace {topology.name(role)})"
                for i, role in enumerate(ROLES)
            ),
            f"  client: {topology[CLIENT].ip} pings the VIP every {c.ping_interval * 1e3:g} ms",
            f"  firewall tool for step 5: {self.firewall_kind}",
            "  times: seconds since start, one monotonic clock; wire = kernel receive stamps at the client",
            "",
        ]
        print("\n".join(lines), file=self.out, flush=True)

    def _log_line(self, reader: LogReader, t: float, line: str) -> None:
        event = reader.event(t, line)
        if event is not None:
            self.timeline.add(event)

    def _step(self, step: Step) -> tuple[Step, float, float, list[str], dict[str, bool]]:
        """Act, wait for the predicted outcome (or the bound plus a margin), watch, record."""
        c, topology = self.config, self.topology
        started = self.timeline.note("lab", STEP, f"step {step.number}: {step.title}").t
        self._act(step)
        margin = max(2.0, 3 * c.interval) + (2.0 if step.starts_daemon else 0.0)
        wait_until(lambda: self._live_holders() == list(step.expected), step.bound + margin)
        if step.action == "firewall-r2":
            self._diagnose()
        time.sleep(max(0.5, 2 * c.interval))
        if step.action == "append-r2" and len(self._live_holders()) > 1:
            self.timeline.note("lab", NOTE, "still SPLIT BRAIN: the appended accept comes after the REJECT")
        holders = vip_holders(topology, ROLES, c.vip)
        running = {role: peer.running for role, peer in self.peers.items()}
        return step, started, time.monotonic(), holders, running

    def _act(self, step: Step) -> None:
        peers, c = self.peers, self.config
        if step.action == "start-both":
            for role in ROLES:
                peers[role].start()
        elif step.action == "stop-r1":
            peers["r1"].stop()
        elif step.action == "start-r1":
            peers["r1"].start()
        elif step.action == "kill-r1":
            peers["r1"].kill()
        elif step.action == "firewall-r2":
            command = strict_firewall.apply(self.topology, "r2", self.firewall_kind, c.family)
            self.timeline.note("lab", NOTE, f"r2: {command} (the experiment's rules)")
        elif step.action == "append-r2":
            command = strict_firewall.append_accept(self.topology, "r2", self.firewall_kind, c.family)
            self.timeline.note("lab", NOTE, f"r2: {command}")
        elif step.action == "heal-r2":
            if self.finding is None or not self.finding.blocked:
                self.timeline.note("lab", NOTE, "nothing to heal: the firewall did not block VRRP")
                return
            command = strict_firewall.heal(self.topology, "r2", self.finding)
            self.timeline.note("lab", NOTE, f"r2: {command}")

    def _diagnose(self) -> None:
        """What `fastvrrp doctor` says on r2 while the split brain lasts."""
        c, topology = self.config, self.topology
        link = topology["r2"].ipv6.network if c.ipv6 else topology["r2"].ipv4.network
        self.finding = strict_firewall.diagnose(topology, "r2", self.firewall_kind, c.family, "em1", link)
        holders = self._live_holders()
        if len(holders) > 1:
            self.timeline.note("lab", NOTE, f"SPLIT BRAIN: {' and '.join(holders)} both hold {c.vip}")
        for line in firewall.explain(self.finding):
            self.timeline.note("lab", NOTE, line.strip())

    def _live_holders(self) -> list[str]:
        held = vip_holders(self.topology, ROLES, self.config.vip)
        return [role for role in held if self.peers[role].running]


def _kill_if_running(peer: Peer) -> None:
    if peer.running:
        peer.kill()


def _mac(topology: Topology, role: str) -> str:
    """em1's MAC in `role`'s namespace (sysfs shows a namespace's devices only from inside it)."""
    return topology.run(role, ["cat", f"/sys/class/net/{topology[role].ifname}/address"]).stdout.strip()
