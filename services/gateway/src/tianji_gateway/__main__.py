"""`tianji-gateway` / `tianji gateway`: the split, stateless data plane.

One process, one worker per container (scale with replicas). Usage events go to NATS
JetStream, or to the local spool while NATS is unreachable.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from tianji_common.bootstrap import (
    config_path_from_env,
    load_or_exit,
    report_warnings,
    setup_logging,
)
from tianji_common.bus.base import EventBus
from tianji_common.bus.factory import bus_from_url
from tianji_common.config.model import ProxyConfig
from tianji_common.serve import run_loop, serve_app

from tianji_gateway.app import build_gateway, create_app, gateway_version
from tianji_gateway.auth import WeakMasterKey
from tianji_gateway.policy import GatewayPolicy
from tianji_gateway.policy.fetch import http_fetch
from tianji_gateway.settings import GatewaySettings

__all__ = ["main", "run_gateway"]


async def run_gateway(cfg: ProxyConfig, env: Mapping[str, str], *, host: str, port: int) -> None:
    """Serve until SIGTERM, then drain, flush usage and close the bus."""
    nats_url = env.get("NATS_URL")
    if not nats_url:
        raise SystemExit("tianji gateway: NATS_URL is required in split mode")
    spool = Path(env.get("TIANJI_SPOOL_DIR", "/var/lib/tianji/spool"))
    bus = bus_from_url(nats_url, spool)
    await bus.start()
    try:
        settings = GatewaySettings.from_config(cfg, env)
        policy = _policy(env, settings, bus)
        state, gateway = build_gateway(cfg, env, bus, settings=settings, policy=policy)
        app = create_app(
            [gateway], max_body=state.settings.max_request_bytes, version=gateway_version()
        )

        def on_signal() -> None:
            state.lifecycle.draining = True

        await serve_app(app, host=host, port=port, on_signal=on_signal)
    finally:
        await bus.close()


def _policy(
    env: Mapping[str, str], settings: GatewaySettings, bus: EventBus
) -> GatewayPolicy | None:
    """Virtual keys from the control plane at TIANJI_CONTROL_PLANE_URL (else master key only)."""
    url = env.get("TIANJI_CONTROL_PLANE_URL")
    if not url:
        return None
    resync = float(env.get("TIANJI_POLICY_RESYNC_SECONDS", "30"))
    return GatewayPolicy.create(http_fetch(url, settings.master_key), bus, resync_every=resync)


def main(argv: list[str] | None = None) -> int:
    """Parse `--config/--host/--port` (or TIANJI_CONFIG, HOST, PORT) and serve."""
    p = argparse.ArgumentParser(prog="tianji-gateway")
    p.add_argument("--config", "-c", default=config_path_from_env(os.environ))
    p.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "4000")))
    args = p.parse_args(argv)
    if not args.config:
        p.error("--config (or TIANJI_CONFIG) is required")
    result, env = load_or_exit(args.config)
    setup_logging(result.config, env)
    report_warnings(result)
    try:
        run_loop(run_gateway(result.config, env, host=args.host, port=args.port))
    except WeakMasterKey as exc:
        print(f"tianji: refusing to start: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
