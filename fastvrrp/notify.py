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
import fcntl
import logging
import os
import shlex
import signal
import stat
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Iterable

from .actions import RunNotify
from .config_model import GlobalDefs, Notifies, NotifyFifo
from .logs import LOGGER_NAME
from .scripts import Account, Outcome, account, exited, kill_group, on_spawner, popen, run

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
    """`notify_fifo` / `vrrp_notify_fifo`: created when missing, written without ever blocking.

    A FIFO's `..._script` is started here, once, with the FIFO's path as its last argument, as
    keepalived does; it is stopped with SIGTERM (to its process group) by `close`, once it has
    read what is left in the FIFO or half a second has passed.  A script that cannot start or
    ends early is logged: the daemon goes on, and the FIFO's lines wait in it (or are dropped
    when it is full) as for a FIFO nobody reads.
    """

    DRAIN_S = 0.5
    """How long `close` waits for the scripts to read the last lines (the STOP states) before SIGTERM."""

    def __init__(self, fifos: Iterable[NotifyFifo | str]) -> None:
        self.fds: dict[str, int] = {}
        self.dropped = 0
        self.readers: dict[str, asyncio.Task] = {}
        """A running task per FIFO script, watching it."""
        self.processes: dict[str, subprocess.Popen] = {}
        self.closing = False
        self._lock = threading.Lock()
        """Orders `close` and a script being started on the spawner thread."""
        for fifo in fifos:
            if isinstance(fifo, str):
                fifo = NotifyFifo(fifo)
            path = fifo.path
            try:
                if not os.path.exists(path):
                    os.mkfifo(path, 0o600)
                elif not stat.S_ISFIFO(os.stat(path).st_mode):
                    log.error("%s %s exists and is not a FIFO; not writing to it", fifo.keyword, path)
                    continue
                # O_RDWR: opening never waits for a reader, and writes never fail for lack of one.
                self.fds[path] = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError as e:
                log.error("cannot open %s %s: %s", fifo.keyword, path, e.strerror)
                continue
            if fifo.script is not None:
                self.readers[path] = asyncio.ensure_future(self._reader(fifo))

    async def _reader(self, fifo: NotifyFifo) -> None:
        """Start `fifo`'s script and log its end, unless `close` ended it."""
        argv = fifo.argv
        # The loader gave the script `script_user` when its line named no user: these defaults suffice.
        who = account(fifo.script, GlobalDefs())
        try:
            process = await on_spawner(self._start, fifo.path, argv, who)
        except (OSError, KeyError, ValueError, subprocess.SubprocessError) as e:
            log.error("%s_script %s could not be started: %s", fifo.keyword, shlex.join(argv), e)
            return
        if process is None:
            return
        log.info("%s_script %s started (pid %d)", fifo.keyword, shlex.join(argv), process.pid)
        await exited(process)
        if not self.closing:
            log.warning("%s_script %s %s; %s has no reader now", fifo.keyword, shlex.join(argv),
                        Outcome(process.returncode), fifo.path)

    def _start(self, path: str, argv: list[str], who: Account) -> subprocess.Popen | None:
        """On the spawner thread: start the script unless `close` came first, and register it at once.

        Under the lock, a script is either in `processes` when `close` looks, or never started:
        a daemon stopped while its FIFO script is being forked leaves no process behind.
        """
        with self._lock:
            if self.closing:
                return None
            process = self.processes[path] = popen(argv, who)
            return process

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

    def _unread(self, path: str) -> int:
        """Bytes written to `path` that its reader has not read yet."""
        return struct.unpack("i", fcntl.ioctl(self.fds[path], termios.FIONREAD, b"\0\0\0\0"))[0]

    def close(self) -> None:
        """Let the scripts read what is left, SIGTERM them, close the FIFOs.

        Called once the daemon has stopped its instances: the short, bounded wait costs nothing.
        """
        with self._lock:
            self.closing = True
        deadline = time.monotonic() + self.DRAIN_S
        for path in self.processes:
            while self._unread(path) and self.processes[path].poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
        for path, process in list(self.processes.items()):
            if process.poll() is not None:  # it ended early (logged); its pid may be another's by now
                continue
            kill_group(process.pid, signal.SIGTERM)
            try:
                process.wait(self.DRAIN_S)
            except subprocess.TimeoutExpired:
                log.warning("notify_fifo_script for %s ignored SIGTERM; killed", path)
                kill_group(process.pid)
                process.wait()
        self.processes.clear()
        for task in self.readers.values():
            task.cancel()
        self.readers.clear()
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()
