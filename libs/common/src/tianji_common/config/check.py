"""`tianji config check FILE`: validate a config offline, for CI and before a deploy.

Why: LiteLLM users asked for exactly this (LiteLLM #34877, PP-21). The exit code fails
a pipeline only on errors; warnings (unknown keys, unimplemented features) are printed
but do not block, because LiteLLM itself would start with them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tianji_common.config.loader import load_config
from tianji_common.config.report import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from tianji_common.config.report import ConfigReport

__all__ = ["check_file"]


def check_file(path: str | Path, env: Mapping[str, str] | None = None) -> tuple[int, str]:
    """`(exit code, report text)`: 1 only when the config has errors.

    The text lists one finding per line and ends with a summary such as
    `config OK: 3 models, 2 warnings` or `config invalid: 1 error, 2 warnings`.
    """
    try:
        result = load_config(path, env)
    except ConfigError as exc:
        errors, warnings = len(exc.report.errors), len(exc.report.warnings)
        summary = f"config invalid: {_count(errors, 'error')}, {_count(warnings, 'warning')}"
        return 1, _text(exc.report, summary)
    models = len(result.config.model_list)
    warnings = len(result.report.warnings)
    summary = f"config OK: {_count(models, 'model')}, {_count(warnings, 'warning')}"
    return 0, _text(result.report, summary)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _text(report: ConfigReport, summary: str) -> str:
    body = report.render()
    return f"{body}\n{summary}" if body else summary
