"""The reference VRRP codec: plain struct code, the spec of record for the Cython twin `_wire`.

Packet checks that need nothing but the packet happen in `parse_ipv4` / `parse_ipv6`; checks
that need the receiving instance's configuration are `advert.check_advert`, or the table given
to `validate_batch`.  Order of checks is part of the contract: the first failing check names
the reason, in both twins.
"""

from __future__ import annotations

import struct
from typing import Sequence

from .advert import (
    ADDR_COUNT_ERR,
    ADVERT_INTERVAL_ERR,
    AH_UNSUPPORTED,
    AUTH_AH,
    AUTH_DATA_LEN,
    AUTH_NONE,
    AUTH_PASS,
    CHECKSUM_MESSAGE,
    CHECKSUM_PSEUDO_HEADER,
    CHK_ERR,
    INVALID_AUTHTYPE,
    INVALID_TYPE_RCVD,
    IP_HDR_ERR,
    IP_TTL_ERR,
    IPPROTO_AH,
    IPPROTO_VRRP,
    PACKET_LEN_ERR,
    REASON_CODES,
    RECORD_FORMAT,
    RECORD_SIZE,
    RESULT_OK,
    TABLE_RECORD,
    TYPE_ADVERTISEMENT,
    VERS_ERR,
    VRID_ERR,
    VRRP_TTL,
    Advert,
    AdvertError,
    check_advert,
    password_key,
    unpack_table_record,
)

__all__ = [
    "build_advert",
    "build_ipv4_packet",
    "checksum",
    "parse_ipv4",
    "parse_ipv6",
    "parse_vrrp",
    "validate_batch",
]

_HEADER = struct.Struct("!BBBBHH")  # ver/type, vrid, priority, count, auth+interval, checksum
_IPV4 = struct.Struct("!BBHHHBBH4s4s")


def checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum of `data` (odd length padded with a zero byte)."""
    if len(data) % 2:
        data = bytes(data) + b"\0"  # never `+=`: it would grow a caller's bytearray
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _pseudo_header(src: bytes, dst: bytes, length: int) -> bytes:
    """IPv4 (RFC 768 style) or IPv6 (RFC 8200 §8.1) pseudo-header for next header 112."""
    if len(src) == 4:
        return bytes(src) + bytes(dst) + struct.pack("!BBH", 0, IPPROTO_VRRP, length)
    return bytes(src) + bytes(dst) + struct.pack("!I3xB", length, IPPROTO_VRRP)


def build_advert(
    version: int,
    vrid: int,
    priority: int,
    interval_cs: int,
    addresses: Sequence[bytes],
    *,
    auth_type: int = AUTH_NONE,
    password: bytes = b"",
    src: bytes | None = None,
    dst: bytes | None = None,
    checksum_form: str = CHECKSUM_PSEUDO_HEADER,
) -> bytes:
    """The VRRP message with its checksum, ready for a raw socket.

    v2 (RFC 3768 §5.3): IPv4 addresses, `interval_cs` a multiple of 100 (1..255 s), and an
    8-byte auth field (`password` truncated/zero-padded for auth type 1).  v3 (RFC 5798 §5.2):
    IPv4 or IPv6 addresses, `interval_cs` 1..4095; the pseudo-header checksum needs `src` and
    `dst` (packed), the message-only form (`checksum_form=CHECKSUM_MESSAGE`, IPv4 only) does not.
    Our own misuse raises ValueError, never AdvertError.
    """
    count = len(addresses)
    if not 1 <= count <= 255:
        raise ValueError("an advert carries 1 to 255 addresses")
    if not 0 <= vrid <= 255 or not 0 <= priority <= 255:
        raise ValueError("vrid and priority are 0..255")
    alen = len(addresses[0])
    if alen not in (4, 16) or any(len(a) != alen for a in addresses):
        raise ValueError("addresses must all be packed IPv4 (4 bytes) or all IPv6 (16 bytes)")
    if version == 2:
        if alen != 4:
            raise ValueError("VRRPv2 carries IPv4 addresses only")
        if interval_cs % 100 or not 1 <= interval_cs // 100 <= 255:
            raise ValueError("VRRPv2 interval is 1..255 whole seconds")
        if auth_type not in (AUTH_NONE, AUTH_PASS):
            raise ValueError("VRRPv2 auth type must be 0 (none) or 1 (simple password)")
        auth = password_key(password) if auth_type == AUTH_PASS else bytes(AUTH_DATA_LEN)
        head = _HEADER.pack(0x21, vrid, priority, count, (auth_type << 8) | interval_cs // 100, 0)
        message = head + b"".join(addresses) + auth
        form = CHECKSUM_MESSAGE
    elif version == 3:
        if not 1 <= interval_cs <= 0x0FFF:
            raise ValueError("VRRPv3 interval is 1..4095 centiseconds")
        if auth_type != AUTH_NONE:
            raise ValueError("VRRPv3 has no authentication")
        message = _HEADER.pack(0x31, vrid, priority, count, interval_cs, 0) + b"".join(addresses)
        form = checksum_form
        if form not in (CHECKSUM_PSEUDO_HEADER, CHECKSUM_MESSAGE):
            raise ValueError(f"unknown checksum form {form!r}")
        if form == CHECKSUM_MESSAGE and alen == 16:
            raise ValueError("VRRPv3 over IPv6 always checksums the pseudo-header")
    else:
        raise ValueError("version must be 2 or 3")
    if form == CHECKSUM_PSEUDO_HEADER:
        if src is None or dst is None or len(src) != alen or len(dst) != alen:
            raise ValueError("the pseudo-header checksum needs packed src and dst of the addresses' family")
        csum = checksum(_pseudo_header(src, dst, len(message)) + message)
    else:
        csum = checksum(message)
    return message[:6] + struct.pack("!H", csum) + message[8:]


def build_ipv4_packet(message: bytes, src: bytes, dst: bytes, ttl: int = VRRP_TTL, protocol: int = IPPROTO_VRRP) -> bytes:
    """An IPv4 packet around `message`, as a raw socket would return it (tests, fuzzing, the lab)."""
    header = _IPV4.pack(0x45, 0xC0, 20 + len(message), 0, 0, ttl, protocol, 0, src, dst)
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:] + message


def parse_vrrp(message: bytes, src: bytes, dst: bytes) -> Advert:
    """Decode and check one VRRP message whose IP source and destination are `src`, `dst` (packed).

    The packet-only receive checks of RFC 5798 §7.1 and RFC 3768 §7.1, in this order: length,
    version, type, family, count, exact length, checksum, auth type, interval.
    """
    if len(src) not in (4, 16) or len(dst) != len(src):
        raise ValueError("src and dst must be packed addresses of one family (4 or 16 bytes)")
    size = len(message)
    if size < 8:
        raise AdvertError(PACKET_LEN_ERR)
    vt, vrid, priority, count, auth_interval, _ = _HEADER.unpack_from(message)
    version = vt >> 4
    if version not in (2, 3):
        raise AdvertError(VERS_ERR)
    if vt & 0x0F != TYPE_ADVERTISEMENT:
        raise AdvertError(INVALID_TYPE_RCVD)
    alen = len(src)
    if version == 2 and alen != 4:
        raise AdvertError(VERS_ERR)
    if count == 0:
        raise AdvertError(ADDR_COUNT_ERR)
    auth_len = AUTH_DATA_LEN if version == 2 else 0
    if size != 8 + count * alen + auth_len:
        raise AdvertError(PACKET_LEN_ERR)
    if version == 2:
        if checksum(message):
            raise AdvertError(CHK_ERR)
        form = CHECKSUM_MESSAGE
    elif not checksum(_pseudo_header(src, dst, size) + message):
        form = CHECKSUM_PSEUDO_HEADER
    elif alen == 4 and not checksum(message):
        form = CHECKSUM_MESSAGE
    else:
        raise AdvertError(CHK_ERR)
    if version == 2:
        auth_type, interval_cs = auth_interval >> 8, (auth_interval & 0xFF) * 100
        if auth_type == AUTH_AH:
            raise AdvertError(AH_UNSUPPORTED)
        if auth_type > AUTH_AH:
            raise AdvertError(INVALID_AUTHTYPE)
        auth_data = message[size - AUTH_DATA_LEN :]
    else:
        auth_type, interval_cs, auth_data = AUTH_NONE, auth_interval & 0x0FFF, b""
    if interval_cs == 0:
        raise AdvertError(ADVERT_INTERVAL_ERR)
    addresses = tuple(message[i : i + alen] for i in range(8, 8 + count * alen, alen))
    return Advert(version, vrid, priority, interval_cs, addresses, auth_type, auth_data, form, src)


def parse_ipv4(packet: bytes) -> Advert:
    """Decode a whole IPv4 packet as a protocol-112 raw socket returns it.

    Checks the IP header (RFC 5798 §7.1: TTL 255; version 4, header and total length, protocol
    112, AH recognised), ignores Ethernet padding past the total length, then `parse_vrrp`.
    """
    size = len(packet)
    if size < 20:
        raise AdvertError(PACKET_LEN_ERR)
    vihl, _, total, _, _, ttl, protocol, _, src, dst = _IPV4.unpack_from(packet)
    if vihl >> 4 != 4:
        raise AdvertError(IP_HDR_ERR)
    ihl = (vihl & 0x0F) * 4
    if ihl < 20 or total < ihl or total > size:
        raise AdvertError(PACKET_LEN_ERR)
    if protocol == IPPROTO_AH:
        raise AdvertError(AH_UNSUPPORTED)
    if protocol != IPPROTO_VRRP:
        raise AdvertError(IP_HDR_ERR)
    if ttl != VRRP_TTL:
        raise AdvertError(IP_TTL_ERR)
    return parse_vrrp(bytes(packet[ihl:total]), src, dst)


def parse_ipv6(payload: bytes, src: bytes, dst: bytes, hop_limit: int) -> Advert:
    """Decode the VRRP payload of an IPv6 raw socket; `src`, `dst` (packed, 16 bytes) and
    `hop_limit` come from the ancillary data (IPV6_RECVPKTINFO, IPV6_RECVHOPLIMIT)."""
    if len(src) != 16 or len(dst) != 16:
        raise ValueError("src and dst must be packed IPv6 addresses")
    if hop_limit != VRRP_TTL:
        raise AdvertError(IP_TTL_ERR)
    return parse_vrrp(bytes(payload), bytes(src), bytes(dst))


def validate_batch(
    buffer,
    offsets,
    lengths,
    results,
    table: bytes | None = None,
    *,
    family: int = 4,
    addrs=None,
    hop_limits=None,
    records=None,
) -> int:
    """Validate many packets held in one buffer; returns how many are valid.

    Packet i is `buffer[offsets[i]:offsets[i] + lengths[i]]`: a whole IPv4 packet (family 4),
    or a VRRP payload (family 6) whose source and destination are `addrs[32 i:32 i + 32]` and
    hop limit `hop_limits[i]`.  `results[i]` receives 0 or the reason's code
    (`advert.REASON_CODES`).  With `table` (`advert.pack_table`) the configuration checks run
    too; with `records`, each valid packet's `advert.RECORD_FORMAT` fields are written at
    `RECORD_SIZE * i`.  `offsets` and `lengths` are sequences of ints (e.g. array('I')).
    """
    view = memoryview(buffer)
    n = len(offsets)
    if len(lengths) < n or len(results) < n:
        raise ValueError("lengths and results must hold one entry per offset")
    if family == 6 and (addrs is None or hop_limits is None or len(addrs) < 32 * n or len(hop_limits) < n):
        raise ValueError("family 6 needs 32 bytes of addrs and one hop limit per packet")
    if family not in (4, 6):
        raise ValueError("family must be 4 or 6")
    if records is not None and len(records) < RECORD_SIZE * n:
        raise ValueError("records must hold RECORD_SIZE bytes per packet")
    if table is not None and len(table) < 256 * TABLE_RECORD:
        raise ValueError("table must hold 256 records (advert.pack_table)")
    valid = 0
    for i in range(n):
        start, size = offsets[i], lengths[i]
        if start < 0 or size < 0 or start + size > len(view):
            raise ValueError(f"packet {i} lies outside the buffer")
        packet = bytes(view[start : start + size])
        try:
            if family == 4:
                advert = parse_ipv4(packet)
            else:
                a = bytes(addrs[32 * i : 32 * i + 32])
                advert = parse_ipv6(packet, a[:16], a[16:], hop_limits[i])
            if table is not None:
                expected = unpack_table_record(table, advert.vrid)
                if expected is None:
                    raise AdvertError(VRID_ERR)
                check_advert(advert, expected)
        except AdvertError as e:
            results[i] = REASON_CODES[e.reason]
            continue
        results[i] = RESULT_OK
        valid += 1
        if records is not None:
            RECORD_FORMAT.pack_into(
                records,
                RECORD_SIZE * i,
                advert.vrid,
                advert.priority,
                advert.version,
                len(advert.addresses),
                advert.interval_cs,
                advert.checksum_form == CHECKSUM_PSEUDO_HEADER,
            )
    return valid
