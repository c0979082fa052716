"""Google AI Studio (`gemini/`): OpenAI chat and embeddings over the native Gemini API.

Why native and not Google's OpenAI-compatible endpoint: LiteLLM's `gemini/` provider
speaks generateContent (https://ai.google.dev/api/generate-content), so thinking
budgets, safety settings, cached content and `usageMetadata` behave as LiteLLM users
expect. URLs follow LiteLLM's `_get_gemini_url` / `_check_custom_proxy`: a custom
`api_base` replaces `https://generativelanguage.googleapis.com/v1beta`, then
`/models/{model}:{method}` (`?alt=sse` when streaming).

Auth: LiteLLM sends the key as `?key=` on Google's own host and as `x-goog-api-key`
on a custom `api_base`. We always send the header, which Google documents for every
endpoint (https://ai.google.dev/gemini-api/docs/api-key), so the key never sits in a
URL where access logs and error messages would carry it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar

import msgspec

from tianji_gateway.providers._gemini_request import UNSUPPORTED_PARAMS, build_request
from tianji_gateway.providers._gemini_response import (
    completion_body,
    decode_response,
    google_error,
)
from tianji_gateway.providers._gemini_stream import GeminiStream
from tianji_gateway.providers._google_predict import (
    gemini_embedding_request,
    gemini_embedding_response,
)
from tianji_gateway.providers.base import Decoded, Op, ProviderAdapter, ProviderCaps, Usage

if TYPE_CHECKING:
    from tianji_common.errors import UpstreamError

    from tianji_gateway.providers.base import ChunkTransformer
    from tianji_gateway.routing.deployment import Deployment

__all__ = ["GeminiAdapter", "encode_chat", "gemini_chat_response"]

_encoder = msgspec.json.Encoder()


def encode_chat(body: dict[str, msgspec.Raw], dep: Deployment, *, vertex: bool) -> bytes:
    """A generateContent body for an OpenAI chat body (shared with Vertex)."""
    out = build_request(
        body, dep.model, vertex=vertex, drop_params=dep.drop_params, settings=dep.settings
    )
    return _encoder.encode(out)


def gemini_chat_response(raw: bytes, dep: Deployment) -> Decoded:
    """An OpenAI chat.completion for a generateContent answer (shared with Vertex)."""
    resp = decode_response(raw)
    usage = resp.usage_metadata.to_usage() if resp.usage_metadata else Usage()
    body = completion_body(resp, dep.model, int(time.time()))
    return Decoded(body=body, usage=usage, model=dep.model)


class GeminiAdapter(ProviderAdapter):
    """Google AI Studio's Gemini API, translated to and from OpenAI's shapes."""

    name: ClassVar[str] = "gemini"
    default_api_base: ClassVar[str] = "https://generativelanguage.googleapis.com/v1beta"
    env_key: ClassVar[str | None] = "GEMINI_API_KEY"
    # LiteLLM's GeminiModelInfo.get_api_key also reads GOOGLE_API_KEY (as google-genai does).
    env_key_fallbacks: ClassVar[tuple[str, ...]] = ("GOOGLE_API_KEY",)
    env_base: ClassVar[str | None] = "GEMINI_API_BASE"
    caps: ClassVar[ProviderCaps] = ProviderCaps(
        stream_usage=False,  # usageMetadata comes on every stream event
        unsupported_params=UNSUPPORTED_PARAMS,
        ops=frozenset({Op.CHAT, Op.EMBEDDING}),
    )
    passthrough: ClassVar[bool] = False

    def url(self, dep: Deployment, op: Op, stream: bool) -> str:
        """`{base}/models/{model}:generateContent`, streamGenerateContent, batchEmbed."""
        base = (dep.api_base or self.default_api_base).rstrip("/")
        if op is Op.EMBEDDING:
            return f"{base}/models/{dep.model}:batchEmbedContents"
        if stream:
            return f"{base}/models/{dep.model}:streamGenerateContent?alt=sse"
        return f"{base}/models/{dep.model}:generateContent"

    def headers(self, dep: Deployment, token: str | None = None) -> list[tuple[str, str]]:
        """`x-goog-api-key` auth; `extra_headers` from config come last and win."""
        out = [("content-type", "application/json")]
        if dep.api_key:
            out.append(("x-goog-api-key", dep.api_key))
        out.extend(dep.extra_headers)
        return out

    def encode_request(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op, stream: bool
    ) -> bytes:
        """generateContent or batchEmbedContents; idempotent with `map_params`."""
        params = self.map_params(dict(body), dep)
        if op is Op.EMBEDDING:
            return gemini_embedding_request(params, dep.model)
        return encode_chat(params, dep, vertex=False)

    def decode_response(self, raw: bytes, dep: Deployment, op: Op) -> Decoded:
        """An OpenAI chat.completion or embedding list."""
        if op is Op.EMBEDDING:
            return gemini_embedding_response(raw, dep.model)
        return gemini_chat_response(raw, dep)

    def new_stream(self, dep: Deployment, op: Op, include_usage: bool) -> ChunkTransformer:
        """Per-stream state translating Gemini SSE events into OpenAI chunks."""
        return GeminiStream(dep.model, include_usage, int(time.time()))

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> UpstreamError:
        """Google's `{"error": {code, message, status}}` mapped to our classes."""
        return google_error(status, body, headers)
