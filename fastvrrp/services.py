"""What runs beside the VRRP instances: the control socket, the metrics server, systemd's notify.

None of them is needed for failover, so none of them may stop it: a control socket that
cannot be bound (a second daemon in the namespace) or a metrics port in use is logged and
the daemon runs on.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .control import DEFAULT_NAME, ControlServer
from .logs import LOGGER_NAME
from .systemd import Notifier

if TYPE_CHECKING:
    from .daemon import Daemon
    from .metrics import MetricsServer

log = logging.getLogger(LOGGER_NAME)


class Services:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.control: ControlServer | None = None
        self.metrics: MetricsServer | None = None
        self.systemd = Notifier()

    async def start(self) -> None:
        daemon = self.daemon
        name = daemon.control_address or DEFAULT_NAME
        control = ControlServer(daemon, name)
        try:
            await control.start()
            self.control = control
        except OSError as e:
            log.error("control socket %s: %s; `fastvrrp status` will not reach this daemon", name, e.strerror)
        if daemon.metrics_address is not None:
            from .metrics import MetricsServer

            metrics = MetricsServer(daemon, daemon.metrics_address)
            try:
                metrics.start()
                self.metrics = metrics
                log.info("metrics on http://%s:%d/metrics", *daemon.metrics_address)
            except OSError as e:
                log.error("metrics server on %s:%d: %s", *daemon.metrics_address, e.strerror)
        states = ", ".join(f"{i.name} {i.router.state}" for i in daemon.instances.values())
        self.systemd.ready(states or "no instances")

    def stopping(self) -> None:
        self.systemd.stopping()

    async def close(self) -> None:
        if self.control is not None:
            await self.control.close()
        if self.metrics is not None:
            self.metrics.close()
        self.systemd.close()
