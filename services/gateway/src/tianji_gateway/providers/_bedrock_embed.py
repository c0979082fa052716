"""Bedrock embeddings (InvokeModel) and rerank (bedrock-agent-runtime), OpenAI/Cohere shaped.

Why: embeddings are not on Converse; each model family has its own InvokeModel body
(https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-embed-text.html,
https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed.html), and
LiteLLM's `bedrock/embed/*_transformation.py` decide the mapping. Titan takes one text
per call; LiteLLM fans a batch out into parallel calls, which one upstream call per
request cannot, so a Titan batch is a 400. Rerank follows
https://docs.aws.amazon.com/bedrock/latest/APIReference/API_agent-runtime_Rerank.html.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import msgspec
from tianji_common.errors import InvalidRequest

from tianji_gateway.providers._bedrock_request import decode_param
from tianji_gateway.providers._bedrock_response import encoder
from tianji_gateway.providers.base import Decoded, Usage, error_from_status

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "decode_embeddings",
    "decode_rerank",
    "embedding_request",
    "rerank_request",
]

Block = dict[str, Any]

# LiteLLM's BedrockCohereEmbeddingConfig default (Cohere requires an input_type).
_COHERE_INPUT_TYPE = "search_document"
_COHERE_PASSTHROUGH = frozenset({"input_type", "truncate", "embedding_types", "images"})


def _is_cohere(family: str) -> bool:
    return family.startswith("cohere.")


def _inputs(params: Mapping[str, msgspec.Raw]) -> list[str]:
    value: Any = decode_param(params, "input", str | list[str])  # type: ignore[arg-type]  # union is a valid msgspec type
    if value is None:
        raise InvalidRequest("missing required parameter: 'input'", param="input")
    return [value] if isinstance(value, str) else value


def embedding_request(params: Mapping[str, msgspec.Raw], family: str) -> Block:
    """The InvokeModel body for an OpenAI embeddings request."""
    texts = _inputs(params)
    dimensions = decode_param(params, "dimensions", int)
    if _is_cohere(family):
        body: Block = {"texts": texts, "input_type": _COHERE_INPUT_TYPE}
        for key in _COHERE_PASSTHROUGH:
            if key in params:
                body[key] = params[key]
        if dimensions is not None:
            body["output_dimension"] = dimensions  # Cohere Embed v4
        return body
    if not family.startswith("amazon.titan-embed"):
        raise InvalidRequest(
            f"bedrock embeddings support amazon.titan-embed-* and cohere.embed-* models, "
            f"not {family!r}",
            param="model",
        )
    if len(texts) != 1:
        raise InvalidRequest(
            "Titan embedding models take one input per request; send inputs one at a time",
            param="input",
        )
    body = {"inputText": texts[0]}
    if dimensions is not None:
        body["dimensions"] = dimensions  # Titan Text Embeddings V2
    return body


class _TitanAnswer(msgspec.Struct, rename="camel"):
    embedding: list[float] = []
    input_text_token_count: int = 0


class _CohereAnswer(msgspec.Struct):
    embeddings: list[list[float]] | dict[str, list[Any]] = []


class _Embedding(msgspec.Struct, kw_only=True):
    object: str = "embedding"
    index: int
    embedding: list[Any]


class _EmbeddingUsage(msgspec.Struct, kw_only=True):
    prompt_tokens: int
    total_tokens: int


class _EmbeddingList(msgspec.Struct, kw_only=True):
    object: str = "list"
    data: list[_Embedding]
    model: str
    usage: _EmbeddingUsage


def decode_embeddings(raw: bytes, family: str, model: str) -> Decoded:
    """OpenAI's embeddings list from a Titan or Cohere answer."""
    try:
        if _is_cohere(family):
            vectors, tokens = _cohere_vectors(msgspec.json.decode(raw, type=_CohereAnswer)), 0
        else:
            titan = msgspec.json.decode(raw, type=_TitanAnswer)
            vectors, tokens = [titan.embedding], titan.input_text_token_count
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise error_from_status(502, f"malformed bedrock embedding response: {exc}") from exc
    out = _EmbeddingList(
        data=[_Embedding(index=i, embedding=v) for i, v in enumerate(vectors)],
        model=model,
        usage=_EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens),
    )
    usage = Usage(prompt_tokens=tokens, total_tokens=tokens)
    return Decoded(body=encoder.encode(out), usage=usage, model=model)


def _cohere_vectors(answer: _CohereAnswer) -> list[list[Any]]:
    if isinstance(answer.embeddings, dict):  # embeddings_by_type: take float if present
        by_type = answer.embeddings
        return by_type.get("float") or next(iter(by_type.values()), [])
    return list(answer.embeddings)


# --- rerank ----------------------------------------------------------------------------


def _source(doc: Any) -> Block:
    if isinstance(doc, str):
        return {"type": "TEXT", "textDocument": {"text": doc}}
    if isinstance(doc, dict) and set(doc) == {"text"} and isinstance(doc["text"], str):
        return {"type": "TEXT", "textDocument": {"text": doc["text"]}}
    return {"type": "JSON", "jsonDocument": doc}


def rerank_request(params: Mapping[str, msgspec.Raw], model_arn: str) -> Block:
    """The Rerank body for a Cohere-shaped rerank request (LiteLLM's BedrockRerankConfig)."""
    query = decode_param(params, "query", str)
    documents = decode_param(params, "documents", list[Any])
    if not query or not documents:
        raise InvalidRequest("rerank needs a query and documents", param="documents")
    top_n = decode_param(params, "top_n", int) or len(documents)
    return {
        "queries": [{"type": "TEXT", "textQuery": {"text": query}}],
        "sources": [{"type": "INLINE", "inlineDocumentSource": _source(d)} for d in documents],
        "rerankingConfiguration": {
            "type": "BEDROCK_RERANKING_MODEL",
            "bedrockRerankingConfiguration": {
                "numberOfResults": top_n,
                "modelConfiguration": {"modelArn": model_arn},
            },
        },
    }


class _RerankDocument(msgspec.Struct, rename="camel"):
    text_document: dict[str, Any] | None = None
    json_document: Any = None


class _RerankResult(msgspec.Struct, rename="camel"):
    index: int
    relevance_score: float
    document: _RerankDocument | None = None


class _RerankAnswer(msgspec.Struct):
    results: list[_RerankResult] = []


def decode_rerank(raw: bytes) -> Decoded:
    """Cohere's rerank shape (`results[].index/relevance_score`) from Bedrock's answer."""
    try:
        answer = msgspec.json.decode(raw, type=_RerankAnswer)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise error_from_status(502, f"malformed bedrock rerank response: {exc}") from exc
    results: list[Block] = []
    for r in answer.results:
        item: Block = {"index": r.index, "relevance_score": r.relevance_score}
        if r.document is not None:
            doc = r.document.text_document or r.document.json_document
            if doc is not None:
                item["document"] = doc
        results.append(item)
    body = {
        "id": str(uuid.uuid4()),
        "results": results,
        "meta": {"billed_units": {"search_units": 1}},
    }
    return Decoded(body=encoder.encode(body), usage=Usage())
