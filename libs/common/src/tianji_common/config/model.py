"""Typed view of a LiteLLM proxy `config.yaml`, the parts TianjiLLM acts on.

Why: the file format is LiteLLM's and stays permissive where LiteLLM is (extra
`litellm_params` are forwarded to the provider), so these Structs keep the typed fields
we implement and carry everything else in `extra`. Validation and warnings live in
`tianji_common.config.loader`; these types hold already-resolved values
(`os.environ/` references replaced).
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "Credential",
    "GeneralSettings",
    "LiteLLMParams",
    "LitellmSettings",
    "ModelEntry",
    "ModelInfo",
    "ProxyConfig",
    "RouterSettings",
]


class LiteLLMParams(msgspec.Struct, kw_only=True):
    """How to call one deployment. `extra` holds keys forwarded to the provider call.

    `extra`: OpenAI request params (temperature, max_tokens, ...), unknown keys and the
    contents of `extra_body`, sent upstream as body defaults, as LiteLLM does.
    `settings`: recognised LiteLLM-internal keys (aws_*, vertex_*, costs, mock_response,
    ...) that are never sent to the provider.
    """

    model: str
    api_key: str | None = None
    api_base: str | None = None
    api_version: str | None = None
    custom_llm_provider: str | None = None
    organization: str | None = None
    rpm: int | None = None
    tpm: int | None = None
    weight: float | None = None
    order: int | None = None
    timeout: float | None = None
    stream_timeout: float | None = None
    max_retries: int | None = None
    num_retries: int | None = None
    max_parallel_requests: int | None = None
    drop_params: bool | None = None
    additional_drop_params: list[str] | None = None
    extra_headers: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    litellm_credential_name: str | None = None
    tags: list[str] | None = None
    region_name: str | None = None
    base_model: str | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict)
    settings: dict[str, Any] = msgspec.field(default_factory=dict)


class ModelInfo(msgspec.Struct, kw_only=True):
    """Deployment metadata. `id` is filled with a stable hash when the file has none."""

    id: str | None = None
    mode: str | None = None
    base_model: str | None = None
    access_groups: list[str] | None = None
    max_tokens: int | None = None
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


class ModelEntry(msgspec.Struct, kw_only=True):
    """One `model_list` item: a public name and one deployment behind it."""

    model_name: str
    litellm_params: LiteLLMParams
    model_info: ModelInfo = msgspec.field(default_factory=ModelInfo)


class LitellmSettings(msgspec.Struct, kw_only=True):
    """`litellm_settings` keys the gateway reads; all others are kept in `extra`."""

    drop_params: bool = False
    num_retries: int | None = None
    request_timeout: float | None = None
    json_logs: bool = False
    set_verbose: bool = False
    model_alias_map: dict[str, str] | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


class GeneralSettings(msgspec.Struct, kw_only=True):
    """`general_settings` keys the services read; all others are kept in `extra`."""

    master_key: str | None = None
    database_url: str | None = None
    dangerously_permit_weak_or_unset_master_key: bool = False
    max_request_size_mb: float | None = None
    max_response_size_mb: float | None = None
    completion_model: str | None = None
    embedding_model: str | None = None
    litellm_key_header_name: str | None = None
    always_include_stream_usage: bool = False
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


class RouterSettings(msgspec.Struct, kw_only=True):
    """`router_settings` keys the minimal router reads; all others are kept in `extra`."""

    routing_strategy: str = "simple-shuffle"
    num_retries: int | None = None
    timeout: float | None = None
    stream_timeout: float | None = None
    retry_after: float = 0.0
    model_group_alias: dict[str, Any] | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


class Credential(msgspec.Struct, kw_only=True):
    """A `credential_list` entry referenced by `litellm_credential_name`."""

    credential_name: str
    credential_values: dict[str, Any] = msgspec.field(default_factory=dict)
    credential_info: dict[str, Any] = msgspec.field(default_factory=dict)


class ProxyConfig(msgspec.Struct, kw_only=True):
    """The whole file after includes, env references and validation."""

    model_list: list[ModelEntry] = msgspec.field(default_factory=list)
    litellm_settings: LitellmSettings = msgspec.field(default_factory=LitellmSettings)
    general_settings: GeneralSettings = msgspec.field(default_factory=GeneralSettings)
    router_settings: RouterSettings = msgspec.field(default_factory=RouterSettings)
    environment_variables: dict[str, str] = msgspec.field(default_factory=dict)
    credential_list: list[Credential] = msgspec.field(default_factory=list)
    guardrails: list[dict[str, Any]] = msgspec.field(default_factory=list)
    raw: dict[str, Any] = msgspec.field(default_factory=dict)
