"""pyroute2's asyncio API on a thread of its own, usable from a uvloop loop.

pyroute2 opens its netlink socket with `create_datagram_endpoint`, which uvloop refuses for
AF_NETLINK.  The daemon's loop stays uvloop (and its adverts never wait behind netlink): VIP
changes run on a standard asyncio loop in this thread, awaited through futures.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .vips import VipManager

T = TypeVar("T")


class NetlinkThread:
    """Owns a `VipManager` on a private event loop; `call` runs one of its coroutines there."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._manager: VipManager | None = None
        self._error: BaseException | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._main, name="fastvrrp-netlink", daemon=True)
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._manager = VipManager()
        except BaseException as e:  # reported to the constructor's caller
            self._error = e
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()
        self._manager.close()
        self._loop.close()

    async def call(self, method: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Await `method(manager, *args)` run on the netlink thread's loop."""
        future = asyncio.run_coroutine_threadsafe(method(self._manager, *args), self._loop)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
