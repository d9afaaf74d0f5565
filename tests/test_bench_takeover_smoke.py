"""The takeover benchmark (`fastvrrp bench takeover`) at its smallest: one SIGKILL trial at 100 ms, fastvrrp only.

It checks that the benchmark runs end to end and measures something sane -- rows printed and
written, every timestamp found, the takeover not before the protocol's bound -- never how fast.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from netns_support import netns_test

pytestmark = netns_test

REPO = Path(__file__).resolve().parent.parent
MASTER_DOWN_100MS = 3 * 0.1 + (256 - 50) * 0.1 / 256
"""RFC 5798 §6.1 for the backup (priority 50) at 100 ms."""


def test_takeover_bench_smallest_run(tmp_path):
    results, trials = tmp_path / "RESULTS.md", tmp_path / "trials.json"
    argv = [sys.executable, "-m", "bench.takeover", "--trials", "1", "--faults", "kill"]
    argv += ["--intervals", "0.1", "--impls", "fastvrrp", "--results", str(results), "--plot", ""]
    argv += ["--json", str(trials)]
    run = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "| 100 ms v3 | kill | fastvrrp | 380.47 | 1 | 0 |" in run.stdout, run.stdout
    assert "## Takeover" in results.read_text() and "| 100 ms v3 | kill | fastvrrp |" in results.read_text()
    (trial,) = json.loads(trials.read_text())
    assert None not in (trial["reference"], trial["vip_at"], trial["first_advert"], trial["first_garp"])
    assert trial["reference"] <= trial["fault_at"] + 0.1, "the last advert heard is the master's before the kill"
    assert trial["vip_at"] - trial["reference"] >= MASTER_DOWN_100MS, "the backup took over before the bound"
    assert trial["first_advert"] - trial["reference"] >= MASTER_DOWN_100MS
