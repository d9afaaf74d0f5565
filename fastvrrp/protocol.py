"""The VRRP state machine, sans-IO: events in, actions out, one deadline to wake up at.

`VirtualRouter` is one VRRP instance (RFC 5798 / RFC 9568 for v3, RFC 3768 for v2) with the
behaviour keepalived users rely on (FAULT state, tracking weights, GARP schedule, start-up
cleanup).  It never reads a clock, opens a socket or logs: every call takes `now` (seconds on
any monotonic clock) and returns the actions of `fastvrrp.actions` for the driver to carry out,
and `get_timer()` says when to call `handle_timer` next.  A peer's advert never makes it raise:
the codec has validated it, and anything the core still dislikes is counted and dropped.

`SyncGroup` coordinates instances that must move together (keepalived's `vrrp_sync_group`).

Driving it: call `start(now)`; feed each parsed advert to `receive_advert`, link and tracking
changes to `set_interface_state` / `set_track_state`; carry out the returned actions in order;
after every call re-arm one timer at `get_timer()` and, when it fires, call
`handle_timer(max(deadline, clock()))`; on SIGTERM call `shutdown(now)`.
"""

from __future__ import annotations

import math
import socket
from dataclasses import dataclass, field
from typing import Sequence

from .actions import (
    LOG_INFO,
    LOG_WARNING,
    Action,
    AddVips,
    Log,
    RemoveVips,
    RunNotify,
    SendAdvert,
    SendGratuitous,
    StateChanged,
)
from .advert import Advert
from .timers import (
    PRIORITY_LEAVING,
    PRIORITY_OWNER,
    effective_priority,
    master_down_interval,
    preferred,
    reannounce_gap,
    skew_time,
)

INIT = "INIT"
BACKUP = "BACKUP"
MASTER = "MASTER"
FAULT = "FAULT"
STOP = "STOP"
"""The notify event of a stopping instance (keepalived's `notify_stop`); not a state."""

COUNTERS: tuple[str, ...] = (
    # keepalived's per-instance statistics, by their names
    "advert_rcvd",
    "advert_sent",
    "become_master",
    "release_master",
    "packet_len_err",
    "advert_interval_err",
    "ip_ttl_err",
    "invalid_type_rcvd",
    "addr_list_err",
    "invalid_authtype",
    "authtype_mismatch",
    "auth_failure",
    "pri_zero_rcvd",
    "pri_zero_sent",
    "chk_err",
    "vers_err",
    "vrid_err",
    # ours
    "garp_bursts",
    "reannounce_deferred",
)

# How a received advert compares with us: the columns of the state table.
LEAVING = "leaving"
HIGHER = "higher"
SAME_HIGHER_ADDRESS = "same priority, higher address"
SAME_LOWER_ADDRESS = "same priority, lower address"
LOWER = "lower"


def compare(priority: int, source: bytes, ours: int, our_address: bytes) -> str:
    """Classify an advert against our effective priority and primary address."""
    if priority == PRIORITY_LEAVING:
        return LEAVING
    if priority != ours:
        return HIGHER if priority > ours else LOWER
    return SAME_HIGHER_ADDRESS if preferred(priority, source, ours, our_address) else SAME_LOWER_ADDRESS


LOG_PERIOD = 1.0
"""Seconds between two log lines of one kind triggered by peers: a flood must not flood the log."""
RIVAL_LOG_PERIOD = 60.0
"""Seconds between two diagnoses of a split brain: a standing condition, not an event."""


class SettingsError(ValueError):
    """Our own misuse: settings the config layer should never have produced."""


@dataclass(frozen=True)
class TrackedObject:
    """An interface or script whose state moves the priority (keepalived's `track_*` with `weight`).

    A positive weight is added while the object is up, a negative one while it is down; weight 0
    means the router cannot serve without it: down puts the router in FAULT.
    """

    name: str
    weight: int = 0


@dataclass(frozen=True)
class RouterSettings:
    """One virtual router as the protocol core needs it; the config layer maps keepalived.conf here."""

    name: str
    vrid: int
    vips: tuple[bytes, ...]
    primary_address: bytes
    """Our packed source address (IPv4 primary / IPv6 link-local): the election's tie-breaker."""
    version: int = 3
    family: int = 4
    priority: int = 100
    advert_interval_cs: int = 100
    interface: str = ""
    preempt: bool = True
    preempt_delay: float = 0.0
    accept_mode: bool = False
    initial_state: str = BACKUP
    """keepalived's `state`: informative only, a non-owner always waits Master_Down_Interval."""
    vip_objects: tuple[object, ...] = ()
    """Whatever the drivers want back in AddVips / RemoveVips / SendGratuitous (prefix, scope ...)."""
    garp_master_delay: float = 5.0
    """Seconds between the first and second gratuitous burst after becoming master; 0: no second burst."""
    garp_master_repeat: int = 5
    garp_master_refresh: float = 0.0
    """Seconds between periodic gratuitous bursts while master; 0: off."""
    garp_master_refresh_repeat: int = 1
    garp_lower_prio_repeat: int = 5
    """Gratuitous messages per VIP when a master re-announces after hearing a lower priority."""
    reannounce_min_interval: float = 1.0
    """Least seconds between two gratuitous bursts of a master answering lower priorities."""
    higher_prio_send_advert: bool = True
    """A master that loses sends one last advert before stepping down (keepalived's option, off there).

    On by default: when two masters meet after a partition heals, the loser may hear the winner
    first and go quiet; its last advert is what tells the winner to re-announce the addresses,
    so that the ARP caches the loser claimed point back at the winner.
    """
    track: tuple[TrackedObject, ...] = ()

    def __post_init__(self) -> None:
        if self.version not in (2, 3):
            raise SettingsError(f"version must be 2 or 3, not {self.version}")
        if self.family not in (4, 6) or (self.version == 2 and self.family == 6):
            raise SettingsError(f"family {self.family} with VRRP version {self.version}")
        if not 1 <= self.vrid <= 255:
            raise SettingsError(f"vrid must be 1..255, not {self.vrid}")
        if not 1 <= self.priority <= 255:
            raise SettingsError(f"priority must be 1..255, not {self.priority}")
        # RFC 5798 §5.2.7: v3 carries 1..4095 cs; RFC 3768 §5.3.7: v2 carries 1..255 whole seconds.
        limit = 25500 if self.version == 2 else 4095
        if not 1 <= self.advert_interval_cs <= limit or (self.version == 2 and self.advert_interval_cs % 100):
            raise SettingsError(f"advert interval {self.advert_interval_cs} cs for version {self.version}")
        if self.initial_state not in (BACKUP, MASTER):
            raise SettingsError(f"initial_state must be BACKUP or MASTER, not {self.initial_state!r}")
        width = 4 if self.family == 4 else 16
        if len(self.primary_address) != width or any(len(v) != width for v in self.vips):
            raise SettingsError(f"addresses must be packed IPv{self.family} ({width} bytes)")
        if self.vip_objects and len(self.vip_objects) != len(self.vips):
            raise SettingsError("vip_objects must be empty or match vips one for one")
        if min(self.preempt_delay, self.garp_master_delay, self.garp_master_refresh) < 0:
            raise SettingsError("delays must not be negative")
        if len({t.name for t in self.track}) != len(self.track):
            raise SettingsError("tracked object names must be unique")


@dataclass(frozen=True)
class RouterStatus:
    """Everything observable about a router at one moment: what tests compare, what `status` shows."""

    state: str
    timer: float | None
    effective_priority: int
    master_address: bytes | None
    master_adver_interval_cs: int
    counters: dict[str, int] = field(hash=False)


class VirtualRouter:
    """One VRRP instance.  Feed it events; carry out the actions it returns; wake it at get_timer()."""

    def __init__(self, settings: RouterSettings) -> None:
        self.settings = settings
        self.state = INIT
        self.master_address: bytes | None = None
        self.master_adver_interval_cs = settings.advert_interval_cs
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self._weights: dict[str, int] = {t.name: t.weight for t in settings.track}
        self._tracked_up: dict[str, bool] = dict.fromkeys(self._weights, True)
        self._effective_priority = self._compute_effective_priority()
        self._faults: set[str] = set()
        self._reset()
        self._advert_actions: dict[int, SendAdvert] = {}
        self._down_inputs: tuple[int, int] | None = None
        self._down_interval = 0.0
        self._log_next: dict[str, float] = {}
        self._log_suppressed: dict[str, int] = {}

    def _reset(self) -> None:
        """Timers and what we learnt of peers: nothing of it survives a stop or a FAULT."""
        self._master_down_at: float | None = None
        self._adver_at: float | None = None
        self._second_burst_at: float | None = None
        self._refresh_at: float | None = None
        self._reannounce_at: float | None = None
        self._last_burst = -math.inf
        self._last_extra_advert = -math.inf
        self._lower_master_since: float | None = None
        self._rival: tuple[bytes, float, float] | None = None
        """A lower-priority master we keep hearing: its address, since when, last heard."""
        self._followed: int | None = None
        """The priority of the advert `receive_advert` last followed, while that can recur as is."""

    # -- what the driver reads -------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def effective_priority(self) -> int:
        """Base priority plus tracking weights (RFC 5798 §5.2.4 range, see `timers.effective_priority`).

        Read on every advert sent and received, changed only by `set_track_state`: kept computed.
        """
        return self._effective_priority

    def _compute_effective_priority(self) -> int:
        up = self._tracked_up
        weights = (w for name, w in self._weights.items() if (w > 0 and up[name]) or (w < 0 and not up[name]))
        return effective_priority(self.settings.priority, weights)

    @property
    def accepts_vip_traffic(self) -> bool:
        """RFC 5798 §6.4.3: a master accepts packets for the VIPs only as owner or with Accept_Mode."""
        return self.state == MASTER and (self.settings.accept_mode or self.settings.priority == PRIORITY_OWNER)

    @property
    def skew_time(self) -> float:
        return skew_time(self.settings.version, self.effective_priority, self.master_adver_interval_cs)

    @property
    def master_down_interval(self) -> float:
        # Read on every advert a backup hears; its inputs change only with a transition or a
        # tracked object, so it is recomputed only when they differ from the last time.
        inputs = (self._effective_priority, self.master_adver_interval_cs)
        if inputs != self._down_inputs:
            self._down_inputs = inputs
            self._down_interval = master_down_interval(self.settings.version, *inputs)
        return self._down_interval

    def get_timer(self) -> float | None:
        """The next deadline, or None when nothing is scheduled (INIT, FAULT)."""
        # Asked after every event the driver feeds in: compared in place, no list built.
        return self._earliest(self._master_down_at)

    def timer_after_repeat(self, at: float) -> float | None:
        """`get_timer()` as it will be once `heard_again(at)` took a repeat (call while `follows`).

        A driver that counts repeats itself keeps its timer right with this, and hands the
        repeats over only when the deadline comes or another event does."""
        return self._earliest(at + self.master_down_interval)

    def _earliest(self, deadline: float | None) -> float | None:
        """`deadline` or an earlier one of the master's timers."""
        for t in (self._adver_at, self._second_burst_at, self._refresh_at, self._reannounce_at):
            if t is not None and (deadline is None or t < deadline):
                deadline = t
        return deadline

    def status(self) -> RouterStatus:
        return RouterStatus(
            self.state,
            self.get_timer(),
            self.effective_priority,
            self.master_address,
            self.master_adver_interval_cs,
            dict(self.counters),
        )

    # -- events ----------------------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        """RFC 5798 §6.4.1 Initialize, the keepalived way.

        Every instance first removes its VIPs (leftovers of a `kill -9`) and enters BACKUP; only
        the owner (priority 255) becomes master at once, a `state MASTER` non-owner still waits
        Master_Down_Interval, so that a restarted router never takes the addresses from a
        running master without an election.
        """
        if self.state != INIT:
            raise RuntimeError(f"({self.name}) start() in state {self.state}")
        self._reset()
        actions: list[Action] = [self._remove_vips()]
        if self._faults:
            self._enter(FAULT, actions)
            self._notify(FAULT, actions)
        else:
            self._to_backup(now, actions, "(init)")
        return actions

    def receive_advert(self, advert: Advert, source: bytes, now: float) -> list[Action]:
        """A validated advert for our VRID from `source` (packed address)."""
        actions: list[Action] = []
        self._followed = None
        if self.state == INIT:
            return actions
        if advert.vrid != self.settings.vrid:
            self.counters["vrid_err"] += 1
            return actions
        if advert.version != self.settings.version:
            self.counters["vers_err"] += 1
            return actions
        if source == self.settings.primary_address:
            return actions  # our own advert, looped back by the multicast socket
        self.counters["advert_rcvd"] += 1
        if advert.priority == PRIORITY_LEAVING:
            self.counters["pri_zero_rcvd"] += 1
        if self.settings.version == 3 and advert.interval_cs != self.settings.advert_interval_cs:
            # RFC 9568 §7.1 (v3): a different interval is logged, and the advert still processed.
            self._log_limited(
                "interval",
                now,
                actions,
                f"advertisement interval mismatch mine={self.settings.advert_interval_cs} cs"
                f" rcv'd={advert.interval_cs} cs from {_text(source)}",
            )
        handlers = self._ON_ADVERT.get(self.state)
        if handlers is not None:
            comparison = compare(advert.priority, source, self.effective_priority, self.settings.primary_address)
            handlers[comparison](self, advert, source, now, actions)
        return actions

    def follows(self) -> bool:
        """A repeat of the advert last given to `receive_advert` would only reset the timer.

        True while we are a backup following that advert's master and neither our state nor
        our priority changed since: `heard_again` would take its repeats.  A driver may then
        count repeats itself and hand them over later, before the router's next event.
        """
        followed = self._followed
        return followed is not None and followed >= self._effective_priority and self.state == BACKUP

    def heard_again(self, now: float, repeats: int = 1) -> bool:
        """The advert last given to `receive_advert` arrived again, byte for byte, `repeats` times,
        the last at `now`.

        A backup hears its master repeat the same advert every interval, and each one only
        resets the Master_Down_Timer (RFC 5798 §6.4.2).  If the last advert was followed that
        way (`follows`), this counts the repeats and resets the timer from the last -- what
        `receive_advert` would do, without building an `Advert` and walking the table -- and
        returns True.  Otherwise it changes nothing and returns False: the caller passes the
        advert to `receive_advert`.
        """
        if not self.follows():
            return False
        self.counters["advert_rcvd"] += repeats
        self._master_down_at = now + self.master_down_interval
        return True

    def takeover_due(self, now: float) -> bool:
        """`handle_timer(now)` would make us master (RFC 5798 §6.4.2: the Master_Down_Timer fired).

        Its actions then begin with `StateChanged`, `SendAdvert` at our effective priority and
        interval, and `AddVips`: a driver may put that advert and those addresses out first,
        before the core's bookkeeping, and skip them among the actions.
        """
        return self.state == BACKUP and self._master_down_at is not None and self._master_down_at <= now

    def advert_due(self, now: float) -> bool:
        """`handle_timer(now)` would send our periodic advert (RFC 5798 §6.4.3, Adver_Timer fired).

        Its actions then begin with `SendAdvert` at our effective priority and interval: a
        driver may send that advert first, with those of other instances due at once, and skip
        it among the actions.
        """
        return self.state == MASTER and self._adver_at is not None and self._adver_at <= now

    def handle_timer(self, now: float) -> list[Action]:
        """Run every deadline that is due at `now`; a call before the deadline does nothing."""
        actions: list[Action] = []
        if self.state == BACKUP and _due(self._master_down_at, now):
            # RFC 5798 §6.4.2: "If the Master_Down_Timer fires ... Transition to the {Master} state".
            self._become_master(now, actions)
        if self.state != MASTER:
            return actions
        if self._adver_at is not None and self._adver_at <= now:  # `_due`, written out: per advert
            # RFC 5798 §6.4.3: "If the Adver_Timer fires, then: Send an ADVERTISEMENT; Reset the
            # Adver_Timer".  Scheduled from the deadline, not from `now`, so that a driver's
            # jitter does not accumulate; after a long stall the schedule restarts from `now`.
            self._send_advert(self.effective_priority, actions)
            self._adver_at = _next_tick(self._adver_at, self._advert_interval, now)
        if _due(self._second_burst_at, now):
            self._second_burst_at = None
            self._burst(self.settings.garp_master_repeat, now, actions)
        if _due(self._refresh_at, now):
            self._refresh_at = _next_tick(self._refresh_at, self.settings.garp_master_refresh, now)
            self._burst(self.settings.garp_master_refresh_repeat, now, actions, log=False)
        if _due(self._reannounce_at, now):
            self._burst(self.settings.garp_lower_prio_repeat, now, actions)
        return actions

    def set_interface_state(self, up: bool, now: float) -> list[Action]:
        """The VRRP interface went down (FAULT) or came back (BACKUP), as keepalived does."""
        return self._set_fault("interface", not up, now)

    def set_track_state(self, name: str, up: bool, now: float) -> list[Action]:
        """A tracked object changed: weight 0 toggles FAULT, any other weight moves the priority."""
        weight = self._weights[name]
        before = self.effective_priority
        self._tracked_up[name] = up
        self._effective_priority = self._compute_effective_priority()
        if weight == 0:
            return self._set_fault(f"track {name}", not up, now)
        actions: list[Action] = []
        after = self.effective_priority
        if after != before:
            actions.append(self._log(f"Changing effective priority from {before} to {after}"))
        return actions

    def shutdown(self, now: float) -> list[Action]:
        """RFC 5798 §6.4.2 / §6.4.3 Shutdown: a master sends priority 0 and leaves; all go to INIT.

        Priority 0 lets the backups take over after Skew_Time instead of Master_Down_Interval.
        """
        actions: list[Action] = []
        if self.state == INIT:
            return actions
        if self.state == MASTER:
            self._leave_master(actions)
        self._reset()
        self.master_address = None
        self._enter(INIT, actions)
        self._notify(STOP, actions)
        return actions

    def force_master(self, now: float) -> list[Action]:
        """A sync group member went master: a backup follows at once (keepalived's sync groups)."""
        actions: list[Action] = []
        if self.state == BACKUP:
            self._become_master(now, actions)
        return actions

    def force_backup(self, now: float) -> list[Action]:
        """A sync group member went backup: a master follows, and says so with priority 0.

        Nobody beat us on our own VRID, so our backups would wait Master_Down_Interval to
        notice; priority 0 lets them take over after Skew_Time (RFC 5798 §6.4.2).
        """
        actions: list[Action] = []
        if self.state == MASTER:
            self._enter(BACKUP, actions)
            self._leave_master(actions)
            self._master_down_at = now + self.master_down_interval
            self._notify(BACKUP, actions)
        return actions

    def set_group_fault(self, faulty: bool, now: float) -> list[Action]:
        """A sync group member is in FAULT (or no longer): the whole group is."""
        return self._set_fault("sync group", faulty, now)

    @property
    def own_fault(self) -> bool:
        """In FAULT for a reason of our own, not only because our sync group is."""
        return bool(self._faults - {"sync group"})

    def count(self, reason: str) -> None:
        """Count what the codec found (`AdvertError.reason`, `addr_list_err`) beside the core's counters."""
        self.counters[reason] = self.counters.get(reason, 0) + 1

    # -- receiving: the handlers, then the state table -------------------------------------

    def _await_skew(self, advert: Advert, source: bytes, now: float, actions: list[Action]) -> None:
        actions.append(self._log("Backup received priority 0 advertisement"))
        self._master_down_at = now + self.skew_time
        self._lower_master_since = None

    def _follow(self, advert: Advert, source: bytes, now: float, actions: list[Action]) -> None:
        """Accept `source` as master: learn its interval (v3 only: RFC 3768 has no such field)."""
        if advert.priority >= self.effective_priority:
            self._lower_master_since = None
        if self.settings.version == 3:
            self.master_adver_interval_cs = advert.interval_cs
        self.master_address = source
        self._master_down_at = now + self.master_down_interval
        if advert.interval_cs == self.settings.advert_interval_cs or self.settings.version == 2:
            # A repeat would take this same path (no interval-mismatch log): `heard_again` may.
            self._followed = advert.priority

    def _follow_unless_preempting(self, advert: Advert, source: bytes, now: float, actions: list[Action]) -> None:
        if not self.settings.preempt or self._preempt_delayed(now):
            self._follow(advert, source, now, actions)
        else:
            text = f"received lower priority ({advert.priority}) advert from {_text(source)} - discarding"
            self._log_limited("lower", now, actions, text)

    def _preempt_delayed(self, now: float) -> bool:
        """keepalived's `preempt_delay`: follow a lower-priority master for that long before preempting.

        The delay runs from the first lower-priority advert heard, so a router that just started
        (or just left FAULT) lets the running master keep the addresses while it settles.
        """
        if self._lower_master_since is None:
            self._lower_master_since = now
        return now < self._lower_master_since + self.settings.preempt_delay

    def _answer_leaving(self, advert: Advert, source: bytes, now: float, actions: list[Action]) -> None:
        self._send_advert(self.effective_priority, actions)
        self._adver_at = now + self._advert_interval

    def _step_down(self, advert: Advert, source: bytes, now: float, actions: list[Action]) -> None:
        ours = self.effective_priority
        if advert.priority > ours:
            line = f"Master received advert from {_text(source)} with higher priority {advert.priority}, ours {ours}"
        else:
            line = (
                f"Master received advert from {_text(source)} with same priority {ours}"
                " but higher IP address than ours"
            )
        actions.append(self._log(line))
        if self.settings.higher_prio_send_advert:
            self._send_advert(ours, actions)
        self._enter(BACKUP, actions)
        self._leave_master(actions, send_leaving=False)
        self._follow(advert, source, now, actions)
        self._notify(BACKUP, actions)

    def _assert_mastership(self, advert: Advert, source: bytes, now: float, actions: list[Action]) -> None:
        ours = self.effective_priority
        text = (
            f"Received advert from {_text(source)} with lower priority {advert.priority}, ours {ours},"
            " forcing new election"
        )
        self._log_limited("election", now, actions, text)
        self._diagnose_rival(source, now, actions)
        # RFC 9568 sends at once; we send at most one such extra advert per interval, so that a
        # flood of spoofed low priorities cannot make us flood in turn.
        if now >= self._last_extra_advert + self._advert_interval:
            self._last_extra_advert = now
            self._send_advert(ours, actions)
        self._reannounce(now, actions)

    def _diagnose_rival(self, source: bytes, now: float, actions: list[Action]) -> None:
        """Say plainly why a lower-priority master persists: it does not take our adverts.

        It would have stepped down on our first advert; still there after three of them, the
        loss is one-way -- most often a firewall dropping IP protocol 112 on its side.
        """
        patience = 3 * self._advert_interval
        if self._rival is None or self._rival[0] != source or now - self._rival[2] > patience:
            self._rival = (source, now, now)
            return
        self._rival = (source, self._rival[1], now)
        if now - self._rival[1] >= patience:
            text = (
                f"{_text(source)} stays master with lower priority: it does not accept our adverts"
                " (VRRP, IP protocol 112, blocked on its input? `iptables -I INPUT -p vrrp -j ACCEPT`"
                " before any REJECT; or a configuration mismatch)"
            )
            self._log_limited("rival", now, actions, text, period=RIVAL_LOG_PERIOD)

    def _reannounce(self, now: float, actions: list[Action]) -> None:
        """Refresh the LAN's ARP / neighbour caches after a competing master was heard.

        At most one burst per `timers.reannounce_gap`: a request inside the gap is deferred to
        its end rather than dropped, so the last competing advert heard is always followed by
        one burst from the rightful master -- the burst that fixes caches after a split brain.
        """
        gap = reannounce_gap(self.settings.advert_interval_cs, self.settings.reannounce_min_interval)
        if now >= self._last_burst + gap:
            self._burst(self.settings.garp_lower_prio_repeat, now, actions)
        elif self._reannounce_at is None:
            self.counters["reannounce_deferred"] += 1
            self._reannounce_at = self._last_burst + gap

    # The state table for a received advert: (our state, how the advert compares) -> handler.
    # INIT and FAULT ignore adverts.  `timers.preferred` decides HIGHER / SAME_HIGHER_ADDRESS.
    #
    # RFC 5798 §6.4.2 (Backup), unchanged in RFC 9568:
    #   "If the Priority in the ADVERTISEMENT is zero, then:
    #      Set the Master_Down_Timer to Skew_Time
    #    else:
    #      If Preempt_Mode is False, or If the Priority in the ADVERTISEMENT is greater than or
    #      equal to the local Priority, then:
    #        Set Master_Adver_Interval to Adver Interval contained in the ADVERTISEMENT
    #        Recompute the Master_Down_Interval
    #        Reset the Master_Down_Timer to Master_Down_Interval
    #      else:
    #        Discard the ADVERTISEMENT"
    #
    # RFC 5798 §6.4.3 (Master), with RFC 9568 §6.4.3's addition for a losing advert:
    #   "If the Priority in the ADVERTISEMENT is zero, then:
    #      Send an ADVERTISEMENT; Reset the Adver_Timer to Advertisement_Interval
    #    else:
    #      If the Priority in the ADVERTISEMENT is greater than the local Priority, or the
    #      Priority is equal and the primary IPvX Address of the sender is greater than the
    #      local primary IPvX Address (unsigned integer comparison, network byte order), then:
    #        Cancel Adver_Timer; Set Master_Adver_Interval to Adver Interval contained in the
    #        ADVERTISEMENT; Recompute the Skew_Time and Master_Down_Interval; Set
    #        Master_Down_Timer to Master_Down_Interval; Transition to the {Backup} state
    #      else:
    #        [RFC 9568] Send an ADVERTISEMENT immediately; Discard the ADVERTISEMENT"
    #
    # Ours on top: the extra advert and the re-announcement of a master are rate limited.
    _ON_ADVERT = {
        BACKUP: {
            LEAVING: _await_skew,
            HIGHER: _follow,
            SAME_HIGHER_ADDRESS: _follow,
            SAME_LOWER_ADDRESS: _follow,
            LOWER: _follow_unless_preempting,
        },
        MASTER: {
            LEAVING: _answer_leaving,
            HIGHER: _step_down,
            SAME_HIGHER_ADDRESS: _step_down,
            SAME_LOWER_ADDRESS: _assert_mastership,
            LOWER: _assert_mastership,
        },
    }

    # -- transitions -------------------------------------------------------------------------

    def _become_master(self, now: float, actions: list[Action]) -> None:
        """RFC 5798 §6.4.1 / §6.4.2: send an ADVERTISEMENT, then announce the addresses.

        The advert goes first so the old master and the backups hear of us before any client
        does; then the VIPs are set and a gratuitous burst follows, repeated after
        `garp_master_delay` and every `garp_master_refresh` (keepalived's schedule).
        """
        self._enter(MASTER, actions)
        self.counters["become_master"] += 1
        self.master_address = self.settings.primary_address
        self.master_adver_interval_cs = self.settings.advert_interval_cs
        self._master_down_at = None
        self._lower_master_since = None
        self._send_advert(self.effective_priority, actions)
        self._adver_at = now + self._advert_interval
        actions.append(AddVips(self.name, self.settings.vips, self.settings.vip_objects))
        actions.append(self._log("setting VIPs."))
        self._burst(self.settings.garp_master_repeat, now, actions)
        if self.settings.garp_master_delay > 0:
            self._second_burst_at = now + self.settings.garp_master_delay
        if self.settings.garp_master_refresh > 0:
            self._refresh_at = now + self.settings.garp_master_refresh
        self._notify(MASTER, actions)

    def _leave_master(self, actions: list[Action], send_leaving: bool = True) -> None:
        """Stop being master: priority 0 first when we leave on our own, then remove the VIPs."""
        if send_leaving:
            self._send_advert(PRIORITY_LEAVING, actions)
            self.counters["pri_zero_sent"] += 1
            actions.append(self._log("sent 0 priority"))
        actions.append(self._remove_vips())
        actions.append(self._log("removing VIPs."))
        self.counters["release_master"] += 1
        self._adver_at = self._second_burst_at = self._refresh_at = self._reannounce_at = None
        self._rival = None
        self.master_address = None

    def _to_backup(self, now: float, actions: list[Action], note: str = "") -> None:
        """RFC 5798 §6.4.1: "Set Master_Adver_Interval to Advertisement_Interval; Set the
        Master_Down_Timer to Master_Down_Interval; Transition to the {Backup} state" -- unless
        we own the addresses ("If the Priority = 255"), then we are master at once.
        """
        self.master_adver_interval_cs = self.settings.advert_interval_cs
        self._enter(BACKUP, actions, note)
        if self.effective_priority == PRIORITY_OWNER:
            self._become_master(now, actions)
        else:
            self._master_down_at = now + self.master_down_interval
            self._notify(BACKUP, actions)

    def _set_fault(self, reason: str, faulty: bool, now: float) -> list[Action]:
        """keepalived's FAULT state: a router that cannot serve leaves the election altogether."""
        actions: list[Action] = []
        was_faulty = bool(self._faults)
        if faulty:
            self._faults.add(reason)
        else:
            self._faults.discard(reason)
        if self.state == INIT or was_faulty == bool(self._faults):
            return actions
        if self._faults:
            was_master = self.state == MASTER
            self._enter(FAULT, actions)
            if was_master:
                self._leave_master(actions)
            self._reset()
            self.master_address = None
            self._notify(FAULT, actions)
        else:
            self._to_backup(now, actions)
        return actions

    def _enter(self, new: str, actions: list[Action], note: str = "") -> None:
        if new == INIT:
            line = f"({self.name}) Stopped"
        else:
            line = f"({self.name}) Entering {new} STATE" + (f" {note}" if note else "")
        actions.append(StateChanged(self.name, self.state, new, line))
        self.state = new
        self._followed = None

    def _notify(self, event: str, actions: list[Action]) -> None:
        """Last of a transition's actions: scripts see the addresses already set or removed."""
        actions.append(RunNotify(self.name, event, self.effective_priority))

    # -- helpers -----------------------------------------------------------------------------

    @property
    def _advert_interval(self) -> float:
        return self.settings.advert_interval_cs / 100

    def _send_advert(self, priority: int, actions: list[Action]) -> None:
        self.counters["advert_sent"] += 1
        # A master asks for the same advert a hundred times a second: one (frozen) action each.
        action = self._advert_actions.get(priority)
        if action is None:
            action = self._advert_actions[priority] = SendAdvert(self.name, priority, self.settings.advert_interval_cs)
        actions.append(action)

    def _remove_vips(self) -> RemoveVips:
        return RemoveVips(self.name, self.settings.vips, self.settings.vip_objects)

    def _burst(self, count: int, now: float, actions: list[Action], log: bool = True) -> None:
        """Any burst also answers a deferred re-announcement: it goes out after the advert that asked."""
        self.counters["garp_bursts"] += 1
        self._last_burst = now
        self._reannounce_at = None
        actions.append(SendGratuitous(self.name, count, self.settings.vips, self.settings.vip_objects))
        if log:
            kind = "gratuitous ARPs" if self.settings.family == 4 else "unsolicited neighbour adverts"
            for vip in self.settings.vips:
                actions.append(self._log(f"Sending/queueing {kind} on {self.settings.interface} for {_text(vip)}"))

    def _log(self, text: str, level: int = LOG_INFO) -> Log:
        return Log(self.name, level, f"({self.name}) {text}")

    def _log_limited(self, kind: str, now: float, actions: list[Action], text: str, period: float = LOG_PERIOD) -> None:
        """At most one line of a `kind` per LOG_PERIOD; the next one says how many were held back.

        Not `logs.RateLimiter`: the core must not import the logging module.
        """
        if now < self._log_next.get(kind, -math.inf):
            self._log_suppressed[kind] = self._log_suppressed.get(kind, 0) + 1
            return
        self._log_next[kind] = now + period
        held = self._log_suppressed.pop(kind, 0)
        actions.append(self._log(text + (f" ({held} similar lines suppressed)" if held else ""), LOG_WARNING))


def _due(deadline: float | None, now: float) -> bool:
    return deadline is not None and deadline <= now


def _next_tick(deadline: float | None, period: float, now: float) -> float:
    """The next deadline of a periodic timer; after a stall, one period from `now` (no catch-up burst)."""
    following = (deadline if deadline is not None else now) + period
    return following if following > now else now + period


def _text(packed: bytes) -> str:
    """An address for a log line; a length no codec produces still must not raise.

    `inet_ntop`, not `ipaddress`: a takeover formats its VIPs before the driver gets to send
    the advert, and the C function costs a fraction of building an address object.
    """
    if len(packed) == 4:
        return socket.inet_ntop(socket.AF_INET, packed)
    if len(packed) == 16:
        return socket.inet_ntop(socket.AF_INET6, packed)
    return packed.hex()


class SyncGroup:
    """keepalived's `vrrp_sync_group`: instances that must be master together, or not at all.

    A coordinator in the same sans-IO style: every event for a member goes through the group,
    which hands it to the member and then moves the others the way the member moved -- to
    MASTER, to BACKUP, and all to FAULT while any member has a fault of its own.  Transitions
    the group forces are not propagated again, so one event settles in one pass.  The returned
    actions name their instance; the group's own notifies have `group=True`.
    """

    def __init__(self, name: str, routers: Sequence[VirtualRouter]) -> None:
        if len({r.name for r in routers}) != len(routers):
            raise SettingsError(f"sync group {name}: member names must be unique")
        self.name = name
        self.routers: dict[str, VirtualRouter] = {r.name: r for r in routers}
        self.state = INIT

    def get_timer(self) -> float | None:
        return min((t for r in self.routers.values() if (t := r.get_timer()) is not None), default=None)

    def start(self, now: float) -> list[Action]:
        return self._settle([(r, r.start(now)) for r in self.routers.values()], now)

    def receive_advert(self, instance: str, advert: Advert, source: bytes, now: float) -> list[Action]:
        router = self.routers[instance]
        return self._settle([(router, router.receive_advert(advert, source, now))], now)

    def handle_timer(self, now: float) -> list[Action]:
        return self._settle([(r, r.handle_timer(now)) for r in self.routers.values()], now)

    def set_interface_state(self, instance: str, up: bool, now: float) -> list[Action]:
        router = self.routers[instance]
        return self._settle([(router, router.set_interface_state(up, now))], now)

    def set_track_state(self, instance: str, name: str, up: bool, now: float) -> list[Action]:
        router = self.routers[instance]
        return self._settle([(router, router.set_track_state(name, up, now))], now)

    def shutdown(self, now: float) -> list[Action]:
        return self._settle([(r, r.shutdown(now)) for r in self.routers.values()], now)

    def _settle(self, moved: list[tuple[VirtualRouter, list[Action]]], now: float) -> list[Action]:
        actions = [a for _, member_actions in moved for a in member_actions]
        faulty = any(r.own_fault for r in self.routers.values())
        for router in self.routers.values():
            actions += router.set_group_fault(faulty, now)
        if not faulty:
            for router, member_actions in moved:
                changes = [a for a in member_actions if isinstance(a, StateChanged)]
                if not changes:
                    continue
                last = changes[-1]
                for other in self.routers.values():
                    if other is router:
                        continue
                    if last.new == MASTER:
                        actions += other.force_master(now)
                    elif last.new == BACKUP and any(c.old == MASTER for c in changes):
                        actions += other.force_backup(now)
        states = {r.state for r in self.routers.values()}
        if len(states) == 1 and (state := states.pop()) != self.state:
            self.state = state
            actions.append(RunNotify(self.name, STOP if state == INIT else state, 0, group=True))
        return actions
