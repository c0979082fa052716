"""Turn the resolved YAML document into `ProxyConfig` Structs, one error per bad value.

Why: msgspec stops at the first bad field; a config check must list all of them with
their paths. So each known field is converted on its own (`strict=False`, because LiteLLM
tolerates `"30"` for a number and `"true"` for a bool, and `os.environ/` values are
always strings), and everything LiteLLM allows beyond our typed fields lands in `extra`.
"""

from __future__ import annotations

import math
import types
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, Union, get_args, get_origin

import msgspec

from tianji_common.config.fields import (
    FORWARDED_PARAMS,
    IMPLEMENTED_ROUTING_STRATEGIES,
    LITELLM_PARAMS,
    LOWER_BOUNDS,
    ROUTING_STRATEGIES,
    join_pattern,
    known_fields,
    suggest,
    to_pattern,
)
from tianji_common.config.model import (
    Credential,
    GeneralSettings,
    LiteLLMParams,
    LitellmSettings,
    ModelEntry,
    ModelInfo,
    ProxyConfig,
    RouterSettings,
)
from tianji_common.config.report import describe_value, is_secret_path, kind_of

if TYPE_CHECKING:
    from collections.abc import Mapping, Set

    from tianji_common.config.report import ConfigPath, ConfigReport

__all__ = ["build_config", "describe_type"]

_S = TypeVar("_S", bound=msgspec.Struct)
_BAGS = frozenset({"extra", "settings"})


def build_config(
    doc: dict[Any, Any],
    exported: Mapping[str, str],
    hidden: Set[ConfigPath],
    report: ConfigReport,
) -> ProxyConfig:
    """Typed view of `doc`; every problem goes to `report`, never raised."""
    typer = _Typer(report, hidden)
    credentials = _credentials(doc.get("credential_list"), typer)
    cred_names = frozenset(c.credential_name for c in credentials)
    return ProxyConfig(
        model_list=_model_list(doc.get("model_list"), cred_names, typer),
        litellm_settings=_section(LitellmSettings, doc, "litellm_settings", typer),
        general_settings=_section(GeneralSettings, doc, "general_settings", typer),
        router_settings=_router_settings(doc, typer),
        environment_variables=dict(exported),
        credential_list=credentials,
        guardrails=_guardrails(doc.get("guardrails")),
        raw=doc,
    )


def describe_type(tp: Any) -> str:
    """`int`, `list of str`, `str or mapping`: how a type reads in an error message."""
    if tp is Any:
        return "any value"
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(describe_type(a) for a in args if a is not type(None))
    if origin is list:
        return f"list of {describe_type(args[0])}"
    if origin is dict:
        if args[1] is Any:
            return "mapping"
        return f"mapping of {describe_type(args[0])} to {describe_type(args[1])}"
    return str(getattr(tp, "__name__", tp))


@dataclass(frozen=True, slots=True)
class _Typer:
    """Converts single values and reports failures at their exact path."""

    report: ConfigReport
    hidden: Set[ConfigPath]

    def convert(self, value: Any, tp: Any, path: ConfigPath) -> tuple[bool, Any]:
        """`(True, converted)` or `(False, None)` after reporting why."""
        try:
            out = msgspec.convert(value, tp, strict=False)
        except msgspec.ValidationError:
            where, expected, bad = _locate(value, tp, path)
            got = describe_value(bad, hidden=self._hidden(where))
            self.report.error(where, f"expected {describe_type(expected)}, got {got}")
            return False, None
        return self._check_bound(out, value, path)

    def required(self, data: Mapping[Any, Any], key: str, path: ConfigPath, what: str) -> Any:
        """The converted `str` at `data[key]`, or None after an error."""
        value = data.get(key)
        if value is None:
            self.report.error((*path, key), f"required: {what}")
            return None
        ok, out = self.convert(value, str, (*path, key))
        return out if ok else None

    def split(
        self, cls: type[msgspec.Struct], data: Mapping[Any, Any], path: ConfigPath
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """`data` as converted typed fields of `cls`, and everything else."""
        types_ = {f.name: f.type for f in msgspec.structs.fields(cls) if f.name not in _BAGS}
        typed: dict[str, Any] = {}
        rest: dict[str, Any] = {}
        for raw_key, value in data.items():
            key = str(raw_key)
            tp = types_.get(key)
            if tp is None:
                rest[key] = value
            elif value is not None or _accepts_none(tp):
                # A null for a non-optional field (e.g. an unset env var) keeps the default.
                ok, out = self.convert(value, tp, (*path, key))
                if ok:
                    typed[key] = out
        return typed, rest

    def _hidden(self, path: ConfigPath) -> bool:
        return path in self.hidden or is_secret_path(path)

    def _check_bound(self, value: Any, original: Any, path: ConfigPath) -> tuple[bool, Any]:
        bound = LOWER_BOUNDS.get(join_pattern(to_pattern(path)))
        if bound is None or not isinstance(value, int | float):
            return True, value
        limit, strict = bound
        if math.isfinite(value) and (value > limit if strict else value >= limit):
            return True, value
        op = ">" if strict else ">="
        got = describe_value(original, hidden=self._hidden(path))
        self.report.error(path, f"must be a finite number {op} {limit:g}, got {got}")
        return False, None


def _accepts_none(tp: Any) -> bool:
    return tp is Any or type(None) in get_args(tp)


def _fits(value: Any, tp: Any) -> bool:
    try:
        msgspec.convert(value, tp, strict=False)
    except msgspec.ValidationError:
        return False
    return True


def _locate(value: Any, tp: Any, path: ConfigPath) -> tuple[ConfigPath, Any, Any]:
    """The innermost list item or mapping value that does not fit, for a precise path."""
    inner = tp
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        inner = args[0] if len(args) == 1 else tp
    origin, params = get_origin(inner), get_args(inner)
    if origin is list and isinstance(value, list):
        for i, item in enumerate(value):
            if not _fits(item, params[0]):
                return _locate(item, params[0], (*path, i))
    if origin is dict and isinstance(value, dict):
        for key, item in value.items():
            if not _fits(item, params[1]):
                return _locate(item, params[1], (*path, str(key)))
    return path, tp, value


def _section(cls: type[_S], doc: Mapping[Any, Any], name: str, typer: _Typer) -> _S:
    """One `*_settings` mapping: typed fields, the rest in `extra`."""
    data = doc.get(name)
    if data is None:
        return cls()
    if not isinstance(data, dict):
        typer.report.error((name,), f"expected a mapping, got {kind_of(data)}")
        return cls()
    typed, rest = typer.split(cls, data, (name,))
    return cls(**typed, extra=rest)


def _router_settings(doc: Mapping[Any, Any], typer: _Typer) -> RouterSettings:
    settings = _section(RouterSettings, doc, "router_settings", typer)
    strategy = settings.routing_strategy
    where = ("router_settings", "routing_strategy")
    if strategy in ROUTING_STRATEGIES and strategy not in IMPLEMENTED_ROUTING_STRATEGIES:
        msg = f"routing strategy '{strategy}' not implemented yet; using simple-shuffle"
        typer.report.warning(where, msg)
    elif strategy not in ROUTING_STRATEGIES:
        hint = suggest(strategy, sorted(ROUTING_STRATEGIES))
        typer.report.warning(where, f"unknown routing strategy; using simple-shuffle{hint}")
    return settings


def _model_list(value: Any, cred_names: frozenset[str], typer: _Typer) -> list[ModelEntry]:
    if value is None:
        return []
    if not isinstance(value, list):
        typer.report.error(("model_list",), f"expected a list of models, got {kind_of(value)}")
        return []
    entries = (_model_entry(item, ("model_list", i), typer) for i, item in enumerate(value))
    out = [e for e in entries if e is not None]
    for i, item in enumerate(value):
        _check_credential_ref(item, ("model_list", i), cred_names, typer.report)
    return out


def _model_entry(item: Any, path: ConfigPath, typer: _Typer) -> ModelEntry | None:
    if not isinstance(item, dict):
        msg = f"expected a mapping with model_name and litellm_params, got {kind_of(item)}"
        typer.report.error(path, msg)
        return None
    name = typer.required(item, "model_name", path, "the model name clients send")
    params = _litellm_params(item.get("litellm_params"), (*path, "litellm_params"), typer)
    info = _model_info(item.get("model_info"), (*path, "model_info"), typer)
    if name is None or params is None:
        return None
    return ModelEntry(model_name=name, litellm_params=params, model_info=info)


def _litellm_params(data: Any, path: ConfigPath, typer: _Typer) -> LiteLLMParams | None:
    if data is None:
        typer.report.error(path, "required: how to call this deployment (at least `model`)")
        return None
    if not isinstance(data, dict):
        typer.report.error(path, f"expected a mapping, got {kind_of(data)}")
        return None
    model = typer.required(data, "model", path, "the provider model, e.g. openai/gpt-4o")
    body = {k: v for k, v in data.items() if k not in ("model", "base_url")}
    typed, rest = typer.split(LiteLLMParams, body, path)
    _alias_base_url(data, typed, path, typer)
    extra, settings = _route_params(rest, path, typer)
    if model is None:
        return None
    return LiteLLMParams(model=model, **typed, extra=extra, settings=settings)


def _alias_base_url(
    data: Mapping[Any, Any], typed: dict[str, Any], path: ConfigPath, typer: _Typer
) -> None:
    """`base_url` is LiteLLM's alias of `api_base`; `api_base` wins when both are set."""
    value = data.get("base_url")
    if value is None:
        return
    if data.get("api_base") is not None:
        typer.report.warning((*path, "base_url"), "both api_base and base_url set; using api_base")
        return
    ok, out = typer.convert(value, str, (*path, "base_url"))
    if ok:
        typed["api_base"] = out


def _route_params(
    rest: Mapping[str, Any], path: ConfigPath, typer: _Typer
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split non-typed litellm_params into forwarded (`extra`) and internal (`settings`)."""
    known = known_fields()
    extra: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    for key, value in rest.items():
        if value is None or key == "extra_body":
            continue
        tp = FORWARDED_PARAMS.get(key)
        if tp is not None:
            ok, out = typer.convert(value, tp, (*path, key))
            if ok:
                extra[key] = out
        elif known.child(LITELLM_PARAMS, key) is not None:
            settings[key] = value
        else:
            extra[key] = value  # unknown: LiteLLM forwards it to the provider
    body = rest.get("extra_body")
    if body is not None:
        # Merged last so it wins, like the OpenAI SDK's `extra_body`.
        ok, out = typer.convert(body, dict[str, Any], (*path, "extra_body"))
        if ok:
            extra.update(out)
    return extra, settings


def _model_info(data: Any, path: ConfigPath, typer: _Typer) -> ModelInfo:
    if data is None:
        return ModelInfo()
    if not isinstance(data, dict):
        typer.report.error(path, f"expected a mapping, got {kind_of(data)}")
        return ModelInfo()
    ident = data.get("id")
    if isinstance(ident, int) and not isinstance(ident, bool):
        data = {**data, "id": str(ident)}  # LiteLLM's ModelInfo turns int ids into str too
    typed, rest = typer.split(ModelInfo, data, path)
    return ModelInfo(**typed, extra=rest)


def _check_credential_ref(
    item: Any, path: ConfigPath, cred_names: frozenset[str], report: ConfigReport
) -> None:
    params = item.get("litellm_params") if isinstance(item, dict) else None
    ref = params.get("litellm_credential_name") if isinstance(params, dict) else None
    if isinstance(ref, str) and ref not in cred_names:
        where = (*path, "litellm_params", "litellm_credential_name")
        report.warning(where, f"credential '{ref}' is not defined in credential_list")


def _credentials(value: Any, typer: _Typer) -> list[Credential]:
    if value is None:
        return []
    if not isinstance(value, list):
        typer.report.error(("credential_list",), f"expected a list, got {kind_of(value)}")
        return []
    out: list[Credential] = []
    for i, item in enumerate(value):
        path: ConfigPath = ("credential_list", i)
        if not isinstance(item, dict):
            typer.report.error(path, f"expected a mapping, got {kind_of(item)}")
            continue
        name = typer.required(item, "credential_name", path, "the name models refer to")
        body = {k: v for k, v in item.items() if k != "credential_name"}
        typed, _ = typer.split(Credential, body, path)
        if name is not None:
            out.append(Credential(credential_name=name, **typed))
    return out


def _guardrails(value: Any) -> list[dict[str, Any]]:
    """Kept as raw mappings: guardrails are recognised, not implemented (one warning)."""
    if not isinstance(value, list):
        return []
    return [g for g in value if isinstance(g, dict)]
