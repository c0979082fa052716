"""Vertex AI (`vertex_ai/`): Gemini, Claude, text embeddings and Imagen on Google Cloud.

Why one adapter for several model families: LiteLLM routes every `vertex_ai/` model
through one provider id and picks the wire format by model name (`claude*` ->
Anthropic Messages via `rawPredict`, partner prefixes -> their own APIs, the rest ->
Gemini generateContent). Gemini translation is shared with the `gemini` adapter;
Claude reuses `AnthropicAdapter` by composition, minus `model` and plus
`anthropic_version: vertex-2023-10-16` (LiteLLM's `VertexAIAnthropicConfig`).

URLs follow LiteLLM's `_get_vertex_url` / `create_vertex_url` / `_check_custom_proxy`:
`https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/
{location}/publishers/{google|anthropic}/models/{model}:{method}` (host
`aiplatform.googleapis.com` for location `global`); a custom `api_base` is the whole
prefix before `:{method}`, and Imagen takes a custom `api_base` as the full URL.
Auth is a Bearer token from `vertex_credentials` (see `_vertex_auth.py`), or
`api_key` used as a ready-made access token when no credentials are configured.
`/v1/messages` is native for Claude and bridged through chat for Gemini models.
"""

from __future__ import annotations

import time
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
from tianji_common.errors import InvalidRequest, NotImplementedFeature, UpstreamError

from tianji_gateway.providers._gemini_request import UNSUPPORTED_PARAMS
from tianji_gateway.providers._gemini_response import google_error
from tianji_gateway.providers._gemini_stream import GeminiStream
from tianji_gateway.providers._google_predict import (
    imagen_request,
    imagen_response,
    vertex_embedding_request,
    vertex_embedding_response,
)
from tianji_gateway.providers._messages_bridge import MessagesBridge
from tianji_gateway.providers._vertex_auth import credentials_from_value, parse_token, token_call
from tianji_gateway.providers.anthropic import AnthropicAdapter
from tianji_gateway.providers.base import Decoded, Op, ProviderAdapter, ProviderCaps
from tianji_gateway.providers.gemini import encode_chat, gemini_chat_response

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tianji_gateway.providers.base import ChunkTransformer, Token, UpstreamCall
    from tianji_gateway.routing.deployment import Deployment

__all__ = ["VertexAIAdapter"]

ANTHROPIC_VERSION = msgspec.Raw(b'"vertex-2023-10-16"')
_DEFAULT_LOCATION = "us-central1"
# LiteLLM's PartnerModelPrefixes other than Claude: served by other wire formats.
_PARTNER_PREFIXES = (
    "meta/",
    "deepseek-ai",
    "mistral",
    "codestral",
    "jamba",
    "qwen",
    "openai/gpt-oss-",
)
_raw_dict = msgspec.json.Decoder(dict[str, msgspec.Raw])
_encoder = msgspec.json.Encoder()


class _ErrorType(msgspec.Struct):
    type: str = ""


_error_type = msgspec.json.Decoder(_ErrorType)


def _setting(dep: Deployment, *names: str) -> Any:
    return next((dep.settings[n] for n in names if dep.settings.get(n)), None)


def _is_claude(dep: Deployment) -> bool:
    return "claude" in dep.model.lower()


def _url_model(model: str) -> str:
    """`gemini/<tuned-id>` names a tuned endpoint by its id (LiteLLM)."""
    return model.rsplit("/", 1)[-1] if model.startswith("gemini/") else model


class VertexAIAdapter(ProviderAdapter):
    """Vertex AI: Gemini and Claude chat, embeddings, Imagen, with OAuth tokens."""

    name: ClassVar[str] = "vertex_ai"
    default_api_base: ClassVar[str] = "https://us-central1-aiplatform.googleapis.com"
    env_key: ClassVar[str | None] = None  # credentials come from vertex_credentials
    env_base: ClassVar[str | None] = None
    # LiteLLM's environment fallbacks (VertexBase.safe_get_vertex_ai_*; google-auth's ADC
    # file for credentials), filled into the `vertex_ai_*` alias keys so an explicit
    # `vertex_project` / `vertex_ai_project` in the config still wins.
    env_settings: ClassVar[Mapping[str, tuple[str, ...]]] = MappingProxyType(
        {
            "vertex_ai_project": ("VERTEXAI_PROJECT",),
            "vertex_ai_location": ("VERTEXAI_LOCATION", "VERTEX_LOCATION"),
            "vertex_ai_credentials": ("VERTEXAI_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS"),
        }
    )
    caps: ClassVar[ProviderCaps] = ProviderCaps(
        stream_usage=False,
        unsupported_params=UNSUPPORTED_PARAMS,
        ops=frozenset({Op.CHAT, Op.MESSAGES, Op.EMBEDDING, Op.IMAGE_GENERATION}),
    )
    passthrough: ClassVar[bool] = False

    def __init__(self) -> None:
        self._anthropic = AnthropicAdapter()
        # /v1/messages: native for Claude; for Gemini models, the shared Messages <-> chat
        # bridge over this adapter's own chat path (the pipeline bridges per adapter, and
        # this one serves Messages natively for Claude).
        self._messages = MessagesBridge(self)
        # Parsed credentials by configured value (JSON text or file path): a path is
        # read once, on first use, never per request (the one I/O; _vertex_auth.py).
        self._credentials: dict[str, dict[str, Any]] = {}

    # --- auth ------------------------------------------------------------------------

    def _info(self, dep: Deployment) -> dict[str, Any] | None:
        value = _setting(dep, "vertex_credentials", "vertex_ai_credentials")
        if value is None or isinstance(value, dict):
            return value
        key = str(value)
        info = self._credentials.get(key)
        if info is None:
            info = self._credentials[key] = credentials_from_value(value)
        return info

    def _project(self, dep: Deployment) -> str:
        project = _setting(dep, "vertex_project", "vertex_ai_project")
        if project is None:
            info = self._info(dep) or {}
            project = info.get("project_id") or info.get("quota_project_id")
        if not project:
            raise InvalidRequest(
                "vertex_ai deployments need vertex_project (or credentials that name one)",
                param="model",
            )
        return str(project)

    def token_request(self, dep: Deployment, now: float) -> UpstreamCall | None:
        """A service-account JWT or refresh-token grant; None when api_key is the token."""
        info = self._info(dep)
        if info is not None:
            return token_call(info, now)
        if dep.api_key:
            return None
        raise UpstreamError(
            "vertex_ai: set vertex_credentials (a service-account or authorized-user JSON, "
            "or its path); environment and metadata-server credentials are not read",
            status=500,
            retryable=False,
            type_="auth_error",
        )

    def parse_token(self, status: int, body: bytes, now: float) -> Token:
        """`access_token` / `expires_in` from Google's token endpoint."""
        return parse_token(status, body, now)

    def headers(self, dep: Deployment, token: str | None = None) -> list[tuple[str, str]]:
        """Bearer auth; `extra_headers` from config come last and win.

        For Claude, `anthropic-beta` travels in the body instead (see `_claude_body`).
        """
        out = [("content-type", "application/json")]
        bearer = token or dep.api_key
        if bearer:
            out.append(("authorization", "Bearer " + bearer))
        claude = _is_claude(dep)
        out.extend(h for h in dep.extra_headers if not (claude and h[0] == "anthropic-beta"))
        return out

    # --- URLs ------------------------------------------------------------------------

    def url(self, dep: Deployment, op: Op, stream: bool) -> str:
        """The publisher-model URL for the op, or `{api_base}:{method}` (LiteLLM)."""
        claude = _is_claude(dep)
        method = _method(op, stream, claude)
        if dep.api_base:
            base = dep.api_base.rstrip("/")
            if op is Op.IMAGE_GENERATION:
                return base  # LiteLLM's Imagen config takes api_base as the full URL
            return f"{base}:{method}" + ("?alt=sse" if stream else "")
        location = str(_setting(dep, "vertex_location", "vertex_ai_location") or "")
        location = location or _DEFAULT_LOCATION
        host = (
            "https://aiplatform.googleapis.com"
            if location == "global"
            else f"https://{location}-aiplatform.googleapis.com"
        )
        prefix = f"{host}/v1/projects/{self._project(dep)}/locations/{location}"
        model = _url_model(dep.model)
        if model.isdigit():  # a tuned model's endpoint id
            path = f"/endpoints/{model}:{method}"
        else:
            path = f"/publishers/{'anthropic' if claude else 'google'}/models/{model}:{method}"
        sse = "?alt=sse" if stream and not claude else ""
        return prefix + path + sse

    # --- translation -----------------------------------------------------------------

    def map_params(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op = Op.CHAT
    ) -> dict[str, msgspec.Raw]:
        """Claude models drop/reject what Anthropic lacks; Gemini what Gemini lacks."""
        if _is_claude(dep):
            return self._anthropic.map_params(body, dep, op)
        return super().map_params(body, dep, op)

    def encode_request(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op, stream: bool
    ) -> bytes:
        """Anthropic Messages for Claude; generateContent / predict for Google models."""
        _check_family(dep, op)
        if _is_claude(dep):
            return self._claude_body(body, dep, op, stream)
        if op is Op.MESSAGES:
            return self._messages.encode_request(body, dep, op, stream)
        params = self.map_params(dict(body), dep)
        if op is Op.EMBEDDING:
            return vertex_embedding_request(params)
        if op is Op.IMAGE_GENERATION:
            return imagen_request(params)
        return encode_chat(params, dep, vertex=True)

    def _claude_body(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op, stream: bool
    ) -> bytes:
        if op is Op.MESSAGES:
            payload = dict(body)
        else:
            payload = _raw_dict.decode(self._anthropic.encode_request(body, dep, op, stream))
        payload.pop("model", None)  # the model is in the URL
        payload["anthropic_version"] = ANTHROPIC_VERSION
        betas = [
            beta.strip()
            for name, value in dep.extra_headers
            if name == "anthropic-beta"
            for beta in value.split(",")
            if beta.strip()
        ]
        if betas and "anthropic_beta" not in payload:
            # Vertex takes betas as a body list, not a header (LiteLLM's
            # VertexAIAnthropicConfig.transform_request).
            payload["anthropic_beta"] = msgspec.Raw(_encoder.encode(betas))
        return _encoder.encode(payload)

    def decode_response(self, raw: bytes, dep: Deployment, op: Op) -> Decoded:
        """OpenAI chat.completion, embedding list or images answer."""
        if _is_claude(dep):
            return self._anthropic.decode_response(raw, dep, op)
        if op is Op.MESSAGES:
            return self._messages.decode_response(raw, dep, op)
        if op is Op.EMBEDDING:
            return vertex_embedding_response(raw, dep.model)
        if op is Op.IMAGE_GENERATION:
            return imagen_response(raw)
        return gemini_chat_response(raw, dep)

    def new_stream(self, dep: Deployment, op: Op, include_usage: bool) -> ChunkTransformer:
        """Anthropic or Gemini stream state, by model family."""
        if _is_claude(dep):
            return self._anthropic.new_stream(dep, op, include_usage)
        if op is Op.MESSAGES:
            return self._messages.new_stream(dep, op, include_usage)
        return GeminiStream(dep.model, include_usage, int(time.time()))

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> UpstreamError:
        """Anthropic-shaped errors from Claude; Google's `{"error": ...}` otherwise."""
        try:
            anthropic = _error_type.decode(body).type == "error"
        except (msgspec.DecodeError, msgspec.ValidationError):
            anthropic = False
        if anthropic:
            return self._anthropic.map_error(status, headers, body)
        return google_error(status, body, headers)


def _method(op: Op, stream: bool, claude: bool) -> str:
    if op in (Op.EMBEDDING, Op.IMAGE_GENERATION):
        return "predict"
    if claude:
        return "streamRawPredict" if stream else "rawPredict"
    return "streamGenerateContent" if stream else "generateContent"


def _check_family(dep: Deployment, op: Op) -> None:
    """Partner models other than Claude, and Claude outside chat, are not served."""
    if dep.model.startswith(_PARTNER_PREFIXES):
        raise NotImplementedFeature(
            f"vertex_ai partner model {dep.model!r} is not implemented in TianjiLLM yet"
        )
    if _is_claude(dep) and op not in (Op.CHAT, Op.MESSAGES):
        raise InvalidRequest(
            f"vertex_ai Claude models do not support {op.value} requests",
            param="model",
            code="unsupported_operation",
        )
