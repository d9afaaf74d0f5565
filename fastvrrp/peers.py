"""VRRP daemons run inside lab namespaces: fastvrrp or keepalived, driven like an operator would.

Used by the integration tests, the lab and the takeover benchmark, so that all three start,
stop, kill and pause a router the same way, and read who holds the VIP the same way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .netns import Topology

IMPLEMENTATIONS = ("fastvrrp", "keepalived")


@dataclass(frozen=True)
class InstanceSpec:
    """One `vrrp_instance` as the experiment writes it (EXPERIMENT.md), with the knobs we vary."""

    state: str = "BACKUP"
    priority: int = 100
    vrid: int = 150
    version: int = 2
    advert_int: str = "1"
    password: str | None = "1111"
    vip: str = "10.0.201.100"
    interface: str = "em1"
    name: str = "VIP_test_1"
    extra: str = ""

    def render(self, router_id: str) -> str:
        """A keepalived.conf both implementations read unchanged."""
        auth = ""
        if self.password is not None and self.version == 2:
            auth = f"    authentication {{\n        auth_type PASS\n        auth_pass {self.password}\n    }}\n"
        return (
            f"global_defs {{\n   router_id {router_id}\n}}\n\n"
            f"vrrp_instance {self.name} {{\n"
            f"    state {self.state}\n"
            f"    interface {self.interface}\n"
            f"    virtual_router_id {self.vrid}\n"
            f"    priority {self.priority}\n"
            f"    version {self.version}\n"
            f"    advert_int {self.advert_int}\n"
            f"{auth}"
            f"    virtual_ipaddress {{\n        {self.vip}\n    }}\n"
            f"{self.extra}"
            f"}}\n"
        )


@dataclass
class Peer:
    """A VRRP daemon in router namespace `role`: start, stop (SIGTERM), kill, pause, resume."""

    topology: Topology
    role: str
    impl: str
    config: str
    workdir: Path
    on_line: Callable[[float, str], None] | None = None
    """Called with (time.monotonic() at receipt, line) for each line the daemon logs: the lab's
    one clock for both routers.  Without it the log goes straight to the file."""
    cpus: str | None = None
    """`taskset` CPU list for the daemon and its children (a benchmark keeps a CPU for its observer)."""
    process: subprocess.Popen | None = field(default=None, init=False)
    starts: int = field(default=0, init=False)
    _reader: threading.Thread | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.impl not in IMPLEMENTATIONS:
            raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, not {self.impl!r}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config)

    @property
    def config_path(self) -> Path:
        return self.workdir / "keepalived.conf"

    @property
    def log_path(self) -> Path:
        return self.workdir / "daemon.log"

    def argv(self) -> list[str]:
        pinned = ["taskset", "-c", self.cpus] if self.cpus is not None else []
        if self.impl == "fastvrrp":
            return pinned + [
                sys.executable, "-m", "fastvrrp", "run", "-f", str(self.config_path),
                "--pid-file", str(self.pid_path), "--dump-dir", str(self.workdir),
            ]  # fmt: skip
        return pinned + [
            "keepalived", "-n", "-l", "-D", "-G", "--vrrp", "-f", str(self.config_path),
            "-p", str(self.workdir / "keepalived.pid"), "-r", str(self.pid_path),
        ]  # fmt: skip

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.role}: already running")
        self.pid_path.unlink(missing_ok=True)
        if self.on_line is None:
            with open(self.log_path, "a") as log:
                self.process = self.topology.popen(self.role, self.argv(), stdout=log, stderr=subprocess.STDOUT)
        else:
            self.process = self.topology.popen(
                self.role, self.argv(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
            )
            self._reader = threading.Thread(target=self._read_lines, args=(self.process,), daemon=True)
            self._reader.start()
        self.starts += 1

    def _read_lines(self, process: subprocess.Popen) -> None:
        """Stamp each line as it arrives, then keep it in the log file like the unpiped case."""
        with open(self.log_path, "a") as log:
            for line in process.stdout:
                now = time.monotonic()
                log.write(line)
                log.flush()
                self.on_line(now, line)
        process.stdout.close()

    @property
    def pid_path(self) -> Path:
        return self.workdir / ("fastvrrp.pid" if self.impl == "fastvrrp" else "vrrp.pid")

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Wait until the daemon wrote its pid file: configuration applied, signals handled."""
        return wait_until(lambda: self.pid_path.exists() or not self.running, timeout) is not None and self.running

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait: a clean stop (priority 0, VIPs removed)."""
        return self._end(signal.SIGTERM, timeout)

    def kill(self) -> int:
        """SIGKILL: a crash; VIPs stay behind until the next start.

        keepalived runs VRRP in a child process that gets SIGTERM when its parent dies (and
        would send priority 0, a clean stop), while a parent that sees its child die starts a
        new one.  So the parent is frozen first, then the child and the parent are killed.
        """
        if self.impl == "keepalived" and self.running:
            self.pause()
            child = self.pid_path.read_text().split() if self.pid_path.exists() else []
            if child and child[0].isdigit():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(child[0]), signal.SIGKILL)
        return self._end(signal.SIGKILL, 5.0)

    def pause(self) -> None:
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def signal(self, signum: int) -> None:
        self._signal(signum)

    def _signal(self, signum: int) -> None:
        if not self.running:
            raise RuntimeError(f"{self.role}: not running")
        self.process.send_signal(signum)

    def _end(self, signum: int, timeout: float) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.role}: never started")
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self._reader is not None:
            self._reader.join(5)
            self._reader = None
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def vip_holders(topology: Topology, roles: Iterable[str], vip: str, ifname: str = "em1") -> list[str]:
    """The routers whose `ifname` carries `vip` now (one normally, two in a split brain)."""
    family = "-6" if ":" in vip else "-4"
    holders = []
    for role in roles:
        out = topology.run(role, ["ip", family, "-o", "addr", "show", "dev", ifname], check=False).stdout
        if any(word.split("/")[0] == vip for line in out.splitlines() for word in line.split()):
            holders.append(role)
    return holders


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> float | None:
    """Poll `predicate`; seconds it took to become true, or None if it never did within `timeout`."""
    start = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            return None
        time.sleep(interval)
