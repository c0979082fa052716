"""`tianji up`: gateway, control plane and spend-worker in one process, on one port.

Why: a new user needs nothing but Python. The same components run split on Postgres,
NATS and Redis; here only the adapters differ: SQLite (or DATABASE_URL), the in-process
bus and in-memory counters.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import secrets
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

from tianji_common.bus.memory import MemoryBroker, MemoryBus
from tianji_common.config.model import ProxyConfig
from tianji_common.serve import serve_app
from tianji_control_plane.app import build_control_plane
from tianji_gateway.app import build_gateway, create_app, gateway_version
from tianji_gateway.policy import GatewayPolicy
from tianji_gateway.settings import GatewaySettings
from tianji_spend_worker.alerts.config import sinks_from_config
from tianji_spend_worker.consumer import run_spend_worker

__all__ = ["ensure_master_key", "run_all_in_one"]

log = logging.getLogger("tianji.up")


def ensure_master_key(settings: GatewaySettings, state_dir: Path) -> GatewaySettings:
    """No master key and no opt-out: generate one into the state dir (mode 0600).

    Why not run open: every route would be unauthenticated. Why not refuse: `tianji up`
    must work on a fresh machine with one command. The key is written to a file, never
    logged.
    """
    if settings.master_key or settings.permit_weak_master_key:
        return settings
    path = state_dir / "master_key"
    if path.exists():
        key = path.read_text().strip()
    else:
        key = "sk-" + secrets.token_urlsafe(32)
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n")
        log.warning(
            "no master key set: generated one in %s (set TIANJI_MASTER_KEY "
            "or general_settings.master_key to choose your own)",
            path,
        )
    return dataclasses.replace(settings, master_key=key)


async def migrate_in_child(url: str) -> None:
    """Apply migrations in a short-lived child process.

    Why: piccolo's migration tooling imports code generators (black among them), about
    10 MB of RSS the serving process would carry forever for a once-per-start job.
    The URL goes through the environment, not argv, so a password never shows in `ps`.
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tianji.cli",
        "migrate",
        env={**os.environ, "DATABASE_URL": url},
        stdout=asyncio.subprocess.DEVNULL,
    )
    if await proc.wait() != 0:
        raise SystemExit("tianji up: database migration failed (see the error above)")


def database_url(cfg: ProxyConfig, env: Mapping[str, str], state_dir: Path) -> str:
    """DATABASE_URL, then general_settings.database_url, else SQLite in the state dir."""
    url = env.get("DATABASE_URL") or cfg.general_settings.database_url
    if url:
        return url
    state_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(state_dir / 'tianji.db').resolve()}"


async def run_all_in_one(
    cfg: ProxyConfig, env: Mapping[str, str], *, host: str, port: int, state_dir: Path
) -> None:
    """Build every component, serve until a signal, then shut down in order."""
    settings = ensure_master_key(GatewaySettings.from_config(cfg, env), state_dir)
    db_url = database_url(cfg, env, state_dir)
    await migrate_in_child(db_url)
    # Measured with `just bench` (2 cores): without a linger the in-process SQLite writer
    # committed tiny batches and cut gateway throughput by more than half.
    # The duplicate window only guards against re-publishes, which the in-process bus
    # never sees; JetStream's 2-minute window would hold ~240k ids (~40 MB) at 2k req/s.
    bus = MemoryBus(MemoryBroker(duplicate_window=10.0), linger=0.25)
    await bus.start()
    control = build_control_plane(
        db_url, master_key=settings.master_key, bus=bus, config_models=cfg.model_list
    )
    # The same snapshot-and-events path as split mode, in-process: no HTTP hop.
    policy = GatewayPolicy.create(control.snapshot, bus)
    state, gateway = build_gateway(cfg, env, bus, settings=settings, policy=policy)
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_spend_worker(bus, db_url, stop, alert_sinks=sinks_from_config(cfg, env)),
        name="spend-worker",
    )
    # Control plane first: it starts (and has a snapshot to give) before the gateway
    # asks for one; shutdown runs in reverse, so the gateway drains first.
    app = create_app(
        [control.component, gateway],
        max_body=settings.max_request_bytes,
        version=gateway_version(),
        db_status="connected",
    )
    log.info("tianji up: listening on http://%s:%d", host, port)

    def on_signal() -> None:
        state.lifecycle.draining = True

    try:
        await serve_app(app, host=host, port=port, on_signal=on_signal)
    finally:
        # The gateway's shutdown hook has drained requests and flushed usage into the
        # bus; give the spend-worker a bounded moment to write it, then stop it.
        await _settle(bus)
        stop.set()
        await asyncio.wait_for(worker, timeout=15)
        await bus.close()


async def _settle(bus: MemoryBus, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    # A bounded poll, once, at shutdown: the memory bus exposes a count, not an event.
    while bus.pending() and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
