"""The core's two shortcuts for the driver, checked against the full path they stand for.

Repeats of the advert it took last, counted while it `follows` and handed over later through
`heard_again` / `fold_repeats`, must leave it exactly as `receive_advert` for each would (RFC 5798
§6.4.2: a backup hearing its master resets the Master_Down_Timer), with `timer_after_repeat`
its timer meanwhile;
`takeover_due` must be true exactly when `handle_timer` makes the router master, whose actions
then begin with the advert and the VIPs (RFC 5798 §6.4.2, "Transition to the {Master} state").
"""

from __future__ import annotations

import copy
from bisect import bisect_left

import pytest

from hypothesis import example, given, settings
from hypothesis import strategies as st
from vlan import VIP, ipv4
from vlan import settings as router_settings

from fastvrrp.actions import AddVips, SendAdvert, StateChanged
from fastvrrp.advert import CHECKSUM_PSEUDO_HEADER, Advert
from fastvrrp.observe import ADVERT_GAP_BUCKETS, ObservedRouter
from fastvrrp.protocol import MASTER, TrackedObject, VirtualRouter

OURS = 100


def advert(priority: int, interval_cs: int) -> Advert:
    return Advert(3, 150, priority, interval_cs, (VIP,), 0, b"", CHECKSUM_PSEUDO_HEADER, ipv4(2))


events = st.lists(
    st.one_of(
        st.tuples(st.just("advert"), st.sampled_from([0, 50, 100, 150, 255]), st.sampled_from([10, 20]), st.booleans()),
        st.tuples(st.just("repeat"), st.floats(0.001, 0.5)),
        st.tuples(st.just("timer"), st.floats(0.001, 1.0)),
        st.tuples(st.just("track"), st.booleans()),
    ),
    max_size=40,
)


def status(router: VirtualRouter) -> tuple:
    return router.status(), router._lower_master_since, router._followed


class Deferred:
    """The driver's way with repeats (`daemon`, `repeats.RepeatFilter`): while the router
    `follows`, a repeat is only counted, with its arrival and the gap since the one before;
    the router hears of them (`fold`) before its next event."""

    def __init__(self, router: VirtualRouter) -> None:
        self.router = router
        self.count, self.last, self.total = 0, 0.0, 0.0
        self.gaps = [0] * (len(ADVERT_GAP_BUCKETS) + 1)

    def repeat(self, now: float) -> bool:
        if not self.router.follows():
            return False
        if isinstance(self.router, ObservedRouter):
            previous = self.last if self.count else self.router.last_advert_at
            self.gaps[bisect_left(ADVERT_GAP_BUCKETS, now - previous)] += 1
            self.total += now - previous
        self.count, self.last = self.count + 1, now
        return True

    def fold(self) -> None:
        if not self.count:
            return
        if isinstance(self.router, ObservedRouter):
            assert self.router.fold_repeats(self.count, self.last, self.gaps, self.total)
        else:
            assert self.router.heard_again(self.last, self.count)
        self.__init__(self.router)


@settings(max_examples=500, deadline=None)
@given(events=events, preempt=st.booleans(), cls=st.sampled_from([VirtualRouter, ObservedRouter]))
# Followed while a tracked object was down, then our priority rose above the master's: preempt.
@example([("track", False), ("advert", 50, 10, False), ("track", True), ("repeat", 0.01)], True, VirtualRouter)
# A master whose interval differs from ours: each repeat is logged (RFC 9568 §7.1), not shortcut.
@example([("advert", 150, 20, False), ("repeat", 0.01), ("repeat", 2.0)], True, VirtualRouter)
def test_counted_repeats_are_receive_advert_for_each(events, preempt, cls):
    """Two routers see the same events; one gets repeats counted when it `follows` (RFC 5798
    §6.4.2: a backup hearing its master only resets the Master_Down_Timer), the other each
    through `receive_advert`.  Once the counted ones are handed over, nothing tells them apart."""
    base = router_settings(1, OURS, advert_interval_cs=10, preempt=preempt, track=(TrackedObject("w", -60),))
    full, fast = cls(base), cls(base)
    deferred = Deferred(fast)
    now = 0.0
    assert full.start(now) == fast.start(now)
    last: tuple[Advert, bytes] | None = None
    for event in events:
        kind = event[0]
        if kind == "repeat" and last is not None:
            now += event[1]
            if deferred.repeat(now):
                expected_timer = fast.timer_after_repeat(now)
                assert full.receive_advert(*last, now) == [], "a repeat counted had an effect"
                assert full.get_timer() == expected_timer
                continue
            deferred.fold()
            assert fast.receive_advert(*last, now) == full.receive_advert(*last, now)
        elif kind == "advert":
            _, priority, interval_cs, spoofed = event
            now += 0.003
            last = (advert(priority, interval_cs), ipv4(3) if spoofed else ipv4(2))
            deferred.fold()
            assert full.receive_advert(*last, now) == fast.receive_advert(*last, now)
        elif kind == "timer":
            now += event[1]
            deferred.fold()
            assert full.handle_timer(now) == fast.handle_timer(now)
        elif kind == "track":
            deferred.fold()
            assert full.set_track_state("w", event[1], now) == fast.set_track_state("w", event[1], now)
        assert status(full) == status(fast)
        if cls is ObservedRouter:
            assert full.received_gaps.counts == fast.received_gaps.counts
            assert full.received_gaps.total == pytest.approx(fast.received_gaps.total)
            assert full.last_advert_at == fast.last_advert_at
            assert dict(full.checksum_forms) == dict(fast.checksum_forms)
    deferred.fold()
    assert status(full) == status(fast)


def timer_steps(events):
    """Drive a router through `events`; at each timer or repeat, yield it, a copy of it as it
    is, and the time: the test runs `handle_timer` itself."""
    router = VirtualRouter(router_settings(1, OURS, advert_interval_cs=10, track=(TrackedObject("w", -60),)))
    now = 0.0
    router.start(now)
    for event in events:
        kind = event[0]
        now += event[1] if kind in ("repeat", "timer") else 0.003
        if kind == "advert":
            router.receive_advert(advert(event[1], event[2]), ipv4(2), now)
        elif kind == "track":
            router.set_track_state("w", event[1], now)
        else:
            yield router, copy.deepcopy(router), now


@settings(max_examples=300, deadline=None)
@given(events=events)
def test_takeover_due_is_exactly_when_the_timer_makes_us_master(events):
    for router, probe, now in timer_steps(events):
        due = router.takeover_due(now)
        actions = router.handle_timer(now)
        assert due == (probe.state != MASTER and router.state == MASTER)
        if due:
            first = actions[:3]
            assert [type(a) for a in first] == [StateChanged, SendAdvert, AddVips], actions
            assert first[1].priority == probe.effective_priority
            assert first[1].interval_cs == probe.settings.advert_interval_cs
            assert first[2].vips == probe.settings.vips
        else:
            assert probe.takeover_due(now) is False


@settings(max_examples=300, deadline=None)
@given(events=events)
def test_advert_due_is_exactly_when_the_timer_sends_our_periodic_advert_first(events):
    """RFC 5798 §6.4.3: "If the Adver_Timer fires, then: Send an ADVERTISEMENT"."""
    seen_due, router = False, None
    for router, probe, now in timer_steps(events + [("timer", 1.0), ("timer", 0.1), ("timer", 0.1), ("timer", 0.1)]):
        due = router.advert_due(now)
        actions = router.handle_timer(now)
        sends = [a for a in actions if isinstance(a, SendAdvert)]
        assert due == (probe.state == MASTER and bool(sends))
        if due:
            seen_due = True
            first = actions[0]
            assert isinstance(first, SendAdvert) and first.instance == router.name
            assert (first.priority, first.interval_cs) == (probe.effective_priority, 10)
    assert seen_due or router.state != MASTER
