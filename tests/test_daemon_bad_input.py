"""Receive checks (RFC 5798 §7.1, RFC 3768 §7.1) against a running daemon, over real sockets.

Router a runs fastvrrp as the experiment's master (priority 100).  The client, a host on the same
bridge with a higher address, forges adverts for a's VRID at priority 254 from a raw protocol-112
socket: accepted, each would make a step down (`test_the_same_advert_without_its_defect_is_obeyed`
shows it).  Each forgery carries one defect, and must be counted and logged (rate-limited) while a
keeps its state, its VIP and its adverts.

One daemon per flavour serves every test of the module: a v2 master needs Master_Down_Interval
(3.6 s) before it holds the VIP.  Each test reads counter deltas from a master holding the VIP.
"""

from __future__ import annotations

import ipaddress
import re
import signal
import socket
import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pytest

from fastvrrp import netns, wire
from fastvrrp.advert import AUTH_NONE, AUTH_PASS, IPPROTO_VRRP
from fastvrrp.dumps import parse_stats
from fastvrrp.peers import InstanceSpec, Peer
from fastvrrp.sockets import ReceiveBatch, VrrpSocket, link_local_ipv6
from netns_support import netns_test, stale_namespaces_removed  # noqa: F401 (fixtures)
from test_daemon import SLACK, STARTUP, holders, master_down_v2, master_down_v3, stats, wait_until

pytestmark = netns_test

FLAVOURS = {
    "v2": InstanceSpec(state="MASTER", priority=100, version=2, advert_int="1"),  # PASS 1111, as the experiment
    "v3-ipv4": InstanceSpec(state="MASTER", priority=100, version=3, advert_int="0.1", password=None),
    "v3-ipv6": InstanceSpec(
        state="MASTER", priority=100, version=3, advert_int="0.1", password=None, vip="fd00:201::100"
    ),
}
FORGED_PRIORITY = 254
LOG_PERIOD = 1.0
"""The daemon's `RateLimiter` period: one receive-error line per instance and reason per second."""
FLOOD = 400
FLOOD_SECONDS = 0.5


@dataclass
class Lan:
    """Master a running one flavour, and the client's socket that forges adverts for its VRID."""

    topology: netns.Topology
    a: Peer
    spec: InstanceSpec
    client: VrrpSocket
    a_source: bytes
    sent_at: dict[str, float] = field(default_factory=dict)
    """When a forgery meant to be dropped for each reason was last sent."""

    @property
    def family(self) -> int:
        return self.client.family

    @property
    def interval_cs(self) -> int:
        return round(float(self.spec.advert_int) * 100)

    @property
    def client_ip(self) -> str:
        return str(ipaddress.ip_address(self.client.source))

    def master_down(self) -> float:
        if self.spec.version == 2:
            return master_down_v2(self.spec.priority)
        return master_down_v3(self.spec.priority, self.interval_cs / 100)

    def holders(self) -> list[str]:
        return holders(self.topology, self.spec.vip)

    def advert(self, priority: int = FORGED_PRIORITY, *, version: int | None = None, **overrides) -> bytes:
        """A VRRP message a would accept, from the client: the base of every forgery."""
        version = self.spec.version if version is None else version
        kwargs = {"src": self.client.source, "dst": self.client.group}
        if version == 2:
            kwargs |= {"auth_type": AUTH_PASS, "password": (self.spec.password or "").encode()}
        kwargs |= overrides
        vip = socket.inet_pton(socket.AF_INET if self.family == 4 else socket.AF_INET6, self.spec.vip)
        interval_cs = kwargs.pop("interval_cs", self.interval_cs)
        return wire.build_advert(version, self.spec.vrid, priority, interval_cs, [vip], **kwargs)

    def with_byte(self, message: bytes, offset: int, value: int) -> bytes:
        """`message` with one byte changed and the checksum its version calls for: one defect, not two."""
        forged = bytearray(message)
        forged[offset] = value
        forged[6:8] = bytes(2)
        covered = bytes(forged)
        if forged[0] >> 4 == 3:  # the pseudo-header form (RFC 5798 §5.2.8)
            layout = "!BBH" if self.family == 4 else "!I3xB"
            fields = (0, IPPROTO_VRRP, len(forged)) if self.family == 4 else (len(forged), IPPROTO_VRRP)
            covered = self.client.source + self.client.group + struct.pack(layout, *fields) + covered
        forged[6:8] = wire.checksum(covered).to_bytes(2, "big")
        return bytes(forged)

    def await_log_window(self, reason: str) -> None:
        """Wait until a's limiter logs the next drop for `reason` (one line per LOG_PERIOD), so
        that a test's log assertions do not depend on which test ran before it."""
        quiet_at = self.sent_at.get(reason, -LOG_PERIOD) + LOG_PERIOD + 0.1
        time.sleep(max(0.0, quiet_at - time.monotonic()))

    def send(self, messages: Sequence[bytes], reason: str | None, *, ttl: int = 255, spacing: float = 0.0) -> None:
        """Send to the VRRP group with this TTL / hop limit, `spacing` seconds apart; `reason`
        is what a must drop them for (None: accept them)."""
        if reason is not None:
            self.await_log_window(reason)
        level, option = (socket.IPPROTO_IP, socket.IP_MULTICAST_TTL)
        if self.family == 6:
            level, option = (socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS)
        self.client.sock.setsockopt(level, option, ttl)
        try:
            for message in messages:
                self.client.send_advert(message)
                time.sleep(spacing)
        finally:
            self.client.sock.setsockopt(level, option, 255)
        if reason is not None:
            self.sent_at[reason] = time.monotonic()

    def adverts_from_a(self) -> list[float]:
        """Kernel arrival times (CLOCK_REALTIME) of a's adverts waiting at the client; drains them."""
        batch, stamps = ReceiveBatch(), []
        while batch.drain(self.client):
            for i, packet in enumerate(batch.packets()):
                source = bytes(packet[12:16]) if self.family == 4 else bytes(batch.addrs[32 * i : 32 * i + 16])
                if source == self.a_source:
                    stamps.append(batch.stamps[i])
        return stamps

    def heard_from_a(self) -> bool:
        """An advert from a reaches the client after this call: a is still advertising."""
        self.adverts_from_a()
        return wait_until(lambda: bool(self.adverts_from_a()), 2 * self.interval_cs / 100 + SLACK) is not None


@pytest.fixture(scope="module")
def lan(request, stale_namespaces_removed, tmp_path_factory) -> Iterator[Lan]:  # noqa: F811 (fixture)
    """One master per flavour (indirect parameter) for the whole module; like the `topology`
    fixture, its namespaces are unique to this run and deleted whatever happens."""
    spec = FLAVOURS[request.param]
    with netns.Topology(["a", "b", "client"]) as topo:
        a = Peer(topo, "a", "fastvrrp", spec.render("LVS_201-1"), tmp_path_factory.mktemp(request.param) / "a")
        with netns.entered(topo["client"].ns):
            client = VrrpSocket("em1", 4 if ":" not in spec.vip else 6)
        with netns.entered(topo["a"].ns):
            a_source = socket.inet_aton(topo["a"].ip) if client.family == 4 else link_local_ipv6("em1")
        with client:
            lan = Lan(topo, a, spec, client, a_source)
            a.start()
            try:
                assert wait_until(lambda: lan.holders() == ["a"], lan.master_down() + SLACK + STARTUP) is not None
                yield lan
            finally:
                a.stop()
    assert not [n for n in netns.list_namespaces() if n.startswith(topo.name(""))]


@dataclass(frozen=True)
class Baseline:
    counters: dict[str, int]
    log_at: int


@pytest.fixture
def master(lan: Lan) -> Baseline:
    """Each test starts from a running master holding the VIP, and measures from here."""
    assert lan.a.running, lan.a.log()
    assert wait_until(lambda: lan.holders() == ["a"], lan.master_down() + SLACK) is not None, lan.a.log()
    return Baseline(stats(lan.a), len(lan.a.log()))


def drop_line(lan: Lan, reason: str) -> str:
    """What a logs for a dropped advert (keepalived's words where operators grep for them)."""
    if reason == "ip_ttl_err":
        return f"(VIP_test_1) invalid TTL/HL from {lan.client_ip}. Received 254 and expect 255"
    if reason == "auth_failure":
        return f"(VIP_test_1) received an invalid passwd from {lan.client_ip}!"
    return f"(VIP_test_1) dropped advert from {lan.client_ip}: {reason}"


def assert_dropped(lan: Lan, before: Baseline, reason: str, sent: int) -> None:
    """Every forgery counted under `reason`, none accepted, the drop logged; a still master,
    holding the VIP and advertising; no traceback."""
    target = before.counters.get(reason, 0) + sent
    counted = wait_until(lambda: stats(lan.a).get(reason, 0) >= target, 3, interval=0.1)
    after = stats(lan.a)
    assert counted is not None and after.get(reason, 0) == target, (reason, after, lan.a.log())
    assert after["advert_rcvd"] == before.counters["advert_rcvd"], "a forgery was accepted"
    log = lan.a.log()
    assert drop_line(lan, reason) in log[before.log_at :], log
    assert "Entering" not in log[before.log_at :], log
    assert "Traceback" not in log
    assert lan.a.running and lan.holders() == ["a"]
    assert lan.heard_from_a(), "a stopped advertising"


ALL = pytest.mark.parametrize("lan", sorted(FLAVOURS), indirect=True)


@ALL
def test_ttl_other_than_255_is_dropped_and_logged(lan, master):
    """RFC 5798 §7.1, RFC 3768 §7.1: TTL / hop limit must be 255, or the advert came through a router."""
    lan.send([lan.advert()] * 3, "ip_ttl_err", ttl=254)
    assert_dropped(lan, master, "ip_ttl_err", 3)


@ALL
def test_bad_checksum_is_dropped(lan, master):
    """RFC 5798 §7.1, RFC 3768 §7.1: the checksum must verify (a v3 IPv4 one in neither accepted form)."""
    message = bytearray(lan.advert())
    message[7] ^= 0x01
    lan.send([bytes(message)] * 3, "chk_err")
    assert_dropped(lan, master, "chk_err", 3)


@ALL
@pytest.mark.parametrize("version", ["unknown", "the other"])
def test_wrong_version_is_dropped(lan, master, version):
    """RFC 5798 §7.1: the version must be 3; RFC 3768 §7.1: it must be 2.  The other one, valid in
    itself, is refused by the instance's check; v2 over IPv6 and version 4 by the parser."""
    if version == "unknown":
        message = lan.with_byte(lan.advert(), 0, 0x41)
    elif lan.family == 6:
        message = lan.with_byte(lan.advert(), 0, 0x21)
    else:
        message = lan.advert(version=5 - lan.spec.version, interval_cs=100, auth_type=AUTH_NONE, password=b"")
    lan.send([message] * 3, "vers_err")
    assert_dropped(lan, master, "vers_err", 3)


@ALL
def test_truncated_advert_is_dropped(lan, master):
    """RFC 5798 §7.1: the packet must hold the complete message, fixed fields and every address
    (RFC 3768 §7.1: and the authentication data)."""
    lan.send([lan.advert()[:-4]] * 3, "packet_len_err")
    assert_dropped(lan, master, "packet_len_err", 3)


@ALL
def test_unknown_type_is_dropped(lan, master):
    """RFC 5798 §5.2.2, RFC 3768 §5.3.2: a packet of a type other than 1 (ADVERTISEMENT) is discarded."""
    lan.send([lan.with_byte(lan.advert(), 0, lan.spec.version << 4 | 2)] * 3, "invalid_type_rcvd")
    assert_dropped(lan, master, "invalid_type_rcvd", 3)


V2 = pytest.mark.parametrize("lan", ["v2"], indirect=True)


@V2
def test_wrong_password_is_dropped_and_logged(lan, master):
    """RFC 3768 §7.1 with RFC 2338 §5.3.6.1: a simple-text password unlike ours fails authentication."""
    lan.send([lan.advert(password=b"2222")] * 3, "auth_failure")
    assert_dropped(lan, master, "auth_failure", 3)


@V2
@pytest.mark.parametrize(
    ("auth_type", "reason"),
    [(AUTH_NONE, "authtype_mismatch"), (2, "ah_unsupported"), (3, "invalid_authtype")],
    ids=["none", "ip-ah", "undefined"],
)
def test_wrong_auth_type_is_dropped(lan, master, auth_type, reason):
    """RFC 3768 §7.1: the Auth Type must match the configured method (PASS here).  Type 2 (RFC 2338's
    IP AH) is recognised but not implemented; 3 and above are defined nowhere."""
    message = lan.with_byte(lan.advert(), 4, auth_type)
    lan.send([message] * 3, reason)
    assert_dropped(lan, master, reason, 3)


@ALL
def test_bad_advert_interval_is_dropped(lan, master):
    """RFC 3768 §7.1: a v2 interval unlike ours (2 s) is discarded; v3 adopts a different one
    (RFC 5798 §6.4.2), but 0 is invalid there (RFC 9568 errata: 1..4095 cs)."""
    interval = 2 if lan.spec.version == 2 else 0
    lan.send([lan.with_byte(lan.advert(), 5, interval)] * 3, "advert_interval_err")
    assert_dropped(lan, master, "advert_interval_err", 3)


@pytest.mark.parametrize("lan", ["v3-ipv4", "v3-ipv6"], indirect=True)
def test_a_flood_is_logged_rate_limited_and_adverts_go_on(lan, master):
    """RFC 5798 §7.1 says to log each drop; a flooding peer must neither flood the log (one line per
    second and reason, the rest counted in the next line's tail) nor hold a's adverts back, as it
    does keepalived's (VRRP-NOTES.md).  At 100 ms a stall shows within the flood; v2's drops take
    the same path."""
    lan.await_log_window("ip_ttl_err")
    lan.adverts_from_a()
    started = time.time()
    lan.send([lan.advert()] * FLOOD, "ip_ttl_err", ttl=254, spacing=FLOOD_SECONDS / FLOOD)
    flooded = time.time() - started
    heard = [started, *lan.adverts_from_a(), time.time()]
    # A backup would take over after its Master_Down_Interval without an advert.
    gaps = [later - earlier for earlier, later in zip(heard, heard[1:])]
    assert max(gaps) < master_down_v3(50, lan.interval_cs / 100), gaps
    # Once the limiter's period is over, one more drop reports how many were suppressed.
    lan.send([lan.advert()], "ip_ttl_err", ttl=254)
    assert_dropped(lan, master, "ip_ttl_err", FLOOD + 1)
    log = lan.a.log()
    new = [line for line in log[master.log_at :].splitlines() if drop_line(lan, "ip_ttl_err") in line]
    assert 2 <= len(new) <= 2 + int(flooded / LOG_PERIOD), new
    lines = [line for line in log.splitlines() if drop_line(lan, "ip_ttl_err") in line]
    suppressed = sum(int(n) for line in lines for n in re.findall(r"\((\d+) similar suppressed\)$", line))
    assert len(lines) + suppressed == stats(lan.a)["ip_ttl_err"], lines


@ALL
def test_the_same_advert_without_its_defect_is_obeyed(lan, master):
    """The forgeries above would move a if accepted: a higher priority makes the master a backup
    (RFC 5798 §6.4.3, RFC 3768 §6.4.3); the forger leaving (priority 0) brings a back after
    Skew_Time (§6.4.2)."""
    lan.send([lan.advert()], None)
    assert wait_until(lambda: lan.holders() == [], 2) is not None, lan.a.log()
    message = f"(VIP_test_1) Master received advert from {lan.client_ip} with higher priority 254, ours 100"
    assert message in lan.a.log()[master.log_at :]
    lan.send([lan.advert(priority=0)], None)
    assert wait_until(lambda: lan.holders() == ["a"], 1 + SLACK) is not None, lan.a.log()
    after = stats(lan.a)
    assert after["advert_rcvd"] - master.counters["advert_rcvd"] == 2
    assert after["pri_zero_rcvd"] - master.counters["pri_zero_rcvd"] == 1
    assert "Traceback" not in lan.a.log()


def unclaimed(lan: Lan) -> dict[str, int]:
    """The drops a's socket on em1 charged to no instance, from a fresh stats dump."""
    stats(lan.a)  # SIGUSR2: the dump is written anew
    dump = parse_stats((lan.a.workdir / "fastvrrp.stats").read_text())
    return dump.get(f"Interface em1 IPv{lan.family}", {})


def reload_with(lan: Lan, config: str) -> None:
    lan.a.config_path.write_text(config)
    done = lan.a.log().count("Reload done")
    lan.a.signal(signal.SIGHUP)
    assert wait_until(lambda: lan.a.log().count("Reload done") > done, 5) is not None, lan.a.log()


@ALL
def test_a_vrid_we_do_not_run_is_counted_on_the_interface_and_logged_when_asked(lan, master):
    """RFC 5798 §7.1, RFC 3768 §7.1: an advert for a VRID not configured here is discarded.  No
    instance is charged with it: the socket's own count (stats dump, status, metrics).  Other
    pairs may share the link, so it is logged only under keepalived's `log_unknown_vrids`."""
    foreign = lan.with_byte(lan.advert(), 1, 7)
    line = f"em1 IPv{lan.family}: advert for VRID 7 from {lan.client_ip}, which no instance here runs"
    before = unclaimed(lan).get("vrid_err", 0)
    lan.send([foreign] * 3, None)
    assert wait_until(lambda: unclaimed(lan).get("vrid_err", 0) == before + 3, 3, interval=0.1) is not None
    assert line not in lan.a.log()
    config = lan.a.config
    reload_with(lan, config.replace("global_defs {\n", "global_defs {\n   log_unknown_vrids\n", 1))
    try:
        lan.send([foreign] * 3, None)
        assert wait_until(lambda: unclaimed(lan).get("vrid_err", 0) == before + 6, 3, interval=0.1) is not None
        assert lan.a.log().count(line) == 1, "rate-limited: one line for the three"
    finally:
        reload_with(lan, config)
    log = lan.a.log()[master.log_at :]
    after = stats(lan.a)
    assert (after["vrid_err"], after["advert_rcvd"]) == (master.counters["vrid_err"], master.counters["advert_rcvd"])
    assert "Entering" not in log and "Traceback" not in lan.a.log()
    assert lan.holders() == ["a"] and lan.heard_from_a()
