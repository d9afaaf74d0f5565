"""Adverts a backup hears again, byte for byte: counted per channel without waking the core.

`RepeatFilter.absorb` (the compiled `_repeats` when built and allowed, else `_repeats_py`)
takes them out of a drained batch; `take` hands one VRID's summary to its router
(`ObservedRouter.fold_repeats`) when the driver next needs the router: at its deadline, before
any other event, before a status is read.
"""

from __future__ import annotations

import math
from array import array

from ._repeats_py import ABSORBED
from .twins import load

_twin, IMPLEMENTATION = load("repeats")
absorb = _twin.absorb

__all__ = ["ABSORBED", "IMPLEMENTATION", "Repeats", "RepeatFilter", "absorb"]

Repeats = tuple[int, float, list[int], float]
"""What `take` returns: how many repeats, the last one's arrival, gap counts per bucket, gap sum."""


class RepeatFilter:
    """One channel's per-VRID tables for `absorb`."""

    def __init__(self, gap_bounds: tuple[float, ...]) -> None:
        self.known: list[bytes | None] = [None] * 256
        self.heard = array("Q", bytes(8 * 256))
        self.last_at = array("d", bytes(8 * 256))
        self.bounds = array("d", gap_bounds)
        self.width = len(gap_bounds) + 1
        self.gap_counts = array("I", bytes(4 * 256 * self.width))
        self.gap_sums = array("d", bytes(8 * 256))

    def absorb(self, batch, offset: float | None, read_at: float) -> int:
        """Take the repeats out of a validated `sockets.ReceiveBatch`; how many were taken."""
        return absorb(
            batch.buffer,
            batch.slot_size,
            batch.count,
            batch.lengths,
            batch.results,
            batch.stamps,
            batch.family,
            batch.addrs,
            math.nan if offset is None else offset,
            read_at,
            self.known,
            self.heard,
            self.last_at,
            self.bounds,
            self.gap_counts,
            self.gap_sums,
        )

    def follow(self, vrid: int, source: bytes, message: bytes, at: float) -> None:
        """From now on, take repeats of this advert (it arrived at `at`); call `take` first."""
        self.known[vrid] = bytes(source) + bytes(message)
        self.last_at[vrid] = at

    def forget(self, vrid: int) -> None:
        """Take no more repeats for `vrid` (what was taken stays for `take`)."""
        self.known[vrid] = None

    def drop(self, vrid: int) -> None:
        """`vrid` is gone: take no more repeats for it and discard those taken."""
        self.forget(vrid)
        self.take(vrid)

    def take(self, vrid: int) -> Repeats | None:
        """The repeats taken for `vrid` since the last call, or None; the tables start again."""
        heard = self.heard[vrid]
        if not heard:
            return None
        row = slice(vrid * self.width, (vrid + 1) * self.width)
        summary = (heard, self.last_at[vrid], self.gap_counts[row].tolist(), self.gap_sums[vrid])
        self.heard[vrid] = 0
        self.gap_counts[row] = array("I", bytes(4 * self.width))
        self.gap_sums[vrid] = 0.0
        return summary
