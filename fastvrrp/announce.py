"""Gratuitous ARP and unsolicited Neighbor Advertisement frames, as keepalived sends them.

A new master announces each VIP so that hosts and switches move it to the new MAC (RFC 5798
§6.4.1, §6.4.2). The frames are byte-for-byte those of keepalived 2.2.7, so that filters and
monitoring written for keepalived see nothing new. That includes the NA's flags: Override only,
where RFC 5798 also asks for Router.

A burst is a handful of frames per failover: plain struct code is fast enough, and stays in Python.
"""

from __future__ import annotations

import struct

from ._wire_py import checksum

__all__ = ["build_garp", "build_unsolicited_na"]

BROADCAST_MAC = b"\xff" * 6
ALL_NODES_MAC = bytes.fromhex("333300000001")
"""RFC 2464 §7: 33:33 followed by the low 32 bits of ff02::1."""
ALL_NODES = bytes.fromhex("ff020000000000000000000000000001")

ETHERTYPE_ARP = 0x0806
ETHERTYPE_IPV6 = 0x86DD
IPPROTO_ICMPV6 = 58
ND_NEIGHBOR_ADVERT = 136
ND_NA_FLAG_OVERRIDE = 0x20000000
ND_OPT_TARGET_LINKADDR = 2

_ARP_REQUEST = struct.Struct("!HHBBH6s4s6s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
_NA = struct.Struct("!BBHI16sBB6s")


def _check(mac: bytes, ip: bytes, ip_len: int) -> None:
    if len(mac) != 6:
        raise ValueError("mac must be 6 bytes")
    if len(ip) != ip_len:
        raise ValueError(f"the address must be packed ({ip_len} bytes)")


def build_garp(mac: bytes, ip: bytes) -> bytes:
    """A broadcast ARP request for `ip` from `mac`: sender and target IP are both the VIP.

    A request rather than a reply (RFC 5227 §3 prefers it): every host processes a broadcast
    request and updates an existing cache entry. The target MAC is the broadcast address, as
    keepalived sends it.
    """
    _check(mac, ip, 4)
    arp = _ARP_REQUEST.pack(1, 0x0800, 6, 4, 1, bytes(mac), bytes(ip), BROADCAST_MAC, bytes(ip))
    return BROADCAST_MAC + bytes(mac) + struct.pack("!H", ETHERTYPE_ARP) + arp


def build_unsolicited_na(mac: bytes, ip6: bytes) -> bytes:
    """An unsolicited Neighbor Advertisement for `ip6` from `mac` to all nodes (RFC 4861 §7.2.6).

    Source address is the VIP itself, hop limit 255 (receivers drop anything else, RFC 4861
    §7.1.2), Override set so that caches replace the old MAC, Solicited and Router clear, and
    the target link-layer address option carries the new MAC.
    """
    _check(mac, ip6, 16)
    icmp = _NA.pack(ND_NEIGHBOR_ADVERT, 0, 0, ND_NA_FLAG_OVERRIDE, bytes(ip6), ND_OPT_TARGET_LINKADDR, 1, bytes(mac))
    pseudo = bytes(ip6) + ALL_NODES + struct.pack("!I3xB", len(icmp), IPPROTO_ICMPV6)  # RFC 8200 §8.1
    icmp = icmp[:2] + struct.pack("!H", checksum(pseudo + icmp)) + icmp[4:]
    ipv6 = _IPV6.pack(6 << 28, len(icmp), IPPROTO_ICMPV6, 255, bytes(ip6), ALL_NODES)
    return ALL_NODES_MAC + bytes(mac) + struct.pack("!H", ETHERTYPE_IPV6) + ipv6 + icmp
