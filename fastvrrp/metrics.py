"""`fastvrrp run --metrics ADDR:PORT`: Prometheus text, served by prometheus_client on a thread.

Nothing is counted twice: a scrape asks the loop for one snapshot (`control.snapshot`, the
same data `fastvrrp status` shows) and turns it into metric families on the server thread.
The loop spends one snapshot per scrape, between two events, and never waits for a client.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from .control import snapshot

if TYPE_CHECKING:
    from .daemon import Daemon

STATES = ("INIT", "BACKUP", "MASTER", "FAULT")
SCRAPE_TIMEOUT = 2.0
SWITCH_INTERVAL = 0.0005


def parse_address(text: str) -> tuple[str, int]:
    """`ADDR:PORT` or `[IPv6]:PORT`; raises ValueError with what to write instead."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--metrics {text!r}: write ADDRESS:PORT, like 127.0.0.1:9650 or [::1]:9650")
    return host.removeprefix("[").removesuffix("]") or "0.0.0.0", int(port)


def _histogram(name: str, doc: str, labels: list[str]) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, doc, labels=labels)


def _buckets(h: dict[str, Any]) -> list[tuple[str, int]]:
    return [("+Inf" if b == float("inf") else repr(b), n) for b, n in h["buckets"]]


def families(status: dict[str, Any]) -> Iterator[Any]:
    """Metric families from one status snapshot (pure: the unit tests feed it dictionaries)."""
    labels = ["instance"]
    state = GaugeMetricFamily("fastvrrp_instance_state", "1 for the instance's current state", labels=["instance", "state"])
    priority = GaugeMetricFamily("fastvrrp_effective_priority", "priority with tracking weights applied", labels=labels)
    base = GaugeMetricFamily("fastvrrp_priority", "configured priority", labels=labels)
    master = GaugeMetricFamily("fastvrrp_master", "1 for the master address last heard", labels=["instance", "address"])
    age = GaugeMetricFamily("fastvrrp_last_advert_age_seconds", "seconds since the last advert from a peer", labels=labels)
    transitions = CounterMetricFamily("fastvrrp_transitions", "state changes", labels=labels)
    garps = CounterMetricFamily("fastvrrp_gratuitous_sent", "gratuitous ARPs / unsolicited NAs sent", labels=labels)
    forms = CounterMetricFamily(
        "fastvrrp_checksum_form_received", "adverts received by checksum form", labels=["instance", "form"]
    )
    counters = CounterMetricFamily(
        "fastvrrp_vrrp", "keepalived's per-instance statistics, by keepalived's names", labels=["instance", "counter"]
    )
    gaps = _histogram("fastvrrp_advert_gap_seconds", "time between two adverts", ["instance", "direction"])
    for i in status["instances"]:
        name = i["name"]
        for s in STATES:
            state.add_metric([name, s], 1.0 if i["state"] == s else 0.0)
        priority.add_metric([name], i["effective_priority"])
        base.add_metric([name], i["priority"])
        if i["master"]:
            master.add_metric([name, i["master"]], 1.0)
        if i["last_advert_age"] is not None:
            age.add_metric([name], i["last_advert_age"])
        transitions.add_metric([name], i["transitions"])
        garps.add_metric([name], i["garps_sent"])
        for form, n in i["checksum_forms"].items():
            forms.add_metric([name, form], n)
        for counter, n in i["counters"].items():
            counters.add_metric([name, counter], n)
        for direction in ("received", "sent"):
            h = i[f"advert_gap_{direction}"]
            if h["count"]:  # a master alone receives nothing: no series rather than empty buckets
                gaps.add_metric([name, direction], _buckets(h), h["sum"])
    yield from (state, priority, base, master, age, transitions, garps, forms, counters, gaps)
    check = GaugeMetricFamily("fastvrrp_check_up", "1 while a vrrp_script / check is up", labels=["script"])
    runs = CounterMetricFamily("fastvrrp_check_runs", "check runs", labels=["script"])
    timeouts = CounterMetricFamily("fastvrrp_check_timeouts", "check runs killed at their timeout", labels=["script"])
    for name, c in status["checks"].items():
        check.add_metric([name], 1.0 if c["up"] else 0.0)
        runs.add_metric([name], c["runs"])
        timeouts.add_metric([name], c["timeouts"])
    yield from (check, runs, timeouts)
    lag = _histogram("fastvrrp_loop_lag_seconds", "how late the timer woke the loop", [])
    lag.add_metric([], _buckets(status["loop_lag"]), status["loop_lag"]["sum"])
    unclaimed = CounterMetricFamily(
        "fastvrrp_unclaimed_drops",
        "packets dropped that name no instance here (a VRID we do not run, a broken header), by keepalived's names",
        labels=["interface", "family", "counter"],
    )
    for u in status["unclaimed"]:
        for counter, n in u["counters"].items():
            unclaimed.add_metric([u["interface"], f"ipv{u['family']}", counter], n)
    yield from (lag, unclaimed)


class DaemonCollector(Collector):
    def __init__(self, daemon: Daemon, loop: asyncio.AbstractEventLoop) -> None:
        self.daemon = daemon
        self.loop = loop

    def collect(self) -> Iterator[Any]:
        status = asyncio.run_coroutine_threadsafe(snapshot(self.daemon), self.loop).result(SCRAPE_TIMEOUT)
        yield from families(status)


class MetricsServer:
    def __init__(self, daemon: Daemon, address: tuple[str, int]) -> None:
        self.daemon = daemon
        self.address = address
        self.server = None
        self.thread = None

    def start(self) -> None:
        """Serve on a thread; that thread may keep the GIL from the loop for one switch interval.

        CPython's default interval is 5 ms, half a 10 ms advert interval: while a scrape formats
        its text, the loop would wait that long for the GIL.  0.5 ms bounds the wait.
        """
        from prometheus_client import start_http_server

        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        registry = CollectorRegistry(auto_describe=False)
        registry.register(DaemonCollector(self.daemon, asyncio.get_running_loop()))
        self.server, self.thread = start_http_server(self.address[1], addr=self.address[0], registry=registry)

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(5)
            self.server = None
