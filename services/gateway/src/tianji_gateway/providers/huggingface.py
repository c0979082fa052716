"""Hugging Face: Inference Providers through the OpenAI-compatible router, or an endpoint.

Why its own module: `huggingface/<provider>/<org>/<model>` names an inference provider
(together, novita, fireworks-ai, ...). LiteLLM looks the provider's model id up on the
Hub before each call; the router at `https://router.huggingface.co/v1` does that
lookup itself when the model is written `<org>/<model>:<provider>`, so the hook stays
sans-IO. Without a provider the router picks one. A configured `api_base` (an Inference
Endpoint or a TGI server) gets LiteLLM's `_build_chat_completion_url` treatment and the
model is sent as written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tianji_gateway.providers._compat_a_common import (
    CONTEXT_MARKERS,
    parse_vendor_error,
    set_json,
    vendor_error,
)
from tianji_gateway.providers.base import Op, ProviderAdapter, ProviderCaps

if TYPE_CHECKING:
    import msgspec
    from tianji_common.errors import UpstreamError

    from tianji_gateway.routing.deployment import Deployment

__all__ = ["ROUTER_BASE", "HuggingFaceAdapter", "router_model"]

ROUTER_BASE = "https://router.huggingface.co/v1"
_URL_PREFIXES = ("http://", "https://")
# TGI's validation errors for prompts over the model's limit.
_CONTEXT_MARKERS = (
    *CONTEXT_MARKERS,
    "must have less than",
    "tokens + `max_new_tokens` must be <=",
)


def _chat_url(base: str) -> str:
    """LiteLLM's `_build_chat_completion_url`: `.../v1` or a bare endpoint URL."""
    url = base.rstrip("/")
    if url.endswith("/v1"):
        url += "/chat/completions"
    if not url.endswith("/chat/completions"):
        url += "/v1/chat/completions"
    return url


def router_model(model: str) -> str:
    """`together/org/model` -> `org/model:together`; `org/model` is left to the router."""
    provider, sep, rest = model.partition("/")
    if not sep or "/" not in rest or ":" in rest:
        return model
    return f"{rest}:{provider}"


class HuggingFaceAdapter(ProviderAdapter):
    """Chat through HF Inference Providers, Inference Endpoints or TGI."""

    name = "huggingface"
    default_api_base = ROUTER_BASE
    env_key = "HF_TOKEN"
    env_key_fallbacks = ("HUGGINGFACE_API_KEY",)
    env_base = "HF_API_BASE"
    caps = ProviderCaps(ops=frozenset({Op.CHAT}))

    def url(self, dep: Deployment, op: Op, stream: bool) -> str:
        """The router, or the configured endpoint (an `https://` model is one too)."""
        if dep.api_base:
            return _chat_url(dep.api_base)
        if dep.model.startswith(_URL_PREFIXES):
            return _chat_url(dep.model)
        return ROUTER_BASE + self._paths[op]

    def encode_request(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op, stream: bool
    ) -> bytes:
        """The client's body, with the router's `<org>/<model>:<provider>` model id."""
        if not dep.api_base:
            if dep.model.startswith(_URL_PREFIXES):
                set_json(body, "model", "tgi")  # TGI's OpenAI route ignores the name
            elif (mapped := router_model(dep.model)) != dep.model:
                set_json(body, "model", mapped)
        return super().encode_request(body, dep, op, stream)

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> UpstreamError:
        """The router's OpenAI-shaped errors, or TGI's `{"error": "..."}`."""
        info = parse_vendor_error(body)
        return vendor_error(self.name, status, headers, info, context_markers=_CONTEXT_MARKERS)
