"""Cohere v2 embed and rerank: OpenAI embeddings in and out, Cohere rerank relayed.

Why: `POST /v2/embed` (https://docs.cohere.com/v2/reference/embed) takes `texts` or
`images` plus a required `input_type`, and answers `embeddings` keyed by type; LiteLLM
defaults `input_type` to "search_document" and maps `dimensions` to
`output_dimension`. We always ask for float vectors and splice them into the OpenAI
list unparsed (`Raw`): the OpenAI SDK, which requests base64 by default, accepts float
lists as they are. `/v2/rerank` is Cohere's own shape on both sides (the gateway's
`/v1/rerank` is Cohere-shaped), so it is relayed with only `model` replaced.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from tianji_common.errors import InvalidRequest

from tianji_gateway.providers._others_openai import decode_param, encoder
from tianji_gateway.providers.base import Decoded, Usage, error_from_status

if TYPE_CHECKING:
    from tianji_gateway.routing.deployment import Deployment

__all__ = ["decode_embed", "decode_rerank", "encode_embed"]

# LiteLLM's COHERE_DEFAULT_EMBEDDING_INPUT_TYPE.
DEFAULT_INPUT_TYPE = "search_document"
# OpenAI parameters translated here; everything else is forwarded (input_type, truncate).
_CONSUMED = frozenset({"model", "input", "encoding_format", "dimensions", "user"})


def encode_embed(body: dict[str, msgspec.Raw], dep: Deployment) -> bytes:
    """The `/v2/embed` body for an OpenAI embeddings request."""
    inputs = decode_param(body, "input", str | list[str])  # type: ignore[arg-type]  # a union is a valid msgspec type
    if inputs is None:
        raise InvalidRequest(
            "cohere embeddings take a string or a list of strings as 'input'", param="input"
        )
    texts = [inputs] if isinstance(inputs, str) else inputs
    out: dict[str, object] = {"model": dep.model}
    # Data URIs are images (LiteLLM's `is_base64_encoded`); Cohere embeds them apart.
    if texts and all(t.startswith("data:") for t in texts):
        out["images"] = texts
        out["input_type"] = "image"
    else:
        out["texts"] = texts
        out["input_type"] = DEFAULT_INPUT_TYPE
    out["embedding_types"] = ["float"]
    dims = decode_param(body, "dimensions", int)
    if dims is not None:
        out["output_dimension"] = dims
    for key, raw in body.items():
        if key not in _CONSUMED:
            out[key] = raw
    return encoder.encode(out)


class _BilledUnits(msgspec.Struct):
    input_tokens: float | None = None
    images: float | None = None


class _Meta(msgspec.Struct):
    billed_units: _BilledUnits | None = None


class _EmbedResponse(msgspec.Struct):
    embeddings: dict[str, list[msgspec.Raw]] = {}
    meta: _Meta | None = None


class _EmbeddingOut(msgspec.Struct, kw_only=True):
    object: str = "embedding"
    index: int
    embedding: msgspec.Raw


class _UsageOut(msgspec.Struct, kw_only=True):
    prompt_tokens: int
    total_tokens: int


class _EmbeddingList(msgspec.Struct, kw_only=True):
    object: str = "list"
    data: list[_EmbeddingOut]
    model: str
    usage: _UsageOut


_embed_decoder = msgspec.json.Decoder(_EmbedResponse)


def decode_embed(raw: bytes, dep: Deployment) -> Decoded:
    """OpenAI's embedding list from Cohere's `embeddings_by_type` answer."""
    try:
        resp = _embed_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise error_from_status(502, f"malformed cohere embed response: {exc}") from exc
    vectors = resp.embeddings.get("float")
    if vectors is None:  # a forwarded `embedding_types` without float: first one given
        vectors = next(iter(resp.embeddings.values()), [])
    billed = resp.meta.billed_units if resp.meta and resp.meta.billed_units else _BilledUnits()
    prompt = int(billed.input_tokens or 0) + int(billed.images or 0)
    body = _EmbeddingList(
        data=[_EmbeddingOut(index=i, embedding=v) for i, v in enumerate(vectors)],
        model=dep.model,
        usage=_UsageOut(prompt_tokens=prompt, total_tokens=prompt),
    )
    usage = Usage(prompt_tokens=prompt, total_tokens=prompt)
    return Decoded(body=encoder.encode(body), usage=usage, model=dep.model)


def decode_rerank(raw: bytes, dep: Deployment) -> Decoded:
    """Cohere's rerank answer is already the gateway's; relay its bytes unchanged."""
    return Decoded(body=raw, usage=Usage(), model=dep.model)
