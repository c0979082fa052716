"""The `tianji` command: all-in-one, split services, migrations and config checks."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

DEFAULT_PORT = 4000


def cmd_up(args: argparse.Namespace) -> int:
    """Run gateway + control plane + spend-worker in one process."""
    from tianji_common.bootstrap import load_or_exit, report_warnings, setup_logging
    from tianji_common.serve import run_loop
    from tianji_gateway.auth import WeakMasterKey

    from tianji.allinone import run_all_in_one

    result, env = load_or_exit(args.config)
    setup_logging(result.config, env)
    report_warnings(result)
    try:
        run_loop(
            run_all_in_one(
                result.config, env, host=args.host, port=args.port, state_dir=Path(args.state_dir)
            )
        )
    except WeakMasterKey as exc:
        print(f"tianji: refusing to start: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    """Run the split gateway."""
    from tianji_gateway.__main__ import main as gateway_main

    return gateway_main(["--config", args.config, "--host", args.host, "--port", str(args.port)])


def cmd_control_plane(args: argparse.Namespace) -> int:
    """Run the split control plane."""
    from tianji_control_plane.__main__ import main as control_main

    extra = ["--config", args.config] if args.config else []
    return control_main(["--host", args.host, "--port", str(args.port), *extra])


def cmd_spend_worker(args: argparse.Namespace) -> int:
    """Run the split spend-worker."""
    from tianji_spend_worker.__main__ import main as worker_main

    worker_main(["--config", args.config] if args.config else [])
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply database migrations (a Helm pre-upgrade Job / compose one-shot)."""
    from tianji_common.db.migrate import migrate
    from tianji_common.serve import run_loop

    url = args.database_url or os.environ.get("DATABASE_URL")
    if not url:
        print("tianji migrate: set DATABASE_URL or pass --database-url", file=sys.stderr)
        return 2
    run_loop(migrate(url))
    print("tianji migrate: schema is up to date")
    return 0


def cmd_import_litellm(args: argparse.Namespace) -> int:
    """Copy keys, teams, users, orgs, budgets, models and spend from a LiteLLM database."""
    import asyncio

    from tianji_common.crypto import box_from_env
    from tianji_control_plane.importer.litellm_secrets import LiteLLMSecrets
    from tianji_control_plane.importer.run import MissingSaltKey, import_litellm

    env = os.environ
    target = args.target_url or env.get("DATABASE_URL")
    if not target:
        state = Path(args.state_dir)
        state.mkdir(parents=True, exist_ok=True)
        target = f"sqlite:///{(state / 'tianji.db').resolve()}"
    their_salt = env.get("LITELLM_SALT_KEY") or env.get("LITELLM_MASTER_KEY")
    theirs = LiteLLMSecrets(their_salt) if their_salt else None
    try:
        report = asyncio.run(
            import_litellm(args.database_url, target, theirs=theirs, ours=box_from_env())
        )
    except MissingSaltKey as exc:
        print(f"tianji import litellm: {exc}", file=sys.stderr)
        return 2
    for line in report.lines():
        print(line)
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    """Print the config report; exit non-zero only on errors."""
    from tianji_common.config.check import check_file

    code, text = check_file(args.file)
    print(text)
    return code


def _server(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_: str,
    port: int,
    *,
    config: bool,
) -> argparse.ArgumentParser:
    sp = sub.add_parser(name, help=help_)
    if config:
        sp.add_argument("--config", "-c", required=True, help="LiteLLM-format config.yaml")
    sp.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    sp.add_argument("--port", type=int, default=int(os.environ.get("PORT", port)))
    return sp


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tianji", description="TianjiLLM: a fast, LiteLLM-compatible LLM gateway"
    )
    sub = p.add_subparsers(dest="command", required=True)
    up = _server(
        sub,
        "up",
        "gateway + control plane + spend-worker in one process",
        DEFAULT_PORT,
        config=True,
    )
    up.add_argument(
        "--state-dir",
        default=os.environ.get("TIANJI_STATE_DIR", ".tianji"),
        help="where the SQLite database and a generated master key live",
    )
    up.set_defaults(func=cmd_up)
    _server(
        sub, "gateway", "the stateless gateway (split mode)", DEFAULT_PORT, config=True
    ).set_defaults(func=cmd_gateway)
    cp = _server(sub, "control-plane", "the control plane (split mode)", 4001, config=False)
    cp.add_argument(
        "--config",
        "-c",
        default=os.environ.get("CONFIG_FILE_PATH"),
        help="the gateways' config.yaml: its model_list shows in /model/info",
    )
    cp.set_defaults(func=cmd_control_plane)
    sw = sub.add_parser("spend-worker", help="the spend-worker (split mode)")
    sw.add_argument("--config", "-c", help="LiteLLM-format config.yaml (budget alerting)")
    sw.set_defaults(func=cmd_spend_worker)
    mg = sub.add_parser("migrate", help="apply database migrations")
    mg.add_argument("--database-url")
    mg.set_defaults(func=cmd_migrate)
    imp = sub.add_parser("import", help="import tenants from another gateway's database")
    imp_sub = imp.add_subparsers(dest="import_source", required=True)
    lit = imp_sub.add_parser(
        "litellm",
        help="copy keys (hashes kept), teams, users, orgs, budgets, end users, DB models, "
        "credentials and spend from a LiteLLM proxy's Postgres; safe to re-run",
    )
    lit.add_argument("--database-url", required=True, help="the LiteLLM proxy's DATABASE_URL")
    lit.add_argument(
        "--target-url", help="our database (default: DATABASE_URL, else SQLite in --state-dir)"
    )
    lit.add_argument("--state-dir", default=os.environ.get("TIANJI_STATE_DIR", ".tianji"))
    lit.set_defaults(func=cmd_import_litellm)
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
