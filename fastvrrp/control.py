"""The control socket and `fastvrrp status`.

The daemon listens on an abstract Unix socket, `@fastvrrp/control`.  Linux scopes abstract
names by network namespace, so a `fastvrrp status` in the daemon's namespace finds it with no
argument, and daemons in other namespaces of the same host never collide.  An abstract
socket has no file permissions: the peer's credentials (SO_PEERCRED) decide, and only root
is answered.  `--control-socket PATH` uses a file instead (mode 0600).

The protocol is one JSON object per line: `{"command": "status"}` in, the status out.  A
request that is not that (too long, not JSON, unknown command, too slow) gets an error line
and the connection is closed; nothing of it reaches the daemon's state.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
import struct
import time
from typing import TYPE_CHECKING, Any

from .groups import GroupMember
from .protocol import COUNTERS

if TYPE_CHECKING:
    from .daemon import Daemon, Instance

DEFAULT_NAME = "@fastvrrp/control"
MAX_REQUEST = 4096
REQUEST_TIMEOUT = 2.0
_PEERCRED = struct.Struct("3i")


def _address(name: str) -> str:
    return "\0" + name[1:] if name.startswith("@") else name


def _histogram(h) -> dict[str, Any]:
    return {"buckets": [[b, n] for b, n in h.cumulative()], "sum": h.total, "count": h.count}


def instance_status(instance: Instance, now: float) -> dict[str, Any]:
    router = instance.router
    settings = router.settings
    observed = router.router if isinstance(router, GroupMember) else router
    last = observed.last_advert_at
    return {
        "name": instance.name,
        "state": router.state,
        "interface": settings.interface,
        "vrid": settings.vrid,
        "version": settings.version,
        "priority": settings.priority,
        "effective_priority": router.effective_priority,
        "master": str(ipaddress.ip_address(router.master_address)) if router.master_address else None,
        "advert_interval_ms": settings.advert_interval_cs * 10,
        "last_advert_age": None if last is None else round(now - last, 6),
        "transitions": observed.transitions,
        "sync_group": instance.group_config.name if instance.group_config else None,
        "counters": {name: router.counters.get(name, 0) for name in sorted(set(COUNTERS) | set(router.counters))},
        "checksum_forms": dict(observed.checksum_forms),
        "garps_sent": instance.garps_sent,
        "advert_gap_received": _histogram(observed.received_gaps),
        "advert_gap_sent": _histogram(observed.sent_gaps),
    }


SNAPSHOT_CHUNK = 16
"""Instances described per turn of the loop: ~0.2 ms, so a timer due meanwhile waits no longer."""


async def snapshot(daemon: Daemon) -> dict[str, Any]:
    """Everything `status` and the metrics show, taken on the loop a few instances at a time.

    255 instances take ~3 ms to describe: in one go that would delay a 10 ms advert by as much.
    Between chunks the loop runs whatever is due; each instance is described consistently.
    """
    now = time.monotonic()
    daemon.fold_all()
    instances = []
    for n, instance in enumerate(list(daemon.instances.values()), 1):
        instances.append(instance_status(instance, time.monotonic()))
        if n % SNAPSHOT_CHUNK == 0:
            await asyncio.sleep(0)
    return {
        "pid": os.getpid(),
        "uptime": round(now - daemon.started_at, 3),
        "instances": instances,
        "checks": {
            name: {"up": c.up, "runs": c.runs, "failures": c.failures, "timeouts": c.timeouts}
            for name, c in daemon.checks.by_name.items()
        },
        "loop_lag": _histogram(daemon.loop_lag),
        "unclaimed": [
            {"interface": ifname, "family": family, "counters": dict(sorted(channel.drops.items()))}
            for (ifname, family), channel in sorted(daemon.channels.items())
        ],
    }


class ControlServer:
    """Answers `status` requests from root on the loop; each request costs one snapshot."""

    def __init__(self, daemon: Daemon, name: str) -> None:
        self.daemon = daemon
        self.name = name
        self.server: asyncio.AbstractServer | None = None
        self.rejected = 0

    async def start(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            if not self.name.startswith("@"):
                try:
                    os.unlink(self.name)
                except FileNotFoundError:
                    pass
                old = os.umask(0o177)
                try:
                    sock.bind(self.name)
                finally:
                    os.umask(old)
            else:
                sock.bind(_address(self.name))
            sock.listen(16)
        except OSError:
            sock.close()
            raise
        self.server = await asyncio.start_unix_server(self._serve, sock=sock, limit=MAX_REQUEST)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            reply = await self._answer(reader, writer)
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (OSError, asyncio.TimeoutError):
            pass
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> dict[str, Any]:
        try:
            line = await asyncio.wait_for(reader.readline(), REQUEST_TIMEOUT)
        except ValueError:
            return self._reject(f"request longer than {MAX_REQUEST} bytes")
        # Read first, judge after: a refused client then gets its answer rather than a broken pipe.
        sock = writer.get_extra_info("socket")
        _, uid, _ = _PEERCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
        if uid != 0:
            return self._reject("permission denied: root only")
        try:
            request = json.loads(line)
        except ValueError:
            return self._reject('not JSON; send {"command": "status"} and a newline')
        if not isinstance(request, dict) or request.get("command") != "status":
            return self._reject('unknown request; send {"command": "status"}')
        return {"ok": True, "status": await snapshot(self.daemon)}

    def _reject(self, reason: str) -> dict[str, Any]:
        self.rejected += 1
        return {"ok": False, "error": reason}

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
            if not self.name.startswith("@"):
                try:
                    os.unlink(self.name)
                except FileNotFoundError:
                    pass


class ControlError(RuntimeError):
    """The daemon could not be asked: not running here, not root, or it refused."""


def request_status(name: str = DEFAULT_NAME, timeout: float = 5.0) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(_address(name))
            sock.sendall(b'{"command": "status"}\n')
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError as e:
            raise ControlError(
                f"no fastvrrp answers on {name} in this network namespace ({e.strerror or e}); "
                "is `fastvrrp run` running here?"
            ) from e
    try:
        reply = json.loads(data)
    except ValueError as e:
        raise ControlError(f"unreadable answer from {name}") from e
    if not reply.get("ok"):
        raise ControlError(f"fastvrrp refused: {reply.get('error')}")
    return reply["status"]


def _age(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"


def format_status(status: dict[str, Any]) -> str:
    """One table row per instance, then the counters that are not zero, per instance."""
    header = ("INSTANCE", "STATE", "PRIO", "EFFECTIVE", "MASTER", "LAST ADVERT", "VRID", "INTERFACE")
    rows = [header]
    for i in status["instances"]:
        rows.append((
            i["name"], i["state"], str(i["priority"]), str(i["effective_priority"]), i["master"] or "-",
            _age(i["last_advert_age"]), str(i["vrid"]), i["interface"],
        ))  # fmt: skip
    widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    for i in status["instances"]:
        counters = " ".join(f"{k}={v}" for k, v in i["counters"].items() if v)
        lines.append(f"{i['name']}: {counters or 'all counters 0'}")
    for name, check in status["checks"].items():
        lines.append(
            f"check {name}: {'up' if check['up'] else 'DOWN'} ({check['runs']} runs, "
            f"{check['failures']} failed, {check['timeouts']} timed out)"
        )
    for u in status["unclaimed"]:
        if u["counters"]:
            counters = " ".join(f"{k}={v}" for k, v in u["counters"].items())
            lines.append(f"{u['interface']} IPv{u['family']}, adverts for no instance here: {counters}")
    lines.append(f"pid {status['pid']}, up {status['uptime']:.0f} s")
    return "\n".join(lines) + "\n"


def status_command(name: str | None, as_json: bool, watch: float | None, stdout, stderr) -> int:
    """`fastvrrp status`: 0 printed, 1 no daemon answered."""
    while True:
        try:
            status = request_status(name or DEFAULT_NAME)
        except ControlError as e:
            print(e, file=stderr)
            return 1
        text = json.dumps(status, indent=2) + "\n" if as_json else format_status(status)
        if watch is not None:
            stdout.write("\033[H\033[2J" + time.strftime("%H:%M:%S ") + text)
            stdout.flush()
            try:
                time.sleep(watch)
            except KeyboardInterrupt:
                return 0
        else:
            stdout.write(text)
            return 0
