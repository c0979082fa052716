"""Serve a Litestar app on Granian's embedded server, in this process's event loop.

Why embedded: `tianji up` must run gateway, control plane and spend-worker in ONE
process, sharing the in-process bus; Granian's embedded server runs the app inside our
own (uvloop) loop instead of forking workers. One worker per container in split mode,
as STYLE asks; scale out with replicas.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from granian.constants import Interfaces
from granian.server.embed import Server
from litestar.types import ASGIApp

__all__ = ["run_loop", "serve_app"]

log = logging.getLogger("tianji.serve")


async def serve_app(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    on_signal: Callable[[], None] | None = None,
    backlog: int = 2048,
) -> None:
    """Serve until SIGTERM/SIGINT; `on_signal` runs first (flip readiness to 503)."""
    server = Server(
        app,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        backlog=backlog,
        log_enabled=False,
        websockets=False,
    )
    loop = asyncio.get_running_loop()

    def stop() -> None:
        log.info("signal received: draining and shutting down")
        if on_signal is not None:
            on_signal()
        server.stop()  # type: ignore[no-untyped-call]  # granian embed API is untyped

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    try:
        await server.serve()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run a service's main coroutine on uvloop (the fastest loop on Linux)."""
    import uvloop

    uvloop.run(main)
