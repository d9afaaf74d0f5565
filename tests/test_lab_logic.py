"""The lab's and the doctor's own logic, without namespaces: clocks, bounds, takeovers, reports,
frame decoding, and the firewall analysis on canned `iptables-save` / `nft -j list ruleset`."""

from __future__ import annotations

import io
import ipaddress
import json
import socket
import struct
import threading
from pathlib import Path

import pytest

from fastvrrp import firewall
from fastvrrp.config import load_config
from fastvrrp.doctor import check_multicast, check_rp_filter, igmp_groups
from fastvrrp.lab import command, report
from fastvrrp.lab.bounds import master_down_interval, skew_time
from fastvrrp.lab.experiment import LabConfig, LabError, LabResult, measure, states_at, steps
from fastvrrp.lab.pinger import checksum, echo_request
from fastvrrp.lab.sniffer import AdvertFilter, Frame, PingLoss, decode
from fastvrrp.lab.timeline import (
    GARP,
    LOSS,
    PING,
    STATE,
    VIP_ADD,
    VIP_DEL,
    Event,
    Timeline,
    coalesce,
    format_event,
    merge,
)
from fastvrrp.lab.watchers import LogReader
from fastvrrp.peers import InstanceSpec

DATA = Path(__file__).parent / "data" / "firewall"
LINK = ipaddress.ip_network("10.0.201.0/24")
ADVERT = firewall.Advert(4, "em1", LINK)
VIP = "10.0.201.100"
R1_MAC, R2_MAC, CLIENT_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03"


# ---------------------------------------------------------------------------------------------
# Bounds (RFC 3768 / RFC 5798 §6.1)


def test_v2_skew_is_seconds_whatever_the_interval():
    assert skew_time(2, 50, 1.0) == pytest.approx(206 / 256)
    assert skew_time(2, 50, 5.0) == pytest.approx(206 / 256)
    assert master_down_interval(2, 100, 1.0) == pytest.approx(3 + 156 / 256)  # 3.609 s


def test_v3_skew_scales_with_the_interval():
    assert skew_time(3, 100, 0.1) == pytest.approx(156 * 0.1 / 256)
    assert master_down_interval(3, 50, 0.1) == pytest.approx(0.3 + 206 * 0.1 / 256)
    assert master_down_interval(3, 255, 0.01) == pytest.approx(0.03 + 0.01 / 256)


def test_each_step_is_bounded_by_the_rule_that_governs_it():
    plan = {s.number: s for s in steps(LabConfig())}
    assert [s.number for s in plan.values()] == ["1", "2", "3", "4a", "4b", "5", "5b", "6"]
    assert plan["1"].bound == pytest.approx(3.609375)  # r1's Master_Down_Interval
    assert plan["2"].bound == pytest.approx(206 / 256)  # r2's Skew_Time after priority 0
    assert plan["4a"].bound == pytest.approx(3 + 206 / 256)  # r2's Master_Down_Interval
    assert plan["5"].expected == ("r1", "r2")
    assert plan["6"].watch == ("r2", VIP_DEL) and plan["6"].bound == 1.0
    fast = {s.number: s for s in steps(LabConfig(version=3, interval=0.1))}
    assert fast["4a"].bound == pytest.approx(0.3 + 206 * 0.1 / 256)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ipv6": True, "version": 2}, "VRRPv2 carries IPv4 only"),
        ({"interval": 0.5}, "whole seconds"),
        ({"version": 3, "interval": 0.001}, "0.01..40.95"),
        ({"priorities": (50, 100)}, "r1's above r2's"),
        ({"impls": ("fastvrrp", "frr")}, "implementation must be one of"),
    ],
)
def test_bad_options_are_refused_before_anything_is_built(kwargs, message):
    with pytest.raises(LabError, match=message):
        LabConfig(**kwargs).check()


def test_the_configs_are_the_experiments():
    config = LabConfig()
    master = config.spec("r1").render("LVS_201-1")
    assert "state MASTER" in master and "priority 100" in master and "auth_pass 1111" in master
    assert "virtual_router_id 150" in master and "advert_int 1\n" in master
    backup = LabConfig(version=3, interval=0.1, ipv6=True).spec("r2")
    assert backup == InstanceSpec(state="BACKUP", priority=50, version=3, advert_int="0.1", password=None,
                                  vip="fd00:201::100")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# One clock


def test_merge_puts_every_source_on_one_time_line():
    logs = [Event(1.0, "r1", STATE, "MASTER"), Event(3.0, "r2", STATE, "BACKUP")]
    netlink = [Event(1.001, "r1", VIP_ADD, VIP), Event(2.5, "r2", VIP_DEL, VIP)]
    wire = [Event(0.999, "wire", GARP, "r1"), Event(3.0, "wire", GARP, "r2")]
    merged = merge(logs, netlink, wire)
    assert [e.t for e in merged] == sorted(e.t for e in merged)
    assert [(e.t, e.source) for e in merged][-2:] == [(3.0, "r2"), (3.0, "wire")]  # ties keep stream order


def test_a_garp_burst_prints_once_with_its_count_even_around_the_vip_event():
    burst = [Event(1.0 + i * 1e-4, "wire", GARP, "r1 10.0.201.100") for i in range(5)]
    vip = Event(1.0002, "r1", VIP_ADD, VIP)
    later = Event(6.0, "wire", GARP, "r1 10.0.201.100")
    lines = coalesce(sorted([*burst, vip, later], key=lambda e: e.t))
    assert [(e.kind, n) for e, n in lines] == [(GARP, 5), (VIP_ADD, 1), (GARP, 1)]
    assert format_event(burst[0], 0.5, 5) == "   +0.500 s  wire    garp    r1 10.0.201.100 (x5)"


def test_timeline_prints_out_of_order_reports_in_time_order():
    out = io.StringIO()
    timeline = Timeline(t0=100.0, out=out)
    late = Event(100.002, "wire", GARP, "r1 x")
    threads = [
        threading.Thread(target=timeline.add, args=(Event(100.010, "r1", VIP_ADD, "x"),)),
        threading.Thread(target=timeline.add, args=(late,)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    timeline.add(Event(100.001, "r1", STATE, "MASTER"))
    timeline.add(Event(100.005, "wire", "advert", "quiet", shown=False))
    timeline.flush()
    assert [line.split()[0] for line in out.getvalue().splitlines()] == ["+0.001", "+0.002", "+0.010"]
    assert len(timeline.sorted_events()) == 4  # the unshown advert is kept for the report


def test_states_at_reads_the_last_logged_state():
    events = [
        Event(1, "r1", STATE, "BACKUP (init)", {"state": "BACKUP"}),
        Event(2, "r1", STATE, "MASTER", {"state": "MASTER"}),
    ]
    assert states_at(events, 1.5, ["r1", "r2"]) == {"r1": "BACKUP", "r2": "-"}
    assert states_at(events, 2.0, ["r1", "r2"])["r1"] == "MASTER"


# ---------------------------------------------------------------------------------------------
# Log lines, frames, pings


def test_log_lines_of_both_implementations_become_states_and_notes():
    reader = LogReader("r2", "VIP_test_1")
    ours = reader.event(5.0, "2026-11-25 10:50:14.134 fastvrrp[31446]: (VIP_test_1) Entering MASTER STATE\n")
    theirs = reader.event(5.1, "Wed Nov 25 10:50:10 2026: (VIP_test_1) Entering BACKUP STATE (init)\n")
    assert (ours.kind, ours.text, ours.data["state"]) == (STATE, "MASTER", "MASTER")
    assert (theirs.text, theirs.data["state"]) == ("BACKUP (init)", "BACKUP")
    assert reader.event(5.2, "Wed Nov 25 2026: CPU usage (self/children) user: 0.1") is None
    assert not reader.event(5.3, "x: (VIP_test_1) Sending gratuitous ARP on em1 for 10.0.201.100").shown
    first = reader.event(6.0, "x: (VIP_test_1) received lower priority (50) advert from 10.0.201.2 - discarding")
    again = reader.event(6.5, "x: (VIP_test_1) received lower priority (50) advert from 10.0.201.2 - discarding")
    later = reader.event(7.1, "x: (VIP_test_1) received lower priority (50) advert from 10.0.201.2 - discarding")
    assert (first.shown, again.shown, later.shown) == (True, False, True)


def _ether(src: str, ethertype: int, payload: bytes, dst: str = "ff:ff:ff:ff:ff:ff") -> bytes:
    return (
        bytes.fromhex(dst.replace(":", ""))
        + bytes.fromhex(src.replace(":", ""))
        + struct.pack("!H", ethertype)
        + payload
    )


def _ipv4(proto: int, src: str, dst: str, body: bytes) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, 0, 255, proto, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))  # fmt: skip
    return header + body


def test_frames_are_decoded_into_what_the_timeline_shows():
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, b"\x02" * 6, socket.inet_aton(VIP), b"\0" * 6,
                      socket.inet_aton(VIP))  # fmt: skip
    assert decode(_ether(R1_MAC, 0x0806, arp), VIP) == Frame("garp", R1_MAC, 0, VIP)
    advert = _ipv4(112, "10.0.201.2", "224.0.0.18", bytes([0x21, 150, 0, 1, 1, 1, 0, 0]) + b"\0" * 12)
    assert decode(_ether(R2_MAC, 0x0800, advert), VIP) == Frame("advert", R2_MAC, 0, "10.0.201.2")
    request = _ipv4(1, "10.0.201.3", VIP, echo_request(4, 7, 42))
    assert decode(_ether(CLIENT_MAC, 0x0800, request), VIP) is None  # the pinger counts its own requests
    reply = _ipv4(1, VIP, "10.0.201.3", bytes([0, 0, 0, 0, 0, 7, 0, 42]))
    assert decode(_ether(R1_MAC, 0x0800, reply), VIP) == Frame("echo-reply", R1_MAC, 42, VIP)
    assert decode(_ether(R1_MAC, 0x0800, _ipv4(17, "10.0.201.1", VIP, b"\0" * 8)), VIP) is None
    assert decode(b"\0" * 10, VIP) is None


def test_ipv6_adverts_and_unsolicited_neighbour_adverts():
    vip6 = "fd00:201::100"
    na = bytes([136, 0, 0, 0, 0x20, 0, 0, 0]) + ipaddress.IPv6Address(vip6).packed + b"\x02\x01" + b"\x02" * 6
    header = struct.pack("!IHBB16s16s", 0x60000000, len(na), 58, 255, ipaddress.IPv6Address("fe80::1").packed,
                         ipaddress.IPv6Address("ff02::1").packed)  # fmt: skip
    assert decode(_ether(R1_MAC, 0x86DD, header + na), vip6) == Frame("na", R1_MAC, 0, vip6)
    body = bytes([0x31, 150, 100, 1, 0, 10, 0, 0]) + ipaddress.IPv6Address("fe80::1").packed
    header = struct.pack("!IHBB16s16s", 0x60000000, len(body), 112, 255, ipaddress.IPv6Address("fe80::1").packed,
                         ipaddress.IPv6Address("ff02::12").packed)  # fmt: skip
    assert decode(_ether(R1_MAC, 0x86DD, header + body), vip6) == Frame("advert", R1_MAC, 100, "fe80::1")


def test_echo_request_checksum_verifies():
    packet = echo_request(4, 0x1234, 9)
    assert checksum(packet) == 0
    assert packet[0] == 8 and struct.unpack_from("!HH", packet, 4) == (0x1234, 9)
    assert echo_request(6, 1, 2)[0] == 128


def test_ping_loss_is_counted_when_replies_resume():
    loss = PingLoss()
    for seq in range(1, 11):
        loss.request(seq, seq * 0.01)
    assert [e.kind for e in loss.reply(1, 0.011, "r1")] == [PING]  # first responder named
    assert loss.reply(2, 0.021, "r1") == []
    events = loss.reply(7, 0.071, "r2")
    assert [e.kind for e in events] == [LOSS, PING]
    assert events[0].data == {"lost": 4, "start": 0.03, "end": 0.06}
    assert events[0].t == 0.071 and events[1].text == "answered by r2"
    assert loss.reply(7, 0.08, "r2") == []  # a duplicate changes nothing
    assert [e.data["lost"] for e in loss.finish(now=5.0)] == [3]  # 8, 9, 10 never answered
    assert len(loss.lost) == 7 and len(loss.sent) == 10


def test_adverts_print_when_something_changes():
    shown = AdvertFilter(silence=2.5)
    assert [shown.shown("r1", 100, t) for t in (0, 1, 2)] == [True, False, False]
    assert shown.shown("r2", 50, 2.1) and shown.shown("r1", 0, 2.2) and shown.shown("r1", 100, 6.0)


# ---------------------------------------------------------------------------------------------
# Takeover measurement and the report


def _events() -> list[Event]:
    return [
        Event(10.0, "lab", "step", "step 3"),
        Event(10.3, "r1", STATE, "BACKUP (init)", {"state": "BACKUP"}),
        Event(13.9, "r1", STATE, "MASTER", {"state": "MASTER"}),
        Event(13.91, "r1", VIP_ADD, VIP),
        Event(13.912, "wire", GARP, "r1 x", {"router": "r1"}),
        Event(13.92, "r2", STATE, "BACKUP", {"state": "BACKUP"}),
        Event(13.921, "r2", VIP_DEL, VIP),
        Event(20.0, "lab", "step", "step 4a"),
        Event(23.7, "r2", VIP_ADD, VIP),
    ]


def test_a_started_daemons_takeover_counts_from_when_it_is_up():
    plan = {s.number: s for s in steps(LabConfig())}
    result = measure(plan["3"], _events(), 10.0, 15.0, 20.0, ["r1"], {"r1": True, "r2": True},
                     [10.0 + i * 0.01 for i in range(1000)], [13.0, 13.5, 21.0])  # fmt: skip
    assert result.takeover_ms == pytest.approx(3610.0) and result.since == "r1 up"
    assert result.startup_ms == pytest.approx(300.0)
    assert result.first_garp_ms == pytest.approx(3912.0)
    assert (result.pings_sent, result.pings_lost) == (1000, 2)
    assert result.states == {"r1": "MASTER", "r2": "BACKUP"} and not result.split_brain


def test_a_crashed_master_keeps_a_stale_vip_that_is_not_an_owner():
    plan = {s.number: s for s in steps(LabConfig())}
    result = measure(plan["4a"], _events(), 20.0, 26.0, 30.0, ["r1", "r2"], {"r1": False, "r2": True}, [], [])
    assert result.owners == ["r2"] and result.stale == ["r1"] and not result.split_brain
    assert result.takeover_ms == pytest.approx(3700.0) and result.since == "action"
    assert result.states["r1"] == "STOPPED" and result.first_garp_ms is None
    assert "r1 still carries the VIP with no daemon running" in result.notes[0]


def test_an_event_of_the_next_step_is_not_credited_to_this_one():
    plan = {s.number: s for s in steps(LabConfig())}
    events = [Event(40.0, "r2", VIP_DEL, VIP), Event(40.1, "wire", GARP, "r1 x", {"router": "r1"})]
    appended = measure(plan["5b"], events, 30.0, 33.0, 35.0, ["r1", "r2"], {"r1": True, "r2": True}, [], [])
    assert appended.takeover_ms is None and appended.first_garp_ms is None and appended.split_brain
    healed = measure(plan["6"], events, 35.0, 38.0, 45.0, ["r1"], {"r1": True, "r2": True}, [], [])
    assert healed.takeover_ms == pytest.approx(5000.0) and healed.first_garp_ms == pytest.approx(5100.0)


def _result() -> LabResult:
    config = LabConfig()
    plan = {s.number: s for s in steps(config)}
    events = _events()
    running = {"r1": True, "r2": True}
    three = measure(plan["3"], events, 10.0, 15.0, 20.0, ["r1"], running, [], [])
    five = measure(plan["5"], events, 20.0, 26.0, 30.0, ["r1", "r2"], running, [], [])
    return LabResult(config, 9.0, [three, five], events, [1.0, 2.0], [2.0], "iptables", 42.0)


def test_json_has_the_shape_scripts_rely_on():
    data = json.loads(json.dumps(report.to_json(_result())))
    assert data["split_brain"] is True
    assert [s["owners"] for s in data["steps"]] == [["r1"], ["r1", "r2"]]
    for step in data["steps"]:
        assert {"name", "owners", "takeover_ms", "bound_ms"} <= step.keys()
    assert data["steps"][0]["bound_ms"] == pytest.approx(3609.375)
    assert data["config"]["impls"] == {"r1": "fastvrrp", "r2": "fastvrrp"}
    assert data["events"][0] == {"t_ms": 1000.0, "source": "lab", "kind": "step", "text": "step 3"}


def test_table_and_summary_say_split_brain_plainly():
    result = _result()
    text = report.table(result)
    assert "SPLIT BRAIN" in text and "3609" in text and "Master_Down_Interval" in text
    assert "split brain at step 5" in report.summary(result)
    assert report.ownership(result, "r1") == [(4.91, 14.7)]
    assert report.ownership(result, "r2") == [(14.7, 14.7)]


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "lab.png"
    report.plot(_result(), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lab_options_name_each_routers_implementation(monkeypatch):
    parser = __import__("argparse").ArgumentParser()
    command.add_arguments(parser)
    assert command._impls(parser.parse_args(["--impl", "keepalived"])) == ("keepalived", "keepalived")
    assert command._impls(parser.parse_args(["--impl", "fastvrrp,keepalived"])) == ("fastvrrp", "keepalived")
    assert command._impls(parser.parse_args(["--impl-r2", "keepalived"])) == ("fastvrrp", "keepalived")
    monkeypatch.setattr(command.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(command.shutil, "which", lambda tool: None if tool in ("keepalived", "nft") else "/bin/x")
    problems = command.preflight(("fastvrrp", "keepalived"), ["nft"])
    assert "needs root" in problems[0] and "not installed: nft, keepalived" in problems[1]


# ---------------------------------------------------------------------------------------------
# The doctor's firewall analysis


def test_the_experiments_reject_blocks_vrrp_and_the_fix_is_inserted_before_it():
    finding = firewall.analyse_iptables((DATA / "experiment.iptables-save").read_text(), ADVERT)
    assert finding.blocked and finding.where == "filter INPUT rule 6"
    assert finding.rule == "-A INPUT -j REJECT --reject-with icmp-host-prohibited"
    assert finding.fix == "iptables -I INPUT 6 -i em1 -p vrrp -j ACCEPT"
    assert finding.unsure == ()
    text = "\n".join(firewall.explain(finding))
    assert "-A INPUT -p vrrp -j ACCEPT` appends after the blocking rule and heals nothing" in text


def test_an_appended_accept_heals_nothing_and_an_inserted_one_does():
    appended = firewall.analyse_iptables((DATA / "appended-accept.iptables-save").read_text(), ADVERT)
    assert appended.blocked and appended.fix == "iptables -I INPUT 6 -i em1 -p vrrp -j ACCEPT"
    healed = (
        (DATA / "experiment.iptables-save")
        .read_text()
        .replace("-A INPUT -j REJECT", "-A INPUT -p vrrp -j ACCEPT\n-A INPUT -j REJECT", 1)
    )
    assert not firewall.analyse_iptables(healed, ADVERT).blocked


def test_a_reject_in_a_user_chain_is_fixed_before_the_jump_into_it():
    finding = firewall.analyse_iptables((DATA / "ufw.iptables-save").read_text(), ADVERT)
    assert finding.blocked and finding.where == "filter ufw-reject-input rule 1"
    assert finding.fix == "iptables -I INPUT 3 -i em1 -p vrrp -j ACCEPT"


@pytest.mark.parametrize(
    ("rules", "blocked", "fix"),
    [
        (":INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT", True, "iptables -A INPUT -i em1 -p vrrp -j ACCEPT"),
        (":INPUT ACCEPT [0:0]\n-A INPUT -i eth9 -j DROP", False, ""),
        (":INPUT ACCEPT [0:0]\n-A INPUT -i em+ -j DROP", True, "iptables -I INPUT 1 -i em1 -p vrrp -j ACCEPT"),
        (":INPUT ACCEPT [0:0]\n-A INPUT ! -p vrrp -j DROP", False, ""),
        (":INPUT ACCEPT [0:0]\n-A INPUT -p 112 -j ACCEPT\n-A INPUT -j DROP", False, ""),
        (":INPUT ACCEPT [0:0]\n-A INPUT -s 192.168.0.0/16 -j DROP", False, ""),
        (":INPUT ACCEPT [0:0]\n-A INPUT -s 10.0.0.0/8 -j DROP", True, "iptables -I INPUT 1 -i em1 -p vrrp -j ACCEPT"),
        (":INPUT ACCEPT [0:0]\n-A INPUT -m pkttype --pkt-type multicast -j DROP", True,
         "iptables -I INPUT 1 -i em1 -p vrrp -j ACCEPT"),
        (":INPUT ACCEPT [0:0]\n-A INPUT -m conntrack --ctstate INVALID -j DROP", False, ""),
    ],
)  # fmt: skip
def test_iptables_matches(rules, blocked, fix):
    finding = firewall.analyse_iptables(f"*filter\n{rules}\nCOMMIT\n", ADVERT)
    assert (finding.blocked, finding.fix) == (blocked, fix)


def test_the_raw_table_is_seen_before_filter_and_unknown_matches_are_reported():
    text = "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p vrrp -j DROP\nCOMMIT\n"
    finding = firewall.analyse_iptables(text, ADVERT)
    assert finding.fix == "iptables -t raw -I PREROUTING 1 -i em1 -p vrrp -j ACCEPT"
    odd = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m recent --rcheck -j DROP\nCOMMIT\n"
    unsure = firewall.analyse_iptables(odd, ADVERT)
    assert not unsure.blocked and unsure.unsure == ("-A INPUT -m recent --rcheck -j DROP",)


def test_ip6tables_for_ipv6_instances():
    text = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p ipv6-icmp -j ACCEPT\n-A INPUT -j REJECT\nCOMMIT\n"
    advert6 = firewall.Advert(6, "em1", ipaddress.ip_network("fd00:201::/64"))
    finding = firewall.analyse_iptables(text, advert6, "ip6tables")
    assert finding.fix == "ip6tables -I INPUT 2 -i em1 -p vrrp -j ACCEPT"


def test_nftables_reject_is_fixed_by_an_insert_at_its_handle():
    finding = firewall.analyse_nftables((DATA / "experiment.nft.json").read_text(), ADVERT)
    assert finding.blocked and finding.where == "inet filter input handle 9"
    assert finding.fix == 'nft insert rule inet filter input position 9 iifname "em1" meta l4proto vrrp accept'
    assert finding.rule == "reject with icmpx admin-prohibited # handle 9"


def _nft(*chains: tuple[str, int, str, list[list[dict]]]) -> dict:
    items: list[dict] = [{"table": {"family": "inet", "name": "t", "handle": 1}}]
    handle = 10
    for name, prio, policy, rules in chains:
        items.append({"chain": {"family": "inet", "table": "t", "name": name, "handle": handle,
                                "type": "filter", "hook": "input", "prio": prio, "policy": policy}})  # fmt: skip
        for expr in rules:
            handle += 1
            items.append({"rule": {"family": "inet", "table": "t", "chain": name, "handle": handle, "expr": expr}})
    return {"nftables": items}


def _l4(proto: str) -> dict:
    return {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": proto}}


def test_nftables_accept_ends_only_its_own_base_chain():
    ruleset = _nft(("early", -10, "accept", [[_l4("vrrp"), {"accept": None}]]), ("late", 0, "drop", []))
    finding = firewall.analyse_nftables(ruleset, ADVERT)
    assert finding.blocked and finding.fix == 'nft add rule inet t late iifname "em1" meta l4proto vrrp accept'
    open_ = _nft(("only", 0, "drop", [[_l4("112"), {"accept": None}]]))
    assert not firewall.analyse_nftables(open_, ADVERT).blocked


def test_nftables_tables_of_iptables_nft_are_left_to_iptables():
    ruleset = {"nftables": [
        {"chain": {"family": "ip", "table": "filter", "name": "INPUT", "hook": "input", "prio": 0, "policy": "drop"}},
    ]}  # fmt: skip
    assert firewall.analyse_nftables(ruleset, ADVERT).blocked
    assert not firewall.analyse_nftables(ruleset, ADVERT, skip_iptables_tables=True).blocked


# ---------------------------------------------------------------------------------------------
# The doctor's other checks


IGMP = """Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter
1\tlo        :     1      V3
\t\t\t\t010000E0     1 0:00000000\t\t0
2\tem1       :     2      V3
\t\t\t\t120000E0     1 0:00000000\t\t0
\t\t\t\t010000E0     1 0:00000000\t\t0
"""
IGMP6 = "2    em1             ff020000000000000000000000000012     1 00000004 0\n"


def test_igmp_tables_are_read_per_interface():
    assert igmp_groups(IGMP, 4) == {"lo": {"224.0.0.1"}, "em1": {"224.0.0.18", "224.0.0.1"}}
    assert igmp_groups(IGMP6, 6) == {"em1": {"ff02::12"}}


def _instance(tmp_path, **spec):
    path = tmp_path / "keepalived.conf"
    path.write_text(InstanceSpec(**spec).render("x"))
    return load_config(path).instances[0]


def test_multicast_membership_matters_only_while_a_daemon_runs(tmp_path):
    instance = _instance(tmp_path)
    proc = tmp_path / "proc"
    (proc / "net").mkdir(parents=True)
    (proc / "net" / "igmp").write_text(IGMP.replace("120000E0", "FB0000E0"))
    assert check_multicast(instance, [], proc).ok
    missing = check_multicast(instance, [(42, "fastvrrp")], proc)
    assert not missing.ok and "has not joined 224.0.0.18" in missing.lines[0]
    (proc / "net" / "igmp").write_text(IGMP)
    assert check_multicast(instance, [(42, "fastvrrp")], proc).ok


def test_strict_rp_filter_without_a_subnet_on_the_interface_is_a_problem(tmp_path):
    instance = _instance(tmp_path, interface="nosuchif0")
    proc = tmp_path / "proc"
    for scope, value in (("all", "1"), ("nosuchif0", "0")):
        (proc / "sys/net/ipv4/conf" / scope).mkdir(parents=True)
        (proc / "sys/net/ipv4/conf" / scope / "rp_filter").write_text(value + "\n")
    check = check_rp_filter(instance, proc)
    assert not check.ok and "fix: sysctl -w net.ipv4.conf.all.rp_filter=2" in check.lines[1]
    (proc / "sys/net/ipv4/conf/all/rp_filter").write_text("2\n")
    assert check_rp_filter(instance, proc).ok


def test_bad_input_is_refused_with_a_message_and_nothing_built(capsys, tmp_path):
    from fastvrrp.cli import main

    assert main(["lab", "--ipv6", "--version", "2", "--no-plot"]) == 2
    assert "VRRPv2 carries IPv4 only" in capsys.readouterr().err
    assert main(["lab", "--impl", "a,b,c"]) == 2
    assert "one or two implementations" in capsys.readouterr().err
    assert main(["doctor", "-f", str(tmp_path / "missing.conf")]) == 2
    assert "missing.conf" in capsys.readouterr().err


def test_a_goto_chain_that_falls_through_does_not_come_back():
    text = "*filter\n:INPUT ACCEPT [0:0]\n:g - [0:0]\n-A INPUT -g g\n-A INPUT -j DROP\nCOMMIT\n"
    assert not firewall.analyse_iptables(text, ADVERT).blocked
    assert firewall.analyse_iptables(text.replace("-g g", "-j g"), ADVERT).blocked


def test_an_nftables_named_set_is_reported_not_guessed():
    rule = [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "@lan"}}, {"drop": None}]
    finding = firewall.analyse_nftables(_nft(("in", 0, "accept", [rule])), ADVERT)
    assert not finding.blocked and finding.unsure == ("meta iifname @lan drop # handle 11",)


def test_findings_skip_an_nftables_ruleset_with_nothing_of_its_own_on_the_input_path():
    empty = json.dumps({"nftables": [{"metainfo": {"version": "1.0.6"}}]})
    iptables_own = json.dumps(
        {"nftables": [{"chain": {"family": "ip", "table": "filter", "name": "INPUT", "hook": "input", "prio": 0}}]}
    )
    experiment = (DATA / "experiment.iptables-save").read_text()
    found = firewall.findings_for([("iptables", experiment), ("nftables", iptables_own)], ADVERT, iptables_nft=True)
    assert [f.firewall for f in found] == ["iptables"]
    assert firewall.findings_for([("iptables", ""), ("nftables", empty)], ADVERT, iptables_nft=True) == []


def test_plot_spans_split_brain_only_while_both_daemons_run():
    assert report.overlap([(0, 5), (8, 10)], [(4, 9)]) == [(4, 5), (8, 9)]
    config = LabConfig(version=3, interval=0.1)
    plan = {s.number: s for s in steps(config)}
    events = [
        Event(1.0, "r1", VIP_ADD, VIP),
        Event(2.0, "r2", VIP_ADD, VIP),  # r1 was killed at 1.5: its VIP is stale, not a split brain
        Event(3.0, "r1", VIP_DEL, VIP),  # r1 restarted at 2.9 removes it
        Event(4.0, "r1", VIP_ADD, VIP),
        Event(4.001, "r2", VIP_DEL, VIP),  # a preemption's overlap: a handover
        Event(5.4, "r2", VIP_ADD, VIP),  # firewall on r2 at 5.0: two masters
        Event(6.0, "r2", VIP_DEL, VIP),
        Event(7.0, "lab", "step", "end"),
    ]
    alive, dead = {"r1": True, "r2": True}, {"r1": False, "r2": True}
    steps_ = [
        measure(plan["4a"], events, 1.5, 2.5, 2.9, ["r1", "r2"], dead, [], []),
        measure(plan["4b"], events, 2.9, 4.5, 5.0, ["r1"], alive, [], []),
        measure(plan["5"], events, 5.0, 5.9, 7.0, ["r1", "r2"], alive, [], []),
    ]
    result = LabResult(config, 0.0, steps_, events, [], [], "iptables", 7.0)
    assert report.daemon_down(result, "r1") == [(1.5, 2.9)]
    assert report.split_brain_spans(result) == [(5.4, 6.0)]


def test_strict_rp_filter_with_unicast_peers_checks_their_routes(tmp_path, monkeypatch):
    from fastvrrp import doctor

    instance = _instance(tmp_path, extra="    unicast_peer {\n        10.9.9.9\n    }\n")
    proc = tmp_path / "proc"
    for scope in ("all", "em1"):
        (proc / "sys/net/ipv4/conf" / scope).mkdir(parents=True)
        (proc / "sys/net/ipv4/conf" / scope / "rp_filter").write_text("1\n")
    monkeypatch.setattr(doctor, "route_device", lambda address: "eth7")
    astray = check_rp_filter(instance, proc)
    assert not astray.ok and "peers 10.9.9.9 are routed through another interface" in astray.lines[0]
    assert astray.lines[1:] == (
        "  fix: sysctl -w net.ipv4.conf.all.rp_filter=2",
        "  fix: sysctl -w net.ipv4.conf.em1.rp_filter=2",
    )
    monkeypatch.setattr(doctor, "route_device", lambda address: "em1")
    assert check_rp_filter(instance, proc).ok


def test_work_directories_of_killed_runs_are_removed(tmp_path):
    dead = tmp_path / "fastvrrp-lab-999999999-abc"
    alive = tmp_path / f"fastvrrp-lab-{__import__('os').getpid()}-def"
    for path in (dead, alive):
        (path / "r1").mkdir(parents=True)
    assert command.remove_stale_workdirs(tmp_path) == [dead]
    assert alive.exists() and not dead.exists()
