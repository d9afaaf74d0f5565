"""Random events on a small virtual LAN, with the core's invariants checked after every event.

Hypothesis drives adverts (including spoofed ones), time, tracking weights, link faults, stops,
kills and restarts.  On a connected, loss-free LAN there may be two masters only for the time
it takes one to hear the other: never longer than Master_Down_Interval.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from vlan import VIP, VirtualLan
from vlan import settings as router_settings

from fastvrrp.advert import CHECKSUM_PSEUDO_HEADER, Advert
from fastvrrp.protocol import MASTER, TrackedObject

SPOOFERS = [bytes((10, 0, 201, 66)), bytes((10, 0, 201, 250))]


class LanMachine(RuleBasedStateMachine):
    @initialize(
        interval_cs=st.sampled_from([10, 100]),
        routers=st.lists(
            st.tuples(st.integers(1, 255), st.sampled_from([-50, 0, 30]), st.booleans()), min_size=2, max_size=4
        ),
        delay=st.sampled_from([0.0005, 0.003]),
    )
    def build(self, interval_cs: int, routers: list[tuple[int, int, bool]], delay: float) -> None:
        self.lan = VirtualLan(
            [
                router_settings(
                    i, priority, advert_interval_cs=interval_cs, preempt=preempt, track=(TrackedObject("w", weight),)
                )
                for i, (priority, weight, preempt) in enumerate(routers)
            ],
            delay=delay,
            jitter=delay,
        )
        self.interval_cs = interval_cs
        self.bound = 3 * interval_cs / 100  # below any Master_Down_Interval (3 intervals + Skew_Time)
        self.two_masters_since: float | None = None
        self.counters: dict[int, tuple[object, dict[str, int]]] = {}
        self.lan.observers.append(self.check_every_event)
        self.lan.start()

    @property
    def n(self) -> int:
        return len(self.lan.hosts)

    # -- rules -------------------------------------------------------------------------------

    @rule(seconds=st.floats(0.001, 2.0))
    def advance(self, seconds: float) -> None:
        self.lan.run_for(seconds)

    @rule(
        data=st.data(), priority=st.integers(0, 255), source=st.sampled_from(SPOOFERS), vrid=st.sampled_from([150, 151])
    )
    def spoofed_advert(self, data: st.DataObject, priority: int, source: bytes, vrid: int) -> None:
        dst = data.draw(st.integers(0, self.n - 1))
        advert = Advert(3, vrid, priority, self.interval_cs, (VIP,), 0, b"", CHECKSUM_PSEUDO_HEADER, source)
        self.lan.inject(dst, advert)

    @rule(data=st.data(), up=st.booleans())
    def track(self, data: st.DataObject, up: bool) -> None:
        i = data.draw(st.integers(0, self.n - 1))
        if self.lan.hosts[i].running:
            self.lan.set_track(i, "w", up)

    @rule(data=st.data(), up=st.booleans())
    def link(self, data: st.DataObject, up: bool) -> None:
        self.lan.set_link(data.draw(st.integers(0, self.n - 1)), up)

    @rule(data=st.data(), how=st.sampled_from(["stop", "kill"]))
    def stop(self, data: st.DataObject, how: str) -> None:
        i = data.draw(st.integers(0, self.n - 1))
        if self.lan.hosts[i].running:
            getattr(self.lan, how)(i)

    @precondition(lambda self: any(not h.running for h in self.lan.hosts))
    @rule(data=st.data())
    def restart(self, data: st.DataObject) -> None:
        stopped = [i for i, h in enumerate(self.lan.hosts) if not h.running]
        self.lan.start(data.draw(st.sampled_from(stopped)))

    # -- invariants --------------------------------------------------------------------------

    def check_every_event(self, lan: VirtualLan) -> None:
        for host in lan.hosts:
            if host.running:
                assert host.vips_installed == (host.router.state == MASTER), "a master holds the VIPs, nobody else"
                deadline = host.router.get_timer()
                assert deadline is None or deadline >= lan.now, "a deadline in the past"
        if len(lan.masters()) > 1:
            if self.two_masters_since is None:
                self.two_masters_since = lan.now
            assert lan.now - self.two_masters_since <= self.bound, "two masters for longer than Master_Down_Interval"
        else:
            self.two_masters_since = None

    @invariant()
    def counters_only_grow(self) -> None:
        for i, host in enumerate(self.lan.hosts):
            router, before = self.counters.get(i, (None, {}))
            now = dict(host.router.counters)
            if router is host.router:
                assert all(now.get(k, 0) >= v for k, v in before.items()), "a counter went down"
            self.counters[i] = (host.router, now)


LanMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None, derandomize=True)
test_lan_machine = LanMachine.TestCase
