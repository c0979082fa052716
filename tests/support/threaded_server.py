"""Run a fake vendor's aiohttp app on a free loopback port, in its own thread and loop.

Why a thread: the tests drive the gateway with the official SDKs, sync and async alike;
a fake served from its own loop answers whichever the test uses.
"""

from __future__ import annotations

import abc
import asyncio
import threading
from typing import Self

from aiohttp import web

__all__ = ["ThreadedServer"]


class ThreadedServer(abc.ABC):
    """Mixin for the fakes: `_start` builds and binds the app; this runs and stops it."""

    _loop: asyncio.AbstractEventLoop | None
    _runner: web.AppRunner | None

    @abc.abstractmethod
    async def _start(self) -> None:
        """Create `self._runner`, bind it to 127.0.0.1:0 and set `self.port`."""

    def start(self) -> Self:
        """Serve from a daemon thread; return once the port is bound."""
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()

        threading.Thread(target=run, daemon=True, name=type(self).__name__).start()
        if not ready.wait(10):
            raise RuntimeError(f"{type(self).__name__} did not start")
        return self

    def stop(self) -> None:
        """Close the app (bounded), cancel handlers still waiting, stop the loop."""
        if self._loop is not None and self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)

    async def _shutdown(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
        # Handlers that never answer (the "hang" scenarios) are cancelled, not abandoned.
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
