"""The split services: each one process, one worker, scaled by replicas.

Why here and not in the services: the composition root picks adapters (NATS bus,
Postgres) from the environment; services stay free of deployment decisions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from tianji_common.bus.factory import bus_from_url
from tianji_common.config.model import ProxyConfig
from tianji_control_plane.app import build_control_plane, redact_url
from tianji_gateway.app import build_gateway, create_app, gateway_version

from tianji.serve import serve_app

__all__ = ["run_control_plane", "run_gateway"]

log = logging.getLogger("tianji.split")


def _require(env: Mapping[str, str], name: str, service: str) -> str:
    value = env.get(name)
    if not value:
        raise SystemExit(f"tianji {service}: {name} is required in split mode")
    return value


async def run_gateway(cfg: ProxyConfig, env: Mapping[str, str], *, host: str, port: int) -> None:
    """The stateless gateway: config from the file, usage to NATS (spooled if down)."""
    nats_url = _require(env, "NATS_URL", "gateway")
    spool = Path(env.get("TIANJI_SPOOL_DIR", "/var/lib/tianji/spool"))
    bus = bus_from_url(nats_url, spool)
    await bus.start()
    state, gateway = build_gateway(cfg, env, bus)
    app = create_app(
        [gateway], max_body=state.settings.max_request_bytes, version=gateway_version()
    )

    def on_signal() -> None:
        state.lifecycle.draining = True

    try:
        await serve_app(app, host=host, port=port, on_signal=on_signal)
    finally:
        await bus.close()


async def run_control_plane(env: Mapping[str, str], *, host: str, port: int) -> None:
    """The control plane: management API over Postgres (migrated by `tianji migrate`)."""
    db_url = _require(env, "DATABASE_URL", "control-plane")
    log.info("control plane database: %s", redact_url(db_url))
    control = build_control_plane(db_url)
    app = create_app(
        [control], max_body=8 * 1024 * 1024, version=gateway_version(), db_status="connected"
    )
    await serve_app(app, host=host, port=port)
