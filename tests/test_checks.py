"""Operations pieces that need no namespace: checks, scripts, notifies, status, metrics, sd_notify."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import stat
import textwrap
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fastvrrp.actions import RunNotify
from fastvrrp.checks import Checks, Debounce, probe_file, probe_tcp, read_track_file
from fastvrrp.config import ConfigError, load_config
from fastvrrp.config_model import FileCheck, GlobalDefs, Notifies, ScriptCommand, TcpCheck, VrrpScript
from fastvrrp.control import format_status
from fastvrrp.metrics import families, parse_address
from fastvrrp.notify import fifo_line, notify_commands
from fastvrrp.observe import LOOP_LAG_BUCKETS, Histogram
from fastvrrp.runtime import Tracking
from fastvrrp.scripts import insecure_reason, run, script_problems
from fastvrrp.systemd import Notifier


def results(debounce: Debounce, outcomes: str) -> list[bool | None]:
    return [debounce.record(c == "+") for c in outcomes]


def test_debounce_first_result_decides_then_rise_and_fall():
    """keepalived: initially rise - 1, so one success is enough and one failure too."""
    assert results(Debounce(rise=3, fall=2), "+") == [True]
    assert results(Debounce(rise=3, fall=2), "-") == [False]
    d = Debounce(rise=3, fall=2)
    assert results(d, "+--") == [True, None, False]  # fall 2
    assert results(d, "++-+++") == [None, None, None, None, None, True]  # rise 3: a failure restarts the count


def test_debounce_init_fail_needs_rise_successes():
    d = Debounce(rise=2, fall=1, init_fail=True)
    assert not d.up
    assert results(d, "-++") == [None, None, True]


@pytest.mark.parametrize(
    ("content", "value"), [(None, 0), (b"", 0), (b"0\n", 0), (b" 12 x", 12), (b"-3", -3), (b"0x10", 16), (b"hi", 0)]
)
def test_track_file_reading_is_keepalived_strtol(tmp_path, content, value):
    path = tmp_path / "state"
    if content is not None:
        path.write_bytes(content)
    assert read_track_file(str(path)) == value
    assert probe_file(FileCheck(str(path))) is (value == 0)
    assert probe_file(FileCheck(str(path), exists=True)) is (content is not None)


def test_tcp_probe_up_and_refused():
    async def main():
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        up = await probe_tcp(TcpCheck(__import__("ipaddress").ip_address("127.0.0.1"), port), 0.5)
        server.close()
        await server.wait_closed()
        down = await probe_tcp(TcpCheck(__import__("ipaddress").ip_address("127.0.0.1"), port), 0.5)
        return up, down

    assert asyncio.run(main()) == (True, False)


def test_cancelling_a_tcp_probe_mid_connect_cancels_it():
    """A check closed while its connect hangs must end, not read the cancel as a timeout."""

    async def main():
        with socket.create_server(("127.0.0.1", 0), backlog=0) as full:
            port = full.getsockname()[1]
            fillers = [socket.socket() for _ in range(3)]
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex(("127.0.0.1", port))  # the accept queue fills; later SYNs go unanswered
            probe = asyncio.ensure_future(probe_tcp(TcpCheck(ipaddress.ip_address("127.0.0.1"), port), 5.0))
            await asyncio.sleep(0.1)
            assert not probe.done(), "the connect should hang on a full accept queue"
            probe.cancel()
            try:
                await asyncio.wait_for(probe, 1.0)
            except asyncio.CancelledError:
                return "cancelled"
            finally:
                for filler in fillers:
                    filler.close()
            return "swallowed"

    assert asyncio.run(main()) == "cancelled"


class CountingListener:
    """A loopback TCP listener that counts the connections it accepted."""

    def __init__(self) -> None:
        self.accepted = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> TcpCheck:
        def accept(reader, writer):
            self.accepted += 1
            writer.close()

        self.server = await asyncio.start_server(accept, "127.0.0.1", 0)
        return TcpCheck(ipaddress.ip_address("127.0.0.1"), self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()


def test_identical_tcp_checks_share_one_connect_per_interval():
    """Five scripts on one target, interval and timeout: one connect a run, five results."""

    async def main():
        listener = CountingListener()
        target = await listener.start()
        scripts = [VrrpScript(f"web{k}", check=target, interval_s=0.02, timeout_s=0.01) for k in range(1, 6)]
        slower = VrrpScript("slower", check=target, interval_s=0.05, timeout_s=0.01)
        checks = Checks(lambda name, up: None)
        started_at = time.monotonic()
        started = checks.apply([*scripts, slower], GlobalDefs(), {s.name for s in [*scripts, slower]})
        await checks.first_results(started)
        web = checks.probers.by_key[(target, 0.02, 0.01)]
        other = checks.probers.by_key[(target, 0.05, 0.01)]
        assert len(checks.probers.by_key) == 2, "another interval is another question"
        assert web.subscribers == [checks.by_name[s.name] for s in scripts]
        await asyncio.sleep(0.5)
        runs = {c.name: c.runs for c in checks.by_name.values()}
        up = all(c.up for c in checks.by_name.values())
        checks.close()
        elapsed = time.monotonic() - started_at
        await asyncio.sleep(0.1)  # connections made before the close are accepted
        accepted = listener.accepted
        await asyncio.sleep(0.1)
        late = listener.accepted - accepted
        await listener.stop()
        return elapsed, web.probes, other.probes, runs, accepted, late, up, checks.probers.by_key

    elapsed, web_probes, other_probes, runs, accepted, late, up, probers = asyncio.run(main())
    assert up
    assert elapsed / 0.02 / 2 <= web_probes <= elapsed / 0.02 + 2, (elapsed, web_probes)
    assert web_probes + other_probes - 2 <= accepted <= web_probes + other_probes, "one connect per probe, not per script"
    assert {runs[f"web{k}"] for k in range(1, 6)} <= {web_probes, web_probes - 1}, "every script saw every result"
    assert len({runs[f"web{k}"] for k in range(1, 6)}) == 1
    assert runs["slower"] in (other_probes, other_probes - 1)
    assert late == 0 and not probers, "closing the last check stops its probe"


def test_shared_probe_keeps_each_scripts_rise_and_fall():
    """Script k has rise k and fall k: each goes up after k results and down after k failures of its own."""

    async def main():
        listener = CountingListener()
        target = await listener.start()
        scripts = [
            VrrpScript(f"web{k}", check=target, interval_s=0.01, timeout_s=0.005, rise=k, fall=k, init_fail=True)
            for k in (1, 2, 4)
        ]
        changes = []
        checks = Checks(lambda name, up: changes.append((name, up, checks.by_name[name].runs,
                                                         checks.by_name[name].failures)))
        checks.apply(scripts, GlobalDefs(), {s.name for s in scripts})
        (prober,) = checks.probers.by_key.values()
        assert len(prober.subscribers) == 3
        await asyncio.sleep(0.15)
        ups = list(changes)
        before_stop = {name: checks.by_name[name].runs for name in checks.by_name}
        await listener.stop()
        await asyncio.sleep(0.15)
        downs = changes[len(ups):]
        checks.close()
        return ups, downs, before_stop

    ups, downs, before_stop = asyncio.run(main())
    assert ups == [("web1", True, 1, 0), ("web2", True, 2, 0), ("web4", True, 4, 0)]
    assert [(name, up) for name, up, _, _ in downs] == [("web1", False), ("web2", False), ("web4", False)]
    for name, _, runs, failures in downs:
        k = int(name[3:])
        assert failures == k and runs - before_stop[name] in (k, k + 1), (name, runs, failures)


def test_forked_scripts_are_never_shared(tmp_path):
    async def main():
        script = ScriptCommand("/bin/true")
        scripts = [VrrpScript(f"chk{k}", script=script, interval_s=0.05, timeout_s=1) for k in (1, 2)]
        checks = Checks(lambda name, up: None)
        started = checks.apply(scripts, GlobalDefs(), {"chk1", "chk2"})
        await checks.first_results(started)
        tasks = {id(c.task) for c in started}
        probers = len(checks.probers.by_key)
        checks.close()
        return tasks, probers, [c.runs for c in started]

    tasks, probers, runs = asyncio.run(main())
    assert len(tasks) == 2 and probers == 0 and all(runs)


def test_timed_out_script_loses_its_whole_process_group(tmp_path):
    """A shell that started a child: both are gone once the timeout strikes."""
    pid_file = tmp_path / "child"
    argv = ["/bin/sh", "-c", f"sleep 30 & echo $! > {pid_file}; wait"]
    started = time.monotonic()
    outcome = asyncio.run(run(argv, timeout=0.3))
    assert outcome.timed_out and not outcome.ok
    assert time.monotonic() - started < 5
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 2
    while os.path.exists(f"/proc/{child}") and time.monotonic() < deadline:
        time.sleep(0.02)
    stat_path = Path(f"/proc/{child}/stat")
    state = stat_path.read_text().split()[2] if stat_path.exists() else "gone"
    assert state in ("gone", "Z"), f"the script's child {child} survived its timeout"


def test_script_exit_status_and_missing_program():
    assert asyncio.run(run(["/bin/sh", "-c", "exit 3"])).status == 3
    assert str(asyncio.run(run(["/nonexistent/check"]))) == "could not be started"


def write_conf(tmp_path, body: str):
    path = tmp_path / "keepalived.conf"
    path.write_text(textwrap.dedent(body))
    return path


INSTANCE = """
vrrp_instance VI_1 {
    interface em1
    virtual_router_id 1
    track_script { chk }
    virtual_ipaddress { 10.0.0.1 }
}
"""


def test_check_keyword_parses_tcp_and_file(tmp_path):
    config = load_config(write_conf(tmp_path, """
        vrrp_script chk {
            check tcp [::1]:8080
            interval 0.01
            weight -20
        }
        vrrp_script flag {
            check file /run/maintenance exists
        }
        """ + INSTANCE))
    chk = config.script("chk")
    assert chk.script is None and str(chk.check) == "tcp [::1]:8080" and chk.interval_s == 0.01
    assert config.script("flag").check == FileCheck("/run/maintenance", exists=True)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("check tcp localhost:80", "is not ADDRESS:PORT"),
        ("check file relative", "is not an absolute path"),
        ("check udp 1.2.3.4:5", "is not a check"),
        ('check tcp 127.0.0.1:80\n    script "/bin/true"', "has both a script and a check"),
    ],
)
def test_check_keyword_errors_name_the_line(tmp_path, line, message):
    with pytest.raises(ConfigError) as e:
        load_config(write_conf(tmp_path, f"vrrp_script chk {{\n    {line}\n}}\n" + INSTANCE))
    assert any(message in d.message and d.line in (2, 3) for d in e.value.diagnostics), e.value.diagnostics


def test_missing_non_executable_and_insecure_scripts_are_refused(tmp_path):
    plain = tmp_path / "plain.sh"
    plain.write_text("#!/bin/sh\n")
    config = load_config(write_conf(tmp_path, f"""
        global_defs {{
            enable_script_security
        }}
        vrrp_script chk {{
            script "{tmp_path}/missing.sh"
        }}
        vrrp_instance VI_1 {{
            interface em1
            virtual_router_id 1
            track_script {{ chk }}
            notify_master "{plain} master"
            notify /bin/true
            virtual_ipaddress {{ 10.0.0.1 }}
        }}
        """))
    problems = {d.line: d.message for d in script_problems(config)}
    assert "does not exist" in problems[6] and "is not an executable file" in problems[12]
    assert len(problems) == 2, "/bin/true is root's and fine"
    plain.chmod(0o757)
    assert "writable by everyone" in insecure_reason(str(plain))
    assert insecure_reason("/bin/true") is None


def test_notify_arguments_in_keepalived_order():
    notifies = Notifies(master=ScriptCommand("/n.sh master"), any=ScriptCommand("/n.sh"))
    argvs = [argv for argv, _ in notify_commands(notifies, RunNotify("VI_1", "MASTER", 100))]
    assert argvs == [["/n.sh", "master"], ["/n.sh", "INSTANCE", "VI_1", "MASTER", "100"]]
    argvs = [argv for argv, _ in notify_commands(notifies, RunNotify("G", "FAULT", 0, group=True))]
    assert argvs == [["/n.sh", "GROUP", "G", "FAULT"]]
    assert fifo_line(RunNotify("VI_1", "BACKUP", 90)) == b'INSTANCE "VI_1" BACKUP 90\n'
    assert fifo_line(RunNotify("G", "MASTER", 0, group=True)) == b'GROUP "G" MASTER 0\n'


def test_reverse_turns_weight_and_state_around():
    """keepalived's reverse: +10 is taken off while up; weight 0 faults while up."""
    plus = Tracking("script:chk", 10, reverse=True)
    assert (plus.core_weight, plus.core_state(True)) == (-10, False)
    fault = Tracking("script:chk", 0, reverse=True)
    assert (fault.core_weight, fault.core_state(True), fault.core_state(False)) == (0, False, True)


def status_fixture() -> dict:
    gap = Histogram((0.01, 0.1))
    gap.observe(0.0102)
    lag = Histogram(LOOP_LAG_BUCKETS)
    lag.observe(0.0003)
    hist = {"buckets": [[b, n] for b, n in gap.cumulative()], "sum": gap.total, "count": gap.count}
    return {
        "pid": 1,
        "uptime": 5.0,
        "instances": [
            {
                "name": "VI_1", "state": "MASTER", "interface": "em1", "vrid": 1, "version": 3, "priority": 100,
                "effective_priority": 90, "master": "10.0.0.2", "advert_interval_ms": 10,
                "last_advert_age": 0.004, "transitions": 2, "sync_group": None,
                "counters": {"advert_rcvd": 7, "auth_failure": 0}, "checksum_forms": {"pseudo-header": 7},
                "garps_sent": 10, "advert_gap_received": hist, "advert_gap_sent": hist,
            }
        ],
        "checks": {"chk": {"up": False, "runs": 4, "failures": 4, "timeouts": 1}},
        "loop_lag": {"buckets": [[b, n] for b, n in lag.cumulative()], "sum": lag.total, "count": lag.count},
        "unclaimed": [
            {"interface": "em1", "family": 4, "counters": {"vrid_err": 12}},
            {"interface": "em1", "family": 6, "counters": {}},
        ],
    }


def test_metrics_text_parses_with_the_prometheus_parser():
    class Static:
        def collect(self):
            return families(status_fixture())

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Static())
    parsed = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in parsed.values() for s in f.samples}
    assert samples[("fastvrrp_instance_state", (("instance", "VI_1"), ("state", "MASTER")))] == 1
    assert samples[("fastvrrp_effective_priority", (("instance", "VI_1"),))] == 90
    assert samples[("fastvrrp_vrrp_total", (("counter", "advert_rcvd"), ("instance", "VI_1")))] == 7
    assert samples[("fastvrrp_check_up", (("script", "chk"),))] == 0
    assert parsed["fastvrrp_advert_gap_seconds"].type == "histogram"
    assert samples[("fastvrrp_loop_lag_seconds_count", ())] == 1
    unclaimed = ("fastvrrp_unclaimed_drops_total", (("counter", "vrid_err"), ("family", "ipv4"), ("interface", "em1")))
    assert samples[unclaimed] == 12


def test_status_table_names_each_instance():
    text = format_status(status_fixture())
    assert "VI_1" in text and "MASTER" in text and "10.0.0.2" in text and "4 ms" in text
    assert "advert_rcvd=7" in text and "auth_failure" not in text and "check chk: DOWN" in text
    assert "em1 IPv4, adverts for no instance here: vrid_err=12" in text and "IPv6" not in text


def test_metrics_address():
    assert parse_address("127.0.0.1:9650") == ("127.0.0.1", 9650)
    assert parse_address("[::1]:9650") == ("::1", 9650)
    with pytest.raises(ValueError, match="ADDRESS:PORT"):
        parse_address("9650")


def test_sd_notify_ready_and_watchdog(tmp_path):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        listener.settimeout(2)

        async def main():
            notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"})
            notifier.ready("VI_1 BACKUP")
            await asyncio.sleep(0.12)
            notifier.close()

        asyncio.run(main())
        messages = [listener.recv(4096).decode() for _ in range(3)]
    assert messages[0].startswith("READY=1\nSTATUS=VI_1 BACKUP")
    assert messages[1:] == ["WATCHDOG=1", "WATCHDOG=1"]
    assert Notifier({}).send("READY=1") is False


def test_unit_file_is_type_notify():
    unit = os.path.join(os.path.dirname(__file__), "..", "contrib", "fastvrrp.service")
    with open(unit) as f:
        text = f.read()
    assert "Type=notify" in text and "ExecReload=/bin/kill -HUP $MAINPID" in text and "WatchdogSec=" in text
    assert stat.S_ISREG(os.stat(unit).st_mode)


def test_script_user_that_does_not_exist_is_refused(tmp_path):
    config = load_config(write_conf(tmp_path, """
        vrrp_script chk {
            script "/bin/true"
            user no_such_user_here
        }
        """ + INSTANCE))
    (problem,) = script_problems(config)
    assert problem.line == 3 and "user no_such_user_here, which does not exist" in problem.message


def test_status_watch_redraws_until_interrupted(monkeypatch):
    import io

    from fastvrrp import control

    calls = []
    monkeypatch.setattr(control, "request_status", lambda name: calls.append(name) or status_fixture())

    def sleep(seconds):
        if len(calls) == 2:
            raise KeyboardInterrupt
    monkeypatch.setattr(control.time, "sleep", sleep)
    out = io.StringIO()
    assert control.status_command(None, False, 0.5, out, io.StringIO()) == 0
    assert calls == [control.DEFAULT_NAME] * 2 and out.getvalue().count("VI_1  ") == 2
    assert control.status_command(None, True, None, out, io.StringIO()) == 0


def test_status_without_a_daemon_says_so(tmp_path):
    import io

    from fastvrrp.control import status_command

    err = io.StringIO()
    assert status_command(str(tmp_path / "nothing"), False, None, io.StringIO(), err) == 1
    assert "is `fastvrrp run` running here?" in err.getvalue()
