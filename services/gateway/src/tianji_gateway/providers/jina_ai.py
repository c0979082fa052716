"""Jina AI: OpenAI-compatible embeddings plus a Cohere-shaped rerank.

Quirks (LiteLLM `llms/jina_ai/embedding/transformation.py`, `rerank/transformation.py`):
- embeddings post to `{api_base}/embeddings`; Jina's own fields (`task`, `dimensions`,
  `late_chunking`, `embedding_type`, `normalized`, ...) pass through. When any input is
  a base64 data URI, every input becomes `{"image": payload}` or `{"text": value}`, as
  LiteLLM's `transform_embedding_request` does (Jina's multimodal input);
- OpenAI's `encoding_format` is not forwarded: Jina names it `embedding_type`, and the
  OpenAI SDK sends `base64` on every call while reading float lists just as well;
- rerank posts to the host of `api_base` with the path replaced by `/v1/rerank`
  (LiteLLM's `get_complete_url`), keeps only the Cohere fields Jina takes (`query`,
  `documents`, `top_n`, `return_documents`; LiteLLM filters the rest out silently), and
  its answer becomes Cohere's: string documents wrapped as `{"text"}`, Jina's `usage`
  as `meta.billed_units`, which `RerankResponseMeta` validation reduces to
  `total_tokens`.
Errors are FastAPI's `{"detail": ...}`, which `CompatAdapter` already reads.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import msgspec
from tianji_common.errors import UpstreamError

from tianji_gateway.providers._openai_compat import CompatAdapter, jraw, jvalue
from tianji_gateway.providers.base import Decoded, Op, ProviderCaps, Usage

if TYPE_CHECKING:
    from tianji_gateway.routing.deployment import Deployment

__all__ = ["JinaAIAdapter"]

_RERANK_PATH = "/v1/rerank"
# The Cohere request fields LiteLLM's `JinaAIRerankConfig` forwards (plus `model`).
_RERANK_FIELDS = ("model", "query", "top_n", "documents", "return_documents")
_TRUE = msgspec.Raw(b"true")


class _JinaUsage(msgspec.Struct):
    total_tokens: int | None = None


class _JinaResult(msgspec.Struct):
    index: int
    relevance_score: float
    document: str | dict[str, Any] | None = None


class _JinaRerank(msgspec.Struct):
    results: list[_JinaResult]
    id: str | None = None
    model: str | None = None
    usage: _JinaUsage | None = None


class _Result(msgspec.Struct, omit_defaults=True):
    index: int
    relevance_score: float
    document: dict[str, Any] | None = None


class _BilledUnits(msgspec.Struct, omit_defaults=True):
    total_tokens: int | None = None


class _Meta(msgspec.Struct):
    billed_units: _BilledUnits


class _CohereRerank(msgspec.Struct):
    """Cohere's rerank answer, the shape `/v1/rerank` clients read."""

    id: str
    results: list[_Result]
    meta: _Meta


_rerank_decoder = msgspec.json.Decoder(_JinaRerank)


def rerank_url(api_base: str) -> str:
    """`api_base`'s scheme and host with the path replaced, as LiteLLM builds it."""
    parts = urlsplit(api_base)
    return urlunsplit((parts.scheme, parts.netloc, _RERANK_PATH, parts.query, ""))


def _data_uri_payload(value: str) -> str | None:
    """The base64 payload of a data URI (LiteLLM's `is_base64_encoded`), else None."""
    if not value.startswith("data:"):
        return None  # plain text such as "Dog" is never taken for base64
    _, sep, payload = value.partition(",")
    if not sep:
        return None
    try:
        decoded = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None
    return payload if base64.b64encode(decoded).decode("ascii") == payload else None


def _multimodal_input(raw: msgspec.Raw) -> msgspec.Raw:
    """Jina's `[{"image"} | {"text"}]` input when any string is a data URI, else as is."""
    if b"data:" not in bytes(raw):
        return raw
    value = jvalue(raw)
    items = value if isinstance(value, list) else [value]
    payloads = [_data_uri_payload(v) if isinstance(v, str) else None for v in items]
    if all(p is None for p in payloads):
        return raw
    out: list[dict[str, str]] = []
    for item, payload in zip(items, payloads, strict=True):
        if payload is not None:
            out.append({"image": payload})
        elif isinstance(item, str):
            out.append({"text": item})
    return jraw(out)


def _embedding_body(body: dict[str, msgspec.Raw]) -> bytes:
    body.pop("encoding_format", None)
    if "input" in body:
        body["input"] = _multimodal_input(body["input"])
    return msgspec.json.encode(body)


def _rerank_body(body: dict[str, msgspec.Raw]) -> bytes:
    out = {k: body[k] for k in _RERANK_FIELDS if k in body}
    out.setdefault("return_documents", _TRUE)  # litellm.rerank() defaults it to True
    return msgspec.json.encode(out)


def _document(doc: str | dict[str, Any] | None) -> dict[str, Any] | None:
    if isinstance(doc, str):
        return {"text": doc}
    return doc


def _to_cohere(raw: bytes, dep: Deployment) -> Decoded:
    try:
        answer = _rerank_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UpstreamError(f"jina_ai: unexpected rerank answer: {exc}") from None
    total = answer.usage.total_tokens if answer.usage else None
    results = [_Result(r.index, r.relevance_score, _document(r.document)) for r in answer.results]
    body = _CohereRerank(answer.id or str(uuid.uuid4()), results, _Meta(_BilledUnits(total)))
    tokens = total or 0
    usage = Usage(prompt_tokens=tokens, total_tokens=tokens)
    return Decoded(msgspec.json.encode(body), usage, answer.model or dep.model)


class JinaAIAdapter(CompatAdapter):
    """api.jina.ai: embeddings and rerank."""

    name = "jina_ai"
    default_api_base = "https://api.jina.ai/v1"
    # LiteLLM's lookup order (`JinaAIEmbeddingConfig._get_openai_compatible_provider_info`).
    env_key = "JINA_AI_API_KEY"
    env_key_fallbacks = ("JINA_API_KEY", "JINA_AI_TOKEN")
    env_base = "JINA_AI_API_BASE"
    caps = ProviderCaps(ops=frozenset({Op.EMBEDDING, Op.RERANK}))

    def url(self, dep: Deployment, op: Op, stream: bool) -> str:
        """Embeddings under `api_base`; rerank at the host's `/v1/rerank`."""
        if op is Op.RERANK:
            return rerank_url(dep.api_base or self.default_api_base)
        return super().url(dep, op, stream)

    def encode_request(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op, stream: bool
    ) -> bytes:
        """Rerank keeps Jina's Cohere fields; embeddings lose only `encoding_format`."""
        if op is Op.RERANK:
            return _rerank_body(body)
        if op is Op.EMBEDDING:
            return _embedding_body(body)
        return super().encode_request(body, dep, op, stream)

    def decode_response(self, raw: bytes, dep: Deployment, op: Op) -> Decoded:
        """Rerank answers become Cohere-shaped; embeddings are OpenAI's already."""
        if op is Op.RERANK:
            return _to_cohere(raw, dep)
        return super().decode_response(raw, dep, op)
