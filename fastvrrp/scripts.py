"""Running the operator's programs (track and notify scripts) without ever blocking the loop.

Every script runs in a session of its own, so that its process group is its pid: a script
that outlives its timeout is killed with everything it started (a `sleep` under a shell
included), and nothing it does reaches the daemon's terminal or signals.  Its output goes to
/dev/null: a script that floods its output costs it nothing and us nothing.

`script_problems` is the check keepalived makes when it loads its configuration, run by
`fastvrrp run` before anything is touched: a missing or non-executable script, or, with
`enable_script_security`, one that a user other than root could rewrite, is refused.
"""

from __future__ import annotations

import asyncio
import functools
import grp
import os
import pwd
import shutil
import signal
import stat
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from .config_model import ERROR, Config, Diagnostic, GlobalDefs, ScriptCommand

_SPAWNER = ThreadPoolExecutor(1, thread_name_prefix="fastvrrp-spawn")
"""One thread forks every script, so that no fork ever runs on the loop's thread."""
T = TypeVar("T")
DEFAULT_SCRIPT_USER = "keepalived_script"
"""Whom keepalived runs scripts as when `script_user` is not set and this user exists."""


@dataclass(frozen=True)
class Account:
    """Whom a script runs as; None fields mean "as the daemon"."""

    user: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class Outcome:
    """How a script ended: its exit status, or the signal that ended it, or our timeout."""

    status: int | None
    """The exit status; a negative number is the signal that killed it (asyncio's convention)."""
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.status == 0 and not self.timed_out

    def __str__(self) -> str:
        if self.timed_out:
            return "timed out (process group killed)"
        if self.status is None:
            return "could not be started"
        if self.status < 0:
            return f"killed by signal {-self.status}"
        return f"exited with status {self.status}"


def account(command: ScriptCommand, global_defs: GlobalDefs) -> Account:
    """keepalived's order: the command's own user, then `script_user`, then keepalived_script."""
    if command.user:
        return Account(command.user, command.group)
    if global_defs.script_user:
        return Account(global_defs.script_user, global_defs.script_group)
    try:
        pwd.getpwnam(DEFAULT_SCRIPT_USER)
    except KeyError:
        return Account()
    return Account(DEFAULT_SCRIPT_USER)


def _credentials(who: Account) -> dict[str, object]:
    """Keyword arguments for `subprocess.Popen` that drop to `who` (nothing when root stays)."""
    if who.user is None or os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(who.user)
    gid = grp.getgrnam(who.group).gr_gid if who.group else entry.pw_gid
    return {"user": entry.pw_uid, "group": gid, "extra_groups": os.getgrouplist(who.user, gid)}


async def run(argv: list[str], who: Account = Account(), timeout: float | None = None) -> Outcome:
    """Run `argv` to its end, or kill its whole process group after `timeout` seconds.

    The fork happens on a thread of its own: uvloop's spawn forks from the loop's thread and
    stalls it for milliseconds (up to 10 ms measured here, a whole advert interval at 10 ms),
    while `subprocess.Popen` uses vfork and lets the loop run.  The exit is then awaited on a
    pidfd, on the loop, so that a script sleeping for minutes holds no thread.
    """
    try:
        process = await spawn(argv, who)
    except (OSError, KeyError, ValueError, subprocess.SubprocessError):
        return Outcome(None)
    try:
        await asyncio.wait_for(exited(process), timeout)
        return Outcome(process.returncode)
    except asyncio.TimeoutError:
        kill_group(process.pid)
        await exited(process)
        return Outcome(process.returncode, timed_out=True)
    except asyncio.CancelledError:
        kill_group(process.pid)
        process.wait()  # SIGKILL was sent: this reaps at once
        raise


def popen(argv: list[str], who: Account = Account()) -> subprocess.Popen:
    """Start `argv` as `who` in a session of its own, output to /dev/null.  Blocks: call it on the spawner."""
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        **_credentials(who),
    )


async def on_spawner(function: Callable[..., T], *args: object) -> T:
    """Run `function(*args)` on the thread that forks every script, off the loop's thread."""
    return await asyncio.get_running_loop().run_in_executor(_SPAWNER, functools.partial(function, *args))


async def spawn(argv: list[str], who: Account = Account()) -> subprocess.Popen:
    """`popen`, forked off the loop's thread."""
    return await on_spawner(popen, argv, who)


async def exited(process: subprocess.Popen) -> None:
    """Wait for `process` to end without blocking the loop, and reap it."""
    if process.poll() is not None:
        return
    loop = asyncio.get_running_loop()
    pidfd = os.pidfd_open(process.pid)
    try:
        while process.poll() is None:
            readable = loop.create_future()
            loop.add_reader(pidfd, readable.set_result, None)
            try:
                await readable
            finally:
                loop.remove_reader(pidfd)
    finally:
        os.close(pidfd)


def kill_group(pgid: int, signum: int = signal.SIGKILL) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


# -- the configuration-time check ----------------------------------------------------------------


def executable_path(command: ScriptCommand) -> str | None:
    """Where the command's program is: as written when it has a slash, else found on PATH."""
    program = command.argv[0]
    if "/" in program:
        return os.path.abspath(program)
    return shutil.which(program)


def insecure_reason(path: str) -> str | None:
    """Why a user other than root could change what runs at `path`, or None.

    keepalived's rule for `enable_script_security`: the file and every directory above it
    must be owned by root and writable by no one else (no group write for a non-root group,
    no write for others).
    """
    current = os.path.realpath(path)
    while True:
        info = os.stat(current)
        if info.st_uid != 0:
            return f"{current} is owned by uid {info.st_uid}, not root"
        if info.st_mode & stat.S_IWGRP and info.st_gid != 0:
            return f"{current} is writable by group gid {info.st_gid}"
        if info.st_mode & stat.S_IWOTH:
            return f"{current} is writable by everyone"
        if current == "/":
            return None
        current = os.path.dirname(current)


def _unknown_account(who: Account) -> str | None:
    """The user or group of `who` that this host does not have, or None."""
    try:
        if who.user is not None:
            pwd.getpwnam(who.user)
        if who.group is not None:
            grp.getgrnam(who.group)
    except KeyError:
        return f"user {who.user}" + (f" group {who.group}" if who.group else "")
    return None


def _commands(config: Config) -> Iterator[tuple[str, ScriptCommand]]:
    for fifo in config.global_defs.notify_fifos:
        if fifo.script is not None:
            yield f"global_defs {fifo.keyword}_script", fifo.script
    for script in config.scripts:
        if script.script is not None:
            yield f"vrrp_script {script.name}", script.script
    for owner, notifies in [(f"vrrp_instance {i.name}", i.notifies) for i in config.instances] + [
        (f"vrrp_sync_group {g.name}", g.notifies) for g in config.sync_groups
    ]:
        for kind in ("master", "backup", "fault", "stop", "any"):
            command = getattr(notifies, kind)
            if command is not None:
                yield owner, command


def script_problems(config: Config) -> list[Diagnostic]:
    """Every script that cannot run, or must not under `enable_script_security`, located in the file."""
    problems = []
    secure = config.global_defs.enable_script_security
    for owner, command in _commands(config):
        where = (command.file, command.line)
        path = executable_path(command)
        program = command.argv[0]
        if path is None or not os.path.exists(path):
            message = f"{owner}: script {program!r} does not exist; write the full path of an executable"
        elif not os.path.isfile(path) or not os.access(path, os.X_OK):
            message = f"{owner}: script {path} is not an executable file; `chmod 755 {path}` or fix the path"
        elif (user := _unknown_account(account(command, config.global_defs))) is not None:
            message = f"{owner}: script {path} is to run as {user}, which does not exist; create it or fix the name"
        elif secure and (reason := insecure_reason(path)):
            message = (
                f"{owner}: script {path} is insecure with enable_script_security: {reason}; "
                f"make it and its directories root-owned and writable only by root"
            )
        else:
            continue
        problems.append(Diagnostic(*where, ERROR, message))
    return problems
