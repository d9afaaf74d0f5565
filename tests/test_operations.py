"""Operations in namespaces: track scripts and checks, notifies, sync groups, metrics and status.

Two fastvrrp daemons on the bridge, VRRPv3 at 100 ms so that each failover takes well under a
second; the bounds below are the protocol's plus `SLACK`, never measured timings.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import pytest
from netns_support import netns_test, peers, stale_namespaces_removed, topology  # noqa: F401 (fixtures)
from prometheus_client.parser import text_string_to_metric_families

from fastvrrp.peers import InstanceSpec, Peer, vip_holders, wait_until

pytestmark = netns_test

VIP = "10.0.201.100"
VIP2 = "10.0.201.101"
SLACK = 2.0
INTERVAL = 0.1
DOWN = 3 * INTERVAL + INTERVAL  # Master_Down_Interval at 100 ms, skew below one interval


class OpsPeer(Peer):
    """A fastvrrp Peer with extra `fastvrrp run` arguments (metrics address...)."""

    extra_args: tuple[str, ...] = ()

    def argv(self) -> list[str]:
        return super().argv() + list(self.extra_args)



def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def config(router_id: str, priority: int, extra: str = "", top: str = "", spec: dict | None = None) -> str:
    spec = {"version": 3, "advert_int": str(INTERVAL), "password": None, **(spec or {})}
    text = InstanceSpec(state="BACKUP", priority=priority, extra=extra, **spec).render(router_id)
    return top + text


def holders(topology, vip: str = VIP) -> list[str]:
    return vip_holders(topology, ("a", "b"), vip)


def start(topology, tmp_path, peers, conf_a: str, conf_b: str, extra_a: tuple[str, ...] = ()) -> tuple[Peer, Peer]:
    a = OpsPeer(topology, "a", "fastvrrp", conf_a, tmp_path / "a")
    a.extra_args = extra_a
    b = Peer(topology, "b", "fastvrrp", conf_b, tmp_path / "b")
    peers += [a, b]
    a.start()
    b.start()
    assert a.wait_ready() and b.wait_ready(), a.log() + b.log()
    return a, b


def test_failing_track_script_moves_the_vip_and_back(topology, tmp_path, peers):
    flag = tmp_path / "broken"
    check = script(tmp_path / "check.sh", f"test ! -e {flag}\n")
    top = f'vrrp_script chk {{\n    script "{check}"\n    interval 0.2\n    weight -60\n}}\n'
    a, b = start(
        topology, tmp_path, peers, config("a", 100, "    track_script {\n        chk\n    }\n", top), config("b", 50)
    )
    assert wait_until(lambda: holders(topology) == ["a"], DOWN + SLACK) is not None, a.log()
    flag.touch()  # 100 - 60 = 40 < 50: b preempts
    assert wait_until(lambda: holders(topology) == ["b"], 0.2 + DOWN + SLACK) is not None, a.log() + b.log()
    assert "VRRP_Script(chk) failed" in a.log() and "Changing effective priority from 100 to 40" in a.log()
    flag.unlink()
    assert wait_until(lambda: holders(topology) == ["a"], 0.2 + DOWN + SLACK) is not None, a.log() + b.log()
    assert "VRRP_Script(chk) succeeded" in a.log()


def test_hanging_script_is_killed_at_its_timeout_and_faults(topology, tmp_path, peers):
    pids = tmp_path / "pids"
    hang = script(tmp_path / "hang.sh", f"sleep 30 &\necho $$ $! >> {pids}\nwait\n")
    top = f'vrrp_script hang {{\n    script "{hang}"\n    interval 1\n    timeout 0.3\n}}\n'
    a, b = start(
        topology, tmp_path, peers, config("a", 100, "    track_script {\n        hang\n    }\n", top), config("b", 50)
    )
    # weight 0: a failed check is FAULT; the backup serves.
    assert wait_until(lambda: holders(topology) == ["b"], DOWN + SLACK) is not None, a.log() + b.log()
    assert wait_until(lambda: pids.exists() and len(pids.read_text().splitlines()) >= 2, 5) is not None
    first_shell, first_sleep = (int(p) for p in pids.read_text().splitlines()[0].split())

    def gone(pid: int) -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
        except FileNotFoundError:
            return True

    assert gone(first_shell) and gone(first_sleep), "the timed-out script's process group survived"
    assert "timed out (process group killed)" in a.log()
    assert "Entering FAULT STATE" in a.log()
    assert a.running


def test_notify_scripts_run_in_order_with_keepalived_arguments(topology, tmp_path, peers):
    out = tmp_path / "notified"
    notify = script(tmp_path / "notify.sh", f'echo "$*" >> {out}\n')
    fifo = tmp_path / "events.fifo"
    vrrp_fifo, read, terminated = tmp_path / "vrrp.fifo", tmp_path / "fifo-read", tmp_path / "fifo-terminated"
    reader = script(  # keepalived's notify_fifo_script: started once, the FIFO's path last, SIGTERM at the end
        tmp_path / "fifo-reader.sh",
        'trap term=1 TERM\nwhile [ -z "$term" ] && read -r line; do echo "$line" >> "$1"; done < "$2"\n'
        f"echo TERM > {terminated}\n",
    )
    extra = (
        f'    notify_master "{notify} master"\n    notify_backup "{notify} backup"\n'
        f'    notify_stop "{notify} stop"\n    notify "{notify}"\n'
    )
    conf = config("a", 100, extra).replace(
        "   router_id a\n",
        f'   router_id a\n   notify_fifo {fifo}\n   vrrp_notify_fifo {vrrp_fifo}\n'
        f'   vrrp_notify_fifo_script "{reader} {read}"\n',
    )
    a = Peer(topology, "a", "fastvrrp", conf, tmp_path / "a")
    peers.append(a)
    a.start()
    assert wait_until(lambda: holders(topology) == ["a"], DOWN + SLACK) is not None, a.log()
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert a.stop() == 0
        assert wait_until(lambda: out.exists() and len(out.read_text().splitlines()) >= 6, 5) is not None, a.log()
        lines = os.read(reader, 65536).decode().splitlines()
    finally:
        os.close(reader)
    assert out.read_text().splitlines() == [
        "backup",
        "INSTANCE VIP_test_1 BACKUP 100",
        "master",
        "INSTANCE VIP_test_1 MASTER 100",
        "stop",
        "INSTANCE VIP_test_1 STOP 100",
    ]
    assert lines == [
        'INSTANCE "VIP_test_1" BACKUP 100',
        'INSTANCE "VIP_test_1" MASTER 100',
        'INSTANCE "VIP_test_1" STOP 100',
    ]
    assert read.read_text().splitlines() == lines, "the fifo script read every line, the STOP one too"
    assert terminated.read_text() == "TERM\n", a.log()
    assert "exited with status 0" in a.log()


def sync_config(router_id: str, priority: int, notify: Path | None, flag: Path | None) -> str:
    track = ""
    top = ""
    if flag is not None:
        top = f'vrrp_script flag {{\n    check file {flag} exists\n    interval 0.05\n    weight 0 reverse\n}}\n'
        track = "    track_script {\n        flag\n    }\n"
    second = InstanceSpec(
        state="BACKUP", priority=priority, vrid=151, vip=VIP2, name="VI_2", version=3,
        advert_int=str(INTERVAL), password=None, extra=track,
    ).render(router_id)  # fmt: skip
    second = second[second.index("vrrp_instance") :]
    notifies = f'    notify "{notify}"\n' if notify else ""
    group = f"vrrp_sync_group G {{\n    group {{\n        VIP_test_1\n        VI_2\n    }}\n{notifies}}}\n"
    return top + config(router_id, priority) + second + group


def test_sync_group_fails_over_as_one(topology, tmp_path, peers):
    out = tmp_path / "group-notified"
    notify = script(tmp_path / "notify.sh", f'echo "$*" >> {out}\n')
    flag = tmp_path / "maintenance"
    a, b = start(topology, tmp_path, peers, sync_config("a", 100, notify, flag), sync_config("b", 50, None, None))
    both = lambda who: holders(topology, VIP) == [who] and holders(topology, VIP2) == [who]
    assert wait_until(lambda: both("a"), DOWN + SLACK) is not None, a.log() + b.log()
    flag.touch()  # only VI_2 tracks it (reverse: up while the file is absent); the group goes to FAULT
    assert wait_until(lambda: both("b"), DOWN + SLACK) is not None, a.log() + b.log()
    assert a.log().count("Entering FAULT STATE") == 2
    flag.unlink()
    assert wait_until(lambda: both("a"), DOWN + SLACK) is not None, a.log() + b.log()
    assert wait_until(lambda: "GROUP G MASTER" in out.read_text().splitlines()[-1:], 3) is not None
    events = [line for line in out.read_text().splitlines() if line.startswith("GROUP G")]
    assert "GROUP G FAULT" in events and events.count("GROUP G MASTER") >= 2


def run_in_a(topology, code: str) -> str:
    return topology.run("a", [sys.executable, "-c", code], timeout=20).stdout


def test_metrics_and_status_match_the_daemon(topology, tmp_path, peers):
    port = 9650
    a, _ = start(topology, tmp_path, peers, config("a", 100), config("b", 50), extra_a=("--metrics", f"10.0.201.1:{port}"))
    assert wait_until(lambda: holders(topology) == ["a"], DOWN + SLACK) is not None, a.log()
    time.sleep(0.5)
    text = run_in_a(
        topology,
        f"import urllib.request; print(urllib.request.urlopen('http://10.0.201.1:{port}/metrics', timeout=5)"
        ".read().decode())",
    )
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    instance = (("instance", "VIP_test_1"),)
    assert samples[("fastvrrp_instance_state", (("instance", "VIP_test_1"), ("state", "MASTER")))] == 1
    assert samples[("fastvrrp_effective_priority", instance)] == 100
    assert samples[("fastvrrp_vrrp_total", (("counter", "advert_sent"), ("instance", "VIP_test_1")))] > 3
    assert samples[("fastvrrp_vrrp_total", (("counter", "become_master"), ("instance", "VIP_test_1")))] == 1
    assert samples[("fastvrrp_gratuitous_sent_total", instance)] >= 5
    assert samples[("fastvrrp_loop_lag_seconds_count", ())] > 0
    sent = ("fastvrrp_advert_gap_seconds_count", (("direction", "sent"), ("instance", "VIP_test_1")))
    assert samples[sent] > 0

    status = json.loads(topology.run("a", [sys.executable, "-m", "fastvrrp", "status", "--json"], timeout=20).stdout)
    (mine,) = status["instances"]
    assert (mine["name"], mine["state"], mine["effective_priority"], mine["master"]) == (
        "VIP_test_1", "MASTER", 100, "10.0.201.1",
    )  # fmt: skip
    theirs = json.loads(topology.run("b", [sys.executable, "-m", "fastvrrp", "status", "--json"], timeout=20).stdout)
    (backup,) = theirs["instances"]
    assert (backup["state"], backup["master"]) == ("BACKUP", "10.0.201.1")
    assert backup["last_advert_age"] < 1.0 and backup["counters"]["advert_rcvd"] > 0
    assert backup["checksum_forms"] == {"pseudo_header": backup["counters"]["advert_rcvd"]}
    # Repeats are counted outside the core between its events: status still sees every one,
    # with a gap from each advert to the next (the first has none).
    gaps = backup["advert_gap_received"]
    assert gaps["count"] == backup["counters"]["advert_rcvd"] - 1 > 0
    assert 0.5 * INTERVAL < gaps["sum"] / gaps["count"] < 1.5 * INTERVAL
    table = topology.run("b", [sys.executable, "-m", "fastvrrp", "status"], timeout=20).stdout
    assert "VIP_test_1" in table and "BACKUP" in table

    # Malformed requests get an error and change nothing.
    reply = run_in_a(
        topology,
        "import socket\n"
        "for payload in (b'nonsense\\n', b'{\"command\": \"reboot\"}\\n', b'x' * 10000):\n"
        "    s = socket.socket(socket.AF_UNIX); s.connect('\\0fastvrrp/control'); s.sendall(payload)\n"
        "    try:\n"
        "        print(s.recv(4096).decode().strip() or 'closed')\n"
        "    except ConnectionResetError:\n"
        "        print('closed')\n"
        "    s.close()\n",
    )
    answers = reply.splitlines()
    assert len(answers) == 3 and all('"ok": false' in r for r in answers[:2]), reply
    assert '"ok": false' in answers[2] or answers[2] == "closed", reply
    # Root only: the peer's credentials decide (an abstract socket has no file mode).
    nobody = topology.run(
        "a",
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3", "-c",
         "import socket\ns = socket.socket(socket.AF_UNIX); s.connect('\\0fastvrrp/control')\n"
         "s.sendall(b'{\"command\": \"status\"}\\n'); print(s.recv(4096).decode())"],
    ).stdout  # fmt: skip
    assert "permission denied: root only" in nobody
    assert a.running and holders(topology) == ["a"]


LISTEN_LOOP = "while True:\n    c, _ = s.accept(); c.close()"


def test_tcp_check_at_10_ms(topology, tmp_path, peers):
    port = 8081
    server = topology.popen(
        "a",
        [sys.executable, "-c", f"import socket\ns = socket.create_server(('127.0.0.1', {port}))\n" + LISTEN_LOOP],
    )
    try:
        assert wait_until(lambda: f":{port}" in topology.run("a", ["ss", "-ltn"]).stdout, 5) is not None
        top = f"vrrp_script web {{\n    check tcp 127.0.0.1:{port}\n    interval 0.01\n    timeout 0.005\n    fall 3\n}}\n"
        a, b = start(
            topology, tmp_path, peers, config("a", 100, "    track_script {\n        web\n    }\n", top), config("b", 50)
        )
        assert wait_until(lambda: holders(topology) == ["a"], DOWN + SLACK) is not None, a.log()
        server.kill()
        server.wait()
        took = wait_until(lambda: holders(topology) == ["b"], DOWN + SLACK)
        assert took is not None, a.log() + b.log()
        assert "VRRP_Script(web) failed" in a.log()
        status = json.loads(topology.run("a", [sys.executable, "-m", "fastvrrp", "status", "--json"]).stdout)
        assert status["checks"]["web"]["runs"] > 50 and not status["checks"]["web"]["up"]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_track_interface_weight_fault_and_dont_track_primary(topology, tmp_path, peers):
    """A weighted tracked link moves the priority, a weight-0 one is FAULT, the primary is ignored on request."""
    for name in ("dum0", "dum1"):  # veth pairs: this kernel may lack the dummy driver
        topology.run("a", ["ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"])
        topology.run("a", ["ip", "link", "set", name + "p", "up"])
        topology.run("a", ["ip", "link", "set", name, "up"])
    extra = "    dont_track_primary\n    track_interface {\n        dum0 weight -60\n        dum1\n    }\n"
    a, b = start(topology, tmp_path, peers, config("a", 100, extra), config("b", 50))
    assert wait_until(lambda: holders(topology) == ["a"], DOWN + SLACK) is not None, a.log()
    topology.run("a", ["ip", "link", "set", "dum0", "down"])  # 100 - 60 = 40 < 50
    assert wait_until(lambda: holders(topology) == ["b"], DOWN + SLACK) is not None, a.log() + b.log()
    assert "Changing effective priority from 100 to 40" in a.log()
    topology.run("a", ["ip", "link", "set", "dum0", "up"])
    assert wait_until(lambda: holders(topology) == ["a"], DOWN + SLACK) is not None, a.log() + b.log()
    topology.run("a", ["ip", "link", "set", "dum1", "down"])  # weight 0: FAULT
    assert wait_until(lambda: holders(topology) == ["b"], DOWN + SLACK) is not None, a.log() + b.log()
    assert "Entering FAULT STATE" in a.log()
    topology.run("a", ["ip", "link", "set", "dum1", "up"])
    assert wait_until(lambda: holders(topology) == ["a"], DOWN + SLACK) is not None, a.log() + b.log()
    faults = a.log().count("Entering FAULT STATE")
    topology.run("a", ["ip", "link", "set", "em1", "down"])  # dont_track_primary: no FAULT for em1
    wait_until(lambda: False, 0.5)
    assert a.log().count("Entering FAULT STATE") == faults
    topology.run("a", ["ip", "link", "set", "em1", "up"])


def test_reload_restarts_a_changed_check_and_keeps_the_master(topology, tmp_path, peers):
    flag = tmp_path / "broken"
    check = script(tmp_path / "check.sh", f"test ! -e {flag}\n")
    top = f'vrrp_script chk {{\n    script "{check}"\n    interval 0.2\n    weight -60\n}}\n'
    track = "    track_script {\n        chk\n    }\n"
    a, b = start(topology, tmp_path, peers, config("a", 100, track, top), config("b", 50))
    assert wait_until(lambda: holders(topology) == ["a"], DOWN + SLACK) is not None, a.log()
    entered = a.log().count("Entering")
    a.config_path.write_text(config("a", 100, track, top.replace("interval 0.2", "interval 0.1")))
    a.signal(signal.SIGHUP)
    assert wait_until(lambda: "Reload done" in a.log(), 5) is not None, a.log()
    wait_until(lambda: False, 0.5)
    assert a.log().count("Entering") == entered and holders(topology) == ["a"]
    flag.touch()  # the restarted check still moves the VIP
    assert wait_until(lambda: holders(topology) == ["b"], 0.1 + DOWN + SLACK) is not None, a.log() + b.log()


def test_reload_moves_notify_fifo_lines_to_the_new_fifo(topology, tmp_path, peers):
    """keepalived re-reads global_defs on reload: a changed notify_fifo gets the lines from then on."""
    first, second = tmp_path / "first.fifo", tmp_path / "second.fifo"

    def conf(fifo: Path) -> str:
        return config("a", 100).replace("   router_id a\n", f"   router_id a\n   notify_fifo {fifo}\n")

    a = Peer(topology, "a", "fastvrrp", conf(first), tmp_path / "a")
    peers.append(a)
    a.start()
    assert wait_until(lambda: holders(topology) == ["a"], DOWN + SLACK) is not None, a.log()
    old = os.open(first, os.O_RDONLY | os.O_NONBLOCK)
    try:
        a.config_path.write_text(conf(second))
        a.signal(signal.SIGHUP)
        assert wait_until(lambda: "Reload done" in a.log() and second.exists(), 5) is not None, a.log()
        new = os.open(second, os.O_RDONLY | os.O_NONBLOCK)
        try:
            assert a.stop() == 0
            assert os.read(new, 65536).decode().splitlines() == ['INSTANCE "VIP_test_1" STOP 100']
        finally:
            os.close(new)
        assert os.read(old, 65536).decode().splitlines() == [
            'INSTANCE "VIP_test_1" BACKUP 100',
            'INSTANCE "VIP_test_1" MASTER 100',
        ]
    finally:
        os.close(old)


def test_reload_applies_a_new_script_user_to_running_instances(topology, peers):
    """keepalived re-reads `script_user` on reload: the next notify runs as the new user."""
    shared = Path(tempfile.mkdtemp(prefix="fastvrrp-user-", dir="/tmp"))
    try:
        shared.chmod(0o777)
        out = shared / "users"
        out.touch()
        out.chmod(0o666)  # whoever the script runs as may append
        notify = script(shared / "notify.sh", f'id -un >> {out}\n')
        notify.chmod(0o755)

        def conf(user: str) -> str:
            return config("a", 100, f'    notify "{notify}"\n').replace(
                "   router_id a\n", f"   router_id a\n   script_user {user}\n"
            )

        a = Peer(topology, "a", "fastvrrp", conf("root"), shared / "a")
        peers.append(a)
        a.start()
        assert wait_until(lambda: holders(topology) == ["a"], DOWN + SLACK) is not None, a.log()
        assert wait_until(lambda: len(out.read_text().split()) == 2, 5) is not None, a.log()
        a.config_path.write_text(conf("nobody"))
        a.signal(signal.SIGHUP)
        assert wait_until(lambda: "Reload done" in a.log(), 5) is not None, a.log()
        assert a.stop() == 0
        assert wait_until(lambda: len(out.read_text().split()) == 3, 5) is not None, a.log()
        assert out.read_text().split() == ["root", "root", "nobody"], a.log()
    finally:
        shutil.rmtree(shared, ignore_errors=True)
