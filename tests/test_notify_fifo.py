"""`notify_fifo_script` / `vrrp_notify_fifo_script`: parsed with their FIFO, started once, stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import textwrap
import time
from pathlib import Path

import pytest

from fastvrrp.actions import RunNotify
from fastvrrp.config import ConfigError, load_config
from fastvrrp.config_model import NotifyFifo, ScriptCommand
from fastvrrp.logs import LOGGER_NAME
from fastvrrp.notify import NotifyFifos, fifo_line
from fastvrrp.scripts import script_problems

INSTANCE = """
vrrp_instance VI_1 {
    interface em1
    virtual_router_id 1
    virtual_ipaddress { 10.0.0.1 }
}
"""


def write_conf(tmp_path: Path, global_defs: str) -> Path:
    path = tmp_path / "keepalived.conf"
    path.write_text("global_defs {\n" + textwrap.indent(textwrap.dedent(global_defs).strip(), "    ") + "\n}\n" + INSTANCE)
    return path


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_each_fifo_script_goes_with_its_fifo(tmp_path):
    config = load_config(write_conf(tmp_path, """
        vrrp_notify_fifo_script "/usr/local/bin/vrrp-reader --quiet"
        notify_fifo /run/all.fifo
        vrrp_notify_fifo /run/vrrp.fifo
        notify_fifo_script /usr/local/bin/reader
        script_user nobody
    """))
    everything, vrrp = config.global_defs.notify_fifos
    assert (everything.keyword, everything.path, everything.script.command) == (
        "notify_fifo", "/run/all.fifo", "/usr/local/bin/reader"
    )
    assert (vrrp.keyword, vrrp.path) == ("vrrp_notify_fifo", "/run/vrrp.fifo")
    assert vrrp.argv == ["/usr/local/bin/vrrp-reader", "--quiet", "/run/vrrp.fifo"], "the FIFO comes last"
    assert everything.script.user == "nobody", "script_user is whom the script runs as when its line names none"
    assert (everything.script.file, everything.script.line) == (str(tmp_path / "keepalived.conf"), 5)
    assert not config.warnings


def test_fifo_script_with_its_own_user_keeps_it(tmp_path):
    config = load_config(write_conf(tmp_path, """
        notify_fifo /run/all.fifo
        notify_fifo_script /usr/local/bin/reader daemon :adm
        script_user nobody
    """))
    (fifo,) = config.global_defs.notify_fifos
    assert (fifo.script.user, fifo.script.group) == ("daemon", "adm")


@pytest.mark.parametrize(
    ("lines", "line", "message"),
    [
        ("notify_fifo_script /usr/local/bin/reader", 2,
         ("notify_fifo_script without notify_fifo: the script reads the FIFO named by notify_fifo; "
          "add `notify_fifo /run/keepalived.fifo` to global_defs, or remove notify_fifo_script")),
        ("notify_fifo /run/all.fifo\nvrrp_notify_fifo_script /usr/local/bin/reader", 3,
         "vrrp_notify_fifo_script without vrrp_notify_fifo"),
        ("notify_fifo /run/all.fifo\nnotify_fifo_script", 3, "notify_fifo_script needs a command"),
        ("notify_fifo", 2, "notify_fifo needs a path; write `notify_fifo /run/keepalived.fifo`"),
    ],
)
def test_fifo_script_errors_name_file_and_line(tmp_path, lines, line, message):
    path = write_conf(tmp_path, lines)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    errors = [d for d in e.value.diagnostics if d.severity == "error"]
    assert len(errors) == 1 and errors[0].file == str(path) and errors[0].line == line, errors
    assert message in errors[0].message


def test_repeated_or_shared_fifo_is_a_warning(tmp_path):
    config = load_config(write_conf(tmp_path, """
        notify_fifo /run/old.fifo
        notify_fifo /run/all.fifo
        vrrp_notify_fifo /run/all.fifo
        vrrp_notify_fifo_script /usr/local/bin/reader
    """))
    assert [f.path for f in config.global_defs.notify_fifos] == ["/run/all.fifo"]
    warnings = {d.line: d.message for d in config.warnings}
    assert "notify_fifo given again (first at line 2); the last one counts" in warnings[3]
    assert "is notify_fifo's FIFO already" in warnings[4] and "vrrp_notify_fifo_script is not started" in warnings[4]


def test_fifo_script_problems_are_refused_like_other_scripts(tmp_path):
    plain = tmp_path / "plain.sh"
    plain.write_text("#!/bin/sh\n")
    config = load_config(write_conf(tmp_path, f"""
        notify_fifo {tmp_path}/all.fifo
        notify_fifo_script {tmp_path}/missing.sh
        vrrp_notify_fifo {tmp_path}/vrrp.fifo
        vrrp_notify_fifo_script {plain}
    """))
    problems = {d.line: d.message for d in script_problems(config)}
    assert problems == {
        3: f"global_defs notify_fifo_script: script '{tmp_path}/missing.sh' does not exist; "
           "write the full path of an executable",
        5: f"global_defs vrrp_notify_fifo_script: script {plain} is not an executable file; "
           f"`chmod 755 {plain}` or fix the path",
    }


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def logged():
    handler = Lines()
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield handler.lines
    logger.setLevel(level)
    logger.removeHandler(handler)


async def until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_fifo_script_reads_keepalived_lines_until_sigterm(tmp_path, logged):
    """The script gets the FIFO's path as its last argument, every line, the last ones too, then SIGTERM."""
    out, fifo, terminated = tmp_path / "read", tmp_path / "events.fifo", tmp_path / "terminated"
    reader = script(
        tmp_path / "reader.sh",
        "trap term=1 TERM\n"  # a line read when SIGTERM comes is still written
        f'[ "$1" = "--to" ] && [ "$3" = "{fifo}" ] || exit 9\n'
        'while [ -z "$term" ] && read -r line; do echo "$line" >> "$2"; done < "$3"\n'
        f"echo TERM > {terminated}\n",
    )
    actions = [RunNotify("VI_1", "BACKUP", 100), RunNotify("VI_1", "MASTER", 100), RunNotify("G", "MASTER", 0, True)]
    stops = [RunNotify("VI_1", "STOP", 100)]

    async def main():
        fifos = NotifyFifos([NotifyFifo(str(fifo), ScriptCommand(f"{reader} --to {out}"))])
        assert await until(lambda: str(fifo) in fifos.processes)
        pid = fifos.processes[str(fifo)].pid
        for action in actions:
            fifos.write(action)
        assert await until(lambda: out.exists() and len(out.read_text().splitlines()) == len(actions))
        for action in stops:
            fifos.write(action)
        fifos.close()  # at once: the STOP line is read before SIGTERM
        await asyncio.sleep(0)
        return pid

    pid = asyncio.run(main())
    assert out.read_text().encode() == b"".join(fifo_line(a) for a in actions + stops)
    assert out.read_text().splitlines()[0] == 'INSTANCE "VI_1" BACKUP 100'
    assert terminated.read_text() == "TERM\n", "stopped with SIGTERM"
    assert gone(pid)
    assert any(f"notify_fifo_script {reader} --to {out} {fifo} started" in line for line in logged)
    assert not any("has no reader now" in line for line in logged), "a stop we asked for is not an early exit"


def test_fifo_script_that_exits_early_is_logged_and_lines_still_never_block(tmp_path, logged):
    fifo = tmp_path / "events.fifo"
    quitter = script(tmp_path / "quit.sh", "exit 3\n")

    async def main():
        fifos = NotifyFifos([NotifyFifo(str(fifo), ScriptCommand(str(quitter)), "vrrp_notify_fifo")])
        assert await until(lambda: any("has no reader now" in line for line in logged))
        started = time.monotonic()
        for _ in range(4000):  # 116 kB: more than a pipe holds
            fifos.write(RunNotify("VI_1", "MASTER", 100))
        elapsed = time.monotonic() - started
        dropped = fifos.dropped
        fifos.close()
        return elapsed, dropped

    elapsed, dropped = asyncio.run(main())
    assert f"vrrp_notify_fifo_script {quitter} {fifo} exited with status 3; {fifo} has no reader now" in logged
    assert dropped > 0 and elapsed < 1.0


def test_fifo_script_that_cannot_start_is_logged(tmp_path, logged):
    fifo = tmp_path / "events.fifo"

    async def main():
        fifos = NotifyFifos([NotifyFifo(str(fifo), ScriptCommand(str(tmp_path / "missing.sh")))])
        assert await until(lambda: any("could not be started" in line for line in logged))
        fifos.write(RunNotify("VI_1", "MASTER", 100))
        fifos.close()

    asyncio.run(main())
    assert not os.path.exists(tmp_path / "missing.sh")


@pytest.mark.parametrize("delay", [0, 0.001, 0.003])
def test_closing_while_the_fifo_script_starts_leaves_no_process(tmp_path, delay):
    fifo, started = tmp_path / "events.fifo", tmp_path / "started"
    # Written whole or not at all: a script ended between the shell's `>` and its `echo` leaves
    # an empty file, which says nothing about its pid.
    reader = script(tmp_path / "reader.sh", f"echo $$ > {started}.tmp && mv {started}.tmp {started}\nexec sleep 30\n")

    async def main():
        fifos = NotifyFifos([NotifyFifo(str(fifo), ScriptCommand(str(reader)))])
        await asyncio.sleep(delay)
        fifos.close()
        await asyncio.sleep(0.3)

    asyncio.run(main())
    if started.exists():  # it started before close: close must have ended it
        assert gone(int(started.read_text()))
