"""`python -m tianji_spend_worker`: the split spend-worker.

It does not migrate (PP-6: `tianji migrate` runs once, as a Job); it connects, pulls
usage events until SIGTERM or SIGINT, then finishes its batch and drains NATS.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from tianji_common.bus.nats import NatsBus

from tianji_spend_worker.consumer import run_spend_worker
from tianji_spend_worker.settings import Settings, SettingsError, from_env

__all__ = ["main", "serve"]

logger = logging.getLogger("tianji_spend_worker")
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


async def serve(settings: Settings) -> None:
    """Run until a stop signal, then drain: the in-flight batch commits and is acked."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bus = NatsBus(settings.nats_url, settings.spool_path)
    await bus.start()
    try:
        await run_spend_worker(bus, settings.database_url, stop, batch=settings.batch)
    finally:
        await bus.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def main() -> None:
    """Entry point of `tianji-spend-worker` and `tianji spend-worker`."""
    try:
        settings = from_env()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from exc
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
    logger.info("spend-worker starting")
    asyncio.run(serve(settings))
    logger.info("spend-worker stopped")


if __name__ == "__main__":
    main()
