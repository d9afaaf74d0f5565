"""The stats dump reads back as written: keepalived's per-instance layout, then the drops of
each socket that no instance could be charged with (a VRID we do not run, a broken header)."""

from __future__ import annotations

from vlan import settings

from fastvrrp.dumps import format_stats, parse_stats
from fastvrrp.protocol import VirtualRouter


def test_stats_dump_round_trips_instances_and_unclaimed_drops() -> None:
    router = VirtualRouter(settings(1, 100))
    router.counters["auth_failure"] = 3
    router.counters["ip_ttl_err"] = 2
    router.counters["vrid_err"] = 1
    unclaimed = {("em1", 4): {"vrid_err": 7, "packet_len_err": 1}, ("em1", 6): {}, ("em2", 4): {"vers_err": 2}}
    text = format_stats([router], unclaimed)
    assert "Interface em1 IPv4: adverts for no instance here\n  packet_len_err: 1\n  vrid_err: 7\n" in text
    assert "em1 IPv6" not in text, "a socket that dropped nothing has no block"
    parsed = parse_stats(text)
    assert parsed["Interface em1 IPv4"] == {"vrid_err": 7, "packet_len_err": 1}
    assert parsed["Interface em2 IPv4"] == {"vers_err": 2}
    counters = parsed["VI_1"]
    assert (counters["auth_failure"], counters["ip_ttl_err"], counters["vrid_err"]) == (3, 2, 1)
    assert counters["advert_rcvd"] == 0 and "packet_len_err" in counters
