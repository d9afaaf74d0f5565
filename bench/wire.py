"""Wire codec benchmark: our two twins against dpkt and scapy, measured in the same run.

`make bench`, `fastvrrp bench wire` and `python -m bench.wire` run it.  Every timing is a loop
of calls (unrolled tenfold, so the loop itself costs little) timed with
`time.perf_counter_ns`; each case is repeated and both the minimum and the median are printed.
The batch rows divide one `validate_batch` call by its packet count.  Line rates are those of
minimum-size Ethernet frames: 14.88 Mpps at 10 GbE, 148.8 Mpps at 100 GbE.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastvrrp import _wire_py
from fastvrrp.advert import AUTH_PASS, Expected, check_advert, pack_table

LINE_RATES = (("10GbE", 14.88e6), ("100GbE", 148.8e6))
UNROLL = 10

SRC4, DST4, VIP4 = bytes([10, 0, 0, 1]), bytes([224, 0, 0, 18]), bytes([10, 0, 0, 100])
SRC6 = bytes.fromhex("fe800000000000000000000000000001")
DST6 = bytes.fromhex("ff020000000000000000000000000012")
VIP6 = bytes.fromhex("fe800000000000000000000000000064")
PASSWORD = b"secret"


@dataclass
class Scenario:
    """One kind of advert, with what each implementation needs to parse, check and build it."""

    name: str
    version: int
    family: int
    message: bytes
    packet: bytes  # the whole IPv4 packet, or the IPv6 payload
    expected: Expected
    build_args: tuple
    build_kwargs: dict


def scenarios() -> list[Scenario]:
    v2 = {"auth_type": AUTH_PASS, "password": PASSWORD}
    v3_4 = {"src": SRC4, "dst": DST4}
    v3_6 = {"src": SRC6, "dst": DST6}
    result = []
    for name, version, family, vip, kwargs in (
        ("v2 PASS IPv4", 2, 4, VIP4, v2),
        ("v3 IPv4", 3, 4, VIP4, v3_4),
        ("v3 IPv6", 3, 6, VIP6, v3_6),
    ):
        args = (version, 7, 100, 100, (vip,))
        message = _wire_py.build_advert(*args, **kwargs)
        packet = _wire_py.build_ipv4_packet(message, SRC4, DST4) if family == 4 else message
        expected = Expected(7, version, kwargs.get("auth_type", 0), PASSWORD if version == 2 else b"", 100)
        result.append(Scenario(name, version, family, message, packet, expected, args, kwargs))
    return result


# ---- timing -------------------------------------------------------------------------------


@dataclass
class Case:
    """A statement to time (as `timeit` would), and the names it uses."""

    code: str
    names: dict[str, Any]
    per_call: int = 1  # packets handled by one execution of `code`


@dataclass
class Timing:
    label: str
    ns: list[float] = field(default_factory=list)  # ns per packet, one per repeat

    @property
    def best(self) -> float:
        return min(self.ns)

    @property
    def median(self) -> float:
        return statistics.median(self.ns)


def _unrolled(case: Case) -> Callable[[int], int]:
    """A loop running `case.code` UNROLL times per iteration with its names as locals; returns elapsed ns."""
    names = ", ".join(case.names)
    source = f"def run(n, {names}):\n    start = clock()\n    for _ in range(n):\n"
    source += f"        {case.code}\n" * UNROLL + "    return clock() - start\n"
    namespace: dict[str, Any] = {"clock": time.perf_counter_ns}
    exec(source, namespace)  # noqa: S102 - our own statements, unrolled as timeit does
    run = namespace["run"]
    return lambda n: run(n, **case.names)


def time_case(label: str, case: Case, repeats: int, budget_ns: int) -> Timing:
    """ns per packet of `case`, its loop calibrated to take about `budget_ns` per repeat."""
    run = _unrolled(case)
    n = 1
    elapsed = run(n)
    while elapsed < budget_ns // 10 and n < 1 << 24:
        n *= 2
        elapsed = run(n)
    n = max(1, int(n * budget_ns / max(elapsed, 1)))
    timing = Timing(label)
    for _ in range(repeats):
        timing.ns.append(run(n) / (n * UNROLL * case.per_call))
    return timing


# ---- what each implementation does --------------------------------------------------------


def our_cases(wire, s: Scenario) -> dict[str, Case]:
    """parse, parse + configuration check, build: the calls a receiving daemon makes per packet."""
    names = {"packet": s.packet, "expected": s.expected, "check": check_advert, "src": SRC6, "dst": DST6}
    if s.family == 4:
        names["parse"] = wire.parse_ipv4
        parse = "parse(packet)"
    else:
        names["parse"] = wire.parse_ipv6
        parse = "parse(packet, src, dst, 255)"
    build_names = {"build": wire.build_advert}
    arguments = ", ".join(repr(a) for a in s.build_args) + "".join(
        f", {key}={value!r}" for key, value in s.build_kwargs.items()
    )
    return {
        "parse": Case(parse, names),
        "parse+check": Case(f"check({parse}, expected)", names),
        "build": Case(f"build({arguments})", build_names),
    }


def batch_case(wire, s: Scenario, count: int) -> Case:
    """`validate_batch` over `count` copies of the packet, with the table (all checks run) and records."""
    size = len(s.packet)
    names: dict[str, Any] = {
        "validate": wire.validate_batch,
        "buffer": s.packet * count,
        "offsets": array("I", range(0, size * count, size)),
        "lengths": array("I", [size]) * count,
        "results": bytearray(count),
        "records": bytearray(8 * count),
        "table": pack_table([s.expected]),
        "addrs": (SRC6 + DST6) * count if s.family == 6 else None,
        "hops": bytes([255]) * count if s.family == 6 else None,
    }
    code = (
        f"validate(buffer, offsets, lengths, results, table, family={s.family}, addrs=addrs, "
        "hop_limits=hops, records=records)"
    )
    if eval(code, dict(names)) != count:
        raise RuntimeError(f"{s.name}: the batch benchmark packets do not validate")
    return Case(code, names, per_call=count)


def dpkt_cases(s: Scenario) -> dict[str, Case]:
    """dpkt: VRRP header parse; IP + VRRP parse with the checksum verified; build (v2 only: dpkt has no v3)."""
    import dpkt

    in_cksum, IP, VRRP = dpkt.in_cksum, dpkt.ip.IP, dpkt.vrrp.VRRP
    pseudo_header = s.version == 3  # RFC 5798 §5.2.8: the v3 checksum covers the IPv4 pseudo-header

    def parse_check(packet):
        ip = IP(packet)
        vrrp = ip.data
        data = bytes(vrrp)
        if pseudo_header:
            data = ip.src + ip.dst + bytes([0, 112]) + len(data).to_bytes(2, "big") + data
        if in_cksum(data) != 0:
            raise ValueError("checksum")
        return vrrp.vrid, vrrp.priority, vrrp.addrs

    names = {
        "VRRP": VRRP, "message": s.message, "packet": s.packet, "parse_check": parse_check, "key": PASSWORD.ljust(8, b"\0"), "vip": VIP4
    }
    cases = {"parse": Case("VRRP(message)", names), "parse+check": Case("parse_check(packet)", names)}
    if s.version == 2:
        cases["build"] = Case(
            "bytes(VRRP(vrid=7, priority=100, count=1, atype=1, advtime=1, addrs=[vip], auth=key))", names
        )
    return cases


def scapy_cases(s: Scenario) -> dict[str, Case]:
    """scapy: IP + VRRP dissection (scapy verifies no checksum), and build with the checksum."""
    from scapy.layers.inet import IP
    from scapy.layers.vrrp import VRRP, VRRPv3

    names = {
        "IP": IP,
        "VRRP": VRRP,
        "VRRPv3": VRRPv3,
        "packet": s.packet,
        "auth1": int.from_bytes(PASSWORD[:4], "big"),
        "auth2": int.from_bytes(PASSWORD[4:].ljust(4, b"\0"), "big"),
    }
    if s.version == 2:
        build = (
            "bytes(VRRP(vrid=7, priority=100, ipcount=1, authtype=1, adv=1, addrlist=['10.0.0.100'], "
            "auth1=auth1, auth2=auth2))"
        )
        parse = "IP(packet)[VRRP].addrlist"
    else:
        build = (
            "bytes(IP(src='10.0.0.1', dst='224.0.0.18', ttl=255) / "
            "VRRPv3(vrid=7, priority=100, ipcount=1, adv=100, addrlist=['10.0.0.100']))"
        )
        parse = "IP(packet)[VRRPv3].addrlist"
    return {"parse": Case(parse, names), "build": Case(build, names)}


# ---- report -------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def print_table(title: str, rows: list[Timing]) -> None:
    print(f"\n## {title}")
    print(
        f"{'implementation / operation':34} {'min ns':>10} {'median ns':>10} {'Mpps':>8} "
        + " ".join(f"{'% ' + name:>9}" for name, _ in LINE_RATES)
    )
    for t in rows:
        pps = 1e9 / t.median
        rates = " ".join(f"{100 * pps / rate:8.1f}%" for _, rate in LINE_RATES)
        print(f"{t.label:34} {t.best:10.1f} {t.median:10.1f} {pps / 1e6:8.3f} {rates}")


def print_ratios(rows: list[Timing]) -> None:
    """How many times faster the Cython twin is than each comparator, operation by operation (medians)."""
    by_label = {t.label: t for t in rows}
    print("ratios (comparator median / cython median):")
    for label, ours in by_label.items():
        if not label.startswith("cython "):
            continue
        operation = label.split(" ", 1)[1]
        comparisons = []
        for other in ("python", "dpkt", "scapy"):
            theirs = by_label.get(f"{other} {operation}")
            if theirs is None and operation == "batch":
                theirs = by_label.get(f"{other} parse+check") or by_label.get(f"{other} parse")
                other = f"{other} ({theirs.label.split(' ', 1)[1]})" if theirs else other
            if theirs is not None:
                comparisons.append(f"{other} x{theirs.median / ours.median:,.1f}")
        print(f"  cython {operation:12} " + ", ".join(comparisons))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fastvrrp bench wire", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run: few, short repeats")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per case (default 15, quick 3)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    repeats = args.repeats or (3 if args.quick else 15)
    budget = 2_000_000 if args.quick else 40_000_000  # ns per repeat: many short ones, the minimum dodges noise
    batch_count = 256 if args.quick else 4096

    cython_wire, missing = None, "FASTVRRP_NO_EXTENSIONS is set"
    if not os.environ.get("FASTVRRP_NO_EXTENSIONS"):
        try:
            from fastvrrp import _wire as cython_wire
        except ImportError as e:
            missing = str(e)
    print(f"# fastvrrp wire benchmark{' (quick)' if args.quick else ''}")
    print(
        f"cpu: {cpu_model()}, {os.cpu_count()} cores; python {platform.python_version()}; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    if cython_wire is None:
        print(f"cython: not available ({missing}); build it with `make build`")
    twins = [("cython", cython_wire), ("python", _wire_py)] if cython_wire else [("python", _wire_py)]

    for s in scenarios():
        rows: list[Timing] = []
        for name, wire in twins:
            for operation, case in our_cases(wire, s).items():
                rows.append(time_case(f"{name} {operation}", case, repeats, budget))
            count = batch_count if name == "cython" else max(16, batch_count // 16)
            rows.append(time_case(f"{name} batch", batch_case(wire, s, count), repeats, budget))
        if s.family == 4:
            for name, cases in (("dpkt", dpkt_cases(s)), ("scapy", scapy_cases(s))):
                for operation, case in cases.items():
                    rows.append(time_case(f"{name} {operation}", case, repeats, budget))
        print_table(s.name, rows)
        print_ratios(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
