"""`fastvrrp run` for real: two daemons (or one and keepalived 2.2.7) on a bridge in namespaces.

Timing bounds come from the protocol (RFC 5798 §6.1, RFC 3768 §6.1) plus a slack for a loaded
CI machine; the benchmark, not these tests, measures how close to the bound we are.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys

import pytest

from fastvrrp.dumps import parse_stats
from bench.common import render_instances, vip_count
from fastvrrp.peers import InstanceSpec, Peer, vip_holders, wait_until
from netns_support import Capture, netns_test, peers, stale_namespaces_removed, topology  # noqa: F401 (fixtures)

pytestmark = netns_test

VIP = "10.0.201.100"
SLACK = 1.0
"""Seconds allowed beyond a protocol bound for a busy CI machine."""
STARTUP = 3.0
"""Seconds more where the bound runs from a process start (Python start-up under load)."""


def skew_v2(priority: int) -> float:
    """RFC 3768 §6.1: Skew_Time = (256 - Priority) / 256 seconds."""
    return (256 - priority) / 256


def master_down_v2(priority: int, interval: float = 1.0) -> float:
    """RFC 3768 §6.1: Master_Down_Interval = 3 * Advertisement_Interval + Skew_Time."""
    return 3 * interval + skew_v2(priority)


def master_down_v3(priority: int, interval: float) -> float:
    """RFC 5798 §6.1: 3 * Master_Adver_Interval + ((256 - Priority) * Master_Adver_Interval) / 256."""
    return 3 * interval + (256 - priority) * interval / 256


def experiment(topology, tmp_path, impls=("fastvrrp", "fastvrrp"), **spec) -> tuple[Peer, Peer]:
    """The experiment's master (a, priority 100) and backup (b, priority 50), not yet started."""
    master = InstanceSpec(state="MASTER", priority=100, **spec)
    backup = InstanceSpec(state="BACKUP", priority=50, **spec)
    return (
        Peer(topology, "a", impls[0], master.render("LVS_201-1"), tmp_path / "a"),
        Peer(topology, "b", impls[1], backup.render("LVS_201-2"), tmp_path / "b"),
    )


def holders(topology, vip: str = VIP) -> list[str]:
    return vip_holders(topology, ("a", "b"), vip)


def stats(peer: Peer, instance: str = "VIP_test_1") -> dict[str, int]:
    """SIGUSR2 → fastvrrp.stats in keepalived's layout, read back by counter name."""
    path = peer.workdir / "fastvrrp.stats"
    path.unlink(missing_ok=True)
    assert peer.wait_ready(), peer.log()
    peer.signal(signal.SIGUSR2)
    assert wait_until(path.exists, 5) is not None, "no stats dump after SIGUSR2"
    return parse_stats(path.read_text())[instance]



def test_experiment_start_stop_restart_kill(topology, tmp_path, peers):
    """EXPERIMENT.md steps 1-3 and a crash, VRRPv2 at 1 s with PASS auth, as users ran it."""
    a, b = experiment(topology, tmp_path)
    peers += [a, b]
    with Capture(topology, "client", tmp_path / "wire.pcap", "ip proto 112") as capture:
        a.start()
        b.start()
        # RFC 3768 §6.4.1: both start as backup; the master's Master_Down timer fires first.
        assert wait_until(lambda: holders(topology) == ["a"], master_down_v2(100) + SLACK + STARTUP) is not None
        assert holders(topology) == ["a"]

        # RFC 3768 §6.4.3 shutdown: priority 0, VIPs removed; the backup waits only Skew_Time.
        assert a.stop() == 0
        took = wait_until(lambda: holders(topology) == ["b"], skew_v2(50) + SLACK)
        assert took is not None, f"backup did not take over; a: {a.log()} b: {b.log()}"
        assert "sent 0 priority" in a.log() and "removing VIPs." in a.log()
        assert "Backup received priority 0 advertisement" in b.log()

        # Restart: a waits as backup, then preempts the lower-priority master (RFC 3768 §6.4.2).
        a.start()
        assert wait_until(lambda: holders(topology) == ["a"], master_down_v2(100) + SLACK + STARTUP) is not None
    rows = capture.fields("ip.src", "vrrp.prio", "vrrp.checksum.status", "ip.ttl", "vrrp.auth_string")
    assert ["10.0.201.1", "0", "1", "255", "1111"] in rows, "tshark saw no priority-0 advert from a"
    assert all(r[2:4] == ["1", "255"] for r in rows), "tshark found a bad checksum or TTL"

    # A crash leaves the VIP on a; b takes over after Master_Down_Interval.
    a.kill()
    assert wait_until(lambda: "b" in holders(topology), master_down_v2(50) + SLACK) is not None
    assert holders(topology) == ["a", "b"]  # a's kernel still has the stale VIP
    a.start()
    assert wait_until(lambda: holders(topology) == ["b"], STARTUP + 1) is not None, "restart did not remove the stale VIP"
    assert "removing leftover VIP 10.0.201.100/32 on em1" in a.log()
    assert wait_until(lambda: holders(topology) == ["a"], master_down_v2(100) + SLACK + STARTUP) is not None
    assert a.stop() == 0 and b.stop() == 0
    assert holders(topology) == []


def test_link_down_is_fault_and_backup_takes_over(topology, tmp_path, peers):
    """keepalived's FAULT: the VRRP interface goes down → leave master; up → back to backup."""
    a, b = experiment(topology, tmp_path, version=3, advert_int="0.1", password=None)
    peers += [a, b]
    a.start()
    b.start()
    assert wait_until(lambda: holders(topology) == ["a"], master_down_v3(100, 0.1) + SLACK + STARTUP) is not None
    topology.run("a", ["ip", "link", "set", "em1", "down"])
    assert wait_until(lambda: "b" in holders(topology), master_down_v3(50, 0.1) + SLACK) is not None
    assert wait_until(lambda: "Entering FAULT STATE" in a.log(), 2) is not None
    topology.run("a", ["ip", "link", "set", "em1", "up"])
    assert wait_until(lambda: holders(topology) == ["a"], master_down_v3(100, 0.1) + SLACK + STARTUP) is not None


def test_a_stalled_backup_reads_its_backlog_before_declaring_the_master_down(topology, tmp_path, peers):
    """RFC 5798 §6.4.2: Master_Down fires when no advert *arrived* for Master_Down_Interval.

    A backup stopped for many intervals finds, when it resumes, its timer long expired and the
    master's latest adverts waiting in its socket: they arrived in time, so it stays backup.
    """
    a, b = experiment(topology, tmp_path, version=3, advert_int="0.01", password=None)
    peers += [a, b]
    a.start()
    assert wait_until(lambda: holders(topology) == ["a"], master_down_v3(100, 0.01) + SLACK + STARTUP) is not None
    b.start()
    assert b.wait_ready(STARTUP + SLACK), b.log()
    wait_until(lambda: False, 0.5)
    for _ in range(5):
        b.signal(signal.SIGSTOP)
        wait_until(lambda: False, 0.3)  # ~8 Master_Down_Intervals at 10 ms
        b.signal(signal.SIGCONT)
        wait_until(lambda: False, 0.2)
    assert "Entering MASTER STATE" not in b.log(), b.log()
    assert holders(topology) == ["a"]


def test_second_daemon_is_refused_but_namespaces_never_collide(topology, tmp_path, peers):
    """One daemon per instance per namespace; the same instance in another namespace is fine."""
    a, b = experiment(topology, tmp_path, version=3, advert_int="0.1", password=None)
    peers += [a, b]
    a.start()
    b.start()  # same VRID and interface name, another namespace
    assert wait_until(lambda: "fastvrrp started" in a.log() and "fastvrrp started" in b.log(), 5) is not None
    assert wait_until(a.pid_path.exists, 5) is not None
    argv = [sys.executable, "-m", "fastvrrp", "run", "-f", str(a.config_path), "--dump-dir", str(tmp_path)]
    second = topology.run("a", [*argv, "--pid-file", str(a.pid_path)], check=False, timeout=20)
    assert second.returncode == 1
    assert "another fastvrrp in this network namespace holds fastvrrp/vrrp/em1/ipv4/150" in second.stderr
    assert a.running and b.running
    assert a.pid_path.read_text() == f"{a.process.pid}\n", "the refused daemon must leave the running one's pid file"


def test_bad_config_fails_before_touching_anything(topology, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text(InstanceSpec(state="MASTER", priority=300).render("x"))
    topology.run("a", ["ip", "addr", "add", f"{VIP}/32", "dev", "em1"])
    result = topology.run("a", [sys.executable, "-m", "fastvrrp", "run", "-f", str(conf)], check=False)
    assert result.returncode == 1
    assert f"{conf}:9:" in result.stderr and "priority 300" in result.stderr
    assert holders(topology) == ["a"], "a rejected config must not remove (or add) any address"


def test_an_interface_made_anew_gets_its_instances_back(topology, tmp_path, peers):
    """em1 deleted and made again (same name and addresses, a new device): its instance is in
    FAULT meanwhile (RFC 5798 §6.4.1's Initialize once the link is back, not a master on dead
    sockets), then starts again on the new device and takes back its VIP by preemption."""
    a, b = experiment(topology, tmp_path, version=3, advert_int="0.1", password=None)
    peers += [a, b]
    a.start()
    b.start()
    assert wait_until(lambda: holders(topology) == ["a"], STARTUP + 1) is not None
    topology.replug("a")
    assert wait_until(lambda: "its instances start again on the new device" in a.log(), 5) is not None, a.log()
    assert wait_until(lambda: holders(topology) == ["a"], STARTUP + 1) is not None, a.log() + b.log()
    wait_until(lambda: False, 1.0)  # a split brain would show within ten intervals
    assert holders(topology) == ["a"], a.log() + b.log()
    log = a.log()
    assert "Entering FAULT STATE" in log.split("start again on the new device")[0], log
    assert "cannot send advert" not in log.split("start again on the new device")[1], "a master on dead sockets"
    assert b.log().count("Entering BACKUP STATE") >= 2, b.log()  # took over, then gave back


def test_missing_interface_is_refused_at_start_naming_the_instance(topology, tmp_path):
    """An instance on an interface this namespace lacks: refused at file:line, nothing touched."""
    conf = tmp_path / "missing.conf"
    conf.write_text(InstanceSpec(state="MASTER", priority=100, interface="em9").render("x"))
    topology.run("a", ["ip", "addr", "add", f"{VIP}/32", "dev", "em1"])
    result = topology.run("a", [sys.executable, "-m", "fastvrrp", "run", "-f", str(conf)], check=False, timeout=20)
    assert result.returncode == 1, result.stderr
    assert f"{conf}:5: ERROR: vrrp_instance VIP_test_1: interface em9 does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    assert holders(topology) == ["a"], "a refused start must not remove (or add) any address"


def test_reload_onto_a_missing_interface_keeps_the_running_configuration(topology, tmp_path, peers):
    """A SIGHUP whose file changes one instance and adds one on a missing interface is refused
    before anything stops: the changed instance keeps its state (no priority 0, no VIP flap)."""
    a, b = experiment(topology, tmp_path, version=3, advert_int="0.1", password=None)
    peers += [a, b]
    a.start()
    b.start()
    assert wait_until(lambda: holders(topology) == ["a"], STARTUP + 1) is not None
    before = a.log().count("Entering")
    absent = InstanceSpec(state="BACKUP", vrid=151, interface="em9", name="VIP_absent", version=3, password=None)
    changed = a.config.replace("priority 100", "priority 110")
    a.config_path.write_text(changed + absent.render("x").split("\n\n", 1)[1])
    a.signal(signal.SIGHUP)
    assert wait_until(lambda: "Reload aborted" in a.log(), 5) is not None, a.log()
    assert "vrrp_instance VIP_absent: interface em9 does not exist" in a.log()
    wait_until(lambda: False, 0.5)
    assert a.running and holders(topology) == ["a"]
    assert a.log().count("Entering") == before and "sent 0 priority" not in a.log(), a.log()


def test_reload_onto_another_daemons_instance_keeps_the_running_configuration(topology, tmp_path, peers):
    """A SIGHUP that changes one instance and adds one another daemon here runs is refused before
    the changed instance stops (its lock is claimed first)."""
    a, b = experiment(topology, tmp_path, version=3, advert_int="0.1", password=None)
    other = InstanceSpec(state="BACKUP", vrid=151, vip="10.0.201.101", name="VIP_other", version=3, password=None)
    y = Peer(topology, "a", "fastvrrp", other.render("y"), tmp_path / "y")
    peers += [a, b, y]
    a.start()
    b.start()
    y.start()
    assert wait_until(lambda: holders(topology) == ["a"] and "fastvrrp started" in y.log(), STARTUP + 1) is not None
    before = a.log().count("Entering")
    a.config_path.write_text(a.config.replace("priority 100", "priority 110") + other.render("x").split("\n\n", 1)[1])
    a.signal(signal.SIGHUP)
    assert wait_until(lambda: "Reload aborted" in a.log(), 5) is not None, a.log()
    assert "another fastvrrp in this network namespace holds fastvrrp/vrrp/em1/ipv4/151" in a.log()
    wait_until(lambda: False, 0.5)
    assert a.running and y.running and holders(topology) == ["a"]
    assert a.log().count("Entering") == before and "sent 0 priority" not in a.log(), a.log()


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"version": 2, "advert_int": "1"}, id="v2-pass-1s"),
        pytest.param({"version": 3, "advert_int": "0.1", "password": None}, id="v3-ipv4-100ms"),
        pytest.param({"version": 3, "advert_int": "0.01", "password": None}, id="v3-ipv4-10ms"),
        pytest.param({"version": 3, "advert_int": "0.1", "password": None, "vip": "fd00:201::100"}, id="v3-ipv6"),
    ],
)
@pytest.mark.parametrize("ours", ["master", "backup"])
def test_interop_with_keepalived(topology, tmp_path, peers, spec, ours):
    """keepalived 2.2.7 on the other router: one master, graceful takeover both ways."""
    impls = ("fastvrrp", "keepalived") if ours == "master" else ("keepalived", "fastvrrp")
    a, b = experiment(topology, tmp_path, impls=impls, **spec)
    peers += [a, b]
    vip = spec.get("vip", VIP)
    interval = float(spec["advert_int"])
    down = master_down_v2(100) if spec["version"] == 2 else master_down_v3(100, interval)
    fast = a if ours == "master" else b
    with Capture(topology, "client", tmp_path / "interop.pcap") as capture:
        a.start()
        b.start()
        elected = wait_until(lambda: holders(topology, vip) == ["a"], down + SLACK + STARTUP)
        assert elected is not None, a.log() + b.log()
        # Several intervals with both running: still exactly one master.
        wait_until(lambda: False, min(10 * interval, 2))
        assert holders(topology, vip) == ["a"]
        if ours == "backup":
            # keepalived's adverts are counted as received, none dropped (a dump may precede the first).
            assert wait_until(lambda: stats(fast)["advert_rcvd"] > 0, 3, interval=0.2) is not None, fast.log()
            counters = stats(fast)
            assert counters.get("auth_failure", 0) == 0 and counters.get("chk_err", 0) == 0
        assert a.stop() == 0
        skew = skew_v2(50) if spec["version"] == 2 else (256 - 50) * interval / 256
        assert wait_until(lambda: holders(topology, vip) == ["b"], skew + SLACK) is not None, a.log() + b.log()
    assert_our_wire_as_tshark_reads_it(topology, capture, fast, spec, vip)


def assert_our_wire_as_tshark_reads_it(topology, capture: Capture, fast: Peer, spec: dict, vip: str) -> None:
    """What fastvrrp sent during an interop run, decoded by tshark (not our parser): its adverts
    (RFC 3768 §5 / RFC 5798 §5: version, VRID, priority, interval, checksum, TTL or hop limit
    255; priority 0 when the master stops, §6.4.3) and the announcements of its takeover (a
    gratuitous ARP, or an unsolicited NA to ff02::1 with Override and our link-layer address)."""
    mac = topology.run(fast.role, ["cat", "/sys/class/net/em1/address"]).stdout.strip()
    names = ("vrrp.version", "vrrp.virt_rtr_id", "vrrp.prio", "vrrp.checksum.status", "ip.ttl", "ipv6.hlim")
    names += ("vrrp.adver_int", "vrrp.short_adver_int")
    adverts = capture.fields(*names, display_filter=f"vrrp && eth.src == {mac}")
    assert adverts, "none of our adverts was captured"
    # v2 carries the interval in seconds, v3 in centiseconds.
    interval = str(round(float(spec["advert_int"]) * (1 if spec["version"] == 2 else 100)))
    priority = "100" if fast.role == "a" else "50"
    for version, vrid, prio, checksum, ttl, hlim, adver_int, short_int in adverts:
        assert (version, vrid, checksum, ttl or hlim) == (str(spec["version"]), "150", "1", "255")
        assert prio in (priority, "0") and (adver_int or short_int) == interval
    prios = [row[2] for row in adverts]
    assert priority in prios
    assert ("0" in prios) == (fast.role == "a"), "priority 0 when (and only when) our master stops"
    if ":" in vip:
        rows = capture.fields(
            "ipv6.dst", "icmpv6.nd.na.flag.o", "icmpv6.opt.linkaddr", "icmpv6.checksum.status",
            display_filter=f"icmpv6.type == 136 && icmpv6.nd.na.target_address == {vip} && eth.src == {mac}",
        )  # fmt: skip
        assert rows and all(row == ["ff02::1", "1", mac, "1"] for row in rows), rows
    else:
        rows = capture.fields(
            "eth.dst", "arp.src.hw_mac",
            display_filter=f"arp.isgratuitous == 1 && arp.src.proto_ipv4 == {vip} && eth.src == {mac}",
        )  # fmt: skip
        assert rows and all(row == ["ff:ff:ff:ff:ff:ff", mac] for row in rows), rows


def test_unicast_from_a_secondary_address_interoperates(topology, tmp_path, peers):
    """keepalived's `unicast_src_ip`: adverts leave from that address, which is also our election
    address (RFC 5798 §5.2.8 compares the sender's address).  keepalived with
    `check_unicast_src` drops adverts from anyone not in its `unicast_peer` list: it stays
    backup only if the source is the configured one."""
    topology.run("a", ["ip", "addr", "add", "10.0.201.11/24", "dev", "em1"])
    unicast = "    unicast_src_ip {src}\n    unicast_peer {{\n        {peer}\n    }}\n"
    ours = unicast.format(src="10.0.201.11", peer="10.0.201.2")
    theirs = unicast.format(src="10.0.201.2", peer="10.0.201.11") + "    check_unicast_src\n"
    spec = {"version": 3, "advert_int": "0.1", "password": None}
    a = Peer(topology, "a", "fastvrrp", InstanceSpec(state="MASTER", priority=100, extra=ours, **spec).render("A"), tmp_path / "a")
    b = Peer(topology, "b", "keepalived", InstanceSpec(state="BACKUP", priority=50, extra=theirs, **spec).render("B"), tmp_path / "b")
    peers += [a, b]
    with Capture(topology, "b", tmp_path / "unicast.pcap", "ip proto 112") as capture:
        a.start()
        b.start()
        assert wait_until(lambda: holders(topology) == ["a"], master_down_v3(100, 0.1) + SLACK + STARTUP) is not None
        wait_until(lambda: False, 2.0)
        assert holders(topology) == ["a"], a.log() + b.log()
    sources = {src for src, in capture.fields("ip.src")}
    assert "10.0.201.11" in sources and "10.0.201.1" not in sources, sources  # (.2: keepalived, if it won the start)
    assert a.stop() == 0
    assert wait_until(lambda: holders(topology) == ["b"], (256 - 50) * 0.1 / 256 + SLACK) is not None


def test_asyncio_loop_sigint_and_keepalived_log_lines(topology, tmp_path):
    """`fastvrrp run --no-uvloop` in the foreground: every line on stderr stamped to the
    millisecond, keepalived's words from start to SIGINT (which stops it as SIGTERM does:
    priority 0 sent, VIP removed, exit 0)."""
    conf = tmp_path / "keepalived.conf"
    conf.write_text(InstanceSpec(state="MASTER", priority=100, version=3, advert_int="0.1", password=None).render("a"))
    argv = [sys.executable, "-m", "fastvrrp", "run", "-f", str(conf), "--no-uvloop", "--dump-dir", str(tmp_path)]
    daemon = topology.popen("a", argv, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: holders(topology) == ["a"], master_down_v3(100, 0.1) + SLACK + STARTUP) is not None
        wait_until(lambda: False, 0.3)
        daemon.send_signal(signal.SIGINT)
        _, err = daemon.communicate(timeout=10)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert daemon.returncode == 0, err
    assert holders(topology) == []
    lines = err.splitlines()
    stamp = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} fastvrrp\[\d+\]: ")
    assert lines and all(stamp.match(line) for line in lines), err
    expected = [
        "(VIP_test_1) Entering BACKUP STATE (init)",
        "(VIP_test_1) Entering MASTER STATE",
        "(VIP_test_1) setting VIPs.",
        "(VIP_test_1) Sending/queueing gratuitous ARPs on em1 for 10.0.201.100",
        "(VIP_test_1) sent 0 priority",
        "(VIP_test_1) removing VIPs.",
    ]
    messages = [stamp.sub("", line, count=1) for line in lines]
    found = [next((n for n, m in enumerate(messages) if m.startswith(e)), None) for e in expected]
    assert None not in found and found == sorted(found), "\n".join(messages)


def test_adverts_due_together_leave_in_one_system_call(topology, tmp_path, peers):
    """50 masters at 100 ms, started together, are due together: each wake-up sends their
    adverts with one sendmmsg(2) (keepalived: one sendmsg each).  Counted by strace."""
    count = 50
    a = Peer(topology, "a", "fastvrrp", render_instances("a", count, state="MASTER", priority=100, advert_int="0.1"),
             tmp_path / "a")  # fmt: skip
    peers.append(a)
    a.start()
    assert wait_until(lambda: vip_count(topology, "a") == count, STARTUP + 2) is not None, a.log()
    seconds, before = 2, stats(a, "VI_1")["advert_sent"]
    argv = ["strace", "-c", "-e", "trace=sendmsg,sendmmsg", "-p", str(a.process.pid)]
    traced = subprocess.run(["timeout", "-s", "INT", str(seconds), *argv], capture_output=True, text=True, timeout=20)
    assert stats(a, "VI_1")["advert_sent"] - before >= seconds / 0.1 - 2, "the masters kept advertising"
    rows = [row.split() for row in traced.stderr.splitlines()]
    calls = {row[-1]: int(row[3]) for row in rows if row[-1:] in (["sendmsg"], ["sendmmsg"])}
    # 20 wake-ups in 2 s, one call each; sent one by one, the 1000 adverts would take 1000.
    assert 0 < calls.get("sendmmsg", 0) and sum(calls.values()) <= 2 * seconds / 0.1 + 5, traced.stderr


def test_a_late_timer_is_logged_as_keepalived_does(topology, tmp_path, peers):
    """A wake-up far behind its deadline (here: the daemon stopped 0.3 s) is logged in keepalived's
    words, "A thread timer expired N seconds ago": what operators grep for on busy VMs."""
    a = Peer(topology, "a", "fastvrrp", InstanceSpec(state="MASTER", version=3, advert_int="0.1", password=None)
             .render("a"), tmp_path / "a")  # fmt: skip
    peers.append(a)
    a.start()
    assert wait_until(lambda: holders(topology) == ["a"], STARTUP + 1) is not None, a.log()
    assert "A thread timer expired" not in a.log()
    a.signal(signal.SIGSTOP)
    wait_until(lambda: False, 0.3)
    a.signal(signal.SIGCONT)
    line = re.compile(r"A thread timer expired (\d+\.\d{6}) seconds ago")
    assert wait_until(lambda: line.search(a.log()), 5) is not None, a.log()
    late = float(line.search(a.log()).group(1))
    assert 0.2 <= late < 2.0, a.log()


def test_wrong_password_is_counted_and_changes_nothing(topology, tmp_path, peers):
    """RFC 3768 §7.1: an advert whose password does not match is dropped (auth_failure)."""
    a, b = experiment(topology, tmp_path, impls=("fastvrrp", "keepalived"))
    b.config_path.write_text(b.config.replace("auth_pass 1111", "auth_pass 2222"))
    peers += [a, b]
    a.start()
    assert wait_until(lambda: holders(topology) == ["a"], master_down_v2(100) + SLACK + STARTUP) is not None
    b.start()
    # keepalived rejects our adverts too, so it becomes master as well (split brain) and its
    # priority-50 adverts reach us: they must neither move us nor trigger re-announcements.
    assert wait_until(lambda: "b" in holders(topology), master_down_v2(50) + SLACK + STARTUP) is not None
    wait_until(lambda: False, 2.0)
    counters = stats(a)
    assert counters["auth_failure"] >= 1 and counters["advert_rcvd"] == 0, a.log() + b.log()
    assert "received an invalid passwd from 10.0.201.2!" in a.log()
    assert "forcing new election" not in a.log()
    assert "a" in holders(topology)


def test_reload_keeps_unchanged_instances_advertising(topology, tmp_path, peers):
    """SIGHUP with an unchanged instance: no state change, no VIP flap (a keepalived complaint)."""
    a, b = experiment(topology, tmp_path, version=3, advert_int="0.1", password=None)
    peers += [a, b]
    a.start()
    b.start()
    assert wait_until(lambda: holders(topology) == ["a"], STARTUP + 1) is not None
    before_a, before_b = a.log().count("Entering"), b.log().count("Entering")
    with Capture(topology, "client", tmp_path / "reload.pcap", "ip proto 112") as capture:
        a.signal(signal.SIGHUP)
        assert wait_until(lambda: "Reload done" in a.log(), 5) is not None
        wait_until(lambda: False, 0.5)
    times = [float(t) for t, in capture.fields("frame.time_relative", display_filter="ip.src==10.0.201.1")]
    gaps = [t2 - t1 for t1, t2 in zip(times, times[1:])]
    assert gaps and max(gaps) < 0.3, f"adverts paused during reload: {max(gaps):.3f} s"
    assert a.log().count("Entering") == before_a and holders(topology) == ["a"]
    assert b.log().count("Entering") == before_b


def test_process_settings_of_global_defs_are_applied(topology, tmp_path, peers):
    """vrrp_priority, vrrp_rt_priority, vrrp_rlimit_rttime, vrrp_no_swap, vrrp_cpu_affinity: the
    loop thread runs SCHED_RR at that priority, niced, locked in memory, on those CPUs."""
    settings = "   vrrp_priority -5\n   vrrp_rt_priority 7\n   vrrp_rlimit_rttime 20000\n   vrrp_no_swap\n"
    # A check script records its own scheduling: it must not inherit the loop's (keepalived's
    # SCHED_RESET_ON_FORK), or a busy script could starve the adverts.
    script, seen = tmp_path / "sched.sh", tmp_path / "sched.seen"
    script.write_text(f"#!/bin/sh\ncut -d' ' -f19,41 /proc/$$/stat > {seen}.tmp && mv {seen}.tmp {seen}\n")
    script.chmod(0o755)
    track = "    track_script {\n        chk_sched\n    }\n"
    config = InstanceSpec(state="MASTER", priority=100, extra=track).render("LVS_201-1")
    config = config.replace("global_defs {\n", "global_defs {\n" + settings + "   vrrp_cpu_affinity 0\n", 1)
    check = f'vrrp_script chk_sched {{\n    script "{script}"\n    interval 1\n}}\n\n'
    config = config.replace("vrrp_instance", check + "vrrp_instance", 1)
    a = Peer(topology, "a", "fastvrrp", config, tmp_path / "a")
    peers.append(a)
    a.start()
    assert wait_until(lambda: holders(topology) == ["a"], master_down_v2(100) + SLACK + STARTUP) is not None, a.log()
    pid = a.process.pid
    with open(f"/proc/{pid}/task/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    nice, rt_priority, policy = int(fields[16]), int(fields[37]), int(fields[38])
    assert (nice, rt_priority, policy) == (-5, 7, os.SCHED_RR), a.log()
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.split(":", 1) for line in f)
    assert int(status["VmLck"].split()[0]) > 0
    assert status["Cpus_allowed_list"].strip() == "0"
    assert resource.prlimit(pid, resource.RLIMIT_RTTIME) == (20000, 40000)
    assert "Process: SCHED_RR priority 7 (vrrp_rt_priority)" in a.log()
    assert wait_until(seen.exists, 3) is not None, a.log()
    assert seen.read_text().split() == ["0", str(os.SCHED_OTHER)], "a script runs at nice 0, not real-time"
    a.signal(signal.SIGHUP)  # parsed on another thread, which must not compete with the loop in real time
    assert wait_until(lambda: "Reload done" in a.log(), 5) is not None, a.log()
    threads = [t for t in os.listdir(f"/proc/{pid}/task") if t != str(pid)]
    assert threads, "the reload's parse ran on a thread of its own"
    for tid in threads:
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            assert int(f.read().rsplit(")", 1)[1].split()[38]) == os.SCHED_OTHER, tid
