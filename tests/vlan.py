"""A virtual LAN for the sans-IO core: N routers, one virtual clock, loss, delay and partitions.

Each SendAdvert becomes an `Advert` delivered to the other hosts after `delay` (+ jitter),
unless it is lost or the path is blocked.  Hosts keep what the drivers would: whether their
VIPs are installed and whether their link is up.  Everything that happens is in `trace`.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field
from typing import Callable, Iterable

from fastvrrp.actions import Action, AddVips, RemoveVips, SendAdvert, SendGratuitous
from fastvrrp.advert import CHECKSUM_PSEUDO_HEADER, Advert
from fastvrrp.protocol import MASTER, RouterSettings, VirtualRouter


def ipv4(i: int) -> bytes:
    """The packed primary address of host i: 10.0.201.(i + 1)."""
    return bytes((10, 0, 201, i + 1))


VIP = bytes((10, 0, 201, 100))


def settings(i: int, priority: int, **changes) -> RouterSettings:
    """A VIP_test_1-like router for host i (EXPERIMENT.md), v3 at 1 s unless changed."""
    base = dict(name=f"VI_{i}", vrid=150, vips=(VIP,), primary_address=ipv4(i), priority=priority, interface="em1")
    return RouterSettings(**(base | changes))


@dataclass
class Host:
    settings: RouterSettings
    router: VirtualRouter
    running: bool = False
    link_up: bool = True
    vips_installed: bool = False


@dataclass(order=True)
class _Delivery:
    at: float
    seq: int
    dst: int = field(compare=False)
    advert: Advert = field(compare=False)


class VirtualLan:
    def __init__(
        self,
        configs: Iterable[RouterSettings],
        *,
        delay: float = 0.001,
        jitter: float = 0.0,
        loss: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.hosts = [Host(s, VirtualRouter(s)) for s in configs]
        self.delay, self.jitter, self.loss = delay, jitter, loss
        self.random = random.Random(seed)
        self.now = 0.0
        self.blocked: set[tuple[int, int]] = set()
        self.trace: list[tuple[float, int, Action]] = []
        self.observers: list[Callable[[VirtualLan], None]] = []
        """Called after every event a router handled: where invariants are checked continuously."""
        self._queue: list[_Delivery] = []
        self._seq = 0

    # -- events ------------------------------------------------------------------------------

    def start(self, *which: int) -> None:
        for i in which or range(len(self.hosts)):
            host = self.hosts[i]
            host.router = VirtualRouter(host.settings)  # a new process
            host.running = True
            if not host.link_up:
                host.router.set_interface_state(False, self.now)
            self._apply(i, host.router.start(self.now))

    def stop(self, i: int) -> None:
        """A graceful stop (SIGTERM)."""
        self._apply(i, self.hosts[i].router.shutdown(self.now))
        self.hosts[i].running = False

    def kill(self, i: int) -> None:
        """kill -9: nothing is sent and the VIPs stay where they are."""
        self.hosts[i].running = False

    def set_link(self, i: int, up: bool) -> None:
        self.hosts[i].link_up = up
        if self.hosts[i].running:
            self._apply(i, self.hosts[i].router.set_interface_state(up, self.now))

    def set_track(self, i: int, name: str, up: bool) -> None:
        self._apply(i, self.hosts[i].router.set_track_state(name, up, self.now))

    def block(self, src: int, dst: int) -> None:
        """Drop everything src sends to dst (a firewall on dst's INPUT)."""
        self.blocked.add((src, dst))

    def partition(self, *sides: Iterable[int]) -> None:
        sides = [set(side) for side in sides]
        for a in sides:
            for b in sides:
                if a is not b:
                    self.blocked |= {(i, j) for i in a for j in b}

    def heal(self) -> None:
        self.blocked.clear()

    def inject(self, dst: int, advert: Advert) -> None:
        """An advert from a host that is not on this LAN (a spoofer, a misconfigured peer)."""
        if self.hosts[dst].running:
            self._apply(dst, self.hosts[dst].router.receive_advert(advert, advert.source, self.now))

    # -- time --------------------------------------------------------------------------------

    def run_until(self, until: float) -> None:
        while True:
            timers = [
                (t, i)
                for i, h in enumerate(self.hosts)
                if h.running and (t := h.router.get_timer()) is not None
            ]
            next_timer = min(timers, default=(math.inf, -1))
            next_delivery = self._queue[0].at if self._queue else math.inf
            at = min(next_timer[0], next_delivery)
            if at > until:
                break
            self.now = at
            if next_delivery <= next_timer[0]:
                delivery = heapq.heappop(self._queue)
                host = self.hosts[delivery.dst]
                if host.running and host.link_up:
                    advert = delivery.advert
                    self._apply(delivery.dst, host.router.receive_advert(advert, advert.source, at))
            else:
                router = self.hosts[next_timer[1]].router
                self._apply(next_timer[1], router.handle_timer(at))
                deadline = router.get_timer()
                assert deadline is None or deadline > at, "handle_timer left a deadline in the past"
        self.now = until

    def run_for(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    # -- what an observer sees ---------------------------------------------------------------

    def masters(self) -> list[int]:
        return [i for i, h in enumerate(self.hosts) if h.running and h.router.state == MASTER]

    def vip_owners(self) -> list[int]:
        return [i for i, h in enumerate(self.hosts) if h.vips_installed]

    def actions_of(self, kind: type, i: int | None = None, since: float = -math.inf) -> list[tuple[float, int, Action]]:
        return [e for e in self.trace if isinstance(e[2], kind) and e[0] >= since and (i is None or e[1] == i)]

    def _apply(self, i: int, actions: list[Action]) -> None:
        host = self.hosts[i]
        for action in actions:
            self.trace.append((self.now, i, action))
            if isinstance(action, AddVips):
                host.vips_installed = True
            elif isinstance(action, RemoveVips):
                host.vips_installed = False
            elif isinstance(action, SendAdvert) and host.link_up:
                self._send(i, action)
            elif isinstance(action, SendGratuitous):
                assert host.vips_installed, "gratuitous ARPs for addresses we do not hold"
        for observe in self.observers:
            observe(self)

    def _send(self, src: int, action: SendAdvert) -> None:
        s = self.hosts[src].settings
        advert = Advert(
            s.version, s.vrid, action.priority, action.interval_cs, s.vips, 0, b"", CHECKSUM_PSEUDO_HEADER,
            s.primary_address,
        )
        for dst in range(len(self.hosts)):
            if dst == src or (src, dst) in self.blocked or self.random.random() < self.loss:
                continue
            at = self.now + self.delay + self.random.uniform(0, self.jitter)
            self._seq += 1
            heapq.heappush(self._queue, _Delivery(at, self._seq, dst, advert))
