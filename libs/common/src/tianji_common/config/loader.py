"""Load a LiteLLM-format `config.yaml`: includes, `os.environ/` references, checks, types.

Why: users bring their LiteLLM config unchanged, so the steps and their order follow
LiteLLM's `ProxyConfig.load_config` (plain YAML, `include:` merged, `os.environ/NAME`
replaced). Unlike LiteLLM we collect every problem with its path and fail once, before
serving, instead of ignoring typos (PP-21). Nothing here reads or writes `os.environ`
unless the caller passes no `env`; exporting `environment_variables` is the caller's job.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tianji_common.config.build import build_config
from tianji_common.config.fields import check_fields
from tianji_common.config.report import ConfigError, ConfigReport, kind_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tianji_common.config.model import ProxyConfig
    from tianji_common.config.report import ConfigPath

__all__ = ["ENV_PREFIX", "LoadResult", "load_config", "load_config_text"]

ENV_PREFIX = "os.environ/"
_TEXT_SOURCE = "<config>"


@dataclass(frozen=True, slots=True)
class LoadResult:
    """The typed config plus the warnings found while loading it."""

    config: ProxyConfig
    report: ConfigReport


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> LoadResult:
    """Load and check the file at `path`; raise `ConfigError` if it has any error.

    `env` replaces `os.environ` for `os.environ/NAME` references (tests, `config check`).
    """
    file = Path(path)
    report = ConfigReport()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        report.error(str(file), f"cannot read the config file ({reason})")
        raise ConfigError(report) from exc
    return _load(text, file.parent, env, report, file.name)


def load_config_text(text: str, base_dir: Path, env: Mapping[str, str] | None = None) -> LoadResult:
    """Like `load_config` for YAML text; `include:` paths are relative to `base_dir`."""
    return _load(text, Path(base_dir), env, ConfigReport(), _TEXT_SOURCE)


def _load(
    text: str,
    base_dir: Path,
    env: Mapping[str, str] | None,
    report: ConfigReport,
    source: str,
) -> LoadResult:
    doc = _parse(text, source, None, report)
    if doc is not None:
        _apply_includes(doc, base_dir, report)
    resolver = _Resolver(report=report)
    resolved, exported = resolver.resolve_document(
        doc or {}, dict(os.environ if env is None else env)
    )
    check_fields(resolved, report)
    config = build_config(resolved, exported, frozenset(resolver.hidden), report)
    if report.errors:
        raise ConfigError(report)
    return LoadResult(config=config, report=report)


def _parse(
    text: str, where: ConfigPath | str, name: str | None, report: ConfigReport
) -> dict[Any, Any] | None:
    """The YAML document as a dict; None (and an error) when it is not one."""
    prefix = f"{name}: " if name else ""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        report.error(where, f"{prefix}invalid YAML: {_yaml_problem(exc)}")
        return None
    if doc is None:
        report.warning(where, f"{prefix}the file is empty")
        return {}
    if not isinstance(doc, dict):
        report.error(where, f"{prefix}the top level must be a mapping, got {kind_of(doc)}")
        return None
    return doc


def _yaml_problem(exc: yaml.YAMLError) -> str:
    # Only the problem and its position: `str(exc)` quotes file lines, which may hold keys.
    problem = getattr(exc, "problem", None) or "cannot parse the document"
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return str(problem)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"


def _apply_includes(doc: dict[Any, Any], base_dir: Path, report: ConfigReport) -> None:
    """Merge `include:` files into `doc` the way LiteLLM's `_process_includes` does."""
    if "include" not in doc:
        return
    includes = doc.pop("include")
    if not isinstance(includes, list):
        report.error(("include",), f"must be a list of file paths, got {kind_of(includes)}")
        return
    for i, name in enumerate(includes):
        extra = _read_include(name, base_dir, ("include", i), report)
        if extra is not None:
            _merge(doc, extra, ("include", i), report)


def _read_include(
    name: Any, base_dir: Path, where: ConfigPath, report: ConfigReport
) -> dict[Any, Any] | None:
    if not isinstance(name, str) or not name:
        report.error(where, f"expected a file path, got {kind_of(name)}")
        return None
    file = base_dir / name
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        report.error(where, f"included file not found: {name}")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        report.error(where, f"cannot read included file {name} ({type(exc).__name__})")
        return None
    return _parse(text, where, name, report)


def _merge(
    doc: dict[Any, Any], extra: dict[Any, Any], where: ConfigPath, report: ConfigReport
) -> None:
    """Lists are extended, every other value overwrites (LiteLLM's rule)."""
    for key, value in extra.items():
        if key == "include":
            # LiteLLM iterates the top file's list only, so nested includes never load.
            report.warning(where, "nested include is not processed (LiteLLM ignores it too)")
            continue
        current = doc.get(key)
        if isinstance(value, list) and isinstance(current, list):
            doc[key] = [*current, *value]
        else:
            doc[key] = value


@dataclass(slots=True)
class _Resolver:
    """Replaces `os.environ/NAME` strings and remembers where, to never echo those values."""

    report: ConfigReport
    hidden: set[ConfigPath] = field(default_factory=set)

    def resolve_document(
        self, doc: dict[Any, Any], base_env: dict[str, str]
    ) -> tuple[dict[Any, Any], dict[str, str]]:
        """The resolved document and the `environment_variables` to export."""
        section_path: ConfigPath = ("environment_variables",)
        section = self.resolve(doc.get("environment_variables"), section_path, base_env)
        exported = self._exported(section, base_env)
        env = {**base_env, **exported}
        resolved = {
            k: section if k == "environment_variables" else self.resolve(v, (str(k),), env)
            for k, v in doc.items()
        }
        return resolved, exported

    def resolve(self, value: Any, path: ConfigPath, env: Mapping[str, str]) -> Any:
        """`value` with every `os.environ/NAME` string replaced, recursively."""
        if isinstance(value, str):
            return self._lookup(value, path, env) if value.startswith(ENV_PREFIX) else value
        if isinstance(value, dict):
            return {k: self.resolve(v, (*path, str(k)), env) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, (*path, i), env) for i, v in enumerate(value)]
        return value

    def _lookup(self, ref: str, path: ConfigPath, env: Mapping[str, str]) -> str | None:
        name = ref[len(ENV_PREFIX) :]
        self.hidden.add(path)
        value = env.get(name)
        if value is None:
            self.report.warning(path, f"environment variable {name!r} is not set; using null")
        return value

    def _exported(self, section: Any, base_env: Mapping[str, str]) -> dict[str, str]:
        """String values to export; a variable already set in the env wins, as in LiteLLM.

        LiteLLM runs `os.environ[k] = get_secret(k, default_value=v)`, and `get_secret`
        prefers the live environment, so the file only fills in variables that are unset.
        """
        where: ConfigPath = ("environment_variables",)
        if section is None:
            return {}
        if not isinstance(section, dict):
            self.report.error(where, f"expected a mapping of NAME: value, got {kind_of(section)}")
            return {}
        out: dict[str, str] = {}
        for key, value in section.items():
            name, path = str(key), (*where, str(key))
            if isinstance(value, dict | list):
                self.report.error(path, f"expected a string, number or bool, got {kind_of(value)}")
            elif value is not None:
                out[name] = base_env.get(name, str(value))
            elif path not in self.hidden:
                self.report.warning(path, "has no value; not exported")
        return out
