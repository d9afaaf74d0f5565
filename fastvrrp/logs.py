"""Log lines the way keepalived operators grep for them, with millisecond timestamps.

The protocol core produces the message text (`(VIP_test_1) Entering MASTER STATE`); this module
only decides where it goes: stderr always (systemd captures it), syslog when asked.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import time

LOGGER_NAME = "fastvrrp"


class _MillisecondFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}"


def setup_logging(*, syslog: bool = False, debug: bool = False) -> logging.Logger:
    """Configure the `fastvrrp` logger: `TIMESTAMP fastvrrp[PID]: MESSAGE` on stderr."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers.clear()
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(_MillisecondFormatter("%(asctime)s fastvrrp[%(process)d]: %(message)s"))
    logger.addHandler(stderr)
    if syslog:
        handler = logging.handlers.SysLogHandler(address="/dev/log", facility=logging.handlers.SysLogHandler.LOG_DAEMON)
        handler.setFormatter(logging.Formatter("fastvrrp[%(process)d]: %(message)s"))
        logger.addHandler(handler)
    return logger


class RateLimiter:
    """Allow one event per key every `period` seconds and count what was suppressed.

    Receive errors from a flooding peer must not flood the log (keepalived's logs are
    rate-limited too); the suppressed count is reported with the next line that passes.
    """

    def __init__(self, period: float = 1.0) -> None:
        self.period = period
        self._next: dict[object, float] = {}
        self._suppressed: dict[object, int] = {}

    def allow(self, key: object, now: float) -> int | None:
        """None if the event must be dropped, else how many were dropped since the last one."""
        if now < self._next.get(key, 0.0):
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return None
        self._next[key] = now + self.period
        return self._suppressed.pop(key, 0)
