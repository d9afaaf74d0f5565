"""Health checks: keepalived's `vrrp_script`, and fastvrrp's in-process `check tcp` / `check file`.

A check runs every `interval` seconds on a fixed cadence, each run bounded by `timeout`; its
results go through keepalived's rise/fall counter (`Debounce`) and only a change of the
debounced state is reported.  A forked script is awaited as a subprocess (never on the
loop's critical path) and killed with its whole process group at its timeout.  keepalived
refused millisecond script intervals because a fork costs too much; the in-process checks
are a non-blocking connect or a small file read, cheap enough to run every 10 ms.  Scripts
whose in-process checks ask the same (target, interval, timeout) share one probe: fifty
instances each tracking a script of its own on one web server cost one connect per interval.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Iterable

from .config_model import FileCheck, GlobalDefs, TcpCheck, VrrpScript
from .logs import LOGGER_NAME
from .scripts import Outcome, account, run

log = logging.getLogger(LOGGER_NAME)

_LINGER_RESET = struct.pack("ii", 1, 0)
"""SO_LINGER on, 0 s: close() sends a reset, so 100 checks a second leave no TIME_WAIT behind."""
_NUMBER = re.compile(rb"\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")


class Debounce:
    """keepalived's rise/fall counter for one check.

    `result` counts from 0 (failed) to rise + fall - 1 (fully up); the check is up from `rise`.
    Initially it sits at rise - 1, so that the first result decides either way, or at 0 with
    `init_fail`, so that `rise` successes are needed.  `record` returns the new state when it
    changed, None otherwise.
    """

    def __init__(self, rise: int, fall: int, init_fail: bool = False) -> None:
        self.rise, self.fall = rise, fall
        self.result = 0 if init_fail else rise - 1
        self.initial = not init_fail

    @property
    def up(self) -> bool:
        return self.result >= self.rise

    def record(self, ok: bool) -> bool | None:
        initial, self.initial = self.initial, False
        if ok:
            if self.result < self.rise - 1:
                self.result += 1
                return None
            changed = self.result < self.rise
            self.result = self.rise + self.fall - 1
            return True if changed else None
        if self.result > self.rise:
            self.result -= 1
            return None
        changed = self.result == self.rise or initial
        self.result = 0
        return False if changed else None


def read_track_file(path: str) -> int:
    """keepalived's `track_file` reading: the leading number (C `strtol` base 0); absent or unreadable is 0."""
    try:
        with open(path, "rb") as f:
            head = f.read(127)
    except OSError:
        return 0
    match = _NUMBER.match(head)
    if match is None:
        return 0
    sign, digits = match.groups()
    base = 16 if digits[:2].lower() == b"0x" else 8 if digits.startswith(b"0") else 10
    value = int(digits, base)
    return -value if sign == b"-" else value


def _settle(future: asyncio.Future, value: bool) -> None:
    if not future.done():
        future.set_result(value)


async def probe_tcp(check: TcpCheck, timeout: float) -> bool:
    """A non-blocking connect; up when the handshake completes before `timeout`."""
    family = socket.AF_INET6 if check.address.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        code = sock.connect_ex((str(check.address), check.port))
        if code == 0:
            return True
        if code != errno.EINPROGRESS:
            return False
        loop = asyncio.get_running_loop()
        # The timeout settles the future rather than cancel it: a cancelled future could not
        # be told apart from the check being cancelled, which must end the check's task.
        connected = loop.create_future()
        fd = sock.fileno()
        loop.add_writer(fd, _settle, connected, True)
        timer = loop.call_later(timeout, _settle, connected, False)
        try:
            if not await connected:
                return False
        finally:
            timer.cancel()
            loop.remove_writer(fd)
        return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
    finally:
        sock.close()


def probe_file(check: FileCheck) -> bool:
    if check.exists:
        return os.path.exists(check.path)
    return read_track_file(check.path) == 0


async def _every(interval: float, probe: Callable[[], Awaitable[bool]], deliver: Callable[[bool], None],
                 what: str) -> None:
    """Run `probe` every `interval` seconds on a fixed cadence and hand each result to `deliver`."""
    due = time.monotonic()
    while True:
        try:
            ok = await probe()
        except asyncio.CancelledError:
            raise
        except Exception:  # a check must never take the daemon down: count it as a failure
            log.exception("%s failed unexpectedly", what)
            ok = False
        deliver(ok)
        now = time.monotonic()
        due += interval
        if due <= now:  # the run overran its slot: keepalived skips the missed runs too
            due = now + interval - (now - due) % interval
        await asyncio.sleep(due - now)


ProbeKey = tuple[TcpCheck | FileCheck, float, float]
"""What an in-process probe asks, how often and how long it waits: (check, interval, timeout)."""


class Prober:
    """One in-process probe on its cadence, its result handed to every check that asks the same.

    Scripts whose `check` has the same target, interval and timeout ask the same question at
    the same rate: one connect (or one file read) per interval answers them all.  Each check
    keeps its own rise/fall counter, counters and reporting.
    """

    def __init__(self, key: ProbeKey) -> None:
        self.key = key
        self.check, self.interval, self.timeout = key
        self.subscribers: list[Check] = []
        self.probes = 0
        self.task = asyncio.ensure_future(_every(self.interval, self._probe, self._deliver, f"check {self.check}"))

    async def _probe(self) -> bool:
        self.probes += 1
        if isinstance(self.check, TcpCheck):
            return await probe_tcp(self.check, self.timeout)
        return probe_file(self.check)

    def _deliver(self, ok: bool) -> None:
        for check in list(self.subscribers):
            try:
                check.record(ok)
            except Exception:  # one check's listener must not starve the others of results
                log.exception("VRRP_Script(%s) result could not be handled", check.name)

    def close(self) -> None:
        self.task.cancel()


class Probers:
    """The shared in-process probes, by `ProbeKey`: started by their first check, stopped by their last."""

    def __init__(self) -> None:
        self.by_key: dict[ProbeKey, Prober] = {}

    def join(self, check: Check) -> Prober:
        script = check.script
        assert script.check is not None, "forked scripts are never shared: each run is the script's own"
        key = (script.check, script.interval_s, script.timeout_s)
        prober = self.by_key.get(key)
        if prober is None:
            prober = self.by_key[key] = Prober(key)
        prober.subscribers.append(check)
        return prober

    def leave(self, check: Check, prober: Prober) -> None:
        prober.subscribers.remove(check)
        if not prober.subscribers:
            prober.close()
            del self.by_key[prober.key]

    def close(self) -> None:
        for prober in self.by_key.values():
            prober.close()
        self.by_key.clear()


class Check:
    """One `vrrp_script` at run time: its counter, its state, and its runs.

    A forked script runs on a cadence of its own; an in-process check gets its results from
    the `Prober` it shares with every script asking the same (`probers`: the registry to
    share through; without one, the check has a prober to itself).
    """

    def __init__(
        self,
        script: VrrpScript,
        global_defs: GlobalDefs,
        on_change: Callable[[str, bool], None],
        probers: Probers | None = None,
    ) -> None:
        self.script = script
        self.debounce = Debounce(script.rise, script.fall, script.init_fail)
        self.on_change = on_change
        self.who = account(script.script, global_defs) if script.script else None
        self.runs = 0
        self.failures = 0
        self.timeouts = 0
        self.last: Outcome | None = None
        self.first = asyncio.get_running_loop().create_future()
        """Done once the first result is in: the daemon starts its routers with known states."""
        self.task: asyncio.Future | None = None
        self.prober: Prober | None = None
        self.probers = probers if probers is not None else Probers()
        if script.check is None:
            self.task = asyncio.ensure_future(_every(script.interval_s, self._run, self.record, f"VRRP_Script({self.name})"))
        else:
            self.prober = self.probers.join(self)

    @property
    def name(self) -> str:
        return self.script.name

    @property
    def up(self) -> bool:
        return self.debounce.up

    async def _run(self) -> bool:
        script = self.script
        outcome = await run(script.script.argv, self.who, script.timeout_s)
        self.timeouts += outcome.timed_out
        if not outcome.ok and (self.last is None or self.last != outcome):
            log.info("VRRP_Script(%s) %s: %s", script.name, outcome, script.script.command)
        self.last = outcome
        return outcome.ok

    def record(self, ok: bool) -> None:
        """One result, through this script's own rise/fall counter."""
        self.runs += 1
        self.failures += not ok
        changed = self.debounce.record(ok)
        if not self.first.done():
            self.first.set_result(None)
        if changed is not None:
            log.info("VRRP_Script(%s) %s", self.name, "succeeded" if changed else "failed")
            self.on_change(self.name, changed)

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.prober is not None:
            self.probers.leave(self, self.prober)
            self.prober = None


class Checks:
    """Every check of the configuration, by name; unchanged checks survive a reload."""

    def __init__(self, on_change: Callable[[str, bool], None]) -> None:
        self.on_change = on_change
        self.by_name: dict[str, Check] = {}
        self.probers = Probers()
        """In-process checks asking the same share one probe (one connect per interval)."""

    def apply(self, scripts: Iterable[VrrpScript], global_defs: GlobalDefs, used: set[str]) -> list[Check]:
        """Run the `used` scripts of the new configuration; returns the checks that were started."""
        wanted = {s.name: s for s in scripts if s.name in used}
        for name, check in list(self.by_name.items()):
            if wanted.get(name) != check.script:
                check.close()
                del self.by_name[name]
        started = []
        for name, script in wanted.items():
            if name not in self.by_name:
                self.by_name[name] = Check(script, global_defs, self.on_change, self.probers)
                started.append(self.by_name[name])
        return started

    async def first_results(self, checks: list[Check]) -> None:
        """Wait for the first result of `checks`: each run ends by its timeout, so this is bounded."""
        if checks:
            longest = max(c.script.timeout_s for c in checks)
            await asyncio.wait([c.first for c in checks], timeout=longest + 1.0)

    def close(self) -> None:
        for check in self.by_name.values():
            check.close()
        self.by_name.clear()
        self.probers.close()
