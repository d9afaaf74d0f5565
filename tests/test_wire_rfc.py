"""RFC edge cases, each against both twins, each naming the rule it checks.

Malformed packets are assembled here byte by byte, with a checksum computed by this module's
own RFC 1071 sum, so that a fault in the codec's builder or checksum cannot hide a fault in
its parser.
"""

from __future__ import annotations

import ipaddress
import struct
from array import array

import pytest

from fastvrrp.advert import (
    ADDR_LIST_ERR,
    CHECKSUM_MESSAGE,
    CHECKSUM_PSEUDO_HEADER,
    REASON_CODES,
    RECORD_FORMAT,
    RECORD_SIZE,
    Advert,
    AdvertError,
    Expected,
    check_advert,
    pack_table,
)

SRC4 = ipaddress.ip_address("10.0.201.1").packed
GROUP4 = ipaddress.ip_address("224.0.0.18").packed
VIP4 = ipaddress.ip_address("10.0.201.100").packed
VIP4B = ipaddress.ip_address("10.0.201.101").packed
SRC6 = ipaddress.ip_address("fe80::1").packed
GROUP6 = ipaddress.ip_address("ff02::12").packed
VIP6 = ipaddress.ip_address("fd00:201::100").packed
LL6 = ipaddress.ip_address("fe80::100").packed


def internet_checksum(data: bytes) -> int:
    """RFC 1071 §4.1, written independently of the codec's."""
    data = data + b"\0" * (len(data) % 2)
    total = 0
    for i in range(0, len(data), 2):
        total += data[i] << 8 | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def pseudo_header(src: bytes, dst: bytes, length: int) -> bytes:
    """IPv4: src, dst, zero, protocol, length. IPv6 (RFC 8200 §8.1): src, dst, 32-bit length, 3 zeros, next header."""
    if len(src) == 4:
        return src + dst + bytes([0, 112]) + length.to_bytes(2, "big")
    return src + dst + length.to_bytes(4, "big") + bytes([0, 0, 0, 112])


def message(
    version: int = 3,
    *,
    type_: int = 1,
    vrid: int = 1,
    priority: int = 100,
    count: int | None = None,
    field: int | None = None,
    addresses: tuple[bytes, ...] = (VIP4,),
    auth: bytes = b"",
    form: str | None = None,
    src: bytes = SRC4,
    dst: bytes = GROUP4,
    checksum: int | None = None,
) -> bytes:
    """A VRRP message with any field set to anything; `field` is v2's auth type/interval word or
    v3's reserved/interval word. The checksum is correct for `form` unless given."""
    if count is None:
        count = len(addresses)
    if field is None:
        field = 0x0001 if version == 2 else 100
    if form is None:
        form = CHECKSUM_MESSAGE if version == 2 else CHECKSUM_PSEUDO_HEADER
    if version == 2 and not auth:
        auth = bytes(8)
    body = bytes([version << 4 | type_, vrid, priority, count]) + struct.pack("!H", field)
    rest = b"".join(addresses) + auth
    if checksum is None:
        covered = body + b"\0\0" + rest
        if form == CHECKSUM_PSEUDO_HEADER:
            covered = pseudo_header(src, dst, len(covered)) + covered
        checksum = internet_checksum(covered)
    return body + struct.pack("!H", checksum) + rest


def ipv4(
    payload: bytes,
    *,
    ttl: int = 255,
    protocol: int = 112,
    version_ihl: int = 0x45,
    options: bytes = b"",
    total: int | None = None,
    src: bytes = SRC4,
    dst: bytes = GROUP4,
) -> bytes:
    """An IPv4 packet as a raw socket returns it (header checksum right, not that receivers read it)."""
    if total is None:
        total = 20 + len(options) + len(payload)
    header = struct.pack("!BBHHHBBH4s4s", version_ihl, 0xC0, total, 0, 0, ttl, protocol, 0, src, dst) + options
    header = header[:10] + internet_checksum(header).to_bytes(2, "big") + header[12:]
    return header + payload


def reason(function, *args) -> str:
    """The reason of the AdvertError that `function(*args)` must raise."""
    with pytest.raises(AdvertError) as caught:
        function(*args)
    return caught.value.reason


def v4_advert(
    version: int,
    *,
    interval_cs: int = 100,
    auth_type: int = 0,
    auth_data: bytes | None = None,
    checksum_form: str | None = None,
) -> Advert:
    """The Advert that `message(version, ...)` from SRC4 decodes to, with the defaults above."""
    if auth_data is None:
        auth_data = bytes(8) if version == 2 else b""
    if checksum_form is None:
        checksum_form = CHECKSUM_MESSAGE if version == 2 else CHECKSUM_PSEUDO_HEADER
    return Advert(version, 1, 100, interval_cs, (VIP4,), auth_type, auth_data, checksum_form, SRC4)


# --- RFC 1071 and the pseudo-headers -----------------------------------------------------------


def test_rfc1071_checksum_of_the_rfc_example_and_of_odd_lengths(wire):
    """RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2, so the checksum is 0x220d."""
    assert wire.checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    assert wire.checksum(b"\x01") == internet_checksum(b"\x01\x00") == 0xFEFF
    assert wire.checksum(b"") == 0xFFFF
    assert wire.checksum(bytes.fromhex("ffff" * 3)) == 0x0000


def test_rfc1071_message_with_its_checksum_sums_to_zero(wire):
    built = wire.build_advert(2, 7, 200, 300, [VIP4, VIP4B], auth_type=1, password=b"secret")
    assert wire.checksum(built) == 0
    assert built[6:8] == internet_checksum(built[:6] + b"\0\0" + built[8:]).to_bytes(2, "big")


def test_rfc8200_8_1_ipv6_pseudo_header_checksum(wire):
    """RFC 8200 §8.1 / RFC 5798 §5.2.8: src, dst, 32-bit upper-layer length, zeros, next header 112."""
    built = wire.build_advert(3, 9, 100, 100, [VIP6], src=SRC6, dst=GROUP6)
    unsummed = built[:6] + b"\0\0" + built[8:]
    assert built[6:8] == internet_checksum(pseudo_header(SRC6, GROUP6, 24) + unsummed).to_bytes(2, "big")
    assert wire.parse_ipv6(built, SRC6, GROUP6, 255).checksum_form == CHECKSUM_PSEUDO_HEADER
    other_src = ipaddress.ip_address("fe80::2").packed
    assert reason(wire.parse_ipv6, built, other_src, GROUP6, 255) == "chk_err"


def test_rfc5798_5_2_8_ipv4_pseudo_header_checksum(wire):
    """RFC 5798 §5.2.8 as keepalived and FRR read it: the IPv4 pseudo-header is included."""
    built = wire.build_advert(3, 9, 100, 100, [VIP4], src=SRC4, dst=GROUP4)
    unsummed = built[:6] + b"\0\0" + built[8:]
    assert built[6:8] == internet_checksum(pseudo_header(SRC4, GROUP4, 12) + unsummed).to_bytes(2, "big")


# --- IP header checks (RFC 5798 §7.1, RFC 3768 §7.1) ------------------------------------------------


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("ttl", [0, 1, 64, 254])
def test_rfc5798_7_1_and_rfc3768_7_1_ttl_not_255_is_ip_ttl_err(wire, version, ttl):
    assert reason(wire.parse_ipv4, ipv4(message(version), ttl=ttl)) == "ip_ttl_err"


@pytest.mark.parametrize("hop_limit", [0, 1, 64, 254])
def test_rfc5798_7_1_ipv6_hop_limit_not_255_is_ip_ttl_err(wire, hop_limit):
    m = message(addresses=(VIP6,), src=SRC6, dst=GROUP6)
    assert reason(wire.parse_ipv6, m, SRC6, GROUP6, hop_limit) == "ip_ttl_err"
    assert wire.parse_ipv6(m, SRC6, GROUP6, 255).priority == 100


@pytest.mark.parametrize("size", [0, 1, 19])
def test_rfc5798_7_1_truncated_ip_header_is_packet_len_err(wire, size):
    assert reason(wire.parse_ipv4, ipv4(message())[:size]) == "packet_len_err"


def test_rfc5798_7_1_total_length_beyond_the_buffer_is_packet_len_err(wire):
    packet = ipv4(message())
    assert reason(wire.parse_ipv4, ipv4(message(), total=len(packet) + 1)) == "packet_len_err"
    assert reason(wire.parse_ipv4, packet[:-1]) == "packet_len_err"


@pytest.mark.parametrize("ihl", [0, 1, 4])
def test_rfc791_ihl_below_5_is_packet_len_err(wire, ihl):
    assert reason(wire.parse_ipv4, ipv4(message(), version_ihl=0x40 | ihl)) == "packet_len_err"


def test_rfc791_total_length_below_the_header_is_packet_len_err(wire):
    assert reason(wire.parse_ipv4, ipv4(message(), total=19)) == "packet_len_err"


def test_rfc791_ip_options_are_skipped(wire):
    """A header with options (here Router Alert, RFC 2113) puts the message at IHL * 4."""
    packet = ipv4(message(), version_ihl=0x46, options=bytes([0x94, 0x04, 0, 0]))
    assert wire.parse_ipv4(packet) == v4_advert(3)


@pytest.mark.parametrize("padding", [bytes(6), b"\xa5" * 18])
def test_rfc5798_7_1_ethernet_padding_after_total_length_is_tolerated(wire, padding):
    """A 40-byte v2 packet arrives padded to Ethernet's 46-byte minimum payload; only total length counts."""
    for version in (2, 3):
        packet = ipv4(message(version))
        assert wire.parse_ipv4(packet + padding) == wire.parse_ipv4(packet) == v4_advert(version)


def test_rfc2338_ip_protocol_51_is_ah_unsupported(wire):
    assert reason(wire.parse_ipv4, ipv4(message(), protocol=51)) == "ah_unsupported"


@pytest.mark.parametrize("protocol", [0, 6, 17, 113, 255])
def test_rfc5798_7_1_other_ip_protocol_is_ip_hdr_err(wire, protocol):
    assert reason(wire.parse_ipv4, ipv4(message(), protocol=protocol)) == "ip_hdr_err"


@pytest.mark.parametrize("ip_version", [0, 6, 15])
def test_rfc791_ip_version_not_4_is_ip_hdr_err(wire, ip_version):
    assert reason(wire.parse_ipv4, ipv4(message(), version_ihl=ip_version << 4 | 5)) == "ip_hdr_err"


# --- VRRP header checks (RFC 5798 §5.2, §7.1; RFC 3768 §5.3, §7.1) ----------------------------------


@pytest.mark.parametrize("version", [0, 1, 4, 15])
def test_rfc5798_5_2_1_version_not_2_or_3_is_vers_err(wire, version):
    assert reason(wire.parse_ipv4, ipv4(message(version))) == "vers_err"
    m6 = message(version, addresses=(VIP6,), src=SRC6, dst=GROUP6)
    assert reason(wire.parse_ipv6, m6, SRC6, GROUP6, 255) == "vers_err"


def test_rfc5798_5_2_1_vrrpv2_over_ipv6_is_vers_err(wire):
    """RFC 3768 is IPv4 only: a v2 message on an IPv6 socket is a version error, whatever its body."""
    for addresses in ((VIP4,), (VIP6,)):
        m = message(2, addresses=addresses, src=SRC6, dst=GROUP6)
        assert reason(wire.parse_ipv6, m, SRC6, GROUP6, 255) == "vers_err"


@pytest.mark.parametrize("type_", [0, 2, 3, 15])
def test_rfc5798_5_2_2_type_not_advertisement_is_invalid_type_rcvd(wire, type_):
    for version in (2, 3):
        assert reason(wire.parse_ipv4, ipv4(message(version, type_=type_))) == "invalid_type_rcvd"


@pytest.mark.parametrize("version", [2, 3])
def test_rfc9568_errata_count_0_is_addr_count_err(wire, version):
    assert reason(wire.parse_ipv4, ipv4(message(version, addresses=()))) == "addr_count_err"


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize(("count", "addresses"), [(2, (VIP4,)), (1, (VIP4, VIP4B)), (3, (VIP4, VIP4B))])
def test_rfc5798_7_1_count_disagreeing_with_length_is_packet_len_err(wire, version, count, addresses):
    m = message(version, count=count, addresses=addresses)
    assert reason(wire.parse_ipv4, ipv4(m)) == "packet_len_err"


def test_rfc5798_7_1_message_shorter_than_its_header_is_packet_len_err(wire):
    for size in range(8):
        assert reason(wire.parse_vrrp, message()[:size], SRC4, GROUP4) == "packet_len_err"


def test_rfc3768_5_3_missing_auth_data_is_packet_len_err(wire):
    assert reason(wire.parse_ipv4, ipv4(message(2)[:-8])) == "packet_len_err"


def test_rfc5798_5_2_and_ipv6_count_is_in_16_byte_addresses(wire):
    m = message(addresses=(VIP6, LL6), src=SRC6, dst=GROUP6)
    assert wire.parse_ipv6(m, SRC6, GROUP6, 255).addresses == (VIP6, LL6)
    short = message(count=2, addresses=(VIP6,), src=SRC6, dst=GROUP6)
    assert reason(wire.parse_ipv6, short, SRC6, GROUP6, 255) == "packet_len_err"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"version": 2},
        {"version": 3},
        {"version": 3, "addresses": (VIP6,), "src": SRC6, "dst": GROUP6},
    ],
    ids=["v2", "v3-ipv4", "v3-ipv6"],
)
def test_rfc5798_7_1_wrong_checksum_is_chk_err(wire, kwargs):
    good = message(**kwargs)
    right = struct.unpack_from("!H", good, 6)[0]
    for wrong in (right ^ 1, right ^ 0x8000, (right + 1) & 0xFFFF):
        bad = message(**kwargs, checksum=wrong)
        assert reason(wire.parse_vrrp, bad, kwargs.get("src", SRC4), kwargs.get("dst", GROUP4)) == "chk_err"


def test_rfc9568_5_2_8_v3_ipv4_message_only_checksum_is_accepted_and_reported(wire):
    """RFC 9568 (and Cisco, Juniper) checksum v3 over IPv4 without the pseudo-header; keepalived with it."""
    message_only = wire.parse_ipv4(ipv4(message(form=CHECKSUM_MESSAGE)))
    assert message_only == v4_advert(3, checksum_form=CHECKSUM_MESSAGE)
    assert wire.parse_ipv4(ipv4(message(form=CHECKSUM_PSEUDO_HEADER))) == v4_advert(3)


def test_rfc5798_5_2_8_ipv6_message_only_checksum_is_chk_err(wire):
    """Over IPv6 the pseudo-header is mandatory (RFC 8200 §8.1): the message-only form is wrong."""
    m = message(addresses=(VIP6,), form=CHECKSUM_MESSAGE, src=SRC6, dst=GROUP6)
    assert reason(wire.parse_ipv6, m, SRC6, GROUP6, 255) == "chk_err"


def test_rfc3768_5_3_8_v2_checksum_excludes_the_pseudo_header(wire):
    pseudo = message(2, form=CHECKSUM_PSEUDO_HEADER)
    assert reason(wire.parse_ipv4, ipv4(pseudo)) == "chk_err"


def test_rfc3768_5_3_6_v2_auth_type_2_is_ah_unsupported(wire):
    assert reason(wire.parse_ipv4, ipv4(message(2, field=0x0201))) == "ah_unsupported"


@pytest.mark.parametrize("auth_type", [3, 4, 128, 255])
def test_rfc3768_5_3_6_v2_auth_type_3_to_255_is_invalid_authtype(wire, auth_type):
    assert reason(wire.parse_ipv4, ipv4(message(2, field=auth_type << 8 | 1))) == "invalid_authtype"


def test_rfc3768_5_3_6_1_v2_auth_data_is_returned_as_received(wire):
    auth = b"pw\0\xff\x01abc"
    got = wire.parse_ipv4(ipv4(message(2, field=0x0103, auth=auth)))
    assert got == v4_advert(2, interval_cs=300, auth_type=1, auth_data=auth)


def test_rfc3768_5_3_7_v2_interval_in_seconds_becomes_centiseconds(wire):
    assert wire.parse_ipv4(ipv4(message(2, field=0x00FF))).interval_cs == 25500


@pytest.mark.parametrize("version", [2, 3])
def test_rfc9568_errata_interval_0_is_advert_interval_err(wire, version):
    field = 0x0100 if version == 2 else 0x0000
    assert reason(wire.parse_ipv4, ipv4(message(version, field=field))) == "advert_interval_err"


def test_rfc5798_5_2_6_v3_reserved_bits_are_ignored(wire):
    """RFC 5798 §5.2.6: the 4 reserved bits MUST be ignored on receipt (still checksummed)."""
    for rsvd in (0x1, 0x8, 0xF):
        assert wire.parse_ipv4(ipv4(message(field=rsvd << 12 | 100))) == v4_advert(3)
    assert reason(wire.parse_ipv4, ipv4(message(field=0xF000))) == "advert_interval_err"


def test_rfc5798_5_2_7_v3_interval_is_12_bits_of_centiseconds(wire):
    assert wire.parse_ipv4(ipv4(message(field=0x0FFF))).interval_cs == 4095
    assert wire.parse_ipv4(ipv4(message(field=1))).interval_cs == 1


# --- configuration checks: check_advert and validate_batch's table (RFC 5798 §7.1, RFC 3768 §7.1) ----


def config_outcome(wire, packet: bytes, expected: Expected) -> tuple[tuple[str, ...] | str, int]:
    """The outcome of check_advert on the twin's advert, and the batch code for the same packet."""
    try:
        findings: tuple[str, ...] | str = check_advert(wire.parse_ipv4(packet), expected)
    except AdvertError as e:
        findings = e.reason
    results = bytearray(1)
    wire.validate_batch(packet, array("I", [0]), array("I", [len(packet)]), results, pack_table([expected]))
    return findings, results[0]


def v2_packet(password: bytes = b"", auth_type: int = 1, seconds: int = 1, vrid: int = 1) -> bytes:
    return ipv4(message(2, vrid=vrid, field=auth_type << 8 | seconds, auth=password.ljust(8, b"\0")[:8]))


def test_rfc5798_7_1_unknown_vrid_is_vrid_err(wire):
    assert config_outcome(wire, ipv4(message(vrid=2)), Expected(vrid=1)) == ("vrid_err", REASON_CODES["vrid_err"])


def test_rfc5798_7_1_version_unlike_ours_is_vers_err(wire):
    expected = Expected(vrid=1, version=3)
    assert config_outcome(wire, v2_packet(auth_type=0), expected) == ("vers_err", REASON_CODES["vers_err"])
    assert config_outcome(wire, ipv4(message(3)), Expected(vrid=1, version=2)) == ("vers_err", REASON_CODES["vers_err"])


@pytest.mark.parametrize(("ours", "theirs"), [(0, 1), (1, 0)])
def test_rfc3768_7_1_auth_type_unlike_ours_is_authtype_mismatch(wire, ours, theirs):
    expected = Expected(vrid=1, version=2, auth_type=ours, password=b"1111")
    got = config_outcome(wire, v2_packet(b"1111", auth_type=theirs), expected)
    assert got == ("authtype_mismatch", REASON_CODES["authtype_mismatch"])


def test_rfc3768_5_3_6_1_wrong_password_is_auth_failure(wire):
    expected = Expected(vrid=1, version=2, auth_type=1, password=b"1111")
    assert config_outcome(wire, v2_packet(b"1112"), expected) == ("auth_failure", REASON_CODES["auth_failure"])
    assert config_outcome(wire, v2_packet(b"1111"), expected) == ((), 0)


def test_rfc3768_5_3_6_1_password_is_truncated_to_8_bytes(wire):
    """keepalived puts only the first 8 bytes of auth_pass on the wire: "12345678XYZ" sends "12345678"."""
    expected = Expected(vrid=1, version=2, auth_type=1, password=b"12345678XYZ")
    assert config_outcome(wire, v2_packet(b"12345678"), expected) == ((), 0)
    assert config_outcome(wire, v2_packet(b"12345679"), expected) == ("auth_failure", REASON_CODES["auth_failure"])
    built = wire.build_advert(2, 1, 100, 100, [VIP4], auth_type=1, password=b"12345678XYZ")
    assert built[-8:] == b"12345678"


def test_rfc3768_7_1_v2_interval_unlike_ours_is_advert_interval_err(wire):
    expected = Expected(vrid=1, version=2, interval_cs=100)
    got = config_outcome(wire, v2_packet(auth_type=0, seconds=2), expected)
    assert got == ("advert_interval_err", REASON_CODES["advert_interval_err"])


def test_rfc5798_7_1_v3_interval_unlike_ours_is_accepted(wire):
    """RFC 5798 §6.4.2: a backup adopts the master's interval rather than dropping its adverts."""
    assert config_outcome(wire, ipv4(message(field=25)), Expected(vrid=1, interval_cs=100)) == ((), 0)


def test_rfc9568_7_1_address_list_unlike_ours_is_counted_not_dropped(wire):
    """RFC 9568 §7.1: log and count a differing address list; keep the advert (keepalived drops it)."""
    theirs = ipv4(message(addresses=(VIP4, VIP4B)))
    assert config_outcome(wire, theirs, Expected(vrid=1, addresses=(VIP4,))) == ((ADDR_LIST_ERR,), 0)
    assert config_outcome(wire, theirs, Expected(vrid=1, addresses=(VIP4B, VIP4))) == ((), 0)


def test_rfc5798_5_2_9_first_ipv6_address_not_link_local_only_when_required(wire):
    """RFC 5798 §5.2.9 wants a link-local first; keepalived omits it, so the check is opt-in."""
    vip_first = wire.parse_ipv6(message(addresses=(VIP6, LL6), src=SRC6, dst=GROUP6), SRC6, GROUP6, 255)
    ll_first = wire.parse_ipv6(message(addresses=(LL6, VIP6), src=SRC6, dst=GROUP6), SRC6, GROUP6, 255)
    required = Expected(vrid=1, require_link_local_first=True)
    assert reason(check_advert, vip_first, required) == "ipv6_ll_err"
    assert check_advert(ll_first, required) == ()
    assert check_advert(vip_first, Expected(vrid=1)) == ()
    assert check_advert(v4_advert(3), required) == ()


def test_rfc5798_5_2_9_link_local_check_in_the_batch_table(wire):
    payloads = [message(addresses=a, src=SRC6, dst=GROUP6) for a in ((VIP6, LL6), (LL6, VIP6))]
    offsets = array("I", [0, len(payloads[0])])
    lengths = array("I", map(len, payloads))
    addrs, hops = (SRC6 + GROUP6) * 2, bytes([255, 255])
    for require, codes in ((True, [REASON_CODES["ipv6_ll_err"], 0]), (False, [0, 0])):
        table = pack_table([Expected(vrid=1, require_link_local_first=require)])
        results = bytearray(2)
        valid = wire.validate_batch(
            b"".join(payloads), offsets, lengths, results, table, family=6, addrs=addrs, hop_limits=hops
        )
        assert (valid, list(results)) == (codes.count(0), codes)


# --- build_advert: our own misuse is ValueError, never AdvertError (STYLE.md "Errors") --------------


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((3, 1, 100, 100, []), {"src": SRC4, "dst": GROUP4}),
        ((3, 1, 100, 100, [VIP4] * 256), {"src": SRC4, "dst": GROUP4}),
        ((3, 256, 100, 100, [VIP4]), {"src": SRC4, "dst": GROUP4}),
        ((3, -1, 100, 100, [VIP4]), {"src": SRC4, "dst": GROUP4}),
        ((3, 1, 256, 100, [VIP4]), {"src": SRC4, "dst": GROUP4}),
        ((3, 1, -1, 100, [VIP4]), {"src": SRC4, "dst": GROUP4}),
        ((3, 1, 100, 100, [VIP4, VIP6]), {"src": SRC4, "dst": GROUP4}),
        ((3, 1, 100, 100, [b"\x0a\x00\x00"]), {"src": SRC4, "dst": GROUP4}),
        ((2, 1, 100, 100, [VIP6]), {}),
        ((2, 1, 100, 150, [VIP4]), {}),
        ((2, 1, 100, 0, [VIP4]), {}),
        ((2, 1, 100, 25600, [VIP4]), {}),
        ((2, 1, 100, 100, [VIP4]), {"auth_type": 2}),
        ((3, 1, 100, 0, [VIP4]), {"src": SRC4, "dst": GROUP4}),
        ((3, 1, 100, 4096, [VIP4]), {"src": SRC4, "dst": GROUP4}),
        ((3, 1, 100, 100, [VIP4]), {"auth_type": 1, "src": SRC4, "dst": GROUP4}),
        ((3, 1, 100, 100, [VIP6]), {"checksum_form": CHECKSUM_MESSAGE}),
        ((3, 1, 100, 100, [VIP4]), {"checksum_form": "both", "src": SRC4, "dst": GROUP4}),
        ((3, 1, 100, 100, [VIP4]), {}),
        ((3, 1, 100, 100, [VIP4]), {"src": SRC6, "dst": GROUP6}),
        ((4, 1, 100, 100, [VIP4]), {"src": SRC4, "dst": GROUP4}),
        ((1, 1, 100, 100, [VIP4]), {}),
    ],
    ids=[
        "count-0",
        "count-256",
        "vrid-256",
        "vrid-negative",
        "priority-256",
        "priority-negative",
        "mixed-families",
        "3-byte-address",
        "v2-ipv6",
        "v2-fractional-seconds",
        "v2-interval-0",
        "v2-interval-256s",
        "v2-auth-ah",
        "v3-interval-0",
        "v3-interval-4096",
        "v3-auth",
        "v3-ipv6-message-only",
        "unknown-form",
        "pseudo-header-without-addresses",
        "pseudo-header-of-the-wrong-family",
        "version-4",
        "version-1",
    ],
)
def test_rfc5798_5_2_build_advert_misuse_is_value_error(wire, args, kwargs):
    with pytest.raises(ValueError) as caught:
        wire.build_advert(*args, **kwargs)
    assert not isinstance(caught.value, AdvertError)


def test_rfc5798_5_2_build_advert_boundaries_are_accepted(wire):
    """The edges just inside the ranges of RFC 5798 §5.2.4-§5.2.7 and RFC 3768 §5.3.7."""
    wide = wire.build_advert(3, 255, 255, 4095, [VIP4] * 255, src=SRC4, dst=GROUP4)
    assert wire.parse_vrrp(wide, SRC4, GROUP4) == Advert(
        3, 255, 255, 4095, (VIP4,) * 255, 0, b"", CHECKSUM_PSEUDO_HEADER, SRC4
    )
    slow = wire.build_advert(2, 0, 0, 25500, [VIP4])
    assert wire.parse_vrrp(slow, SRC4, GROUP4) == Advert(2, 0, 0, 25500, (VIP4,), 0, bytes(8), CHECKSUM_MESSAGE, SRC4)


# --- the batch API --------------------------------------------------------------------------------

FAULTS = [  # (packet, outcome with FAULT_TABLE, outcome without a table)
    (ipv4(message(vrid=1)), "ok", "ok"),
    (ipv4(message(vrid=1), ttl=64), "ip_ttl_err", "ip_ttl_err"),
    (ipv4(message(vrid=1))[:12], "packet_len_err", "packet_len_err"),
    (ipv4(message(vrid=1), protocol=17), "ip_hdr_err", "ip_hdr_err"),
    (ipv4(message(vrid=1), protocol=51), "ah_unsupported", "ah_unsupported"),
    (ipv4(message(4, vrid=1)), "vers_err", "vers_err"),
    (ipv4(message(vrid=1, type_=2)), "invalid_type_rcvd", "invalid_type_rcvd"),
    (ipv4(message(vrid=1, addresses=())), "addr_count_err", "addr_count_err"),
    (ipv4(message(vrid=1, checksum=0)), "chk_err", "chk_err"),
    (ipv4(message(2, vrid=2, field=0x0701)), "invalid_authtype", "invalid_authtype"),
    (ipv4(message(vrid=1, field=0)), "advert_interval_err", "advert_interval_err"),
    (ipv4(message(vrid=3)), "vrid_err", "ok"),
    (v2_packet(auth_type=0, vrid=2), "authtype_mismatch", "ok"),
    (v2_packet(b"wrong", vrid=2), "auth_failure", "ok"),
    (v2_packet(b"1111", seconds=3, vrid=2), "advert_interval_err", "ok"),
    (v2_packet(b"1111", vrid=2), "ok", "ok"),
    (ipv4(message(vrid=2)), "vers_err", "ok"),
]
FAULT_TABLE = pack_table([Expected(vrid=1), Expected(vrid=2, version=2, auth_type=1, password=b"1111")])


def batch(packets: list[bytes], gap: int = 3):
    """One buffer holding the packets with `gap` bytes of junk between them, as recvmmsg might."""
    buffer, offsets = bytearray(), array("I")
    for p in packets:
        buffer += b"\xee" * gap
        offsets.append(len(buffer))
        buffer += p
    return bytes(buffer), offsets, array("I", map(len, packets))


def code(outcome: str) -> int:
    return 0 if outcome == "ok" else REASON_CODES[outcome]


def test_batch_results_are_reason_codes_in_contract_order(wire):
    buffer, offsets, lengths = batch([p for p, _, _ in FAULTS])
    results = bytearray(b"\xff" * len(FAULTS))
    valid = wire.validate_batch(buffer, offsets, lengths, results, FAULT_TABLE)
    assert (valid, list(results)) == (2, [code(r) for _, r, _ in FAULTS])


def test_batch_without_a_table_runs_the_packet_checks_only(wire):
    buffer, offsets, lengths = batch([p for p, _, _ in FAULTS])
    results = array("B", b"\xff" * len(FAULTS))
    valid = wire.validate_batch(buffer, offsets, lengths, results)
    assert (valid, list(results)) == (7, [code(r) for _, _, r in FAULTS])


def test_batch_records_hold_each_valid_packets_fields(wire):
    packets = [
        ipv4(message(vrid=7, priority=200, field=0xF00A, addresses=(VIP4, VIP4B))),
        ipv4(message(vrid=8, checksum=1)),
        v2_packet(b"1111", seconds=5, vrid=9),
        ipv4(message(vrid=10, priority=0, field=4095, form=CHECKSUM_MESSAGE)),
    ]
    buffer, offsets, lengths = batch(packets, gap=0)
    results, records = bytearray(4), bytearray(RECORD_SIZE * 4)
    assert wire.validate_batch(buffer, offsets, lengths, results, records=records) == 3
    assert list(results) == [0, REASON_CODES["chk_err"], 0, 0]
    assert RECORD_FORMAT.unpack_from(records, 0) == (7, 200, 3, 2, 10, 1)
    assert RECORD_FORMAT.unpack_from(records, 2 * RECORD_SIZE) == (9, 100, 2, 1, 500, 0)
    assert RECORD_FORMAT.unpack_from(records, 3 * RECORD_SIZE) == (10, 0, 3, 1, 4095, 0)


@pytest.mark.parametrize("configured", [(), (1,), (255,), (0, 1, 2, 254, 255), tuple(range(256))])
def test_batch_table_drives_vrid_err(wire, configured):
    """RFC 5798 §7.1: an advert for a VRID we do not run is dropped, whatever else it is."""
    vrids = [0, 1, 2, 128, 254, 255]
    packets = [ipv4(message(vrid=v)) for v in vrids]
    buffer, offsets, lengths = batch(packets)
    results = bytearray(len(vrids))
    table = pack_table(Expected(vrid=v) for v in configured)
    valid = wire.validate_batch(buffer, offsets, lengths, results, table)
    expected = [0 if v in configured else REASON_CODES["vrid_err"] for v in vrids]
    assert (valid, list(results)) == (expected.count(0), expected)


def test_batch_ipv6_reads_addresses_and_hop_limits_per_packet(wire):
    other = ipaddress.ip_address("fe80::2").packed
    payloads = [message(addresses=(VIP6,), src=SRC6, dst=GROUP6), message(addresses=(VIP6,), src=other, dst=GROUP6)]
    buffer, offsets, lengths = batch(payloads * 2)
    addrs = SRC6 + GROUP6 + other + GROUP6 + other + GROUP6 + other + GROUP6
    hops = array("B", [255, 255, 255, 254])
    results = bytearray(4)
    valid = wire.validate_batch(buffer, offsets, lengths, results, family=6, addrs=addrs, hop_limits=hops)
    assert (valid, list(results)) == (2, [0, 0, REASON_CODES["chk_err"], REASON_CODES["ip_ttl_err"]])


def test_batch_misuse_is_value_error(wire):
    buffer, offsets, lengths = batch([ipv4(message())])
    cases = [
        lambda: wire.validate_batch(buffer, offsets, array("I"), bytearray(1)),
        lambda: wire.validate_batch(buffer, offsets, lengths, bytearray(0)),
        lambda: wire.validate_batch(buffer, offsets, lengths, bytearray(1), family=5),
        lambda: wire.validate_batch(buffer, offsets, lengths, bytearray(1), family=6),
        lambda: wire.validate_batch(buffer, array("I", [len(buffer)]), lengths, bytearray(1)),
        lambda: wire.validate_batch(buffer, offsets, lengths, bytearray(1), records=bytearray(RECORD_SIZE - 1)),
        lambda: wire.validate_batch(buffer, offsets, lengths, bytearray(1), bytes(100)),
    ]
    for call in cases:
        with pytest.raises(ValueError) as caught:
            call()
        assert not isinstance(caught.value, AdvertError)
