"""The `tianji` command: all-in-one, split services, migrations and config checks."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

DEFAULT_PORT = 4000


def _load(path: str) -> tuple[object, dict[str, str]]:
    """Load and validate the config; print the report; exit 1 on errors."""
    from tianji_common.config.loader import ConfigError, load_config

    try:
        result = load_config(path)
    except ConfigError as exc:
        print(exc.report.render(), file=sys.stderr)
        print(f"tianji: {path}: configuration has errors; not starting", file=sys.stderr)
        raise SystemExit(1) from None
    except FileNotFoundError:
        print(f"tianji: config file not found: {path}", file=sys.stderr)
        raise SystemExit(1) from None
    cfg = result.config
    env = dict(os.environ)
    # LiteLLM exports `environment_variables` into the process environment at load.
    for k, v in cfg.environment_variables.items():
        os.environ.setdefault(k, str(v))
        env.setdefault(k, str(v))
    return result, env


def _setup_logging(cfg: object, env: dict[str, str]) -> None:
    from tianji_common.logs import configure_logging

    ls = getattr(cfg, "litellm_settings", None)
    json_logs = bool(getattr(ls, "json_logs", False)) or env.get("JSON_LOGS", "").lower() == "true"
    debug = bool(getattr(ls, "set_verbose", False)) or env.get("LITELLM_LOG", "").upper() == "DEBUG"
    configure_logging(json_logs=json_logs, debug=debug)


def _report_warnings(result: object) -> None:
    import logging

    log = logging.getLogger("tianji.config")
    for finding in result.report.warnings:  # type: ignore[attr-defined]  # LoadResult
        log.warning("config: %s: %s", finding.path, finding.message)


def _run(coro: object) -> None:
    import uvloop

    uvloop.run(coro)  # type: ignore[arg-type]  # a coroutine


def cmd_up(args: argparse.Namespace) -> int:
    """Run gateway + control plane + spend-worker in one process."""
    result, env = _load(args.config)
    cfg = result.config  # type: ignore[attr-defined]  # LoadResult
    _setup_logging(cfg, env)
    _report_warnings(result)
    from tianji_gateway.auth import WeakMasterKey

    from tianji.allinone import run_all_in_one

    try:
        _run(
            run_all_in_one(cfg, env, host=args.host, port=args.port, state_dir=Path(args.state_dir))
        )
    except WeakMasterKey as exc:
        print(f"tianji: refusing to start: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    """Run the split gateway (publishes usage to NATS)."""
    result, env = _load(args.config)
    cfg = result.config  # type: ignore[attr-defined]  # LoadResult
    _setup_logging(cfg, env)
    _report_warnings(result)
    from tianji_gateway.auth import WeakMasterKey

    from tianji.split import run_gateway

    try:
        _run(run_gateway(cfg, env, host=args.host, port=args.port))
    except WeakMasterKey as exc:
        print(f"tianji: refusing to start: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_control_plane(args: argparse.Namespace) -> int:
    """Run the split control plane."""
    from tianji_common.logs import configure_logging

    from tianji.split import run_control_plane

    configure_logging(json_logs=os.environ.get("JSON_LOGS", "").lower() == "true", debug=False)
    _run(run_control_plane(dict(os.environ), host=args.host, port=args.port))
    return 0


def cmd_spend_worker(args: argparse.Namespace) -> int:
    """Run the split spend-worker."""
    from tianji_spend_worker.__main__ import main as worker_main

    worker_main()
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply database migrations (a Helm pre-upgrade Job / compose one-shot)."""
    from tianji_common.db.migrate import migrate

    url = args.database_url or os.environ.get("DATABASE_URL")
    if not url:
        print("tianji migrate: set DATABASE_URL or pass --database-url", file=sys.stderr)
        return 2
    _run(migrate(url))
    print("migrations applied")
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    """Print the config report; exit non-zero only on errors."""
    from tianji_common.config.loader import check_file

    code, text = check_file(args.file)
    print(text)
    return code


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tianji", description="TianjiLLM: a fast LiteLLM-compatible gateway"
    )
    sub = p.add_subparsers(dest="command", required=True)

    def server(name: str, help_: str, port: int, config: bool = True) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_)
        if config:
            sp.add_argument("--config", "-c", required=True, help="LiteLLM-format config.yaml")
        sp.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
        sp.add_argument("--port", type=int, default=int(os.environ.get("PORT", port)))
        return sp

    up = server("up", "gateway + control plane + spend-worker in one process", DEFAULT_PORT)
    up.add_argument(
        "--state-dir",
        default=os.environ.get("TIANJI_STATE_DIR", ".tianji"),
        help="where the SQLite database and generated master key live",
    )
    up.set_defaults(func=cmd_up)
    server("gateway", "the stateless gateway (split mode)", DEFAULT_PORT).set_defaults(
        func=cmd_gateway
    )
    server("control-plane", "the control plane (split mode)", 4001, config=False).set_defaults(
        func=cmd_control_plane
    )
    sub.add_parser("spend-worker", help="the spend-worker (split mode)").set_defaults(
        func=cmd_spend_worker
    )
    mg = sub.add_parser("migrate", help="apply database migrations")
    mg.add_argument("--database-url")
    mg.set_defaults(func=cmd_migrate)
    cfg = sub.add_parser("config", help="configuration tools")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True)
    chk = cfg_sub.add_parser("check", help="validate a config file")
    chk.add_argument("file")
    chk.set_defaults(func=cmd_config_check)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tianji` console script."""
    args = _parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
