"""Perplexity: OpenAI-compatible chat (with citations) and pplx embeddings.

Quirks (LiteLLM `llms/perplexity/chat/transformation.py`, `embedding/transformation.py`):
- chat takes a subset of OpenAI's parameters: no tools, no log-probabilities, no `n`,
  no `seed`; those are dropped or rejected;
- answers carry `citations` and `search_results` beside `choices`; they are relayed as
  Perplexity sends them, in whole answers and in stream chunks;
- embeddings live at `{api_base}/v1/embeddings` and come back as base64 signed int8;
  they are decoded to floats (value / 127) so OpenAI clients read plain vectors.
  `encoding_format` is not forwarded: Perplexity's default (`base64_int8`) is the one
  the decoding assumes.
"""

from __future__ import annotations

import array
import base64
import binascii
from typing import TYPE_CHECKING, Any

import msgspec
from tianji_common.errors import UpstreamError

from tianji_gateway.providers._openai_compat import CompatAdapter
from tianji_gateway.providers.base import Decoded, Op, ProviderCaps, Usage

if TYPE_CHECKING:
    from tianji_gateway.routing.deployment import Deployment

__all__ = ["PerplexityAdapter"]

_EMBEDDING_FIELDS = ("model", "input", "dimensions")


def _int8_floats(value: object) -> object:
    """A base64 int8 vector as floats in [-1, 1]; lists pass through."""
    if not isinstance(value, str):
        return value
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error:
        raise UpstreamError("perplexity: embedding is not valid base64") from None
    return [v / 127.0 for v in array.array("b", raw)]


def _decode_embeddings(raw: bytes) -> Decoded:
    obj: Any = msgspec.json.decode(raw)
    if not isinstance(obj, dict):
        raise UpstreamError("perplexity: unexpected embeddings answer")
    for item in obj.get("data") or []:
        if isinstance(item, dict):
            item["embedding"] = _int8_floats(item.get("embedding"))
    found = obj.get("usage")
    u: dict[str, Any] = found if isinstance(found, dict) else {}
    total = int(u.get("total_tokens") or 0)
    prompt = int(u.get("prompt_tokens") or 0) or total
    model = obj.get("model") if isinstance(obj.get("model"), str) else None
    usage = Usage(prompt_tokens=prompt, total_tokens=total or prompt)
    return Decoded(msgspec.json.encode(obj), usage, model)


class PerplexityAdapter(CompatAdapter):
    """api.perplexity.ai."""

    name = "perplexity"
    default_api_base = "https://api.perplexity.ai"
    env_key = "PERPLEXITYAI_API_KEY"
    env_key_fallbacks = ("PERPLEXITY_API_KEY",)
    env_base = "PERPLEXITY_API_BASE"
    caps = ProviderCaps(
        unsupported_params=frozenset(
            {
                "tools",
                "tool_choice",
                "parallel_tool_calls",
                "functions",
                "function_call",
                "logit_bias",
                "logprobs",
                "top_logprobs",
                "n",
                "seed",
            }
        ),
        ops=frozenset({Op.CHAT, Op.EMBEDDING}),
    )

    def url(self, dep: Deployment, op: Op, stream: bool) -> str:
        """Chat at `{base}/chat/completions`; embeddings at `{base}/v1/embeddings`."""
        if op is not Op.EMBEDDING:
            return super().url(dep, op, stream)
        base = (dep.api_base or self.default_api_base).rstrip("/")
        return base if base.endswith("/embeddings") else base + "/v1/embeddings"

    def encode_request(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op, stream: bool
    ) -> bytes:
        """Embedding bodies keep the fields Perplexity takes."""
        if op is Op.EMBEDDING:
            return msgspec.json.encode({k: body[k] for k in _EMBEDDING_FIELDS if k in body})
        return super().encode_request(body, dep, op, stream)

    def decode_response(self, raw: bytes, dep: Deployment, op: Op) -> Decoded:
        """Embeddings come back as float vectors; chat is relayed as sent."""
        if op is Op.EMBEDDING:
            return _decode_embeddings(raw)
        return super().decode_response(raw, dep, op)
