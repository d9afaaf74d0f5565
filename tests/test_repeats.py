"""The repeat filter (`fastvrrp.repeats`): both twins take exactly the packets that repeat what a
following backup last took in full (RFC 5798 §6.4.2: each only resets its Master_Down_Timer),
keep arrival order, and agree on every input, valid or not."""

from __future__ import annotations

import copy
import importlib
import math
import os
from array import array
from bisect import bisect_left

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastvrrp import repeats, wire
from fastvrrp.observe import ADVERT_GAP_BUCKETS
from fastvrrp.sockets import ReceiveBatch

ABSORBED = repeats.ABSORBED
MASTER = bytes([10, 0, 0, 2])
OTHER = bytes([10, 0, 0, 3])
VIP = bytes([10, 0, 201, 100])
OFFSET = 1_700_000_000.0
"""CLOCK_REALTIME minus CLOCK_MONOTONIC in these tests."""


@pytest.fixture(params=["python", "cython"])
def absorb(request):
    if request.param == "cython" and os.environ.get("FASTVRRP_NO_EXTENSIONS"):
        pytest.skip("FASTVRRP_NO_EXTENSIONS=1: the compiled twin is disabled on purpose")
    return importlib.import_module({"python": "fastvrrp._repeats_py", "cython": "fastvrrp._repeats"}[request.param]).absorb


def test_the_compiled_twin_answers():
    if not os.environ.get("FASTVRRP_NO_EXTENSIONS"):
        assert repeats.IMPLEMENTATION == "cython"


def advert(vrid: int = 150, priority: int = 100) -> bytes:
    return wire.build_advert(3, vrid, priority, 1, [VIP], src=MASTER, dst=bytes([224, 0, 0, 18]))


def ipv4(message: bytes, source: bytes = MASTER) -> bytes:
    """A 20-byte IPv4 header (only its length and source matter here) and the message."""
    return bytes([0x45, 0, 0, 20 + len(message), 0, 0, 0, 0, 255, 112, 0, 0]) + source + bytes([224, 0, 0, 18]) + message


def batch_of(packets: list[tuple[bytes, float]], family: int = 4, sources: list[bytes] = ()) -> ReceiveBatch:
    batch = ReceiveBatch()
    for i, (packet, stamp) in enumerate(packets):
        batch.buffer[i * batch.slot_size : i * batch.slot_size + len(packet)] = packet
        batch.lengths[i], batch.stamps[i], batch.results[i] = len(packet), stamp, 0
    for i, source in enumerate(sources):
        batch.addrs[32 * i : 32 * i + 16] = source
    batch.count, batch.family = len(packets), family
    return batch


def run(absorb, filt: repeats.RepeatFilter, batch: ReceiveBatch, offset: float | None, read_at: float) -> int:
    return absorb(
        batch.buffer, batch.slot_size, batch.count, batch.lengths, batch.results, batch.stamps, batch.family,
        batch.addrs, math.nan if offset is None else offset, read_at, filt.known, filt.heard, filt.last_at,
        filt.bounds, filt.gap_counts, filt.gap_sums,
    )  # fmt: skip


def test_repeats_of_the_followed_advert_are_counted_with_their_arrival_and_gaps(absorb):
    filt = repeats.RepeatFilter(ADVERT_GAP_BUCKETS)
    filt.follow(150, MASTER, advert(), at=5.0)
    stamps = [OFFSET + 5.010, OFFSET + 5.0205, OFFSET + 5.050]
    batch = batch_of([(ipv4(advert()), s) for s in stamps])
    assert run(absorb, filt, batch, OFFSET, read_at=5.06) == 3
    assert list(batch.results[:3]) == [ABSORBED] * 3
    heard, last_at, gaps, total = filt.take(150)
    assert heard == 3 and last_at == pytest.approx(5.050)
    expected = [0] * (len(ADVERT_GAP_BUCKETS) + 1)
    for gap in (0.010, 0.0105, 0.0295):  # as `Histogram.observe` would bucket them
        expected[bisect_left(ADVERT_GAP_BUCKETS, gap)] += 1
    assert gaps == expected and total == pytest.approx(0.050)
    assert filt.take(150) is None, "take starts the tables again"


def test_only_byte_for_byte_repeats_from_the_same_source_are_taken(absorb):
    filt = repeats.RepeatFilter(ADVERT_GAP_BUCKETS)
    filt.follow(150, MASTER, advert(), at=0.0)
    packets = [
        ipv4(advert(priority=0)),  # priority 0: the core must see it (RFC 5798 §6.4.2, Skew_Time)
        ipv4(advert(vrid=151)),  # another VRID, not followed
    ]
    batch = batch_of([(p, 0.0) for p in packets])
    assert run(absorb, filt, batch, OFFSET, read_at=1.0) == 0
    assert list(batch.results[:2]) == [0, 0]
    batch = batch_of([(ipv4(advert(), source=OTHER), 0.0)])  # same bytes, another router
    assert run(absorb, filt, batch, OFFSET, read_at=1.0) == 0
    batch = batch_of([(ipv4(advert()), 0.0)])
    batch.results[0] = 3  # dropped by validation: not looked at
    assert run(absorb, filt, batch, OFFSET, read_at=1.0) == 0 and batch.results[0] == 3
    filt.forget(150)
    batch = batch_of([(ipv4(advert()), 0.0)])
    assert run(absorb, filt, batch, OFFSET, read_at=1.0) == 0


def test_arrival_order_is_kept_per_vrid(absorb):
    """After an advert the core must see, later repeats of that VRID in the batch go to it too."""
    filt = repeats.RepeatFilter(ADVERT_GAP_BUCKETS)
    filt.follow(150, MASTER, advert(), at=0.0)
    filt.follow(151, MASTER, advert(vrid=151), at=0.0)
    packets = [advert(), advert(priority=0), advert(), advert(vrid=151)]
    batch = batch_of([(ipv4(p), 0.0) for p in packets])
    assert run(absorb, filt, batch, OFFSET, read_at=1.0) == 2
    assert list(batch.results[:4]) == [ABSORBED, 0, 0, ABSORBED]


def test_unstamped_or_future_arrivals_count_as_read_now(absorb):
    filt = repeats.RepeatFilter(ADVERT_GAP_BUCKETS)
    filt.follow(150, MASTER, advert(), at=0.0)
    for stamp, offset, arrived in ((0.0, OFFSET, 2.0), (OFFSET + 3.0, OFFSET, 2.0), (OFFSET + 1.5, None, 2.0)):
        run(absorb, filt, batch_of([(ipv4(advert()), stamp)]), offset, read_at=2.0)
        assert filt.take(150)[1] == arrived


def test_ipv6_sources_come_from_the_ancillary_data(absorb):
    link_local = bytes.fromhex("fe800000000000000000000000000002")
    message = wire.build_advert(3, 150, 100, 1, [bytes.fromhex("20010db8000000000000000000000064")],
                                src=link_local, dst=bytes.fromhex("ff020000000000000000000000000012"))  # fmt: skip
    filt = repeats.RepeatFilter(ADVERT_GAP_BUCKETS)
    filt.follow(150, link_local, message, at=0.0)
    other = bytes.fromhex("fe800000000000000000000000000003")
    batch = batch_of([(message, 0.0), (message, 0.0)], family=6, sources=[link_local, other])
    assert run(absorb, filt, batch, OFFSET, read_at=1.0) == 1
    assert list(batch.results[:2]) == [ABSORBED, 0]


# -- the twins agree on anything -------------------------------------------------------------

SLOT = 64
floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


packet = st.one_of(
    st.binary(max_size=SLOT),
    st.builds(lambda head, rest: bytes([0x40 | head]) + rest, st.integers(0, 15), st.binary(min_size=19, max_size=SLOT - 1)),
)


@st.composite
def inputs(draw):
    """Mostly well-formed batches with followed VRIDs (so that packets get taken), and anything else."""
    packets = draw(st.lists(packet, max_size=6))
    if packets and draw(st.booleans()):
        packets.append(packets[0])  # a repeat, valid or not
    n = len(packets)
    buffer = bytearray(SLOT * n)
    for i, p in enumerate(packets):
        buffer[i * SLOT : i * SLOT + len(p)] = p
    family = draw(st.sampled_from([4, 4, 6, 0]))
    addrs = bytearray(draw(st.binary(min_size=32 * n, max_size=32 * n)))
    known: list[bytes | None] = [None] * 256
    for i, p in enumerate(packets[: draw(st.sampled_from([n] * 4 + [0, 1]))]):
        start = 0 if family == 6 else (p[0] & 0x0F) * 4 if p else 0
        if start + 2 <= len(p):
            source = bytes(addrs[32 * i : 32 * i + 16]) if family == 6 else p[12:16]
            known[p[start + 1]] = draw(st.sampled_from([source + p[start:]] * 4 + [source + p[start:-1], p]))
    lengths = array("I", [len(p) + draw(st.sampled_from([0] * 8 + [1, SLOT])) for p in packets])
    return dict(
        buffer=buffer, slot_size=draw(st.sampled_from([SLOT] * 8 + [1, 0, -1])),
        count=draw(st.sampled_from([n] * 8 + [n - 1, n + 1, -1])), lengths=lengths,
        results=array("B", [draw(st.sampled_from([0] * 8 + [1, 7])) for _ in packets]),
        stamps=array("d", [draw(st.one_of(st.just(0.0), floats)) for _ in packets]), family=family, addrs=addrs,
        offset=draw(floats), read_at=draw(floats), known=known,
        last_at=array("d", [draw(floats) if i < 4 else 0.0 for i in range(256)]),
    )  # fmt: skip


def outcome(module, case: dict) -> tuple:
    args = {k: copy.copy(v) for k, v in case.items()}
    args |= {"heard": array("Q", bytes(8 * 256)), "bounds": array("d", ADVERT_GAP_BUCKETS)}
    args |= {"gap_counts": array("I", bytes(4 * 256 * (len(ADVERT_GAP_BUCKETS) + 1))), "gap_sums": array("d", bytes(8 * 256))}
    try:
        taken = module.absorb(**args)
    except ValueError as e:
        return ("ValueError", str(e))
    same_nan = lambda values: [("nan" if math.isnan(v) else v) for v in values]  # noqa: E731
    return (
        taken, list(args["results"]), list(args["heard"]), same_nan(args["last_at"]),
        list(args["gap_counts"]), same_nan(args["gap_sums"]),
    )  # fmt: skip


@pytest.mark.skipif(bool(os.environ.get("FASTVRRP_NO_EXTENSIONS")), reason="the compiled twin is disabled")
@settings(max_examples=400, deadline=None)
@given(case=inputs())
def test_twins_agree(case):
    compiled, pure = importlib.import_module("fastvrrp._repeats"), importlib.import_module("fastvrrp._repeats_py")
    assert outcome(compiled, case) == outcome(pure, case)
