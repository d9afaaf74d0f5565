"""What the metrics and `fastvrrp status` show beyond the core's counters, gathered cheaply.

`ObservedRouter` is the protocol core with a few timestamps and histograms kept beside it:
when the last advert from the master arrived, the gaps between adverts received and sent,
which checksum form peers use.  Recording one is a `bisect` and an increment, so it stays
in the receive path without showing in its cost; the metrics server reads the totals only
when scraped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict

from .actions import Action
from .advert import Advert
from .protocol import VirtualRouter

ADVERT_GAP_BUCKETS = (0.0101, 0.011, 0.015, 0.02, 0.101, 0.11, 0.15, 0.2, 1.01, 1.1, 1.5, 2.0, 3.5)
"""Seconds; just above the usual intervals (10 ms, 100 ms, 1 s) so that a late advert stands out,
and few: every bucket is a line per instance and direction in each scrape."""
LOOP_LAG_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0)


class Histogram:
    """Cumulative counts per upper bound, a sum and a count: the Prometheus histogram's data."""

    __slots__ = ("bounds", "count", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def merge(self, counts: list[int], total: float) -> None:
        """Add observations counted elsewhere per bucket (`counts` in this histogram's layout)."""
        for i, n in enumerate(counts):
            self.counts[i] += n
        self.total += total
        self.count += sum(counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations at or below it), ending with +Inf."""
        result, running = [], 0
        for bound, n in zip(self.bounds + (float("inf"),), self.counts):
            running += n
            result.append((bound, running))
        return result


class ObservedRouter(VirtualRouter):
    """The core plus what operators ask about: last advert age, advert gaps, checksum forms."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.last_advert_at: float | None = None
        self.last_sent_at: float | None = None
        self.received_gaps = Histogram(ADVERT_GAP_BUCKETS)
        self.sent_gaps = Histogram(ADVERT_GAP_BUCKETS)
        self.checksum_forms: defaultdict[str, int] = defaultdict(int)
        self._last_form = ""
        self.transitions = 0

    def receive_advert(self, advert: Advert, source: bytes, now: float) -> list[Action]:
        actions = super().receive_advert(advert, source, now)
        settings = self.settings
        if source != settings.primary_address and advert.vrid == settings.vrid:
            self._last_form = advert.checksum_form
            self._observe_advert(now)
        return actions

    def fold_repeats(self, repeats: int, last_at: float, gap_counts: list[int], gap_sum: float) -> bool:
        """`heard_again` for repeats a driver counted itself (`repeats.RepeatFilter.take`): how
        many, the last one's arrival, and the gaps between arrivals per `received_gaps` bucket."""
        if not VirtualRouter.heard_again(self, last_at, repeats):
            return False
        self.checksum_forms[self._last_form] += repeats
        self.received_gaps.merge(gap_counts, gap_sum)
        self.last_advert_at = last_at
        return True

    def _observe_advert(self, now: float) -> None:
        self.checksum_forms[self._last_form] += 1
        if self.last_advert_at is not None:
            self.received_gaps.observe(now - self.last_advert_at)
        self.last_advert_at = now

    def handle_timer(self, now: float) -> list[Action]:
        sent = self.counters["advert_sent"]
        actions = VirtualRouter.handle_timer(self, now)  # per advert: no super()
        if self.counters["advert_sent"] != sent:
            if self.last_sent_at is not None:
                self.sent_gaps.observe(now - self.last_sent_at)
            self.last_sent_at = now
        return actions

    def _enter(self, new: str, actions: list[Action], note: str = "") -> None:
        if new != self.state:
            self.transitions += 1
        super()._enter(new, actions, note)
