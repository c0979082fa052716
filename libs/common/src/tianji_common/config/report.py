"""Findings about a config file: errors that stop startup, warnings that do not.

Why: LiteLLM accepts almost any key silently, so a typo or an unsupported feature only
shows up as wrong behaviour in production (PP-21, LiteLLM PR #31287). We collect every
finding with the exact dotted path (`model_list[2].litellm_params.rpm`) instead of failing
on the first one, so one `tianji config check` run lists everything to fix.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec

__all__ = [
    "ConfigError",
    "ConfigPath",
    "ConfigReport",
    "Finding",
    "Level",
    "describe_value",
    "format_path",
    "is_secret_path",
    "kind_of",
]

Level = Literal["error", "warning"]

# A location inside the loaded YAML: mapping keys are `str`, list indexes are `int`.
ConfigPath = tuple[str | int, ...]

# Names whose values are credentials (PP-18). We never echo them in a message; `max_tokens`
# must not match, hence the word boundaries on `_`.
_SECRET_SEGMENT = re.compile(r"(^|_)(key|secret|password|token|credentials?)($|_)", re.IGNORECASE)
_MAX_REPR = 60


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    """One problem at one place in the file."""

    level: Level
    path: str
    message: str

    def render(self) -> str:
        """One line, `error: <path>: <message>`, as `tianji config check` prints it."""
        return f"{self.level}: {self.path}: {self.message}"


class ConfigReport(msgspec.Struct, kw_only=True):
    """Every finding of one load, in the order they were found."""

    findings: list[Finding] = msgspec.field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        """Findings that make the config unusable."""
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """Findings the proxy starts with anyway."""
        return [f for f in self.findings if f.level == "warning"]

    def error(self, path: ConfigPath | str, message: str) -> None:
        """Record an error at `path` (a `ConfigPath` or an already rendered location)."""
        self.findings.append(Finding(level="error", path=_location(path), message=message))

    def warning(self, path: ConfigPath | str, message: str) -> None:
        """Record a warning at `path`."""
        self.findings.append(Finding(level="warning", path=_location(path), message=message))

    def render(self) -> str:
        """All findings, one per line; empty when the file is clean."""
        return "\n".join(f.render() for f in self.findings)


class ConfigError(Exception):
    """The config has at least one error; `report` holds all findings, warnings too."""

    def __init__(self, report: ConfigReport) -> None:
        """Keep the report so callers can print or inspect every finding."""
        super().__init__(report.render())
        self.report = report


def format_path(path: ConfigPath) -> str:
    """Render `("model_list", 2, "litellm_params")` as `model_list[2].litellm_params`."""
    out = ""
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        else:
            out += f".{seg}" if out else seg
    return out or "(top level)"


def is_secret_path(path: ConfigPath) -> bool:
    """Whether any key on the path names a credential, so its value must not be shown."""
    return any(isinstance(seg, str) and _SECRET_SEGMENT.search(seg) for seg in path)


def describe_value(value: Any, *, hidden: bool = False) -> str:
    """`str 'abc'`, `int 3`, `mapping`; `hidden` drops the value (secrets, env values)."""
    kind = kind_of(value)
    if hidden or isinstance(value, dict | list) or value is None:
        return kind if not hidden else f"{kind} (value hidden)"
    text = repr(value)
    if len(text) > _MAX_REPR:
        text = text[: _MAX_REPR - 3] + "..."
    return f"{kind} {text}"


def kind_of(value: Any) -> str:
    """The YAML-level kind of `value`: `null`, `mapping`, `list`, or the scalar type."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def _location(path: ConfigPath | str) -> str:
    return path if isinstance(path, str) else format_path(path)
