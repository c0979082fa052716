"""Together AI: OpenAI-compatible chat, completions and embeddings, plus rerank.

Quirks (LiteLLM `llms/together_ai/chat/transformation.py`, `rerank/`):
- `response_format: {"type": "text"}` is dropped (Together rejects it on many models);
- LiteLLM-internal assistant fields (`thinking_blocks`, `provider_specific_fields`) that
  clients replay are stripped; `reasoning_content` stays (Together consumes it);
- rerank (`POST /v1/rerank`) takes Cohere's request fields, minus `max_chunks_per_doc`,
  and its answer is mapped to Cohere's rerank shape, as LiteLLM's
  `TogetherAIRerankConfig` does.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import msgspec
from tianji_common.errors import UpstreamError

from tianji_gateway.providers._openai_compat import CompatAdapter, drop_or_reject, jvalue
from tianji_gateway.providers.base import Decoded, Op, ProviderCaps, Usage

if TYPE_CHECKING:
    from tianji_gateway.routing.deployment import Deployment

__all__ = ["TogetherAIAdapter"]

# The Cohere request fields LiteLLM's `RerankRequest` forwards to Together.
_RERANK_FIELDS = ("model", "query", "documents", "top_n", "rank_fields", "return_documents")
_TRUE = msgspec.Raw(b"true")


class _TogetherResult(msgspec.Struct):
    index: int
    relevance_score: float
    document: dict[str, Any] | None = None


class _TogetherUsage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class _TogetherRerank(msgspec.Struct):
    results: list[_TogetherResult]
    id: str | None = None
    model: str | None = None
    usage: _TogetherUsage | None = None


class _Document(msgspec.Struct):
    text: str


class _Result(msgspec.Struct, omit_defaults=True):
    index: int
    relevance_score: float
    document: _Document | None = None


class _BilledUnits(msgspec.Struct):
    total_tokens: int


class _Tokens(msgspec.Struct):
    input_tokens: int
    output_tokens: int


class _Meta(msgspec.Struct):
    billed_units: _BilledUnits
    tokens: _Tokens


class _CohereRerank(msgspec.Struct):
    """Cohere's rerank answer, the shape `/v1/rerank` clients read."""

    id: str
    results: list[_Result]
    meta: _Meta


_rerank_decoder = msgspec.json.Decoder(_TogetherRerank)


def _rerank_body(body: dict[str, msgspec.Raw], dep: Deployment) -> bytes:
    drop_or_reject(body, ("max_chunks_per_doc",), dep, "together_ai")
    out = {k: body[k] for k in _RERANK_FIELDS if k in body}
    out.setdefault("return_documents", _TRUE)  # litellm.rerank() defaults it to True
    return msgspec.json.encode(out)


def _to_cohere(raw: bytes) -> Decoded:
    try:
        answer = _rerank_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UpstreamError(f"together_ai: unexpected rerank answer: {exc}") from None
    usage = answer.usage or _TogetherUsage()
    results = [
        _Result(
            r.index,
            r.relevance_score,
            _Document(str(r.document.get("text", ""))) if r.document else None,
        )
        for r in answer.results
    ]
    meta = _Meta(
        _BilledUnits(usage.total_tokens),
        _Tokens(usage.prompt_tokens, usage.completion_tokens),
    )
    body = _CohereRerank(answer.id or str(uuid.uuid4()), results, meta)
    prompt = usage.prompt_tokens or usage.total_tokens
    total = usage.total_tokens or prompt + usage.completion_tokens
    return Decoded(
        msgspec.json.encode(body),
        Usage(prompt_tokens=prompt, completion_tokens=usage.completion_tokens, total_tokens=total),
        answer.model,
    )


class TogetherAIAdapter(CompatAdapter):
    """api.together.xyz."""

    name = "together_ai"
    default_api_base = "https://api.together.xyz/v1"
    # LiteLLM's lookup order (`_get_openai_compatible_provider_info`).
    env_key = "TOGETHER_API_KEY"
    env_key_fallbacks = ("TOGETHER_AI_API_KEY", "TOGETHERAI_API_KEY", "TOGETHER_AI_TOKEN")
    env_base = "TOGETHER_AI_API_BASE"
    caps = ProviderCaps(ops=frozenset({Op.CHAT, Op.COMPLETION, Op.EMBEDDING, Op.RERANK}))
    message_drop_keys = frozenset({"thinking_blocks", "provider_specific_fields"})

    def map_chat(self, body: dict[str, msgspec.Raw], dep: Deployment) -> None:
        """Drop the no-op `response_format: {"type": "text"}`."""
        fmt = body.get("response_format")
        if fmt is not None and jvalue(fmt) == {"type": "text"}:
            del body["response_format"]
        super().map_chat(body, dep)

    def encode_request(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op, stream: bool
    ) -> bytes:
        """Rerank bodies keep Cohere's fields only; everything else is OpenAI's."""
        if op is Op.RERANK:
            return _rerank_body(body, dep)
        return super().encode_request(body, dep, op, stream)

    def decode_response(self, raw: bytes, dep: Deployment, op: Op) -> Decoded:
        """Rerank answers become Cohere-shaped; the rest is OpenAI's."""
        if op is Op.RERANK:
            return _to_cohere(raw)
        return super().decode_response(raw, dep, op)
