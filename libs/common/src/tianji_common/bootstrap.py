"""Process start-up shared by every service entry point: config, env and logging.

Why one place: `tianji up`, `tianji gateway` and the per-service console scripts must
load the config, export `environment_variables` and set up redacting logs identically.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

from tianji_common.config.loader import LoadResult, load_config
from tianji_common.config.model import ProxyConfig
from tianji_common.config.report import ConfigError
from tianji_common.logs import configure_logging

__all__ = ["config_path_from_env", "load_or_exit", "report_warnings", "setup_logging"]

log = logging.getLogger("tianji.config")
_TRUE = {"1", "true", "yes", "on"}


def config_path_from_env(env: Mapping[str, str]) -> str | None:
    """`TIANJI_CONFIG`, then LiteLLM's `CONFIG_FILE_PATH`."""
    return env.get("TIANJI_CONFIG") or env.get("CONFIG_FILE_PATH")


def load_or_exit(path: str) -> tuple[LoadResult, dict[str, str]]:
    """Load and validate; print the report and exit 1 on errors.

    LiteLLM exports `environment_variables` into the process environment at load; so
    do we (values already set in the environment win, as the loader resolved them).
    """
    try:
        result = load_config(path)
    except ConfigError as exc:
        print(exc.report.render(), file=sys.stderr)
        print(f"tianji: {path}: configuration has errors; not starting", file=sys.stderr)
        raise SystemExit(1) from None
    env = dict(os.environ)
    for k, v in result.config.environment_variables.items():
        os.environ.setdefault(k, str(v))
        env.setdefault(k, str(v))
    return result, env


def setup_logging(cfg: ProxyConfig | None, env: Mapping[str, str]) -> None:
    """JSON logs from `litellm_settings.json_logs` or `JSON_LOGS`; debug from LITELLM_LOG."""
    ls = cfg.litellm_settings if cfg is not None else None
    json_logs = bool(ls and ls.json_logs) or env.get("JSON_LOGS", "").lower() in _TRUE
    level = (env.get("TIANJI_LOG") or env.get("LITELLM_LOG") or "").upper()
    configure_logging(json_logs=json_logs, debug=bool(ls and ls.set_verbose) or level == "DEBUG")


def report_warnings(result: LoadResult) -> None:
    """Each config warning once, at startup."""
    for finding in result.report.warnings:
        log.warning("config: %s: %s", finding.path, finding.message)
