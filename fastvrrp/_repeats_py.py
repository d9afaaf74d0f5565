"""Pure-Python twin of `fastvrrp._repeats`: the repeats of a followed advert, taken out of a batch.

A backup's master sends the same advert every interval, and the core only needs each one's
arrival to reset its Master_Down_Timer.  `absorb` finds, in a validated batch, the packets
that repeat byte for byte (source and VRRP message) what a following backup last took in
full, and sums them up per VRID -- how many, the last arrival, the gaps between arrivals --
so that the driver hands the core one summary later instead of every advert now.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence

ABSORBED = 255
"""`results[i]` of a packet `absorb` took: no drop reason uses it (they count from 1)."""


def absorb(
    buffer: bytearray,
    slot_size: int,
    count: int,
    lengths: array,
    results: array,
    stamps: array,
    family: int,
    addrs: bytearray,
    offset: float,
    read_at: float,
    known: Sequence[bytes | None],
    heard: array,
    last_at: array,
    bounds: array,
    gap_counts: array,
    gap_sums: array,
) -> int:
    """Take every valid packet of the batch that repeats `known[vrid]`; how many were taken.

    Packet i lies at `buffer[i * slot_size:]` with length `lengths[i]`; only those with
    `results[i] == 0` (valid) are looked at, and those taken get `results[i] = ABSORBED`.
    Arrival order is kept: after a valid packet of a VRID that is not taken, no later one of
    that VRID is, so the driver gives the core everything in the order it came.
    `known[vrid]` is the source address (4 or 16 bytes) followed by the VRRP message (bytes),
    or None.  For a packet taken: `heard[vrid] += 1`; its arrival (`stamps[i] - offset`, at most
    `read_at`; `read_at` when unstamped or `offset` is NaN) becomes `last_at[vrid]`, and the
    gap from the previous `last_at[vrid]` is counted in the VRID's row of `gap_counts`
    (`len(bounds) + 1` columns: the first bound at or above the gap, else the last column)
    and added to `gap_sums[vrid]`.
    """
    width = len(bounds) + 1
    count = min(count, len(lengths), len(results), len(stamps), len(buffer) // slot_size if slot_size > 0 else 0)
    if len(known) < 256 or len(heard) < 256 or len(last_at) < 256 or len(gap_sums) < 256 or len(gap_counts) < 256 * width:
        raise ValueError("per-VRID tables must have 256 rows")
    usable = not math.isnan(offset)
    blocked = bytearray(256)
    taken = 0
    for i in range(count):
        if results[i]:
            continue
        base, length = i * slot_size, min(lengths[i], slot_size)
        if family == 6:
            if 32 * i + 16 > len(addrs):
                break
            source, start = bytes(addrs[32 * i : 32 * i + 16]), 0
        else:
            if length < 20:
                continue
            source, start = bytes(buffer[base + 12 : base + 16]), (buffer[base] & 0x0F) * 4
        if start + 2 > length:
            continue
        vrid = buffer[base + start + 1]
        entry = known[vrid]
        if blocked[vrid] or type(entry) is not bytes or entry != source + bytes(buffer[base + start : base + length]):
            blocked[vrid] = 1
            continue
        stamp = stamps[i]
        arrived = stamp - offset if stamp and usable else read_at
        if arrived >= read_at:
            arrived = read_at
        gap = arrived - last_at[vrid]
        column = next((k for k, bound in enumerate(bounds) if bound >= gap), width - 1)
        gap_counts[vrid * width + column] += 1
        gap_sums[vrid] += gap
        last_at[vrid] = arrived
        heard[vrid] += 1
        results[i] = ABSORBED
        taken += 1
    return taken
