"""The wire benchmark runs end to end (`--quick`) and reports every comparator; timings are not checked.
The CPU benchmark's memory reading tells private pages from shared ones."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench import wire as bench_wire
from bench.cpu import memory_kib


def test_quick_bench_reports_every_comparator(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_wire.main(["--quick", "--repeats", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    twins = ["python"] if os.environ.get("FASTVRRP_NO_EXTENSIONS") else ["cython", "python"]
    for scenario in ("v2 PASS IPv4", "v3 IPv4", "v3 IPv6"):
        assert f"## {scenario}" in lines
    for name in twins:
        for operation in ("parse", "parse+check", "build", "batch"):
            assert any(line.startswith(f"{name} {operation} ") for line in lines), (name, operation)
    for name, operations in (("dpkt", ("parse", "parse+check", "build")), ("scapy", ("parse", "build"))):
        for operation in operations:
            assert any(line.startswith(f"{name} {operation} ") for line in lines), (name, operation)
    if "cython" in twins:
        assert any(line.strip().startswith("cython batch ") and "dpkt" in line and "scapy" in line for line in lines)


def test_memory_kib_sees_private_pages_and_orders_the_three_measures() -> None:
    """A child that writes 32 MiB of its own pages: private grows by them; RSS ≥ PSS ≥ private."""
    code = "import sys; b = bytearray({}); b[::4096] = b'x' * len(b[::4096]); print(1, flush=True); sys.stdin.read()"
    sizes = {}
    for size in (0, 32 << 20):
        argv = [sys.executable, "-c", code.format(size)]
        child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            child.stdout.readline()
            sizes[size] = memory_kib([child.pid])
        finally:
            child.communicate(b"")
    for memory in sizes.values():
        assert memory["rss"] >= memory["pss"] >= memory["private"] > 0
    assert sizes[32 << 20]["private"] - sizes[0]["private"] >= 30 * 1024
