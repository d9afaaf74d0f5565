"""Golden vectors: real keepalived 2.2.7 captures against both wire twins.

The expected fields in `data/pcaps/expected.json` were read off the captures by tshark, not by
our own decoder, so these tests compare fastvrrp with a second opinion rather than with itself.
"""

from __future__ import annotations

import ipaddress
import json
import struct
from array import array
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import NamedTuple

import pytest
from pcapfile import ETHERTYPE_IPV4, ETHERTYPE_IPV6, ethernet, read_pcap

from fastvrrp import _wire_py
from fastvrrp.advert import RECORD_FORMAT, RECORD_SIZE, Advert, AdvertError

PCAPS = Path(__file__).parent / "data" / "pcaps"
GOLDEN: dict[str, dict] = json.loads((PCAPS / "expected.json").read_text())
VRRP_CAPTURES = sorted(name for name, golden in GOLDEN.items() if golden["adverts"])

# IPv4 header bytes that a protocol-112 receiver legitimately does not read: the kernel has
# already checked the header checksum and reassembled fragments, and TOS and ID mean nothing to VRRP.
IGNORED_IPV4_BYTES = frozenset({1, 4, 5, 6, 7, 10, 11})
IPV4_DST = range(16, 20)


class Captured(NamedTuple):
    """One captured advert: the inputs of `parse_ipv4` / `parse_ipv6`, and its golden fields."""

    frame: int
    family: int
    ip: bytes
    """IPv4: the whole packet (what a raw socket returns). IPv6: the 40-byte header + payload."""
    golden: dict

    def parse(self, wire) -> Advert:
        if self.family == 4:
            return wire.parse_ipv4(self.ip)
        return wire.parse_ipv6(self.ip[40:], self.ip[8:24], self.ip[24:40], self.ip[7])

    @property
    def message(self) -> bytes:
        """The VRRP message alone, as keepalived put it on the wire."""
        if self.family == 4:
            return self.ip[(self.ip[0] & 0x0F) * 4 : struct.unpack_from("!H", self.ip, 2)[0]]
        return self.ip[40:]


def is_vrrp(ethertype: int, ip: bytes) -> bool:
    return (ethertype == ETHERTYPE_IPV4 and ip[9] == 112) or (ethertype == ETHERTYPE_IPV6 and ip[6] == 112)


def captured(name: str) -> list[Captured]:
    frames = read_pcap(PCAPS / name)
    adverts = []
    for golden in GOLDEN[name]["adverts"]:
        eth = ethernet(frames[golden["frame"] - 1].data)
        adverts.append(Captured(golden["frame"], 4 if eth.ethertype == ETHERTYPE_IPV4 else 6, eth.payload, golden))
    return adverts


def golden_advert(golden: dict) -> Advert:
    return Advert(
        version=golden["version"],
        vrid=golden["vrid"],
        priority=golden["priority"],
        interval_cs=golden["interval_cs"],
        addresses=tuple(ipaddress.ip_address(a).packed for a in golden["addresses"]),
        auth_type=golden["auth_type"],
        auth_data=bytes.fromhex(golden["auth_data"]),
        checksum_form=golden["checksum_form"],
        source=ipaddress.ip_address(golden["source"]).packed,
    )


def outcome(call: Callable[[], Advert]) -> Advert | str:
    """An Advert, or the reason it was dropped; any other exception propagates and fails the test."""
    try:
        return call()
    except AdvertError as e:
        return e.reason


def test_golden_file_covers_every_capture_and_every_vrrp_frame():
    assert sorted(GOLDEN) == sorted(p.name for p in PCAPS.glob("*.pcap"))
    for name, golden in GOLDEN.items():
        frames = read_pcap(PCAPS / name)
        assert len(frames) == golden["frames"], name
        vrrp_frames = [f.number for f in frames if is_vrrp(ethernet(f.data).ethertype, ethernet(f.data).payload)]
        assert vrrp_frames == [a["frame"] for a in golden["adverts"]], name
    assert len(VRRP_CAPTURES) == 6


@pytest.mark.parametrize("name", VRRP_CAPTURES)
def test_every_captured_advert_decodes_to_its_golden_fields(wire, name):
    for packet in captured(name):
        assert packet.parse(wire) == golden_advert(packet.golden), f"{name} frame {packet.frame}"


@pytest.mark.parametrize("name", VRRP_CAPTURES)
def test_rebuilding_from_the_fields_reproduces_the_captured_bytes(wire, name):
    for packet in captured(name):
        g = packet.golden
        built = wire.build_advert(
            g["version"],
            g["vrid"],
            g["priority"],
            g["interval_cs"],
            [ipaddress.ip_address(a).packed for a in g["addresses"]],
            auth_type=g["auth_type"],
            password=bytes.fromhex(g["auth_data"]),
            src=ipaddress.ip_address(g["source"]).packed,
            dst=ipaddress.ip_address(g["destination"]).packed,
            checksum_form=g["checksum_form"],
        )
        assert built == packet.message, f"{name} frame {packet.frame}"


@pytest.mark.parametrize("name", VRRP_CAPTURES)
def test_batch_of_a_whole_capture_is_valid_and_records_its_fields(wire, name):
    packets = captured(name)
    family = packets[0].family
    payloads = [p.ip if family == 4 else p.ip[40:] for p in packets]
    offsets = array("I", [sum(map(len, payloads[:i])) for i in range(len(payloads))])
    lengths = array("I", map(len, payloads))
    results = bytearray(len(packets))
    records = bytearray(RECORD_SIZE * len(packets))
    extra = {}
    if family == 6:
        extra = {"addrs": b"".join(p.ip[8:40] for p in packets), "hop_limits": bytes(p.ip[7] for p in packets)}
    valid = wire.validate_batch(b"".join(payloads), offsets, lengths, results, family=family, records=records, **extra)
    assert (valid, bytes(results)) == (len(packets), bytes(len(packets)))
    for i, p in enumerate(packets):
        g = p.golden
        fields = (g["vrid"], g["priority"], g["version"], 1, g["interval_cs"], g["checksum_form"] == "pseudo_header")
        assert RECORD_FORMAT.unpack_from(records, RECORD_SIZE * i) == fields


def flips(data: bytes):
    """Every single-bit corruption of `data`, with the index of the byte it hit."""
    for i in range(len(data)):
        for bit in range(8):
            mutated = bytearray(data)
            mutated[i] ^= 1 << bit
            yield i, bytes(mutated)


def parse_ipv6_inputs(twin, inputs: bytes) -> Advert:
    """parse_ipv6 over its inputs laid end to end: source, destination, hop limit, payload."""
    return twin.parse_ipv6(inputs[33:], inputs[:16], inputs[16:32], inputs[32])


@pytest.mark.parametrize("name", VRRP_CAPTURES)
def test_single_bit_flips_are_dropped_as_the_reference_says_or_decode_differently(wire, name):
    """A flip anywhere the codec reads must change the outcome: the checksum catches every
    single-bit error in the message (RFC 1071), and the IP fields it reads are checked or
    reported. Only the IPv4 bytes it has no reason to read (and the destination, when the
    checksum does not cover it) may leave the advert as it was."""
    for packet in captured(name):
        original = packet.parse(_wire_py)
        if packet.family == 4:
            parse, inputs = (lambda twin, data: twin.parse_ipv4(data)), packet.ip
            ignored = IGNORED_IPV4_BYTES | (set(IPV4_DST) if original.checksum_form == "message" else set())
        else:
            parse, inputs = parse_ipv6_inputs, packet.ip[8:40] + packet.ip[7:8] + packet.ip[40:]
            ignored = set()
        for i, mutated in flips(inputs):
            expected = outcome(partial(parse, _wire_py, mutated))
            assert outcome(partial(parse, wire, mutated)) == expected, f"{name} frame {packet.frame} byte {i}"
            if isinstance(expected, Advert):
                assert (expected == original) == (i in ignored), f"{name} frame {packet.frame} byte {i}"
