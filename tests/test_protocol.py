"""The protocol core, step by step on a virtual clock: the whole state is checked after every step.

Each scenario is a table of steps; each step names the rule it exercises (RFC section or
keepalived behaviour from VRRP-NOTES.md), the event, the actions expected (summarised as
short strings, in order) and the router's whole status afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vlan import VIP, VirtualLan, ipv4, settings

from fastvrrp.actions import (
    Action,
    AddVips,
    Log,
    RemoveVips,
    RunNotify,
    SendAdvert,
    SendGratuitous,
    StateChanged,
)
from fastvrrp.advert import CHECKSUM_PSEUDO_HEADER, Advert
from fastvrrp.protocol import (
    BACKUP,
    COUNTERS,
    FAULT,
    INIT,
    MASTER,
    RouterSettings,
    RouterStatus,
    SettingsError,
    SyncGroup,
    TrackedObject,
    VirtualRouter,
)
from fastvrrp.timers import effective_priority, master_down_interval, preferred, reannounce_gap, skew_time

A, B = ipv4(0), ipv4(1)  # 10.0.201.1 (us), 10.0.201.2 (the peer)
LOWER = bytes((10, 0, 201, 0))
MDI_100 = 3 + 156 / 256  # priority 100 at 1 s: 3.609375 (binary fractions: exact floats)
SKEW_100 = 156 / 256
GARP_LOG = "log: Sending/queueing gratuitous ARPs on em1 for 10.0.201.100"
BECOME_MASTER = [
    "BACKUP->MASTER: Entering MASTER STATE", "advert 100", "add vips", "log: setting VIPs.", "garp x5", GARP_LOG,
    "notify MASTER",
]


def advert(priority: int, source: bytes = B, interval_cs: int = 100, version: int = 3, vrid: int = 150) -> Advert:
    return Advert(version, vrid, priority, interval_cs, (VIP,), 0, b"", CHECKSUM_PSEUDO_HEADER, source)


def summary(actions: list[Action]) -> list[str]:
    """Actions as short strings, log lines without their `(instance) ` prefix."""

    def text(line: str) -> str:
        return line.split(") ", 1)[1]

    out = []
    for a in actions:
        if isinstance(a, SendAdvert):
            out.append(f"advert {a.priority}" + (f" @{a.interval_cs}" if a.interval_cs != 100 else ""))
        elif isinstance(a, AddVips):
            out.append("add vips")
        elif isinstance(a, RemoveVips):
            out.append("remove vips")
        elif isinstance(a, SendGratuitous):
            out.append(f"garp x{a.count}")
        elif isinstance(a, RunNotify):
            out.append(f"notify {a.state}" + (" group" if a.group else ""))
        elif isinstance(a, StateChanged):
            out.append(f"{a.old}->{a.new}: {text(a.line)}")
        elif isinstance(a, Log):
            out.append(f"log: {text(a.line)}")
    return out


# -- events ----------------------------------------------------------------------------------

Event = Callable[[VirtualRouter, float], list[Action]]


def start(r: VirtualRouter, now: float) -> list[Action]:
    return r.start(now)


def tick(r: VirtualRouter, now: float) -> list[Action]:
    return r.handle_timer(now)


def shutdown(r: VirtualRouter, now: float) -> list[Action]:
    return r.shutdown(now)


def recv(priority: int, source: bytes = B, interval_cs: int = 100, **kw) -> Event:
    return lambda r, now: r.receive_advert(advert(priority, source, interval_cs, **kw), source, now)


def link(up: bool) -> Event:
    return lambda r, now: r.set_interface_state(up, now)


def track(name: str, up: bool) -> Event:
    return lambda r, now: r.set_track_state(name, up, now)


@dataclass
class Step:
    rule: str
    at: float
    event: Event
    actions: list[str]
    state: str
    timer: float | None
    master: bytes | None
    counters: dict[str, int] = field(default_factory=dict)
    priority: int = 100
    mai: int = 100


def run(steps: list[Step], **changes) -> None:
    router = VirtualRouter(settings(0, changes.pop("priority", 100), **changes))
    for step in steps:
        actions = step.event(router, step.at)
        assert summary(actions) == step.actions, step.rule
        expected = RouterStatus(
            step.state, step.timer, step.priority, step.master, step.mai, dict.fromkeys(COUNTERS, 0) | step.counters
        )
        assert router.status() == expected, step.rule
        timer = router.get_timer()
        assert timer is None or timer > step.at, step.rule


BM = {"advert_sent": 1, "become_master": 1, "garp_bursts": 1}  # counters after becoming master once

LIFE_OF_A_MASTER = [
    Step("keepalived: start in BACKUP, remove leftover VIPs;"
         " RFC 5798 §6.4.1 Master_Down_Timer := Master_Down_Interval",
         0.0, start, ["remove vips", "INIT->BACKUP: Entering BACKUP STATE (init)", "notify BACKUP"],
         BACKUP, MDI_100, None),
    Step("a deadline is not run before it is due", 3.0, tick, [], BACKUP, MDI_100, None),
    Step("RFC 5798 §6.4.2: Master_Down_Timer fires -> advert, then VIPs, then gratuitous ARPs; §6.4.3 Adver_Timer",
         MDI_100, tick, BECOME_MASTER, MASTER, MDI_100 + 1, A, BM),
    Step("RFC 5798 §6.4.3: Adver_Timer fires -> send an advert, reset the timer",
         MDI_100 + 1, tick, ["advert 100"], MASTER, MDI_100 + 2, A, BM | {"advert_sent": 2}),
    Step("keepalived: second gratuitous burst after garp_master_delay (5 s); the skipped ticks send one advert",
         MDI_100 + 5, tick, ["advert 100", "garp x5", GARP_LOG], MASTER, MDI_100 + 6, A,
         BM | {"advert_sent": 3, "garp_bursts": 2}),
    Step("RFC 9568 §6.4.3: a lower priority -> advert at once; re-announcement deferred to 1 s after the last burst",
         9.0, recv(50), ["log: Received advert from 10.0.201.2 with lower priority 50, ours 100, forcing new election",
                         "advert 100"], MASTER, MDI_100 + 6, A,
         BM | {"advert_sent": 4, "garp_bursts": 2, "advert_rcvd": 1, "reannounce_deferred": 1}),
    Step("the deferred re-announcement fires with the scheduled advert",
         MDI_100 + 6, tick, ["advert 100", "garp x5", GARP_LOG], MASTER, MDI_100 + 7, A,
         BM | {"advert_sent": 5, "garp_bursts": 3, "advert_rcvd": 1, "reannounce_deferred": 1}),
    Step("RFC 5798 §6.4.3: equal priority from a lower address also loses (unsigned compare)",
         10.1, recv(100, LOWER),
         ["log: Received advert from 10.0.201.0 with lower priority 100, ours 100, forcing new election",
                                 "advert 100"], MASTER, MDI_100 + 7, A,
         BM | {"advert_sent": 6, "garp_bursts": 3, "advert_rcvd": 2, "reannounce_deferred": 2}),
    Step("RFC 5798 §6.4.3: a higher priority -> BACKUP, learn its interval (v3), Master_Down_Timer;"
         " one last advert first (higher_prio_send_advert) so the winner re-announces",
         10.2, recv(200, interval_cs=50),
         ["log: advertisement interval mismatch mine=100 cs rcv'd=50 cs from 10.0.201.2",
          "log: Master received advert from 10.0.201.2 with higher priority 200, ours 100", "advert 100",
          "MASTER->BACKUP: Entering BACKUP STATE", "remove vips", "log: removing VIPs.", "notify BACKUP"],
         BACKUP, 10.2 + 1.5 + 156 * 50 / 256 / 100, B,
         BM | {"advert_sent": 7, "garp_bursts": 3, "advert_rcvd": 3, "reannounce_deferred": 2, "release_master": 1},
         mai=50),
    Step("RFC 5798 §6.4.2: priority 0 -> Master_Down_Timer := Skew_Time (of the learnt interval)",
         11.0, recv(0, interval_cs=50), ["log: Backup received priority 0 advertisement"],
         BACKUP, 11.0 + 156 * 50 / 256 / 100, B,
         BM | {"advert_sent": 7, "garp_bursts": 3, "advert_rcvd": 4, "reannounce_deferred": 2, "release_master": 1,
               "pri_zero_rcvd": 1}, mai=50),
    Step("RFC 5798 §6.4.2: Master_Down_Timer fires -> MASTER again, at our own interval",
         11.0 + 156 * 50 / 256 / 100, tick, BECOME_MASTER, MASTER, 11.0 + 156 * 50 / 256 / 100 + 1, A,
         {"advert_sent": 8, "become_master": 2, "garp_bursts": 4, "advert_rcvd": 4, "reannounce_deferred": 2,
          "release_master": 1, "pri_zero_rcvd": 1}),
    Step("RFC 5798 §6.4.3: a master hearing priority 0 sends an advert and resets Adver_Timer",
         11.5, recv(0), ["advert 100"], MASTER, 12.5, A,
         {"advert_sent": 9, "become_master": 2, "garp_bursts": 4, "advert_rcvd": 5, "reannounce_deferred": 2,
          "release_master": 1, "pri_zero_rcvd": 2}),
    Step("RFC 5798 §6.4.3 Shutdown: priority 0, then the VIPs go; INIT, no timer",
         12.0, shutdown, ["advert 0", "log: sent 0 priority", "remove vips", "log: removing VIPs.",
                          "MASTER->INIT: Stopped", "notify STOP"], INIT, None, None,
         {"advert_sent": 10, "become_master": 2, "garp_bursts": 4, "advert_rcvd": 5, "reannounce_deferred": 2,
          "release_master": 2, "pri_zero_rcvd": 2, "pri_zero_sent": 1}),
    Step("RFC 5798 §6.4.1: Initialize ignores adverts", 13.0, recv(200), [], INIT, None, None,
         {"advert_sent": 10, "become_master": 2, "garp_bursts": 4, "advert_rcvd": 5, "reannounce_deferred": 2,
          "release_master": 2, "pri_zero_rcvd": 2, "pri_zero_sent": 1}),
]

OWNER = [
    Step("RFC 5798 §6.4.1: priority 255 -> MASTER at once (after keepalived's init line)",
         0.0, start, ["remove vips", "INIT->BACKUP: Entering BACKUP STATE (init)"] + [
             s.replace("advert 100", "advert 255") for s in BECOME_MASTER], MASTER, 1.0, A, BM, priority=255),
    Step("RFC 5798 §6.4.3: equal priority and a higher address wins (two owners: a misconfiguration)",
         0.5, recv(255),
         ["log: Master received advert from 10.0.201.2 with same priority 255 but higher IP address than ours",
          "advert 255", "MASTER->BACKUP: Entering BACKUP STATE", "remove vips", "log: removing VIPs.", "notify BACKUP"],
         BACKUP, 0.5 + 3 + 1 / 256, B, BM | {"advert_sent": 2, "advert_rcvd": 1, "release_master": 1}, priority=255),
]

BACKUP_RULES = [
    Step("keepalived: `state MASTER` without priority 255 still waits Master_Down_Interval",
         0.0, start, ["remove vips", "INIT->BACKUP: Entering BACKUP STATE (init)", "notify BACKUP"],
         BACKUP, MDI_100, None),
    Step("RFC 5798 §6.4.2: Preempt_Mode and a lower priority -> discard, the timer keeps running",
         1.0, recv(50), ["log: received lower priority (50) advert from 10.0.201.2 - discarding"],
         BACKUP, MDI_100, None,
         {"advert_rcvd": 1}),
    Step("peer-triggered log lines are rate limited (one a second)", 1.5, recv(50), [], BACKUP, MDI_100, None,
         {"advert_rcvd": 2}),
    Step("RFC 5798 §6.4.2: an equal priority is followed (>=, no address tie-break in Backup)",
         2.0, recv(100), [], BACKUP, 2.0 + MDI_100, B, {"advert_rcvd": 3}),
    Step("the held-back line is counted in the next one", 2.6, recv(50),
         ["log: received lower priority (50) advert from 10.0.201.2 - discarding (1 similar lines suppressed)"],
         BACKUP, 2.0 + MDI_100, B, {"advert_rcvd": 4}),
    Step("our own advert looped back by multicast is ignored", 2.7, recv(100, A), [], BACKUP, 2.0 + MDI_100, B,
         {"advert_rcvd": 4}),
    Step("defensive: a foreign VRID is counted, not processed", 2.8, recv(200, vrid=7), [], BACKUP, 2.0 + MDI_100, B,
         {"advert_rcvd": 4, "vrid_err": 1}),
]

NOPREEMPT = [
    Step("start", 0.0, start, ["remove vips", "INIT->BACKUP: Entering BACKUP STATE (init)", "notify BACKUP"],
         BACKUP, MDI_100, None),
    Step("RFC 5798 §6.4.2: Preempt_Mode False -> follow even a lower priority", 1.0, recv(50), [],
         BACKUP, 1.0 + MDI_100, B, {"advert_rcvd": 1}),
]

PREEMPT_DELAY = [
    Step("start", 0.0, start, ["remove vips", "INIT->BACKUP: Entering BACKUP STATE (init)", "notify BACKUP"],
         BACKUP, MDI_100, None),
    Step("keepalived preempt_delay: a lower master is followed for preempt_delay seconds", 1.0, recv(50), [],
         BACKUP, 1.0 + MDI_100, B, {"advert_rcvd": 1}),
    Step("... still inside the delay", 2.9, recv(50), [], BACKUP, 2.9 + MDI_100, B, {"advert_rcvd": 2}),
    Step("... then discarded: preemption proceeds", 3.0, recv(50),
         ["log: received lower priority (50) advert from 10.0.201.2 - discarding"], BACKUP, 2.9 + MDI_100, B,
         {"advert_rcvd": 3}),
]

V2 = [
    Step("RFC 3768 §6.1: Skew_Time = (256 - 100) / 256 s whatever the interval; MDI = 3 x 2 s + skew",
         0.0, start, ["remove vips", "INIT->BACKUP: Entering BACKUP STATE (init)", "notify BACKUP"],
         BACKUP, 6 + SKEW_100, None, mai=200),
    Step("RFC 3768 §6.4.2: priority 0 -> Skew_Time", 1.0, recv(0, interval_cs=200, version=2),
         ["log: Backup received priority 0 advertisement"], BACKUP, 1.0 + SKEW_100, None,
         {"advert_rcvd": 1, "pri_zero_rcvd": 1}, mai=200),
    Step("RFC 3768 §6.4.3: a v2 master adverts at its own interval", 1.0 + SKEW_100, tick,
         [s.replace("advert 100", "advert 100 @200") for s in BECOME_MASTER], MASTER, 3.0 + SKEW_100, A,
         BM | {"advert_rcvd": 1, "pri_zero_rcvd": 1}, mai=200),
]

FAULTS = [
    Step("start", 0.0, start, ["remove vips", "INIT->BACKUP: Entering BACKUP STATE (init)", "notify BACKUP"],
         BACKUP, MDI_100, None),
    Step("become master", MDI_100, tick, BECOME_MASTER, MASTER, MDI_100 + 1, A, BM),
    Step("keepalived: interface down -> FAULT; a master leaves with priority 0 and removes its VIPs",
         4.0, link(False), ["MASTER->FAULT: Entering FAULT STATE", "advert 0", "log: sent 0 priority", "remove vips",
                            "log: removing VIPs.", "notify FAULT"], FAULT, None, None,
         BM | {"advert_sent": 2, "pri_zero_sent": 1, "release_master": 1}),
    Step("FAULT ignores adverts (counted)", 4.5, recv(50), [], FAULT, None, None,
         BM | {"advert_sent": 2, "pri_zero_sent": 1, "release_master": 1, "advert_rcvd": 1}),
    Step("a weight-0 tracked object down keeps the FAULT when the link returns", 4.8, track("chk", False), [],
         FAULT, None, None, BM | {"advert_sent": 2, "pri_zero_sent": 1, "release_master": 1, "advert_rcvd": 1}),
    Step("link up: still FAULT", 5.0, link(True), [], FAULT, None, None,
         BM | {"advert_sent": 2, "pri_zero_sent": 1, "release_master": 1, "advert_rcvd": 1}),
    Step("keepalived: all faults gone -> BACKUP with a fresh Master_Down_Timer", 6.0, track("chk", True),
         ["FAULT->BACKUP: Entering BACKUP STATE", "notify BACKUP"], BACKUP, 6.0 + MDI_100, None,
         BM | {"advert_sent": 2, "pri_zero_sent": 1, "release_master": 1, "advert_rcvd": 1}),
    Step("tracking weight -30 down: effective priority 70, Skew_Time follows", 7.0, track("uplink", False),
         ["log: Changing effective priority from 100 to 70"], BACKUP, 6.0 + MDI_100, None,
         BM | {"advert_sent": 2, "pri_zero_sent": 1, "release_master": 1, "advert_rcvd": 1}, priority=70),
    Step("RFC 5798 §6.4.2: 80 >= 70 is followed; the new Master_Down_Interval uses priority 70",
         8.0, recv(80), [], BACKUP, 8.0 + 3 + 186 / 256, B,
         BM | {"advert_sent": 2, "pri_zero_sent": 1, "release_master": 1, "advert_rcvd": 2}, priority=70),
    Step("a backup in FAULT has nothing to send", 9.0, link(False),
         ["BACKUP->FAULT: Entering FAULT STATE", "notify FAULT"], FAULT, None, None,
         BM | {"advert_sent": 2, "pri_zero_sent": 1, "release_master": 1, "advert_rcvd": 2}, priority=70),
]
FAULT_TRACK = (TrackedObject("chk", 0), TrackedObject("uplink", -30))


@pytest.mark.parametrize(
    "steps, changes",
    [
        (LIFE_OF_A_MASTER, {}),
        (OWNER, {"priority": 255}),
        (BACKUP_RULES, {"initial_state": MASTER}),
        (NOPREEMPT, {"preempt": False}),
        (PREEMPT_DELAY, {"preempt_delay": 2.0}),
        (V2, {"version": 2, "advert_interval_cs": 200}),
        (FAULTS, {"track": FAULT_TRACK}),
    ],
    ids=["life-of-a-master", "owner", "backup", "nopreempt", "preempt-delay", "v2", "faults"],
)
def test_state_table(steps: list[Step], changes: dict) -> None:
    run(steps, **changes)


# -- the formulas ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "version, priority, mai_cs, skew, mdi",
    [
        (3, 100, 100, 0.609375, 3.609375),  # RFC 5798 §6.1: ((256 - 100) x 100 cs) / 256
        (3, 254, 1, 2 / 256 / 100, 0.03 + 2 / 256 / 100),  # 10 ms adverts: a sub-millisecond skew
        (3, 1, 4095, 255 * 4095 / 256 / 100, 122.85 + 255 * 4095 / 256 / 100),
        (2, 100, 100, 0.609375, 3.609375),  # RFC 3768 §6.1: (256 - 100) / 256 s
        (2, 100, 300, 0.609375, 9.609375),  # v2 skew ignores the interval
        (2, 255, 100, 1 / 256, 3 + 1 / 256),
    ],
)
def test_skew_and_master_down(version: int, priority: int, mai_cs: int, skew: float, mdi: float) -> None:
    assert skew_time(version, priority, mai_cs) == pytest.approx(skew, abs=1e-12)
    assert master_down_interval(version, priority, mai_cs) == pytest.approx(mdi, abs=1e-12)


@pytest.mark.parametrize(
    "base, weights, expected",
    [(100, [], 100), (100, [20, -30], 90), (250, [20], 254), (10, [-30], 1), (255, [-100], 255), (1, [253], 254)],
)
def test_effective_priority_is_clamped_and_owner_stays_owner(base: int, weights: list[int], expected: int) -> None:
    assert effective_priority(base, weights) == expected


def test_election_compares_addresses_as_unsigned_integers() -> None:
    """RFC 9568 §6.4.3: unsigned comparison in network byte order (a signed octet would invert these)."""
    assert preferred(100, bytes((10, 0, 0, 0x80)), 100, bytes((10, 0, 0, 0x7F)))
    assert not preferred(100, bytes((10, 0, 0, 0x7F)), 100, bytes((10, 0, 0, 0x80)))
    ll = bytes.fromhex("fe80" + "00" * 13)
    assert preferred(100, ll + b"\x80", 100, ll + b"\x7f")
    assert preferred(101, bytes(4), 100, b"\xff" * 4)


def test_reannounce_gap() -> None:
    assert reannounce_gap(1, 1.0) == 1.0
    assert reannounce_gap(300, 1.0) == 3.0


# -- misuse is ours, never the peer's --------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [{"priority": 0}, {"priority": 256}, {"advert_interval_cs": 0}, {"version": 2, "advert_interval_cs": 150},
     {"family": 6}, {"version": 2, "family": 6}, {"initial_state": "FAULT"}, {"vip_objects": (1, 2)}, {"vrid": 0},
     {"advert_interval_cs": 4096}, {"version": 2, "advert_interval_cs": 25600}],
)
def test_bad_settings_raise_settings_error(changes: dict) -> None:
    with pytest.raises(SettingsError):
        settings(0, changes.pop("priority", 100), **changes)


def test_v2_interval_up_to_255_seconds() -> None:
    """RFC 3768 §5.3.7: the v2 Adver Int is a whole number of seconds in one octet (1..255)."""
    router = VirtualRouter(settings(0, 100, version=2, advert_interval_cs=25500))
    assert router.master_down_interval == 3 * 255 + (256 - 100) / 256


def test_starting_twice_is_our_error() -> None:
    router = VirtualRouter(settings(0, 100))
    router.start(0.0)
    with pytest.raises(RuntimeError):
        router.start(1.0)


def test_accept_mode_is_exposed_to_drivers() -> None:
    """RFC 5798 §6.4.3: only the owner, or a master with Accept_Mode, accepts packets for the VIPs."""
    for priority, accept, expected in [(255, False, True), (100, True, True), (100, False, False)]:
        router = VirtualRouter(settings(0, priority, accept_mode=accept))
        router.start(0.0)
        router.handle_timer(10.0)
        assert router.state == MASTER
        assert router.accepts_vip_traffic is expected


def test_garp_refresh_runs_while_master() -> None:
    router = VirtualRouter(settings(0, 255, garp_master_refresh=60.0, garp_master_delay=0.0))
    assert summary(router.start(0.0)).count("garp x5") == 1
    bursts = [(t, summary(router.handle_timer(t))) for t in [float(s) for s in range(1, 181)]]
    assert [t for t, acts in bursts if "garp x1" in acts] == [60.0, 120.0, 180.0]
    assert router.counters["garp_bursts"] == 4


def test_late_timer_sends_one_advert_not_a_backlog() -> None:
    """A driver stalled for 10 s (a busy VM) must not answer with 10 adverts at once."""
    router = VirtualRouter(settings(0, 255))
    router.start(0.0)
    assert summary(router.handle_timer(11.5)).count("advert 255") == 1
    assert router.get_timer() == 12.5


# -- re-announcements stay bounded ------------------------------------------------------------


def bursts_per_window(times: list[float], window: float = 1.0) -> int:
    return max((sum(1 for u in times if t <= u < t + window) for t in times), default=0)


def test_split_brain_at_10ms_is_bounded_to_one_reannouncement_a_second() -> None:
    """keepalived sends ~490 GARPs/s here; hearing a lower master 100 times a second, ours re-announces 1/s."""
    lan = VirtualLan([settings(0, 100, advert_interval_cs=1), settings(1, 50, advert_interval_cs=1)])
    lan.start()
    lan.run_until(1.0)
    assert lan.masters() == [0]
    lan.block(0, 1)  # the backup's firewall drops VRRP: split brain
    lan.run_until(21.0)
    assert lan.masters() == [0, 1]
    times = [t for t, _, _ in lan.actions_of(SendGratuitous, 0, since=2.0)]
    assert 17 <= len(times) <= 21
    assert bursts_per_window(times) <= 2  # a re-announcement and the scheduled second burst may share a second
    adverts = lan.actions_of(SendAdvert, 0, since=2.0)
    assert len(adverts) <= 2 * 100 * 19 + 2  # RFC 9568 immediate adverts: at most one extra per interval
    election_logs = [a for _, _, a in lan.actions_of(Log, 0, since=2.0) if "forcing new election" in a.line]
    assert len(election_logs) <= 20


def test_a_flood_of_spoofed_low_priorities_is_bounded() -> None:
    """20 k spoofed priority-1 adverts a second (VRRP-NOTES floods): bounded answers, never an exception."""
    router = VirtualRouter(settings(0, 100, advert_interval_cs=1))
    router.start(0.0)
    router.handle_timer(1.0)
    actions: list[Action] = []
    now = 1.0
    while now < 3.0:
        now += 1 / 20_000
        actions += router.receive_advert(advert(1, bytes((10, 0, 201, 66))), bytes((10, 0, 201, 66)), now)
        if (t := router.get_timer()) is not None and t <= now:
            actions += router.handle_timer(now)
    assert router.state == MASTER
    assert sum(isinstance(a, SendGratuitous) for a in actions) <= 3
    assert sum(isinstance(a, SendAdvert) for a in actions) <= 2 * 200 + 2
    assert sum(isinstance(a, Log) and "forcing new election" in a.line for a in actions) <= 3


# -- the master/backup experiment (EXPERIMENT.md), on one clock -------------------------------


def test_master_backup_experiment() -> None:
    v2 = dict(version=2, advert_interval_cs=100)
    lan = VirtualLan([settings(0, 100, initial_state=MASTER, **v2), settings(1, 50, **v2)])

    # 1. Start both: the master owns the VIP after Master_Down_Interval, GARPs then and 5 s later.
    lan.start()
    lan.run_until(10.0)
    assert lan.masters() == [0] and lan.vip_owners() == [0]
    assert [t for t, _, _ in lan.actions_of(SendGratuitous, 0)] == [MDI_100, MDI_100 + 5]
    assert lan.hosts[1].router.master_address == A

    # 2. Stop the master: priority 0, VIP removed; the backup takes over after its Skew_Time.
    lan.stop(0)
    assert lan.vip_owners() == []
    assert lan.hosts[0].router.counters["pri_zero_sent"] == 1
    lan.run_until(12.0)
    took_over = lan.actions_of(AddVips, 1)[0][0]
    assert took_over == pytest.approx(10.0 + lan.delay + 206 / 256)  # priority 50: skew 0.8046875 s
    assert lan.masters() == [1] and lan.vip_owners() == [1]

    # 3. Start the master again: it preempts after its Master_Down_Interval, the backup steps down.
    lan.start(0)
    lan.run_until(20.0)
    assert lan.masters() == [0] and lan.vip_owners() == [0]
    preempted = lan.actions_of(AddVips, 0, since=12.0)[0][0]
    assert preempted == pytest.approx(12.0 + MDI_100)
    assert any("with higher priority 100, ours 50" in a.line for _, _, a in lan.actions_of(Log, 1, since=12.0))

    # 4. A firewall on the backup drops VRRP: it takes the VIP too (split brain).
    lan.block(0, 1)
    lan.run_until(40.0)
    assert lan.masters() == [0, 1] and lan.vip_owners() == [0, 1]
    diagnoses = [(t, a.line) for t, _, a in lan.actions_of(Log, 0) if "does not accept our adverts" in a.line]
    assert len(diagnoses) == 1  # once a minute: a standing condition
    assert "10.0.201.2 stays master with lower priority" in diagnoses[0][1] and "-p vrrp" in diagnoses[0][1]
    split = lan.actions_of(AddVips, 1, since=20.0)[0][0]
    assert diagnoses[0][0] == pytest.approx(split + lan.delay + 3.0)  # three of our adverts went unanswered

    # 5. The fix heals it within one advert interval: one master, and the rightful owner's
    #    re-announcement is the last the LAN hears, so ARP caches end up pointing at it.
    lan.heal()
    lan.run_until(41.0 + lan.delay)
    assert lan.masters() == [0] and lan.vip_owners() == [0]
    lan.run_until(50.0)
    loser_last = lan.actions_of(SendGratuitous, 1)[-1][0]
    owner_after_heal = lan.actions_of(SendGratuitous, 0, since=40.0)
    assert owner_after_heal and owner_after_heal[0][0] > loser_last


# -- sync groups -----------------------------------------------------------------------------


def group_summary(actions: list[Action]) -> list[str]:
    return [f"{a.instance}: {s}" for a in actions for s in summary([a])]


def test_sync_group_moves_members_together() -> None:
    one = VirtualRouter(settings(0, 100, name="VI_1", vrid=1))
    two = VirtualRouter(settings(0, 100, name="VI_2", vrid=2, advert_interval_cs=200))
    group = SyncGroup("G1", [one, two])

    assert "G1: notify BACKUP group" in group_summary(group.start(0.0))
    assert group.get_timer() == MDI_100  # VI_1's, the earlier of the two

    # VI_1's timer fires: VI_2 follows it to MASTER at once, then the group notifies.
    actions = group_summary(group.handle_timer(MDI_100))
    assert (one.state, two.state, group.state) == (MASTER, MASTER, MASTER)
    assert actions.index("VI_2: BACKUP->MASTER: Entering MASTER STATE") > actions.index("VI_1: notify MASTER")
    assert actions[-1] == "G1: notify MASTER group"

    # VI_2 hears a higher priority: VI_1 steps down with it, with priority 0 so its backups need not wait.
    actions = group_summary(group.receive_advert("VI_2", advert(200, vrid=2, interval_cs=200), B, 5.0))
    assert (one.state, two.state, group.state) == (BACKUP, BACKUP, BACKUP)
    assert actions.index("VI_1: advert 0") < actions.index("VI_1: remove vips")

    # One member's link goes down: all in FAULT; back up: all BACKUP again.
    group.set_interface_state("VI_1", False, 6.0)
    assert (one.state, two.state, group.state) == (FAULT, FAULT, FAULT)
    assert group.get_timer() is None
    actions = group_summary(group.set_interface_state("VI_1", True, 7.0))
    assert (one.state, two.state, group.state) == (BACKUP, BACKUP, BACKUP)
    assert actions[-1] == "G1: notify BACKUP group"

    # Shutdown stops every member.
    actions = group_summary(group.shutdown(8.0))
    assert (one.state, two.state, group.state) == (INIT, INIT, INIT)
    assert actions[-1] == "G1: notify STOP group"


# -- a peer's advert never makes the core raise -----------------------------------------------

any_advert = st.builds(
    Advert,
    version=st.sampled_from([2, 3]),
    vrid=st.integers(1, 255),
    priority=st.integers(0, 255),
    interval_cs=st.integers(1, 4095),
    addresses=st.lists(st.binary(min_size=4, max_size=4), min_size=1, max_size=3).map(tuple),
    auth_type=st.just(0),
    auth_data=st.just(b""),
    checksum_form=st.just(CHECKSUM_PSEUDO_HEADER),
    source=st.binary(min_size=4, max_size=4),
)


@given(
    priority=st.integers(1, 255),
    version=st.sampled_from([2, 3]),
    events=st.lists(st.tuples(any_advert, st.floats(0, 5)), max_size=40),
)
def test_any_advert_in_any_state_is_data_not_an_exception(priority: int, version: int, events: list) -> None:
    router = VirtualRouter(settings(0, priority, version=version))
    router.start(0.0)
    now = 0.0
    for adv, dt in events:
        now += dt
        if (deadline := router.get_timer()) is not None and deadline <= now:
            router.handle_timer(now)
        router.receive_advert(adv, adv.source, now)
        assert (deadline := router.get_timer()) is None or deadline > now
        assert router.state in (BACKUP, MASTER)
        assert (router.master_address == A) == (router.state == MASTER)


def test_codec_findings_are_counted_beside_the_core_counters() -> None:
    router = VirtualRouter(settings(0, 100))
    router.count("chk_err")
    router.count("addr_list_err")
    router.count("ipv6_ll_err")
    assert {k: v for k, v in router.counters.items() if v} == {"chk_err": 1, "addr_list_err": 1, "ipv6_ll_err": 1}


def test_unknown_tracked_object_is_our_error() -> None:
    router = VirtualRouter(settings(0, 100))
    with pytest.raises(KeyError):
        router.set_track_state("nope", False, 0.0)


def test_ipv6_router_announces_with_unsolicited_neighbour_adverts() -> None:
    """RFC 5798 §6.4.1 for IPv6 (unsolicited NAs), and the election on 16-byte link-local addresses."""
    link_local = bytes.fromhex("fe80" + "00" * 13)
    vip6 = bytes.fromhex("20010db8" + "00" * 11 + "01")
    router = VirtualRouter(
        RouterSettings(name="VI_6", vrid=1, vips=(vip6,), primary_address=link_local + b"\x7f", family=6, priority=255,
                       interface="eth0")
    )
    assert "log: Sending/queueing unsolicited neighbour adverts on eth0 for 2001:db8::1" in summary(router.start(0.0))
    peer = link_local + b"\x80"
    router.receive_advert(Advert(3, 1, 255, 100, (vip6,), 0, b"", CHECKSUM_PSEUDO_HEADER, peer), peer, 0.5)
    assert (router.state, router.master_address) == (BACKUP, peer)


def test_sync_groups_fail_over_together_between_two_hosts() -> None:
    """keepalived's vrrp_sync_group: one instance's fault moves the whole group to the other host."""

    def host(i: int, priority: int) -> SyncGroup:
        members = [
            VirtualRouter(settings(i, priority, name=name, vrid=vrid, advert_interval_cs=10))
            for name, vrid in (("VI_1", 1), ("VI_2", 2))
        ]
        return SyncGroup("G", members)

    hosts = [host(0, 200), host(1, 100)]
    dead_links: set[tuple[int, str]] = set()

    def carry_out(src: int, actions: list[Action], now: float) -> None:
        """Deliver adverts at once to the same instance on the other host, unless a link is down."""
        for action in actions:
            dst = 1 - src
            if isinstance(action, SendAdvert) and not {(src, action.instance), (dst, action.instance)} & dead_links:
                s = hosts[src].routers[action.instance].settings
                sent = Advert(3, s.vrid, action.priority, action.interval_cs, s.vips, 0, b"",
                              CHECKSUM_PSEUDO_HEADER, s.primary_address)
                carry_out(dst, hosts[dst].receive_advert(action.instance, sent, sent.source, now), now)

    def run(start: float, until: float) -> None:
        for ms in range(round(start * 1000), round(until * 1000) + 1):
            for i, group in enumerate(hosts):
                if (deadline := group.get_timer()) is not None and deadline <= ms / 1000:
                    carry_out(i, group.handle_timer(ms / 1000), ms / 1000)

    def states(i: int) -> tuple[str, str]:
        return hosts[i].routers["VI_1"].state, hosts[i].routers["VI_2"].state

    for i, group in enumerate(hosts):
        carry_out(i, group.start(0.0), 0.0)
    run(0.0, 1.0)
    assert (states(0), states(1)) == ((MASTER, MASTER), (BACKUP, BACKUP))

    # VI_1's link dies on the first host: its priority 0 cannot leave, but VI_2's does, and the
    # second host's VI_1 follows its VI_2 at once instead of waiting Master_Down_Interval.
    dead_links.add((0, "VI_1"))
    carry_out(0, hosts[0].set_interface_state("VI_1", False, 1.0), 1.0)
    assert states(0) == (FAULT, FAULT)
    run(1.001, 1.0 + skew_time(3, 100, 10) + 0.001)
    assert states(1) == (MASTER, MASTER)

    # The link returns: the first host preempts with both instances.
    dead_links.clear()
    carry_out(0, hosts[0].set_interface_state("VI_1", True, 2.0), 2.0)
    assert states(0) == (BACKUP, BACKUP)
    run(2.001, 2.0 + master_down_interval(3, 200, 10) + 0.002)
    assert (states(0), states(1)) == ((MASTER, MASTER), (BACKUP, BACKUP))


@given(source=st.binary(max_size=20), priority=st.integers(0, 255), as_master=st.booleans())
def test_odd_source_lengths_do_not_raise(source: bytes, priority: int, as_master: bool) -> None:
    router = VirtualRouter(settings(0, 100))
    router.start(0.0)
    if as_master:
        router.handle_timer(10.0)
    router.receive_advert(advert(priority, source), source, 10.5)
