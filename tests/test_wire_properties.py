"""Differential properties: the Cython twin answers exactly as the reference on any input.

Every property runs both twins in the same process and compares what they return or raise
(`AdvertError` by reason, misuse by class and message), plus round trips through the builders
and a per-packet oracle for `validate_batch`.  `make hunt` runs this file with the long profile.
"""

from __future__ import annotations

import importlib
import os
import struct
from array import array
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
from conftest import load_twin
from hypothesis import given
from hypothesis import strategies as st

from fastvrrp.advert import (
    AUTH_DATA_LEN,
    AUTH_NONE,
    AUTH_PASS,
    CHECKSUM_MESSAGE,
    CHECKSUM_PSEUDO_HEADER,
    REASON_CODES,
    RECORD_FORMAT,
    RECORD_SIZE,
    RESULT_OK,
    VRID_ERR,
    Advert,
    AdvertError,
    Expected,
    check_advert,
    pack_table,
    password_key,
    unpack_table_record,
)


class Twins(NamedTuple):
    py: Any
    c: Any


@pytest.fixture(scope="module")
def twins() -> Twins:
    """Both twins at once (module-scoped so Hypothesis does not reset it between examples)."""
    return Twins(load_twin("python"), load_twin("cython"))


def test_compiled_twin_is_loaded() -> None:
    """The compiled twin must load and be the one `fastvrrp.wire` picked; only the explicit switch may disable it."""
    if os.environ.get("FASTVRRP_NO_EXTENSIONS"):
        return
    compiled = importlib.import_module("fastvrrp._wire")
    assert compiled.__file__.endswith((".so", ".pyd")), compiled.__file__
    wire = importlib.import_module("fastvrrp.wire")
    assert wire.IMPLEMENTATION == "cython"
    assert wire.parse_ipv4 is compiled.parse_ipv4


def outcome(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple:
    """What a call did, comparable across twins: its value, a drop reason, or a misuse error."""
    try:
        value = call(*args, **kwargs)
    except AdvertError as e:
        return ("drop", e.reason)
    except Exception as e:  # noqa: BLE001 - any misuse error: its class and message must agree too
        return ("raise", type(e).__name__, str(e))
    if isinstance(value, Advert):
        assert type(value) is Advert
    return ("value", value)


def same(twins: Twins, name: str, *args: Any, **kwargs: Any) -> tuple:
    expected = outcome(getattr(twins.py, name), *args, **kwargs)
    assert outcome(getattr(twins.c, name), *args, **kwargs) == expected
    return expected


# ---- strategies ---------------------------------------------------------------------------

ipv4 = st.binary(min_size=4, max_size=4)
ipv6 = st.binary(min_size=16, max_size=16)
link_local = st.binary(min_size=14, max_size=14).map(lambda rest: b"\xfe\x80" + rest)
hop_limits = st.integers(0, 255) | st.just(255)


class Fields(NamedTuple):
    """Valid arguments of `build_advert`, and where the packet goes."""

    version: int
    vrid: int
    priority: int
    interval_cs: int
    addresses: tuple[bytes, ...]
    auth_type: int
    password: bytes
    src: bytes
    dst: bytes
    checksum_form: str

    def build(self, wire) -> bytes:
        return wire.build_advert(
            self.version,
            self.vrid,
            self.priority,
            self.interval_cs,
            self.addresses,
            auth_type=self.auth_type,
            password=self.password,
            src=self.src,
            dst=self.dst,
            checksum_form=self.checksum_form,
        )

    def packet(self, wire) -> bytes:
        """A whole IPv4 packet, or the IPv6 payload (its header lives in ancillary data)."""
        message = self.build(wire)
        return wire.build_ipv4_packet(message, self.src, self.dst) if len(self.src) == 4 else message

    def advert(self) -> Advert:
        if self.version == 2:
            auth = password_key(self.password) if self.auth_type == AUTH_PASS else bytes(AUTH_DATA_LEN)
        else:
            auth = b""
        form = CHECKSUM_MESSAGE if self.version == 2 else self.checksum_form
        return Advert(
            self.version, self.vrid, self.priority, self.interval_cs, self.addresses, self.auth_type, auth, form, self.src
        )


@st.composite
def fields(draw, family: int | None = None, max_count: int = 8) -> Fields:
    family = family or draw(st.sampled_from([4, 6]))
    version = 3 if family == 6 else draw(st.sampled_from([2, 3]))
    count = draw(st.integers(1, max_count) | st.just(255)) if max_count > 1 else 1
    address = ipv4 if family == 4 else ipv6
    addresses = tuple(draw(st.lists(address, min_size=count, max_size=count)))
    if family == 6 and draw(st.booleans()):
        addresses = (draw(link_local),) + addresses[1:]
    if version == 2:
        interval = draw(st.integers(1, 255)) * 100
        auth_type = draw(st.sampled_from([AUTH_NONE, AUTH_PASS]))
        form = CHECKSUM_MESSAGE
    else:
        interval = draw(st.integers(1, 0x0FFF))
        auth_type = AUTH_NONE
        form = draw(st.sampled_from([CHECKSUM_PSEUDO_HEADER, CHECKSUM_MESSAGE])) if family == 4 else CHECKSUM_PSEUDO_HEADER
    return Fields(
        version,
        draw(st.integers(0, 255)),
        draw(st.integers(0, 255)),
        interval,
        addresses,
        auth_type,
        draw(st.binary(max_size=12)),
        draw(ipv4 if family == 4 else link_local),
        draw(st.just(b"\xe0\x00\x00\x12") | ipv4) if family == 4 else draw(st.just(b"\xff\x02" + bytes(13) + b"\x12") | ipv6),
        form,
    )


def _refresh_checksums(packet: bytearray, wire, family: int, src: bytes, dst: bytes, form: str) -> None:
    """Recompute the VRRP (and IPv4 header) checksum of a mutated packet, so later checks are reached."""
    start = 0
    if family == 4 and len(packet) >= 20 and packet[0] >> 4 == 4:
        ihl = (packet[0] & 0x0F) * 4
        if 20 <= ihl <= len(packet):
            packet[10:12] = b"\0\0"
            packet[10:12] = struct.pack("!H", wire.checksum(bytes(packet[:20])))
            start = ihl
    message = packet[start:]
    if len(message) < 8:
        return
    message[6:8] = b"\0\0"
    pseudo = b""
    if form == CHECKSUM_PSEUDO_HEADER and message[0] >> 4 == 3:
        length = len(message)
        pseudo = src + dst + (struct.pack("!BBH", 0, 112, length & 0xFFFF) if len(src) == 4 else struct.pack("!I3xB", length, 112))
    packet[start + 6 : start + 8] = struct.pack("!H", wire.checksum(pseudo + bytes(message)))


@st.composite
def crafted(draw, family: int) -> tuple[bytes, Fields]:
    """A packet with any header values (version, type, count, auth type, interval, TTL, protocol)
    and a checksum that verifies, so that every check after the checksum gets its turn."""
    python = load_twin("python")
    f = draw(fields(family, max_count=3))
    alen = len(f.src)
    vt = draw(st.sampled_from([0x21, 0x31, 0x21, 0x31, 0x32, 0x41]) | st.integers(0, 255))
    count = draw(st.sampled_from([1, 2, 3, 0]))
    exact = st.binary(min_size=alen * count, max_size=alen * count)
    body = draw(st.one_of(exact, exact, exact, st.binary(max_size=40)))
    if vt >> 4 == 2:
        auth_type = draw(st.sampled_from([0, 1, 1, 2, 3, 200]))
        word = auth_type << 8 | draw(st.sampled_from([1, 3, 0]) | st.integers(0, 255))
        body += draw(st.just(password_key(f.password)) | st.binary(min_size=8, max_size=8))
    else:
        word = draw(st.sampled_from([100, 0, 0xF000, 0xF064]) | st.integers(0, 0xFFFF))
    message = bytearray(struct.pack("!BBBBHH", vt, f.vrid, f.priority, count, word, 0) + body)
    form = draw(st.sampled_from([CHECKSUM_PSEUDO_HEADER, CHECKSUM_MESSAGE]))
    _refresh_checksums(message, python, 6, f.src, f.dst, form)
    if family == 6:
        return bytes(message), f
    ttl = draw(st.sampled_from([255, 255, 255, 254]) | st.integers(0, 255))
    protocol = draw(st.sampled_from([112, 112, 112, 112, 51, 17]))
    return python.build_ipv4_packet(bytes(message), f.src, f.dst, ttl, protocol), f


@st.composite
def mutated(draw, family: int) -> tuple[bytes, Fields]:
    """A valid (or crafted) packet with a few bit flips, byte replacements, truncations or
    extensions; sometimes re-checksummed so that the checks after the checksum see the damage."""
    if draw(st.booleans()):
        packet, f = draw(crafted(family))
        packet = bytearray(packet)
        if draw(st.booleans()):
            return bytes(packet), f
    else:
        f = draw(fields(family))
        packet = bytearray(f.packet(load_twin("python")))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "replace", "truncate", "extend"]))
        if kind == "flip" and packet:
            packet[draw(st.integers(0, len(packet) - 1))] ^= 1 << draw(st.integers(0, 7))
        elif kind == "replace" and packet:
            packet[draw(st.integers(0, len(packet) - 1))] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del packet[draw(st.integers(0, len(packet))) :]
        elif kind == "extend":
            packet += draw(st.binary(min_size=1, max_size=20))
    if draw(st.booleans()):
        _refresh_checksums(packet, load_twin("python"), family, f.src, f.dst, f.checksum_form)
    return bytes(packet), f


# ---- parsing any bytes --------------------------------------------------------------------

@given(st.binary(max_size=100))
def test_parse_ipv4_any_bytes(twins: Twins, data: bytes) -> None:
    same(twins, "parse_ipv4", data)


@given(st.binary(max_size=100), ipv6, ipv6, hop_limits)
def test_parse_ipv6_any_bytes(twins: Twins, data: bytes, src: bytes, dst: bytes, hop: int) -> None:
    same(twins, "parse_ipv6", data, src, dst, hop)


@given(st.binary(max_size=100), st.binary(max_size=20), st.binary(max_size=20), hop_limits)
def test_parse_ipv6_misuse(twins: Twins, data: bytes, src: bytes, dst: bytes, hop: int) -> None:
    same(twins, "parse_ipv6", data, src, dst, hop)


@given(st.binary(max_size=100), st.sampled_from([4, 16]) | st.integers(0, 20), st.data())
def test_parse_vrrp_any_bytes(twins: Twins, data: bytes, alen: int, more) -> None:
    src = more.draw(st.binary(min_size=alen, max_size=alen))
    dst = more.draw(st.binary(min_size=alen, max_size=alen) | st.binary(max_size=20))
    same(twins, "parse_vrrp", data, src, dst)


@given(mutated(4), st.sampled_from([bytes, bytearray, memoryview]))
def test_parse_ipv4_mutations(twins: Twins, case: tuple[bytes, Fields], kind: type) -> None:
    packet, _ = case
    same(twins, "parse_ipv4", kind(packet))


@given(mutated(6), hop_limits)
def test_parse_ipv6_mutations(twins: Twins, case: tuple[bytes, Fields], hop: int) -> None:
    payload, f = case
    same(twins, "parse_ipv6", payload, f.src, f.dst, hop)
    same(twins, "parse_vrrp", bytearray(payload), f.src, f.dst)


@given(crafted(4))
def test_parse_ipv4_crafted(twins: Twins, case: tuple[bytes, Fields]) -> None:
    same(twins, "parse_ipv4", case[0])


@given(crafted(6), hop_limits)
def test_parse_ipv6_crafted(twins: Twins, case: tuple[bytes, Fields], hop: int) -> None:
    payload, f = case
    same(twins, "parse_ipv6", payload, f.src, f.dst, hop)


# ---- building -----------------------------------------------------------------------------

@given(fields())
def test_parse_of_build_is_identity(twins: Twins, f: Fields) -> None:
    expected = f.advert()
    for builder in twins:
        packet = f.packet(builder)
        for parser in twins:
            if len(f.src) == 4:
                assert parser.parse_ipv4(packet) == expected
            else:
                assert parser.parse_ipv6(packet, f.src, f.dst, 255) == expected
            assert parser.parse_vrrp(f.build(builder), f.src, f.dst) == expected
    assert twins.c.build_advert(*f[:5], auth_type=f.auth_type, password=f.password, src=f.src, dst=f.dst,
                                checksum_form=f.checksum_form) == f.build(twins.py)


@given(fields(), st.sampled_from([bytes, bytearray, memoryview]))
def test_build_accepts_buffers(twins: Twins, f: Fields, kind: type) -> None:
    same(
        twins,
        "build_advert",
        f.version,
        f.vrid,
        f.priority,
        f.interval_cs,
        [kind(a) for a in f.addresses],
        auth_type=f.auth_type,
        password=kind(f.password),
        src=kind(f.src),
        dst=kind(f.dst),
        checksum_form=f.checksum_form,
    )
    message = f.build(twins.py)
    same(twins, "checksum", kind(message))
    same(twins, "checksum", kind(message[1:]))


odd_numbers = st.sampled_from([True, 1.0, 1.5, 100.0, 150.0])
"""Numbers the reference range-checks but struct.pack may refuse: the twins must still agree."""


@given(
    st.integers(0, 4) | odd_numbers,
    st.integers(-2, 258) | odd_numbers,
    st.integers(-2, 258) | st.just(2**70),
    st.integers(-200, 26000) | st.sampled_from([0, 100, 25500, 25600, 4095, 4096]) | odd_numbers,
    st.lists(st.binary(min_size=3, max_size=5) | st.binary(min_size=15, max_size=17), max_size=4)
    | st.integers(0, 300).map(lambda n: [bytes(4)] * n),
    st.integers(-1, 3) | odd_numbers,
    st.sampled_from([CHECKSUM_PSEUDO_HEADER, CHECKSUM_MESSAGE, "neither"]),
    st.none() | st.binary(max_size=17),
    st.none() | st.binary(max_size=17),
    st.binary(max_size=10) | st.text(max_size=10),
)
def test_build_rejects_the_same_arguments(twins: Twins, version, vrid, priority, interval, addresses, auth_type, form,
                                          src, dst, password) -> None:
    same(twins, "build_advert", version, vrid, priority, interval, addresses, auth_type=auth_type, password=password,
         src=src, dst=dst, checksum_form=form)


@given(st.binary(max_size=80), st.binary(max_size=6), st.binary(max_size=6), st.integers(-1, 256), st.integers(-1, 256))
def test_build_ipv4_packet(twins: Twins, message: bytes, src: bytes, dst: bytes, ttl: int, protocol: int) -> None:
    same(twins, "build_ipv4_packet", message, src, dst, ttl, protocol)
    same(twins, "build_ipv4_packet", bytearray(message), src, dst)


@given(st.binary(max_size=300))
def test_checksum(twins: Twins, data: bytes) -> None:
    same(twins, "checksum", data)


# ---- validate_batch ----------------------------------------------------------------------

class Batch(NamedTuple):
    buffer: bytes
    offsets: list[int]
    lengths: list[int]
    table: bytes | None
    family: int
    addrs: bytes
    hop_limits: list[int]


@st.composite
def batches(draw, family: int) -> Batch:
    """Valid, mutated and random packets at random places in one buffer, with a table that
    configures some of their VRIDs (matching or not)."""
    python = load_twin("python")
    buffer = bytearray()
    offsets, lengths, addrs, hops, expectations = [], [], bytearray(), [], []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["valid", "valid", "mutated", "random"]))
        if kind == "random":
            packet = draw(st.binary(max_size=60))
            f = draw(fields(family, max_count=2))
        elif kind == "mutated":
            packet, f = draw(mutated(family))
        else:
            f = draw(fields(family, max_count=3))
            packet = f.packet(python)
        buffer += draw(st.binary(max_size=3))
        offsets.append(len(buffer))
        lengths.append(len(packet))
        buffer += packet
        addrs += (f.src + f.dst) if family == 6 else b""
        hops.append(draw(st.just(255) | hop_limits))
        if draw(st.booleans()):
            expectations.append(
                Expected(
                    f.vrid,
                    draw(st.sampled_from([f.version, 2, 3])),
                    draw(st.sampled_from([f.auth_type, AUTH_NONE, AUTH_PASS])),
                    draw(st.just(f.password) | st.binary(max_size=9)),
                    draw(st.sampled_from([f.interval_cs, 100, 300])),
                    (),
                    draw(st.booleans()),
                )
            )
    table = draw(st.none() | st.just(pack_table(expectations)))
    return Batch(bytes(buffer), offsets, lengths, table, family, bytes(addrs), hops)


def per_packet(b: Batch, fill: int) -> tuple[int, list[int], bytes]:
    """The oracle: parse and `check_advert` one packet at a time, as the daemon would without a batch."""
    python = load_twin("python")
    results, records, valid = [], bytearray([fill]) * (RECORD_SIZE * len(b.offsets)), 0
    for i, (start, size) in enumerate(zip(b.offsets, b.lengths)):
        packet = b.buffer[start : start + size]
        try:
            if b.family == 4:
                advert = python.parse_ipv4(packet)
            else:
                advert = python.parse_ipv6(packet, b.addrs[32 * i : 32 * i + 16], b.addrs[32 * i + 16 : 32 * i + 32],
                                           b.hop_limits[i])
            if b.table is not None:
                expected = unpack_table_record(b.table, advert.vrid)
                if expected is None:
                    raise AdvertError(VRID_ERR)
                check_advert(advert, expected)
        except AdvertError as e:
            results.append(REASON_CODES[e.reason])
            continue
        results.append(RESULT_OK)
        valid += 1
        RECORD_FORMAT.pack_into(records, RECORD_SIZE * i, advert.vrid, advert.priority, advert.version,
                                len(advert.addresses), advert.interval_cs,
                                advert.checksum_form == CHECKSUM_PSEUDO_HEADER)
    return valid, results, bytes(records)


INDEX_TYPES = [lambda v: array("I", v), list, lambda v: array("q", v), lambda v: array("H", v)]
RESULT_TYPES = [lambda n: array("B", bytes(n)), lambda n: bytearray(n), lambda n: array("I", [0] * n), lambda n: [0] * n]


@pytest.mark.parametrize("family", [4, 6])
@given(data=st.data())
def test_validate_batch_is_a_loop_of_parse_and_check(twins: Twins, family: int, data) -> None:
    b = data.draw(batches(family))
    fill = data.draw(st.integers(0, 255))
    valid, results, records = per_packet(b, fill)
    index = data.draw(st.sampled_from(INDEX_TYPES[:3] if len(b.buffer) > 0xFFFF else INDEX_TYPES))
    result_type = data.draw(st.sampled_from(RESULT_TYPES))
    with_records = data.draw(st.booleans())
    for wire in twins:
        out = result_type(len(b.offsets))
        kept = bytearray([fill]) * (RECORD_SIZE * len(b.offsets))
        kwargs = {"family": family, "records": kept if with_records else None}
        if family == 6:
            kwargs.update(addrs=data.draw(st.sampled_from([bytes, bytearray]))(b.addrs), hop_limits=bytes(b.hop_limits))
        assert wire.validate_batch(memoryview(b.buffer), index(b.offsets), index(b.lengths), out, b.table, **kwargs) == valid
        assert list(out) == results
        if with_records:
            assert bytes(kept) == records


@given(data=st.data())
def test_validate_batch_misuse(twins: Twins, data) -> None:
    """Both twins refuse the same misuse with the same message, having written the same results."""
    b = data.draw(batches(data.draw(st.sampled_from([4, 6]))))
    n = len(b.offsets)
    offsets = [data.draw(st.integers(-2, len(b.buffer) + 2)) if data.draw(st.booleans()) else o for o in b.offsets]
    lengths = [data.draw(st.integers(-2, 80)) if data.draw(st.booleans()) else s for s in b.lengths]
    lengths = lengths[: data.draw(st.integers(max(0, n - 1), n))]
    result_len = data.draw(st.integers(max(0, n - 1), n))
    family = data.draw(st.sampled_from([b.family, b.family, 5]))
    addrs = data.draw(st.sampled_from([None, b.addrs, b.addrs[:-1]]))
    hops = data.draw(st.sampled_from([None, b.hop_limits, b.hop_limits[:-1]]))
    records_len = data.draw(st.sampled_from([None, RECORD_SIZE * n, max(0, RECORD_SIZE * n - 1)]))
    table = data.draw(st.sampled_from([b.table, b.table and b.table[:-1]]))
    seen = []
    for wire in twins:
        out = bytearray(b"\xff" * result_len)
        records = None if records_len is None else bytearray(records_len)
        seen.append(
            (
                outcome(wire.validate_batch, b.buffer, offsets, lengths, out, table, family=family, addrs=addrs,
                        hop_limits=hops, records=records),
                bytes(out),
                records,
            )
        )
    assert seen[0] == seen[1]

