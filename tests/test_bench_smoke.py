"""The wire benchmark runs end to end (`--quick`) and reports every comparator; timings are not checked."""

from __future__ import annotations

import os

import pytest

from bench import wire as bench_wire


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
