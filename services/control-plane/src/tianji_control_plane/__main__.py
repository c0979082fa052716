"""`tianji-control-plane` / `tianji control-plane`: the management API (split mode).

The schema is migrated by `tianji migrate` (a Helm pre-upgrade Job), never here.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from tianji_common.bootstrap import load_or_exit, report_warnings, setup_logging
from tianji_common.bus.factory import bus_from_url
from tianji_common.config.model import ModelEntry
from tianji_common.http import compose_app
from tianji_common.serve import run_loop, serve_app

from tianji_control_plane.app import build_control_plane, redact_url

__all__ = ["main", "run_control_plane"]

log = logging.getLogger("tianji.control_plane")
_PERMIT_OPEN = "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY"


def _version() -> str:
    try:
        return version("tianji-control-plane")
    except PackageNotFoundError:
        return "0.0.0"


async def run_control_plane(
    env: Mapping[str, str], *, host: str, port: int, config_models: Sequence[ModelEntry] = ()
) -> None:
    """Serve the control plane until SIGTERM; `config_models` is the config's model_list."""
    db_url = env.get("DATABASE_URL")
    if not db_url:
        raise SystemExit("tianji control-plane: DATABASE_URL is required")
    log.info("control plane database: %s", redact_url(db_url))
    master_key = env.get("TIANJI_MASTER_KEY") or env.get("LITELLM_MASTER_KEY")
    if not master_key and env.get(_PERMIT_OPEN, "").lower() not in ("1", "true", "yes"):
        # Without a master key every management route would be open: deny by default.
        raise SystemExit(
            "tianji control-plane: no master key is set (TIANJI_MASTER_KEY or "
            f"LITELLM_MASTER_KEY); every management route would be open. Set one, or opt "
            f"out with {_PERMIT_OPEN}=true."
        )
    nats_url = env.get("NATS_URL")
    # Policy changes go out as core-NATS fan-out; the spool is only for JetStream
    # publishes, which the control plane does not make.
    spool = Path(env.get("TIANJI_SPOOL_DIR", "/var/lib/tianji/spool"))
    bus = bus_from_url(nats_url, spool) if nats_url else None
    if bus is None:
        log.warning("NATS_URL is not set: gateways will only see changes on their resync")
    else:
        await bus.start()
    try:
        control = build_control_plane(
            db_url, master_key=master_key, bus=bus, config_models=config_models
        )
        app = compose_app(
            [control.component],
            max_body=8 * 1024 * 1024,
            version=_version(),
            db_status="connected",
        )
        await serve_app(app, host=host, port=port)
    finally:
        if bus is not None:
            await bus.close()


def main(argv: list[str] | None = None) -> int:
    """Parse `--host/--port` (or HOST, PORT) and serve."""
    p = argparse.ArgumentParser(prog="tianji-control-plane")
    p.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "4001")))
    p.add_argument(
        "--config",
        "-c",
        default=os.environ.get("CONFIG_FILE_PATH"),
        help="LiteLLM-format config.yaml: its model_list is shown by /model/info",
    )
    args = p.parse_args(argv)
    models: Sequence[ModelEntry] = ()
    if args.config:
        result, env = load_or_exit(args.config)
        setup_logging(result.config, env)
        report_warnings(result)
        models = result.config.model_list
    else:
        env = dict(os.environ)
        setup_logging(None, env)
    run_loop(run_control_plane(env, host=args.host, port=args.port, config_models=models))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
