"""`fastvrrp lab` and `fastvrrp doctor` for real, in namespaces.

The lab runs at v3 100 ms so the whole experiment takes seconds; the assertions are the
experiment's outcomes (who holds the VIP after each step, the split brain and its cure), never
its timings, which belong to the benchmark.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from netns_support import netns_test, stale_namespaces_removed  # noqa: F401 (fixture)

from fastvrrp import netns
from fastvrrp.lab import strict_firewall
from fastvrrp.peers import InstanceSpec, Peer, wait_until

pytestmark = netns_test

OUTCOMES = {
    "1": (["r1"], []),
    "2": (["r2"], []),
    "3": (["r1"], []),
    "4a": (["r2"], ["r1"]),  # the killed master's kernel keeps the VIP until the restart
    "4b": (["r1"], []),
    "5": (["r1", "r2"], []),
    "5b": (["r1", "r2"], []),  # an appended accept lands after the REJECT: still two masters
    "6": (["r1"], []),
}


@pytest.mark.parametrize(
    "options",
    [
        pytest.param([], id="fastvrrp-pair-ipv4-iptables"),
        pytest.param(
            ["--impl", "fastvrrp,keepalived", "--ipv6", "--firewall", "nftables"], id="vs-keepalived-ipv6-nft"
        ),
    ],
)
def test_lab_replays_the_experiment(tmp_path, options, stale_namespaces_removed):  # noqa: F811
    out = tmp_path / "lab.json"
    argv = [sys.executable, "-m", "fastvrrp", "lab", "--version", "3", "--interval", "0.1"]
    argv += ["--json", str(out), "--plot", str(tmp_path / "lab.png"), *options]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, stdout
    assert not netns.list_namespaces(f"{netns.PREFIX}{proc.pid}-"), "the lab left namespaces behind"
    result = json.loads(out.read_text())
    assert result["split_brain"] is True
    seen = {s["step"]: (s["owners"], s["stale"]) for s in result["steps"]}
    assert seen == OUTCOMES, stdout
    assert [s["step"] for s in result["steps"] if s["split_brain"]] == ["5", "5b"]
    assert [s["step"] for s in result["steps"] if s["takeover_ms"] is None] == ["5b"], stdout
    assert "SPLIT BRAIN" in stdout and "blocks VRRP (IP protocol 112)" in stdout
    assert (tmp_path / "lab.png").read_bytes()[:4] == b"\x89PNG"


@pytest.fixture
def router(tmp_path, stale_namespaces_removed):  # noqa: F811
    """One router namespace with the experiment's master config on em1."""
    with netns.Topology(["r"]) as topology:
        conf = tmp_path / "keepalived.conf"
        conf.write_text(InstanceSpec(state="MASTER", priority=100).render("LVS_201-1"))
        yield topology, conf


def doctor(topology: netns.Topology, conf) -> subprocess.CompletedProcess:
    return topology.run("r", [sys.executable, "-m", "fastvrrp", "doctor", "-f", str(conf)], check=False, timeout=30)


def test_doctor_finds_the_experiments_reject_and_proposes_an_insert(router):
    topology, conf = router
    strict_firewall.apply(topology, "r", strict_firewall.IPTABLES, 4)
    found = doctor(topology, conf)
    assert found.returncode == 1, found.stdout + found.stderr
    assert "filter INPUT rule 6 blocks VRRP" in found.stdout
    assert "-A INPUT -j REJECT --reject-with icmp-host-prohibited" in found.stdout
    assert "fix: iptables -I INPUT 6 -i em1 -p vrrp -j ACCEPT" in found.stdout
    assert "heals nothing" in found.stdout
    topology.run("r", ["iptables", "-A", "INPUT", "-p", "vrrp", "-j", "ACCEPT"])  # what users try first
    assert doctor(topology, conf).returncode == 1
    topology.run("r", ["iptables", "-I", "INPUT", "6", "-i", "em1", "-p", "vrrp", "-j", "ACCEPT"])
    healed = doctor(topology, conf)
    assert "iptables: lets VRRP (IP protocol 112) in" in healed.stdout, healed.stdout


def test_doctor_reads_nftables_and_checks_the_group_of_a_running_daemon(router, tmp_path):
    topology, conf = router
    strict_firewall.apply(topology, "r", strict_firewall.NFTABLES, 4)
    peer = Peer(topology, "r", "fastvrrp", conf.read_text(), tmp_path / "daemon")
    peer.start()
    try:
        assert peer.wait_ready(), peer.log()
        assert wait_until(lambda: "224.0.0.18" in topology.run("r", ["ip", "maddr", "show", "dev", "em1"]).stdout, 5)
        found = doctor(topology, conf)
    finally:
        peer.stop()
    assert found.returncode == 1, found.stdout + found.stderr
    assert 'fix: nft insert rule inet filter input position 9 iifname "em1" meta l4proto vrrp accept' in found.stdout
    assert "em1 has joined 224.0.0.18 (fastvrrp" in found.stdout
