"""The contract of the wire codec, shared by both twins.

`Advert`, `AdvertError`, the reason codes and the constants live here, once, so that the
pure reference (`_wire_py`) and its Cython twin (`_wire`) return equal values and raise the
same exception with the same reason.  Reason codes are keepalived's counter names where
keepalived has one, so a drop counted by fastvrrp reads like one counted by keepalived.
"""

from __future__ import annotations

import hmac
import ipaddress
import struct
from dataclasses import dataclass
from functools import cached_property
from typing import Iterable, NamedTuple

IPPROTO_VRRP = 112
IPPROTO_AH = 51
VRRP_TTL = 255
VRRP_GROUP_V4 = "224.0.0.18"
VRRP_GROUP_V6 = "ff02::12"

TYPE_ADVERTISEMENT = 1
AUTH_NONE = 0
AUTH_PASS = 1
AUTH_AH = 2
AUTH_DATA_LEN = 8

CHECKSUM_PSEUDO_HEADER = "pseudo_header"
"""v3 checksum over the IP pseudo-header and the message (keepalived, FRR; always for IPv6)."""
CHECKSUM_MESSAGE = "message"
"""Checksum over the VRRP message only (v2; v3 over IPv4 as RFC 9568, Cisco and Juniper send it)."""

# Reasons a packet is dropped.  The first group depends on the packet alone (`parse_*`), the
# second on the receiving instance's configuration (`check_advert`, `validate_batch` with a table).
IP_TTL_ERR = "ip_ttl_err"
"""RFC 5798 §7.1 / RFC 3768 §7.1: TTL / hop limit is not 255."""
PACKET_LEN_ERR = "packet_len_err"
"""RFC 5798 §7.1: the packet does not hold one complete VRRP message (IP lengths, count)."""
IP_HDR_ERR = "ip_hdr_err"
"""Not an IPv4 header, or not protocol 112 (keepalived has no counter for this)."""
AH_UNSUPPORTED = "ah_unsupported"
"""RFC 2338 IP AH authentication (IP protocol 51 or v2 auth type 2): recognised, not implemented."""
VERS_ERR = "vers_err"
"""RFC 5798 §7.1: version is not 3 (or 2 for RFC 3768); v2 over IPv6 does not exist."""
INVALID_TYPE_RCVD = "invalid_type_rcvd"
"""RFC 5798 §5.2.2: type is not 1 (ADVERTISEMENT)."""
ADDR_COUNT_ERR = "addr_count_err"
"""RFC 9568 errata: Count IPvX Addr must be at least 1."""
CHK_ERR = "chk_err"
"""RFC 5798 §7.1: the checksum does not verify in any accepted form."""
INVALID_AUTHTYPE = "invalid_authtype"
"""RFC 3768 §5.3.6: v2 auth type is not 0, 1 or 2."""
ADVERT_INTERVAL_ERR = "advert_interval_err"
"""Interval 0 (RFC 9568 errata), or a v2 interval unlike ours (RFC 3768 §7.1)."""
VRID_ERR = "vrid_err"
"""RFC 5798 §7.1: no virtual router with this VRID is configured here."""
AUTHTYPE_MISMATCH = "authtype_mismatch"
"""RFC 3768 §7.1: the auth type differs from the configured one."""
AUTH_FAILURE = "auth_failure"
"""RFC 3768 §7.1 / §5.3.6.1: the simple-text password does not match."""
IPV6_LL_ERR = "ipv6_ll_err"
"""RFC 5798 §5.2.9: the first IPv6 address is not link-local (opt-in: keepalived does not send it)."""

REASONS: tuple[str, ...] = (
    IP_TTL_ERR,
    PACKET_LEN_ERR,
    IP_HDR_ERR,
    AH_UNSUPPORTED,
    VERS_ERR,
    INVALID_TYPE_RCVD,
    ADDR_COUNT_ERR,
    CHK_ERR,
    INVALID_AUTHTYPE,
    ADVERT_INTERVAL_ERR,
    VRID_ERR,
    AUTHTYPE_MISMATCH,
    AUTH_FAILURE,
    IPV6_LL_ERR,
)
"""Batch result code N (N >= 1) means REASONS[N - 1]; 0 means the packet is valid."""
RESULT_OK = 0
REASON_CODES: dict[str, int] = {reason: i + 1 for i, reason in enumerate(REASONS)}

ADDR_LIST_ERR = "addr_list_err"
"""RFC 9568 §7.1: the address list differs from ours; counted and logged, the advert is kept."""


class AdvertError(ValueError):
    """A peer's advert that must be dropped; `.reason` is the counter to increment."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __reduce__(self):  # keep the reason across pickling (Hypothesis, multiprocessing)
        return (type(self), (self.reason,))


class Advert(NamedTuple):
    """One received or built advertisement.

    A tuple so that the Cython twin can make one without running Python code.  Addresses are
    packed (4 or 16 bytes, network order): comparing them to the configuration needs no parsing.
    """

    version: int
    vrid: int
    priority: int
    interval_cs: int
    """Advertisement interval in centiseconds; v2's whole seconds are converted (1 s -> 100)."""
    addresses: tuple[bytes, ...]
    auth_type: int
    """v2 auth type; 0 for v3, which has no authentication."""
    auth_data: bytes
    """v2's 8 authentication bytes as received; b"" for v3."""
    checksum_form: str
    source: bytes
    """Packed source address of the IP packet (IPv4 header, or IPv6 ancillary data)."""

    @property
    def ip_addresses(self) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        return [ipaddress.ip_address(a) for a in self.addresses]

    @property
    def source_address(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        return ipaddress.ip_address(self.source)


def password_key(password: bytes | str) -> bytes:
    """The 8 bytes a v2 simple-text password puts on the wire: truncated, zero-padded (RFC 3768 §5.3.6.1)."""
    if isinstance(password, str):
        password = password.encode()
    return password[:AUTH_DATA_LEN].ljust(AUTH_DATA_LEN, b"\0")


@dataclass(frozen=True)
class Expected:
    """What one configured virtual router accepts; the input of the configuration checks."""

    vrid: int
    version: int = 3
    auth_type: int = AUTH_NONE
    password: bytes = b""
    interval_cs: int = 100
    addresses: tuple[bytes, ...] = ()
    require_link_local_first: bool = False
    """RFC 5798 §5.2.9 wants an IPv6 link-local address first; keepalived sends only the VIPs."""

    @cached_property
    def auth_key(self) -> bytes:
        return password_key(self.password)


def check_advert(advert: Advert, expected: Expected) -> tuple[str, ...]:
    """The receive checks that need the instance's configuration (RFC 5798 §7.1, RFC 3768 §7.1).

    Raises `AdvertError` for an advert to drop; returns the non-fatal findings to count
    (`addr_list_err`).  The packet-only checks were done by `parse_ipv4` / `parse_ipv6`.
    """
    if advert.vrid != expected.vrid:
        raise AdvertError(VRID_ERR)
    if advert.version != expected.version:
        raise AdvertError(VERS_ERR)
    if advert.version == 2:
        if advert.auth_type != expected.auth_type:
            raise AdvertError(AUTHTYPE_MISMATCH)
        if advert.auth_type == AUTH_PASS and not hmac.compare_digest(advert.auth_data, expected.auth_key):
            raise AdvertError(AUTH_FAILURE)
        if advert.interval_cs != expected.interval_cs:
            raise AdvertError(ADVERT_INTERVAL_ERR)
    if expected.require_link_local_first and len(advert.addresses[0]) == 16 and advert.addresses[0][:2] != b"\xfe\x80":
        raise AdvertError(IPV6_LL_ERR)
    addresses = advert.addresses
    if expected.addresses and addresses != expected.addresses and sorted(addresses) != sorted(expected.addresses):
        return (ADDR_LIST_ERR,)
    return ()


# The batch table: 256 records of TABLE_RECORD bytes, indexed by VRID, so that the batch entry
# point can run the configuration checks without a Python object per packet.
TABLE_RECORD = 16
TABLE_CONFIGURED = 0x01
TABLE_REQUIRE_LL = 0x02
_TABLE_FORMAT = struct.Struct("!BBBxHxx8s")


def pack_table(expectations: Iterable[Expected]) -> bytes:
    """Pack instances for `validate_batch`: flags, version, auth type, interval_cs, auth key."""
    table = bytearray(256 * TABLE_RECORD)
    for e in expectations:
        flags = TABLE_CONFIGURED | (TABLE_REQUIRE_LL if e.require_link_local_first else 0)
        _TABLE_FORMAT.pack_into(table, e.vrid * TABLE_RECORD, flags, e.version, e.auth_type, e.interval_cs, e.auth_key)
    return bytes(table)


def unpack_table_record(table: bytes, vrid: int) -> Expected | None:
    """The `Expected` a table record stands for (addresses are not in the table)."""
    flags, version, auth_type, interval_cs, key = _TABLE_FORMAT.unpack_from(table, vrid * TABLE_RECORD)
    if not flags & TABLE_CONFIGURED:
        return None
    return Expected(vrid, version, auth_type, key, interval_cs, (), bool(flags & TABLE_REQUIRE_LL))


# Per-packet record written by `validate_batch` when asked to parse: what the daemon needs to
# drive the protocol without building an `Advert`.
RECORD_SIZE = 8
RECORD_FORMAT = struct.Struct("!BBBBHBx")
"""vrid, priority, version, count, interval_cs, checksum form (0 message, 1 pseudo-header)."""
