"""systemd's notify protocol, spoken directly: one datagram per message to `$NOTIFY_SOCKET`.

With `Type=notify` systemd waits for READY=1, which we send once every instance has reached
its first state; with `WatchdogSec=` it sets WATCHDOG_USEC and expects WATCHDOG=1 more often
than that.  The pings come from the event loop itself, so a stuck loop is a missed ping and
systemd restarts us.  No libsystemd: the protocol is a line of text on a Unix datagram socket.
"""

from __future__ import annotations

import asyncio
import os
import socket


def _address(value: str) -> str:
    """`@name` is an abstract socket (a leading NUL byte in the address)."""
    return "\0" + value[1:] if value.startswith("@") else value


class Notifier:
    """Sends sd_notify messages when run under systemd (NOTIFY_SOCKET set); does nothing otherwise."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = _address(env["NOTIFY_SOCKET"]) if env.get("NOTIFY_SOCKET") else None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.watchdog_interval = int(usec) / 1e6 / 2 if usec.isdigit() and int(usec) > 0 and mine else None
        """Half the watchdog timeout, as systemd recommends."""
        self._sock: socket.socket | None = None
        self._ping: asyncio.TimerHandle | None = None

    def send(self, message: str) -> bool:
        if self.address is None:
            return False
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            self._sock.sendto(message.encode(), self.address)
        except OSError:
            return False
        return True

    def ready(self, status: str) -> None:
        self.send(f"READY=1\nSTATUS={status}\nMAINPID={os.getpid()}")
        if self.watchdog_interval is not None and self._ping is None:
            self._schedule_ping()

    def _schedule_ping(self) -> None:
        self.send("WATCHDOG=1")
        self._ping = asyncio.get_running_loop().call_later(self.watchdog_interval, self._schedule_ping)

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def close(self) -> None:
        if self._ping is not None:
            self._ping.cancel()
            self._ping = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
