"""Which LiteLLM config keys exist, which ones TianjiLLM implements, and the walk that tells.

Why: a LiteLLM `config.yaml` may use any of ~1,200 documented keys. Users must learn at
startup, not in production, that a key is a typo (PP-21) or a feature we do not serve yet.
`known_fields.txt` (package data) is LiteLLM's key list; `IMPLEMENTED` is ours. Turning a
feature on is adding its pattern to `IMPLEMENTED`, nothing else.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tianji_common.config.report import ConfigPath, ConfigReport

__all__ = [
    "EXTENSIONS",
    "FORWARDED_PARAMS",
    "FREE_FORM",
    "IMPLEMENTED",
    "IMPLEMENTED_ROUTING_STRATEGIES",
    "LITELLM_PARAMS",
    "LOWER_BOUNDS",
    "MISPLACED",
    "NOT_IMPLEMENTED",
    "ROUTING_STRATEGIES",
    "KnownFields",
    "Pattern",
    "check_fields",
    "is_implemented",
    "join_pattern",
    "known_fields",
    "parse_known_fields",
    "split_pattern",
    "suggest",
    "to_pattern",
]

# A path in pattern form: list indexes are "[]", free map keys are "*".
Pattern = tuple[str, ...]

LITELLM_PARAMS: Pattern = ("model_list", "[]", "litellm_params")

# Patterns of the keys TianjiLLM acts on. `*` matches one key, a trailing `**` matches the
# key and everything below it. A recognised key not matched here gets one warning.
IMPLEMENTED: tuple[str, ...] = (
    # top level
    "model_list",
    "litellm_settings",
    "general_settings",
    "router_settings",
    "environment_variables.**",
    "credential_list.**",
    "include",
    # model_list entries
    "model_list[].model_name",
    "model_list[].model_info.**",
    "model_list[].litellm_params",
    # litellm_params: typed fields of LiteLLMParams
    "model_list[].litellm_params.model",
    "model_list[].litellm_params.api_key",
    "model_list[].litellm_params.api_base",
    "model_list[].litellm_params.base_url",
    "model_list[].litellm_params.api_version",
    "model_list[].litellm_params.custom_llm_provider",
    "model_list[].litellm_params.organization",
    "model_list[].litellm_params.rpm",
    "model_list[].litellm_params.tpm",
    "model_list[].litellm_params.weight",
    "model_list[].litellm_params.order",
    "model_list[].litellm_params.timeout",
    "model_list[].litellm_params.stream_timeout",
    "model_list[].litellm_params.max_retries",
    "model_list[].litellm_params.num_retries",
    "model_list[].litellm_params.max_parallel_requests",
    "model_list[].litellm_params.drop_params",
    "model_list[].litellm_params.additional_drop_params",
    "model_list[].litellm_params.extra_headers",
    "model_list[].litellm_params.headers",
    "model_list[].litellm_params.litellm_credential_name",
    "model_list[].litellm_params.tags",
    "model_list[].litellm_params.region_name",
    "model_list[].litellm_params.base_model",
    # litellm_params: OpenAI request params forwarded upstream as defaults (FORWARDED_PARAMS)
    "model_list[].litellm_params.temperature",
    "model_list[].litellm_params.max_tokens",
    "model_list[].litellm_params.max_completion_tokens",
    "model_list[].litellm_params.top_p",
    "model_list[].litellm_params.n",
    "model_list[].litellm_params.stop",
    "model_list[].litellm_params.presence_penalty",
    "model_list[].litellm_params.frequency_penalty",
    "model_list[].litellm_params.logit_bias",
    "model_list[].litellm_params.logprobs",
    "model_list[].litellm_params.top_logprobs",
    "model_list[].litellm_params.seed",
    "model_list[].litellm_params.response_format",
    "model_list[].litellm_params.tools",
    "model_list[].litellm_params.tool_choice",
    "model_list[].litellm_params.parallel_tool_calls",
    "model_list[].litellm_params.functions",
    "model_list[].litellm_params.function_call",
    "model_list[].litellm_params.user",
    "model_list[].litellm_params.reasoning_effort",
    "model_list[].litellm_params.service_tier",
    "model_list[].litellm_params.modalities",
    "model_list[].litellm_params.audio",
    "model_list[].litellm_params.prediction",
    "model_list[].litellm_params.web_search_options",
    "model_list[].litellm_params.verbosity",
    "model_list[].litellm_params.safety_identifier",
    "model_list[].litellm_params.thinking",
    "model_list[].litellm_params.top_k",
    "model_list[].litellm_params.extra_body",
    "model_list[].litellm_params.stream_options",
    # provider credentials and placement, read by the provider adapters from `settings`
    "model_list[].litellm_params.aws_access_key_id",
    "model_list[].litellm_params.aws_secret_access_key",
    "model_list[].litellm_params.aws_session_token",
    "model_list[].litellm_params.aws_region_name",
    "model_list[].litellm_params.aws_bedrock_runtime_endpoint",
    "model_list[].litellm_params.azure_ad_token",
    "model_list[].litellm_params.azure_password",
    "model_list[].litellm_params.azure_scope",
    "model_list[].litellm_params.azure_username",
    "model_list[].litellm_params.client_id",
    "model_list[].litellm_params.client_secret",
    "model_list[].litellm_params.tenant_id",
    "model_list[].litellm_params.safety_settings",
    "model_list[].litellm_params.vertex_credentials",
    "model_list[].litellm_params.vertex_location",
    "model_list[].litellm_params.vertex_project",
    "model_list[].litellm_params.vertex_ai_project",
    "model_list[].litellm_params.vertex_ai_location",
    "model_list[].litellm_params.vertex_ai_credentials",
    "model_list[].litellm_params.model_id",
    # custom pricing, read once per deployment by tianji_common.pricing (docs/pricing.md)
    "model_list[].litellm_params.cache_creation_input_token_cost",
    "model_list[].litellm_params.cache_creation_input_token_cost_above_200k_tokens",
    "model_list[].litellm_params.cache_read_input_token_cost",
    "model_list[].litellm_params.cache_read_input_token_cost_above_200k_tokens",
    "model_list[].litellm_params.cache_read_input_token_cost_flex",
    "model_list[].litellm_params.cache_read_input_token_cost_priority",
    "model_list[].litellm_params.input_cost_per_audio_token",
    "model_list[].litellm_params.input_cost_per_image",
    "model_list[].litellm_params.input_cost_per_pixel",
    "model_list[].litellm_params.input_cost_per_second",
    "model_list[].litellm_params.input_cost_per_token",
    "model_list[].litellm_params.input_cost_per_token_above_128k_tokens",
    "model_list[].litellm_params.input_cost_per_token_above_200k_tokens",
    "model_list[].litellm_params.input_cost_per_token_cache_hit",
    "model_list[].litellm_params.input_cost_per_token_flex",
    "model_list[].litellm_params.input_cost_per_token_priority",
    "model_list[].litellm_params.output_cost_per_audio_token",
    "model_list[].litellm_params.output_cost_per_image",
    "model_list[].litellm_params.output_cost_per_image_token",
    "model_list[].litellm_params.output_cost_per_pixel",
    "model_list[].litellm_params.output_cost_per_reasoning_token",
    "model_list[].litellm_params.output_cost_per_second",
    "model_list[].litellm_params.output_cost_per_token",
    "model_list[].litellm_params.output_cost_per_token_above_128k_tokens",
    "model_list[].litellm_params.output_cost_per_token_above_200k_tokens",
    "model_list[].litellm_params.output_cost_per_token_flex",
    "model_list[].litellm_params.output_cost_per_token_priority",
    # litellm_settings
    "litellm_settings.drop_params",
    "litellm_settings.num_retries",
    "litellm_settings.request_timeout",
    "litellm_settings.json_logs",
    "litellm_settings.set_verbose",
    "litellm_settings.model_alias_map",
    # general_settings
    "general_settings.master_key",
    "general_settings.database_url",
    "general_settings.dangerously_permit_weak_or_unset_master_key",
    "general_settings.max_request_size_mb",
    "general_settings.max_response_size_mb",
    "general_settings.completion_model",
    "general_settings.embedding_model",
    "general_settings.litellm_key_header_name",
    "general_settings.always_include_stream_usage",
    # budget alerts from the spend-worker (tianji_spend_worker.alerts.config)
    "general_settings.alerting",
    "general_settings.alert_types",
    "general_settings.alert_to_webhook_url",
    # router_settings
    "router_settings.routing_strategy",
    "router_settings.num_retries",
    "router_settings.timeout",
    "router_settings.stream_timeout",
    "router_settings.retry_after",
    "router_settings.model_group_alias",
    # shared rate-limit and budget counters (tianji_gateway.limits)
    "router_settings.redis_host",
    "router_settings.redis_port",
    "router_settings.redis_password",
)

# Types of the implemented litellm_params that go into the upstream body as defaults.
# Checked (and "0.5" -> 0.5 coerced) at load, so a bad value fails startup, not a request.
FORWARDED_PARAMS: Mapping[str, Any] = MappingProxyType(
    {
        "temperature": float,
        "max_tokens": int,
        "max_completion_tokens": int,
        "top_p": float,
        "n": int,
        "stop": str | list[str],
        "presence_penalty": float,
        "frequency_penalty": float,
        "logit_bias": dict[Any, Any],
        "logprobs": bool,
        "top_logprobs": int,
        "seed": int,
        "response_format": dict[str, Any],
        "tools": list[dict[str, Any]],
        "tool_choice": str | dict[str, Any],
        "parallel_tool_calls": bool,
        "functions": list[dict[str, Any]],
        "function_call": str | dict[str, Any],
        "user": str,
        "reasoning_effort": str,
        "service_tier": str,
        "modalities": list[str],
        "audio": dict[str, Any],
        "prediction": dict[str, Any],
        "web_search_options": dict[str, Any],
        "verbosity": str,
        "safety_identifier": str,
        "thinking": dict[str, Any],
        "top_k": int,
        "stream_options": dict[str, Any],
    }
)

# Keys TianjiLLM adds to LiteLLM's format; recognised like the shipped LiteLLM list.
EXTENSIONS: tuple[str, ...] = (
    # Opt out of the startup refusal of a missing or weak master key.
    "general_settings.dangerously_permit_weak_or_unset_master_key",
)

# Known keys whose children are user data although LiteLLM's docs name a few of them.
FREE_FORM: frozenset[str] = frozenset(
    {"credential_list[].credential_values", "credential_list[].credential_info"}
)

# LiteLLM raises at startup for these in router_settings (proxy_server.py); we do the same.
MISPLACED: Mapping[str, str] = MappingProxyType(
    {
        "router_settings.health_check_interval": "general_settings.health_check_interval",
        "router_settings.health_check_concurrency": "general_settings.health_check_concurrency",
    }
)

# Lower bound per numeric field: (bound, strictly greater). NaN always fails.
LOWER_BOUNDS: Mapping[str, tuple[float, bool]] = MappingProxyType(
    {
        "model_list[].litellm_params.rpm": (0, False),
        "model_list[].litellm_params.tpm": (0, False),
        "model_list[].litellm_params.weight": (0, True),
        "model_list[].litellm_params.timeout": (0, True),
        "model_list[].litellm_params.stream_timeout": (0, True),
        "model_list[].litellm_params.max_retries": (0, False),
        "model_list[].litellm_params.num_retries": (0, False),
        "model_list[].litellm_params.max_parallel_requests": (0, True),
        "litellm_settings.num_retries": (0, False),
        "litellm_settings.request_timeout": (0, True),
        "general_settings.max_request_size_mb": (0, True),
        "general_settings.max_response_size_mb": (0, True),
        "router_settings.num_retries": (0, False),
        "router_settings.timeout": (0, True),
        "router_settings.stream_timeout": (0, True),
        "router_settings.retry_after": (0, False),
    }
)

# litellm/types/router.py RoutingStrategy, plus the names Router.__init__ accepts.
ROUTING_STRATEGIES: frozenset[str] = frozenset(
    {
        "simple-shuffle",
        "least-busy",
        "usage-based-routing",
        "usage-based-routing-v2",
        "latency-based-routing",
        "cost-based-routing",
    }
)
IMPLEMENTED_ROUTING_STRATEGIES: frozenset[str] = frozenset({"simple-shuffle"})

NOT_IMPLEMENTED = "recognised but not implemented yet; ignored"
_UNRECOGNISED = "unrecognised key; ignored"
# Levels where LiteLLM keeps unknown keys (pydantic extra="allow"), so they are not typos
# by definition; a close known name still gets a did-you-mean.
_OPEN_LEVELS: Mapping[Pattern, str] = MappingProxyType(
    {
        LITELLM_PARAMS: (
            "not a known LiteLLM parameter; forwarded to the provider as a request parameter"
        ),
        ("model_list", "[]", "model_info"): "not a known LiteLLM model_info key; kept as metadata",
    }
)
_SUGGEST_CUTOFF = 0.8


@dataclass(frozen=True, slots=True)
class KnownFields:
    """LiteLLM's key tree: for each pattern, the names allowed one level below it."""

    children: Mapping[Pattern, frozenset[str]]

    def child(self, parent: Pattern, key: str) -> Pattern | None:
        """The pattern of `key` under `parent`, `*` for free-map keys, None if unknown."""
        names = self.children.get(parent, frozenset())
        if key in names and key not in ("*", "[]"):
            return (*parent, key)
        if "*" in names:
            return (*parent, "*")
        return None

    def keys(self, parent: Pattern) -> list[str]:
        """The named keys under `parent`, sorted, for did-you-mean."""
        names = self.children.get(parent, frozenset())
        return sorted(n for n in names if n not in ("*", "[]"))

    def has_keys(self, parent: Pattern) -> bool:
        """Whether `parent` is a mapping whose keys LiteLLM documents."""
        return any(n != "[]" for n in self.children.get(parent, ()))

    def has_items(self, parent: Pattern) -> bool:
        """Whether `parent` is a list whose items LiteLLM documents."""
        return "[]" in self.children.get(parent, ())


def split_pattern(text: str) -> Pattern:
    """`model_list[].litellm_params` -> `("model_list", "[]", "litellm_params")`."""
    return tuple(text.replace("[]", ".[]").split("."))


def join_pattern(pattern: Pattern) -> str:
    """Inverse of `split_pattern`."""
    return ".".join(pattern).replace(".[]", "[]")


def to_pattern(path: ConfigPath) -> Pattern:
    """A concrete path in pattern form: list indexes become `[]`."""
    return tuple("[]" if isinstance(seg, int) else seg for seg in path)


def parse_known_fields(text: str) -> KnownFields:
    """Build the key tree from one dotted path per line; `#` lines are comments."""
    children: dict[Pattern, set[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        segs = split_pattern(line)
        for i, seg in enumerate(segs):
            children.setdefault(segs[:i], set()).add(seg)
    return KnownFields(MappingProxyType({k: frozenset(v) for k, v in children.items()}))


@functools.cache
def known_fields() -> KnownFields:
    """LiteLLM's shipped key list plus `EXTENSIONS`, parsed once (immutable)."""
    res = resources.files("tianji_common.config").joinpath("known_fields.txt")
    return parse_known_fields("\n".join((res.read_text(encoding="utf-8"), *EXTENSIONS)))


@functools.cache
def _implemented() -> tuple[Pattern, ...]:
    return tuple(split_pattern(p) for p in IMPLEMENTED)


def _matches(pattern: Pattern, path: Pattern) -> bool:
    if pattern[-1] == "**":
        base = pattern[:-1]
        return len(path) >= len(base) and all(
            p in ("*", s) for p, s in zip(base, path[: len(base)], strict=True)
        )
    return len(pattern) == len(path) and all(
        p in ("*", s) for p, s in zip(pattern, path, strict=True)
    )


def is_implemented(pattern: Pattern) -> bool:
    """Whether TianjiLLM acts on the key at `pattern` (see `IMPLEMENTED`)."""
    return any(_matches(p, pattern) for p in _implemented())


def suggest(key: str, candidates: list[str]) -> str:
    """`; did you mean 'x'?` for the closest candidate, or "" when none is close."""
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=_SUGGEST_CUTOFF)
    return f"; did you mean '{close[0]}'?" if close else ""


def check_fields(doc: Mapping[Any, Any], report: ConfigReport) -> None:
    """Warn once per unknown or unimplemented subtree; error on misplaced keys."""
    _walk_mapping(doc, (), (), known_fields(), report)


def _walk_mapping(
    data: Mapping[Any, Any],
    path: ConfigPath,
    pattern: Pattern,
    known: KnownFields,
    report: ConfigReport,
) -> None:
    for raw_key, value in data.items():
        key = str(raw_key)
        child_path = (*path, key)
        moved_to = MISPLACED.get(join_pattern((*pattern, key)))
        if moved_to is not None:
            section = join_pattern(pattern)
            report.error(
                child_path, f"LiteLLM rejects this key in {section}; move it to {moved_to}"
            )
            continue
        child = known.child(pattern, key)
        if child is None:
            _unknown(key, child_path, pattern, known, report)
        elif join_pattern(child) in FREE_FORM:
            continue
        elif not is_implemented(child):
            report.warning(child_path, NOT_IMPLEMENTED)
        else:
            _walk_value(value, child_path, child, known, report)


def _walk_value(
    value: Any, path: ConfigPath, pattern: Pattern, known: KnownFields, report: ConfigReport
) -> None:
    if isinstance(value, dict) and known.has_keys(pattern):
        _walk_mapping(value, path, pattern, known, report)
    elif isinstance(value, list) and known.has_items(pattern):
        item = (*pattern, "[]")
        for i, v in enumerate(value):
            _walk_value(v, (*path, i), item, known, report)


def _unknown(
    key: str, path: ConfigPath, parent: Pattern, known: KnownFields, report: ConfigReport
) -> None:
    base = _OPEN_LEVELS.get(parent, _UNRECOGNISED)
    report.warning(path, base + suggest(key, known.keys(parent)))
