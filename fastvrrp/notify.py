"""Notify scripts and notify FIFOs, the way keepalived calls them.

On every state change the core returns a `RunNotify`; the specific script (`notify_master`,
`notify_backup`, `notify_fault`, `notify_stop`) runs first, then the generic `notify` with
`INSTANCE name STATE priority` (`GROUP name STATE` for a sync group).  The scripts of one
instance run one after the other, in the order of the changes, on a queue of their own: a
script that sleeps delays the next notify of its instance, never an advert.  The FIFO line
(`INSTANCE "name" STATE priority`) is written at once, without blocking: a FIFO nobody reads
fills up, and then lines are dropped and counted rather than stall the daemon.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import stat

from .actions import RunNotify
from .config_model import GlobalDefs, Notifies
from .logs import LOGGER_NAME
from .scripts import account, run

log = logging.getLogger(LOGGER_NAME)


def notify_commands(notifies: Notifies, action: RunNotify) -> list[tuple[list[str], object]]:
    """The argv lists to run for `action`, in keepalived's order, each with its command."""
    specific = {"MASTER": notifies.master, "BACKUP": notifies.backup, "FAULT": notifies.fault, "STOP": notifies.stop}
    commands = []
    command = specific.get(action.state)
    if command is not None:
        commands.append((command.argv, command))
    if notifies.any is not None:
        extra = ["GROUP", action.instance, action.state] if action.group else [
            "INSTANCE", action.instance, action.state, str(action.priority)
        ]
        commands.append((notifies.any.argv + extra, notifies.any))
    return commands


def fifo_line(action: RunNotify) -> bytes:
    kind = "GROUP" if action.group else "INSTANCE"
    return f'{kind} "{action.instance}" {action.state} {action.priority}\n'.encode()


class NotifyQueue:
    """The notify scripts of one instance or sync group, run in order by one worker task."""

    def __init__(self, owner: str, notifies: Notifies, global_defs: GlobalDefs) -> None:
        self.owner = owner
        self.notifies = notifies
        self.global_defs = global_defs
        self.queue: asyncio.Queue[RunNotify] = asyncio.Queue()
        self.task = asyncio.ensure_future(self._worker())

    def put(self, action: RunNotify) -> None:
        self.queue.put_nowait(action)

    async def _worker(self) -> None:
        while True:
            action = await self.queue.get()
            try:
                for argv, command in notify_commands(self.notifies, action):
                    outcome = await run(argv, account(command, self.global_defs))
                    level = logging.INFO if outcome.ok else logging.WARNING
                    log.log(level, "(%s) notify script %s %s", self.owner, shlex.join(argv), outcome)
            finally:
                self.queue.task_done()

    async def drain(self, timeout: float) -> None:
        """Let queued notifies (a stop's) run, for at most `timeout` seconds."""
        try:
            await asyncio.wait_for(self.queue.join(), timeout)
        except asyncio.TimeoutError:
            log.warning("(%s) notify scripts still running after %.0f s; not waiting", self.owner, timeout)

    def close(self) -> None:
        self.task.cancel()


class NotifyFifos:
    """`notify_fifo` / `vrrp_notify_fifo`: created when missing, written without ever blocking."""

    def __init__(self, paths: tuple[str, ...]) -> None:
        self.fds: dict[str, int] = {}
        self.dropped = 0
        for path in paths:
            try:
                if not os.path.exists(path):
                    os.mkfifo(path, 0o600)
                elif not stat.S_ISFIFO(os.stat(path).st_mode):
                    log.error("notify_fifo %s exists and is not a FIFO; not writing to it", path)
                    continue
                # O_RDWR: opening never waits for a reader, and writes never fail for lack of one.
                self.fds[path] = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError as e:
                log.error("cannot open notify_fifo %s: %s", path, e.strerror)

    def write(self, action: RunNotify) -> None:
        line = fifo_line(action)
        for path, fd in self.fds.items():
            try:
                os.write(fd, line)
            except BlockingIOError:
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.warning("notify_fifo %s is full (nobody reads it): %d line(s) dropped", path, self.dropped)
            except OSError as e:
                log.error("cannot write notify_fifo %s: %s", path, e.strerror)

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()
