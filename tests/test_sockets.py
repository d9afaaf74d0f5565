"""Raw sockets on a real segment: our adverts and keepalived's cross it, drain into a batch and
validate; tcpdump + tshark, decoders we did not write, check what went on the wire."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from fastvrrp import netns, wire
from fastvrrp.advert import AUTH_NONE, AUTH_PASS, CHECKSUM_MESSAGE, CHECKSUM_PSEUDO_HEADER, Advert, Expected
from fastvrrp.announce import build_garp, build_unsolicited_na
from fastvrrp.peers import wait_until
from fastvrrp.sockets import (
    InterfaceError,
    PacketSocket,
    ReceiveBatch,
    VrrpSocket,
    interface_index,
    interface_mac,
    link_local_ipv6,
    primary_ipv4,
)
from netns_support import Capture, netns_test, stale_namespaces_removed, topology  # noqa: F401 (fixtures)

pytestmark = netns_test

VRID = 150
VIP4 = socket.inet_pton(socket.AF_INET, "10.0.201.100")
VIP6 = socket.inet_pton(socket.AF_INET6, "fd00:201::100")
GROUP4 = socket.inet_pton(socket.AF_INET, "224.0.0.18")
GROUP6 = socket.inet_pton(socket.AF_INET6, "ff02::12")
REASON = {code: reason for reason, code in wire.REASON_CODES.items()}


def open_socket(topo: netns.Topology, role: str, family: int) -> VrrpSocket:
    with netns.entered(topo[role].ns):
        return VrrpSocket("em1", family)


def receive(sock: VrrpSocket, batch: ReceiveBatch, timeout: float = 2.0) -> int:
    """Poll-drain until something arrived (the segment is fast, but not instantaneous)."""
    deadline = time.monotonic() + timeout
    while not batch.drain(sock) and time.monotonic() < deadline:
        time.sleep(0.005)
    return batch.count


def decoded(batch: ReceiveBatch, i: int) -> Advert:
    if batch.family == 4:
        return wire.parse_ipv4(bytes(batch.packet(i)))
    addrs = bytes(batch.addrs[32 * i : 32 * i + 32])
    return wire.parse_ipv6(bytes(batch.packet(i)), addrs[:16], addrs[16:], batch.hop_limits[i])


@pytest.fixture
def pair(topology):
    """Router a's and router b's sockets for both families; closed after the test."""
    socks = {(role, fam): open_socket(topology, role, fam) for role in ("a", "b") for fam in (4, 6)}
    yield socks
    for sock in socks.values():
        sock.close()


def test_v2_pass_advert_crosses_the_segment_and_validates(pair, topology):
    a, b = pair["a", 4], pair["b", 4]
    assert a.source == socket.inet_aton(topology["a"].ip)
    a.send_advert(wire.build_advert(2, VRID, 100, 100, [VIP4], auth_type=AUTH_PASS, password=b"1111"))
    batch = ReceiveBatch()
    assert receive(b, batch) == 1
    table = wire.pack_table([Expected(VRID, 2, AUTH_PASS, b"1111", 100)])
    assert batch.validate(table, records=True) == 1
    assert batch.results[0] == wire.RESULT_OK
    assert wire.RECORD_FORMAT.unpack_from(batch.records, 0) == (VRID, 100, 2, 1, 100, 0)
    expected = Advert(2, VRID, 100, 100, (VIP4,), AUTH_PASS, b"1111\0\0\0\0", CHECKSUM_MESSAGE, a.source)
    assert decoded(batch, 0) == expected
    wrong_password = wire.pack_table([Expected(VRID, 2, AUTH_PASS, b"2222", 100)])
    assert batch.validate(wrong_password) == 0 and REASON[batch.results[0]] == "auth_failure"


@pytest.mark.parametrize("form", [CHECKSUM_PSEUDO_HEADER, CHECKSUM_MESSAGE])
def test_v3_ipv4_advert_in_both_checksum_forms(pair, form):
    a, b = pair["a", 4], pair["b", 4]
    a.send_advert(wire.build_advert(3, VRID, 200, 10, [VIP4], src=a.source, dst=GROUP4, checksum_form=form))
    batch = ReceiveBatch()
    assert receive(b, batch) == 1
    assert batch.validate(wire.pack_table([Expected(VRID, 3, interval_cs=10)])) == 1
    assert decoded(batch, 0) == Advert(3, VRID, 200, 10, (VIP4,), AUTH_NONE, b"", form, a.source)


def test_v3_ipv6_advert_with_kernel_addresses_and_hop_limit(pair):
    a, b = pair["a", 6], pair["b", 6]
    assert a.source[:2] == b"\xfe\x80"
    a.send_advert(wire.build_advert(3, VRID, 100, 100, [VIP6], src=a.source, dst=GROUP6))
    batch = ReceiveBatch()
    assert receive(b, batch) == 1
    assert batch.family == 6
    assert bytes(batch.addrs[:32]) == a.source + GROUP6
    assert batch.hop_limits[0] == 255
    assert batch.validate(wire.pack_table([Expected(VRID, 3)])) == 1
    assert decoded(batch, 0) == Advert(3, VRID, 100, 100, (VIP6,), AUTH_NONE, b"", CHECKSUM_PSEUDO_HEADER, a.source)


def test_ipv6_kernel_neither_rewrites_nor_drops_a_bad_checksum(pair):
    """IPV6_CHECKSUM is off for protocol 112: our checksum goes out as is, and a bad one reaches
    us to be counted as chk_err instead of vanishing in the kernel."""
    a, b = pair["a", 6], pair["b", 6]
    message = bytearray(wire.build_advert(3, VRID, 100, 100, [VIP6], src=a.source, dst=GROUP6))
    message[6] ^= 0xFF
    a.send_advert(bytes(message))
    batch = ReceiveBatch()
    assert receive(b, batch) == 1
    assert bytes(batch.packet(0)) == bytes(message)
    assert batch.validate() == 0 and REASON[batch.results[0]] == "chk_err"


@pytest.mark.parametrize("family", [4, 6])
def test_unicast_advert_to_a_peer(pair, topology, family):
    a, b = pair["a", family], pair["b", family]
    if family == 4:
        peer = socket.inet_aton(topology["b"].ip)
        addresses = [VIP4]
    else:
        peer = b.source  # link-local unicast: the scope is em1
        addresses = [VIP6]
    a.send_advert(wire.build_advert(3, VRID, 100, 100, addresses, src=a.source, dst=peer), dst=peer)
    batch = ReceiveBatch()
    assert receive(b, batch) == 1
    assert batch.validate() == 1, REASON.get(batch.results[0])
    advert = decoded(batch, 0)
    assert advert.source == a.source and advert.addresses == tuple(addresses)


def test_drain_is_bounded_per_call(pair):
    a, b = pair["a", 4], pair["b", 4]
    for priority in range(1, 11):
        a.send_advert(wire.build_advert(3, VRID, priority, 100, [VIP4], src=a.source, dst=GROUP4))
    time.sleep(0.1)
    batch = ReceiveBatch(capacity=4)
    assert [batch.drain(b) for _ in range(4)] == [4, 4, 2, 0]
    assert [batch.drain(b, limit=1) for _ in range(2)] == [0, 0]


@pytest.mark.parametrize("family", [4, 6])
def test_multicast_loop_is_off_and_the_socket_is_bound_to_its_device(pair, family):
    """Our own adverts must not come back to us as a peer's, and only em1's traffic reaches em1's
    instance: the options are set, and a's advert reaches b but not a."""
    a, b = pair["a", family], pair["b", family]
    level, loop = (socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP)
    if family == 6:
        level, loop = (socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP)
    assert a.sock.getsockopt(level, loop) == 0
    assert a.sock.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16).rstrip(b"\0") == b"em1"
    vip, group = (VIP4, GROUP4) if family == 4 else (VIP6, GROUP6)
    a.send_advert(wire.build_advert(3, VRID, 100, 100, [vip], src=a.source, dst=group))
    assert receive(b, ReceiveBatch()) == 1
    assert ReceiveBatch().drain(a) == 0


@pytest.fixture
def second_link(topology):
    """A veth `em2` from router b straight to the client, beside the bridge: b has two interfaces.

    Both ends live in the topology's namespaces and go with them."""
    client = topology.name("client")
    topology.run("b", ["ip", "link", "add", "em2", "type", "veth", "peer", "name", "em2", "netns", client])
    for role, address in (("b", "10.0.202.2/24"), ("client", "10.0.202.3/24")):
        topology.run(role, ["ip", "addr", "add", address, "dev", "em2"])
        topology.run(role, ["ip", "link", "set", "em2", "up"])
    for role in ("b", "client"):
        argv = ["ip", "-6", "-o", "addr", "show", "dev", "em2", "scope", "link", "-tentative"]
        assert wait_until(lambda: "fe80::" in topology.run(role, argv).stdout, 5) is not None


@pytest.mark.parametrize("family", [4, 6])
def test_adverts_arriving_on_another_interface_stay_out(topology, second_link, family):
    """b's em1 socket sees nothing that arrives on em2, while b's em2 socket gets both adverts.

    To the group, em1's membership (IP_MULTICAST_ALL off) already keeps it out; unicast to
    em2's own address only SO_BINDTODEVICE does."""
    with netns.entered(topology["b"].ns):
        on_em1, on_em2 = VrrpSocket("em1", family), VrrpSocket("em2", family)
    with netns.entered(topology["client"].ns):
        sender = VrrpSocket("em2", family)
    with on_em1, on_em2, sender:
        vip = VIP4 if family == 4 else VIP6
        for dst in (sender.group, on_em2.source):
            sender.send_advert(wire.build_advert(3, VRID, 100, 100, [vip], src=sender.source, dst=dst), dst=dst)
        arrived = []

        def both_arrived() -> bool:
            batch = ReceiveBatch()
            batch.drain(on_em2)
            arrived.extend(decoded(batch, i) for i in range(batch.count))
            return len(arrived) == 2

        assert wait_until(both_arrived, 2) is not None, arrived
        assert all(advert.source == sender.source for advert in arrived)
        assert ReceiveBatch().drain(on_em1) == 0


def test_receive_buffer_is_enlarged(pair):
    assert pair["b", 4].sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 1 << 20


def test_ttl_hop_limit_and_checksums_seen_by_tshark(pair, topology, tmp_path):
    a4, a6 = pair["a", 4], pair["a", 6]
    with Capture(topology, "client", tmp_path / "adverts.pcap", "ip proto 112 or ip6 proto 112") as cap:
        a4.send_advert(wire.build_advert(2, VRID, 100, 100, [VIP4], auth_type=AUTH_PASS, password=b"1111"))
        a4.send_advert(wire.build_advert(3, VRID, 100, 100, [VIP4], src=a4.source, dst=GROUP4))
        a6.send_advert(wire.build_advert(3, VRID, 100, 100, [VIP6], src=a6.source, dst=GROUP6))
    rows = cap.fields("vrrp.version", "ip.ttl", "ipv6.hlim", "ip.dsfield", "vrrp.checksum.status", "vrrp.auth_string")
    # tshark's checksum status: 1 = good.  0xc0: IP precedence 6 (network control).
    assert rows == [
        ["2", "255", "", "0xc0", "1", "1111"],
        ["3", "255", "", "0xc0", "1", ""],
        ["3", "", "255", "", "1", ""],
    ]


def test_garp_and_unsolicited_na_leave_the_packet_socket(topology, tmp_path):
    with netns.entered(topology["a"].ns):
        mac = interface_mac("em1")
        psock = PacketSocket("em1")
    with psock, Capture(topology, "client", tmp_path / "announce.pcap", "arp or icmp6") as cap:
        assert psock.mac == mac
        assert psock.send_frames([build_garp(mac, VIP4), build_unsolicited_na(mac, VIP6)]) == 2
    arp = cap.fields("eth.src", "arp.opcode", "arp.src.proto_ipv4", "arp.dst.proto_ipv4", display_filter="arp")
    assert arp == [[mac.hex(":"), "1", "10.0.201.100", "10.0.201.100"]]
    na = cap.fields(
        "eth.src",
        "ipv6.hlim",
        "icmpv6.nd.na.target_address",
        "icmpv6.nd.na.flag.o",
        "icmpv6.checksum.status",
        display_filter="icmpv6.type == 136",
    )
    assert na == [[mac.hex(":"), "255", "fd00:201::100", "1", "1"]]  # override flag set, checksum good


KEEPALIVED_CONF = """\
global_defs {{
   router_id LVS_201-1
   {global_extra}
}}

vrrp_instance VIP_test_1 {{
    state MASTER
    interface em1
    virtual_router_id 150
    priority 100
    advert_int {advert_int}
    {auth}
    virtual_ipaddress {{
        {vip}
    }}
}}
"""
PASS_1111 = "authentication {\n        auth_type PASS\n        auth_pass 1111\n    }"


@pytest.mark.parametrize(
    ("version", "family", "advert_int", "vip", "expected"),
    [
        pytest.param(2, 4, "1", "10.0.201.100", Expected(VRID, 2, AUTH_PASS, b"1111", 100), id="v2-pass-1111"),
        pytest.param(3, 4, "0.1", "10.0.201.100", Expected(VRID, 3, interval_cs=10), id="v3-ipv4"),
        pytest.param(3, 6, "0.1", "fd00:201::100", Expected(VRID, 3, interval_cs=10), id="v3-ipv6"),
    ],
)
def test_keepalived_adverts_validate(topology, tmp_path, version, family, advert_int, vip, expected):
    """keepalived 2.2.7, the experiment's master config, run in router a; we listen in router b.

    `--vrrp` skips the checker process (it wants IPVS, which a namespace may lack); pid files
    live in tmp_path so that parallel runs and the host's keepalived never meet.
    """
    conf = tmp_path / "keepalived.conf"
    conf.write_text(
        KEEPALIVED_CONF.format(
            global_extra="vrrp_version 3" if version == 3 else "",
            advert_int=advert_int,
            auth=PASS_1111 if version == 2 else "",
            vip=vip,
        )
    )
    listener = open_socket(topology, "b", family)
    argv = ["keepalived", "-n", "-l", "-D", "-G", "--vrrp", "-f", str(conf)]
    argv += ["-p", str(tmp_path / "keepalived.pid"), "-r", str(tmp_path / "vrrp.pid")]
    proc = topology.popen("a", argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        batch = ReceiveBatch()
        with listener:
            # keepalived starts as backup and takes over after Master_Down_Interval (3.6 s at 1 s).
            assert receive(listener, batch, timeout=8) >= 1, "no advert from keepalived"
            verdicts = batch.validate(wire.pack_table([expected]))
            assert verdicts == batch.count, [REASON.get(r) for r in batch.results[: batch.count]]
            advert = decoded(batch, 0)
    finally:
        proc.terminate()
        log = proc.communicate(timeout=10)[0]
    assert "Entering MASTER STATE" in log
    assert (advert.version, advert.vrid, advert.priority) == (version, VRID, 100)
    assert advert.interval_cs == expected.interval_cs
    assert advert.addresses == (VIP4 if family == 4 else VIP6,)
    assert advert.checksum_form == (CHECKSUM_MESSAGE if version == 2 else CHECKSUM_PSEUDO_HEADER)
    if version == 2:
        assert advert.auth_data == b"1111\0\0\0\0"
    assert namespace_has_no_keepalived(topology)


def namespace_has_no_keepalived(topo: netns.Topology) -> bool:
    return not netns.namespace_pids(topo["a"].ns)


def test_sockets_survive_a_link_flap(pair, topology):
    """Down: sends fail with an OSError the daemon can count.  Up again: the same sockets
    send and receive, memberships and link-local source intact (DAD is off in the lab)."""
    for role in ("a", "b"):
        topology.run(role, ["ip", "link", "set", "em1", "down"])
    groups = {4: (GROUP4, VIP4), 6: (GROUP6, VIP6)}
    for family, (group, vip) in groups.items():
        a = pair["a", family]
        with pytest.raises(OSError):
            a.send_advert(wire.build_advert(3, VRID, 100, 100, [vip], src=a.source, dst=group))
    for role in ("a", "b"):
        topology.run(role, ["ip", "link", "set", "em1", "up"])
    for family, (group, vip) in groups.items():
        a, b = pair["a", family], pair["b", family]
        a.send_advert(wire.build_advert(3, VRID, 100, 100, [vip], src=a.source, dst=group))
        batch = ReceiveBatch()
        assert receive(b, batch) == 1 and batch.validate() == 1


def test_interface_lookups_fail_with_interface_error(topology):
    with netns.entered(topology["a"].ns):
        assert len(interface_mac("em1")) == 6
        for lookup in (interface_index, interface_mac, primary_ipv4, link_local_ipv6):
            with pytest.raises(InterfaceError, match="nope0"):
                lookup("nope0")
        with pytest.raises(InterfaceError, match="lo: no usable IPv6 link-local"):
            VrrpSocket("lo", 6)


def test_groups_joined_by_other_sockets_do_not_leak_in(pair, topology):
    """IP_MULTICAST_ALL off: protocol 112 sent to a group another socket joined stays out."""
    other_group = socket.inet_aton("224.0.0.19")
    a, b = pair["a", 4], pair["b", 4]
    with netns.entered(topology["b"].ns):
        other = socket.socket(socket.AF_INET, socket.SOCK_RAW | socket.SOCK_NONBLOCK, 112)
    with other:
        mreqn = other_group + bytes(4) + b.ifindex.to_bytes(4, sys.byteorder)
        other.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
        a.send_advert(wire.build_advert(2, VRID, 100, 100, [VIP4]), dst=other_group)
        time.sleep(0.1)
        assert len(other.recv(2048)) == 40  # it reached router b ...
        assert ReceiveBatch().drain(b) == 0  # ... but not our socket


@pytest.mark.parametrize("family", [4, 6])
def test_packets_longer_than_a_slot_are_cut_and_rejected(pair, family):
    """A packet cut short by the slot fails its own length checks: packet_len_err, never a misparse."""
    a, b = pair["a", family], pair["b", family]
    group, size = (GROUP4, 4) if family == 4 else (GROUP6, 16)
    addresses = [bytes([10, 0, 201, i]) if size == 4 else VIP6[:-1] + bytes([i]) for i in range(1, 21)]
    a.send_advert(wire.build_advert(3, VRID, 100, 100, addresses, src=a.source, dst=group))
    batch = ReceiveBatch(capacity=2, slot_size=64)
    assert receive(b, batch) == 1 and batch.lengths[0] == 64
    assert batch.validate() == 0 and REASON[batch.results[0]] == "packet_len_err"
