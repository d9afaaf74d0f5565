"""One fuzz input against the wire codec: crash and differential checks.

An input is `selector, table, body...`. The selector picks the entry point, the table byte
picks one of `TABLES` for the batch calls that take one, and the body is the packet(s):

    0  parse_ipv4(body)
    1  parse_ipv6(body[33:], src=body[:16], dst=body[16:32], hop_limit=body[32])
    2  parse_vrrp(body[8:], src=body[:4], dst=body[4:8])
    3  parse_vrrp(body[32:], src=body[:16], dst=body[16:32])
    4  validate_batch, family 4, no table      5  the same with a table
    6  validate_batch, family 6, no table      7  the same with a table

A batch body is a run of `length (2 bytes, big-endian) + packet`, each family-6 packet
preceded by its 32 address bytes and a hop-limit byte; the last packet takes what is left.
The packets stay in the input buffer, so the batch reads them at odd offsets, as from recvmmsg.

The selector's high bits ask for a right checksum: with 0x80 set, every VRRP message in the
input gets its checksum recomputed before the call (over the pseudo-header too unless 0x40 is
set), so that mutations reach the checks behind the checksum instead of all dying at chk_err.

A crash is any exception but AdvertError from a parse call, any exception from a batch call,
or (given a second twin) any difference from it.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from types import ModuleType

from fastvrrp._wire_py import checksum
from fastvrrp.advert import IPPROTO_VRRP, RECORD_SIZE, Advert, AdvertError, Expected, pack_table

TABLES = (
    pack_table(
        [
            Expected(vrid=150, version=2, auth_type=1, password=b"1111"),
            Expected(vrid=151, version=3),
            Expected(vrid=1, version=3, interval_cs=25),
        ]
    ),
    pack_table(Expected(vrid=v, version=3, require_link_local_first=True) for v in range(256)),
    pack_table(Expected(vrid=v, version=2, auth_type=1, password=b"12345678XYZ", interval_cs=300) for v in range(256)),
    pack_table(Expected(vrid=v, version=2, interval_cs=100) for v in range(256)),
)
"""The configurations of the captures, and whole tables that exercise each configuration check."""

SELECTORS = 8
REPAIR = 0x80
MESSAGE_ONLY = 0x40


class Mismatch(AssertionError):
    """The compiled twin and the reference disagreed on one input."""


def outcome(call: Callable[[], Advert]) -> Advert | str:
    """The Advert, or the reason of the AdvertError; any other exception is a crash and propagates."""
    try:
        advert = call()
    except AdvertError as e:
        return e.reason
    if type(advert) is not Advert:
        raise TypeError(f"returned {type(advert).__name__}, not Advert")
    return advert


def parse_call(twin: ModuleType, selector: int, body: bytes) -> Callable[[], Advert]:
    if selector == 0:
        return lambda: twin.parse_ipv4(body)
    if selector == 1:
        body = body.ljust(33, b"\0")
        return lambda: twin.parse_ipv6(body[33:], body[:16], body[16:32], body[32])
    if selector == 2:
        body = body.ljust(8, b"\0")
        return lambda: twin.parse_vrrp(body[8:], body[:4], body[4:8])
    body = body.ljust(32, b"\0")
    return lambda: twin.parse_vrrp(body[32:], body[:16], body[16:32])


def split_batch(data: bytes, start: int, family: int):
    """Offsets, lengths, addresses and hop limits of the packets framed in data[start:]."""
    offsets, lengths, addrs, hops = array("I"), array("I"), bytearray(), bytearray()
    at = start
    while at < len(data):
        if family == 6:
            meta = data[at : at + 33].ljust(33, b"\0")
            addrs += meta[:32]
            hops.append(meta[32])
            at += 33
        size = int.from_bytes(data[at : at + 2].ljust(2, b"\0"), "big")
        at = min(at + 2, len(data))
        size = min(size, len(data) - at)
        offsets.append(at)
        lengths.append(size)
        at += size
    return offsets, lengths, bytes(addrs), bytes(hops)


def run_batch(twin: ModuleType, data: bytes, family: int, table: bytes | None):
    offsets, lengths, addrs, hops = split_batch(data, 2, family)
    results = bytearray(b"\xff" * len(offsets))
    records = bytearray(b"\xa5" * (RECORD_SIZE * len(offsets)))
    extra = {"addrs": addrs, "hop_limits": hops} if family == 6 else {}
    valid = twin.validate_batch(data, offsets, lengths, results, table, family=family, records=records, **extra)
    # Only the records of valid packets are part of the contract.
    kept = b"".join(records[RECORD_SIZE * i : RECORD_SIZE * (i + 1)] for i, r in enumerate(results) if r == 0)
    return valid, bytes(results), kept


def fix_checksum(buf: bytearray, start: int, end: int, src: bytes, dst: bytes, pseudo: bool) -> None:
    """Give the VRRP message buf[start:end] a checksum that verifies (RFC 1071, RFC 8200 §8.1)."""
    if end - start < 8:
        return
    buf[start + 6 : start + 8] = b"\0\0"
    covered = bytes(buf[start:end])
    if pseudo and len(src) == 4:
        covered = src + dst + bytes([0, IPPROTO_VRRP]) + len(covered).to_bytes(2, "big") + covered
    elif pseudo:
        covered = src + dst + len(covered).to_bytes(4, "big") + bytes([0, 0, 0, IPPROTO_VRRP]) + covered
    buf[start + 6 : start + 8] = checksum(covered).to_bytes(2, "big")


def fix_ipv4(buf: bytearray, start: int, end: int, pseudo: bool) -> None:
    """Fix the checksum of the message inside the IPv4 packet buf[start:end], where its header puts it."""
    if end - start < 20:
        return
    ihl = (buf[start] & 0x0F) * 4
    stop = min(start + int.from_bytes(buf[start + 2 : start + 4], "big"), end)
    if ihl >= 20:
        fix_checksum(
            buf, start + ihl, stop, bytes(buf[start + 12 : start + 16]), bytes(buf[start + 16 : start + 20]), pseudo
        )


def repaired(data: bytes) -> bytes:
    """`data` with every VRRP message's checksum recomputed, as the selector's flags ask."""
    buf, selector, pseudo = bytearray(data), data[0] % SELECTORS, not data[0] & MESSAGE_ONLY
    if selector == 0:
        fix_ipv4(buf, 2, len(buf), pseudo)
    elif selector in (1, 3):
        skip = 35 if selector == 1 else 34
        fix_checksum(buf, skip, len(buf), bytes(buf[2:18]), bytes(buf[18:34]), pseudo)
    elif selector == 2:
        fix_checksum(buf, 10, len(buf), bytes(buf[2:6]), bytes(buf[6:10]), pseudo)
    else:
        family = 4 if selector < 6 else 6
        offsets, lengths, addrs, _ = split_batch(data, 2, family)
        for i, (start, size) in enumerate(zip(offsets, lengths)):
            if family == 4:
                fix_ipv4(buf, start, start + size, pseudo)
            else:
                fix_checksum(
                    buf, start, start + size, addrs[32 * i : 32 * i + 16], addrs[32 * i + 16 : 32 * i + 32], pseudo
                )
    return bytes(buf)


def check(data: bytes, twin: ModuleType, reference: ModuleType | None) -> None:
    """Run one input through `twin` and compare with `reference` when given."""
    if len(data) < 2:
        return
    if data[0] & REPAIR:
        data = repaired(data)
    selector = data[0] % SELECTORS
    if selector < 4:
        got = outcome(parse_call(twin, selector, data[2:]))
        if reference is not None:
            want = outcome(parse_call(reference, selector, data[2:]))
            if got != want:
                raise Mismatch(f"selector {selector}: compiled {got!r} != reference {want!r}")
        return
    family = 4 if selector < 6 else 6
    table = TABLES[data[1] % len(TABLES)] if selector % 2 else None
    got_batch = run_batch(twin, data, family, table)
    if reference is not None:
        want_batch = run_batch(reference, data, family, table)
        if got_batch != want_batch:
            raise Mismatch(f"selector {selector}: compiled {got_batch!r} != reference {want_batch!r}")
