"""A minimal classic-pcap reader and writer, stdlib only.

The golden-vector tests and the fuzzer's seed corpus read keepalived captures, and the
announcement tests write frames for tshark to judge; neither needs more than Ethernet frames
in the classic format, so a dependency (dpkt, scapy) would only add a way to be wrong.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

LINKTYPE_ETHERNET = 1
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
ETHERTYPE_IPV6 = 0x86DD

_MAGIC_US = 0xA1B2C3D4
_MAGIC_NS = 0xA1B23C4D
_GLOBAL = "IHHiIII"  # magic, major, minor, thiszone, sigfigs, snaplen, linktype
_RECORD = "IIII"  # ts_sec, ts_frac, incl_len, orig_len


class Frame(NamedTuple):
    number: int
    """1-based, as tshark numbers frames."""
    timestamp: float
    data: bytes


class Ethernet(NamedTuple):
    destination: bytes
    source: bytes
    ethertype: int
    payload: bytes


def read_pcap(path: str | Path) -> list[Frame]:
    """All frames of an Ethernet capture, in either byte order and either timestamp resolution."""
    return list(iter_pcap(Path(path).read_bytes()))


def iter_pcap(blob: bytes) -> Iterator[Frame]:
    if len(blob) < 24:
        raise ValueError("not a pcap file: shorter than its global header")
    for order in "<>":
        magic = struct.unpack_from(order + "I", blob)[0]
        if magic in (_MAGIC_US, _MAGIC_NS):
            break
    else:
        raise ValueError("not a classic pcap file (pcapng is not supported)")
    scale = 1e-6 if magic == _MAGIC_US else 1e-9
    linktype = struct.unpack_from(order + _GLOBAL, blob)[6] & 0x0FFFFFFF
    if linktype != LINKTYPE_ETHERNET:
        raise ValueError(f"linktype {linktype}: only Ethernet (1) captures are read")
    record = struct.Struct(order + _RECORD)
    offset, number = 24, 0
    while offset < len(blob):
        if offset + record.size > len(blob):
            raise ValueError(f"truncated record header at byte {offset}")
        seconds, fraction, captured, _ = record.unpack_from(blob, offset)
        offset += record.size
        if offset + captured > len(blob):
            raise ValueError(f"truncated frame at byte {offset}")
        number += 1
        yield Frame(number, seconds + fraction * scale, blob[offset : offset + captured])
        offset += captured


def write_pcap(path: str | Path, frames: list[bytes]) -> None:
    """Write Ethernet frames (little-endian, microseconds, one frame per millisecond)."""
    out = [struct.pack("<" + _GLOBAL, _MAGIC_US, 2, 4, 0, 0, 65535, LINKTYPE_ETHERNET)]
    for i, frame in enumerate(frames):
        out.append(struct.pack("<" + _RECORD, 0, 1000 * i, len(frame), len(frame)))
        out.append(frame)
    Path(path).write_bytes(b"".join(out))


def ethernet(frame: bytes) -> Ethernet:
    """Split an untagged Ethernet II frame (captures here carry no VLAN tags)."""
    if len(frame) < 14:
        raise ValueError("frame shorter than an Ethernet header")
    return Ethernet(frame[0:6], frame[6:12], struct.unpack_from("!H", frame, 12)[0], frame[14:])
