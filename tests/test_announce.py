"""GARP and unsolicited NA frames: byte-equal to keepalived's, and judged by tshark."""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from pcapfile import read_pcap, write_pcap

from fastvrrp import wire
from fastvrrp.announce import build_garp, build_unsolicited_na

PCAPS = Path(__file__).parent / "data" / "pcaps"
GOLDEN = json.loads((PCAPS / "expected.json").read_text())
TSHARK = shutil.which("tshark")

MACS = ["02:00:00:00:00:01", "02:00:00:00:00:02", "00:16:3e:7f:ff:0a", "fe:ff:ff:ff:ff:ff"]
VIP4S = ["10.0.201.100", "192.0.2.1", "255.255.255.254", "0.0.0.1"]
VIP6S = ["fd00:201::100", "2001:db8::1", "fe80::1", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"]


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def ip(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


@pytest.mark.parametrize(
    ("capture", "build"),
    [("keepalived-v2-garp.pcap", build_garp), ("keepalived-v3-ipv6-unsolicited-na.pcap", build_unsolicited_na)],
)
def test_frames_equal_keepalived_byte_for_byte(capture, build):
    frames = read_pcap(PCAPS / capture)
    announcements = GOLDEN[capture]["announcements"]
    assert len(announcements) == len(frames) == GOLDEN[capture]["frames"]
    for a in announcements:
        assert build(mac(a["mac"]), ip(a["ip"])) == frames[a["frame"] - 1].data, f"{capture} frame {a['frame']}"


def test_wire_re_exports_the_builders():
    assert (wire.build_garp, wire.build_unsolicited_na) == (build_garp, build_unsolicited_na)
    assert {"build_garp", "build_unsolicited_na"} <= set(wire.__all__)


@pytest.mark.parametrize(
    ("call", "args"),
    [
        (build_garp, (b"\x02" * 5, ip("10.0.0.1"))),
        (build_garp, (b"\x02" * 6, ip("fd00::1"))),
        (build_unsolicited_na, (b"\x02" * 7, ip("fd00::1"))),
        (build_unsolicited_na, (b"\x02" * 6, ip("10.0.0.1"))),
    ],
)
def test_wrong_sizes_are_value_errors(call, args):
    with pytest.raises(ValueError):
        call(*args)


def tshark_fields(path: Path, fields: list[str]) -> list[list[str]]:
    command = [TSHARK, "-n", "-r", str(path), "-T", "fields", "-E", "separator=|"]
    for field in fields:
        command += ["-e", field]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    return [line.split("|") for line in done.stdout.splitlines()]


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")
def test_tshark_decodes_our_garps(tmp_path):
    cases = list(zip(MACS, VIP4S))
    path = tmp_path / "garp.pcap"
    write_pcap(path, [build_garp(mac(m), ip(v)) for m, v in cases])
    fields = ["eth.dst", "eth.src", "arp.opcode", "arp.isgratuitous", "arp.src.hw_mac", "arp.src.proto_ipv4"]
    fields += ["arp.dst.hw_mac", "arp.dst.proto_ipv4"]
    rows = tshark_fields(path, fields)
    broadcast = "ff:ff:ff:ff:ff:ff"
    assert rows == [[broadcast, m, "1", "1", m, v, broadcast, v] for m, v in cases]


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")
def test_tshark_decodes_our_unsolicited_nas_with_a_good_checksum(tmp_path):
    cases = list(zip(MACS, VIP6S))
    path = tmp_path / "na.pcap"
    write_pcap(path, [build_unsolicited_na(mac(m), ip(v)) for m, v in cases])
    fields = ["eth.dst", "eth.src", "ipv6.src", "ipv6.dst", "ipv6.hlim", "ipv6.plen", "icmpv6.type", "icmpv6.code"]
    fields += ["icmpv6.checksum.status", "icmpv6.nd.na.flag.r", "icmpv6.nd.na.flag.s", "icmpv6.nd.na.flag.o"]
    fields += ["icmpv6.nd.na.target_address", "icmpv6.opt.type", "icmpv6.opt.linkaddr"]
    rows = tshark_fields(path, fields)
    # Checksum status 1 is tshark's "Good"; the flags read Router 0, Solicited 0, Override 1.
    expected = [
        ["33:33:00:00:00:01", m, v, "ff02::1", "255", "32", "136", "0", "1", "0", "0", "1", v, "2", m] for m, v in cases
    ]
    assert rows == expected


def test_pcap_writer_round_trips_through_the_reader(tmp_path):
    """The tshark tests above trust write_pcap; the reader trusted by the golden tests checks it."""
    frames = [build_garp(mac(MACS[0]), ip(VIP4S[0])), build_unsolicited_na(mac(MACS[1]), ip(VIP6S[1]))]
    write_pcap(tmp_path / "both.pcap", frames)
    assert [f.data for f in read_pcap(tmp_path / "both.pcap")] == frames
    assert [f.number for f in read_pcap(tmp_path / "both.pcap")] == [1, 2]
