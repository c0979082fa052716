"""`python -m tianji_spend_worker`: the split spend-worker.

It does not migrate (PP-6: `tianji migrate` runs once, as a Job); it connects, pulls
usage events until SIGTERM or SIGINT, then finishes its batch and drains NATS. Alert
sinks come from the LiteLLM config file (`--config`, TIANJI_CONFIG or
CONFIG_FILE_PATH), when one is given, and from the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from tianji_common.bus.nats import NatsBus

from tianji_spend_worker.alerts.config import sinks_from_config
from tianji_spend_worker.consumer import run_spend_worker
from tianji_spend_worker.settings import Settings, SettingsError, from_env

if TYPE_CHECKING:
    from tianji_spend_worker.alerts.sinks import AlertSink

__all__ = ["main", "serve"]

logger = logging.getLogger("tianji_spend_worker")
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


async def serve(settings: Settings, sinks: Sequence[AlertSink] = ()) -> None:
    """Run until a stop signal, then drain: the in-flight batch commits and is acked."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # Room for every loop's batch in flight, twice over, so fetches never starve.
    pending = max(1024, settings.batch * settings.concurrency * 2)
    bus = NatsBus(settings.nats_url, settings.spool_path, max_ack_pending=pending)
    await bus.start()
    try:
        await run_spend_worker(
            bus,
            settings.database_url,
            stop,
            batch=settings.batch,
            concurrency=settings.concurrency,
            alert_sinks=sinks,
            reset_interval=settings.reset_interval,
        )
    finally:
        await bus.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def _sinks(config_path: str | None) -> list[AlertSink]:
    """Load the config (exporting its environment_variables, as LiteLLM does)."""
    if not config_path:
        return sinks_from_config(None, os.environ)
    from tianji_common.bootstrap import load_or_exit

    result, env = load_or_exit(config_path)
    return sinks_from_config(result.config, env)


def _run(main: Coroutine[Any, Any, None]) -> None:
    """On uvloop when it is installed, else asyncio's loop.

    Why: most of the worker's CPU goes to the NATS client's per-message tasks; uvloop
    made `just bench-spend` about 14% faster on 2 cores. It is optional here (the
    gateway's HTTP extra brings it) so a bare install still runs.
    """
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `tianji-spend-worker` and `tianji spend-worker [--config FILE]`."""
    parser = argparse.ArgumentParser(prog="tianji spend-worker")
    parser.add_argument("--config", "-c", help="LiteLLM-format config.yaml (alerting)")
    args = parser.parse_args(argv)
    try:
        settings = from_env()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from exc
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format=_LOG_FORMAT)
    sinks = _sinks(args.config or settings.config_path)
    logger.info("spend-worker starting (alert sinks: %s)", [s.name for s in sinks] or "none")
    _run(serve(settings, sinks))
    logger.info("spend-worker stopped")


if __name__ == "__main__":
    main()
