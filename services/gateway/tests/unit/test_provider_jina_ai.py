"""Jina AI: embeddings (OpenAI-compatible, multimodal data URIs) and Cohere-shaped rerank."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from tianji_common.errors import (
    ContextWindowExceeded,
    UpstreamError,
    UpstreamRateLimited,
)

from tianji_gateway.providers.base import Op, Usage
from tianji_gateway.providers.jina_ai import JinaAIAdapter, rerank_url
from tianji_gateway.providers.registry import ADAPTERS, HOSTS
from tianji_gateway.routing.deployment import Deployment

A = JinaAIAdapter()
EMBED_MODEL = "jina-embeddings-v3"
RERANK_MODEL = "jina-reranker-v2-base-multilingual"
DOCS = [
    "Carson City is the capital city of the American state of Nevada.",
    "Washington, D.C. is the capital of the United States.",
]
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d",
        "model_name": "j",
        "provider": "jina_ai",
        "model": EMBED_MODEL,
        "api_key": "jina_test_key",
    }
    return Deployment(**(base | kw))


def send(body: dict[str, Any], op: Op, **kw: Any) -> dict[str, Any]:
    d = dep(**kw)
    raw = msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])
    out: dict[str, Any] = json.loads(A.encode_request(A.map_params(raw, d), d, op, False))
    return out


# --- registration, URL and auth -----------------------------------------------------


def test_registered_with_litellm_defaults() -> None:
    assert ADAPTERS["jina_ai"] is JinaAIAdapter
    assert HOSTS["api.jina.ai"] == "jina_ai"
    assert A.default_api_base == "https://api.jina.ai/v1"
    assert A.env_key == "JINA_AI_API_KEY"
    assert A.caps.ops == frozenset({Op.EMBEDDING, Op.RERANK})


def test_urls_default() -> None:
    assert A.url(dep(), Op.EMBEDDING, False) == "https://api.jina.ai/v1/embeddings"
    assert A.url(dep(), Op.RERANK, False) == "https://api.jina.ai/v1/rerank"


def test_urls_custom_base_rerank_replaces_path_as_litellm() -> None:
    d = dep(api_base="http://10.0.0.5:8080/proxy/v1/")
    assert A.url(d, Op.EMBEDDING, False) == "http://10.0.0.5:8080/proxy/v1/embeddings"
    assert A.url(d, Op.RERANK, False) == "http://10.0.0.5:8080/v1/rerank"
    assert rerank_url("https://api.jina.ai") == "https://api.jina.ai/v1/rerank"


def test_bearer_auth_and_extra_headers() -> None:
    headers = A.headers(dep(extra_headers=[("x-trace", "t1")]))
    assert headers == [
        ("content-type", "application/json"),
        ("authorization", "Bearer jina_test_key"),
        ("x-trace", "t1"),
    ]


# --- embeddings -------------------------------------------------------------------------


def test_embedding_body_passes_jina_extras_and_drops_encoding_format() -> None:
    body = {
        "model": EMBED_MODEL,
        "input": ["hello world", "hello world again"],
        "encoding_format": "base64",  # the OpenAI SDK's default on every call
        "task": "retrieval.passage",
        "dimensions": 256,
        "late_chunking": True,
        "normalized": True,
    }
    assert send(body, Op.EMBEDDING) == {
        "model": EMBED_MODEL,
        "input": ["hello world", "hello world again"],
        "task": "retrieval.passage",
        "dimensions": 256,
        "late_chunking": True,
        "normalized": True,
    }


def test_embedding_string_input_unchanged() -> None:
    assert send({"model": EMBED_MODEL, "input": "data: not a uri"}, Op.EMBEDDING) == {
        "model": EMBED_MODEL,
        "input": "data: not a uri",
    }


def test_embedding_data_uri_inputs_become_image_and_text_objects() -> None:
    body = {"model": "jina-clip-v2", "input": [f"data:image/png;base64,{PNG}", "a red dot"]}
    assert send(body, Op.EMBEDDING)["input"] == [{"image": PNG}, {"text": "a red dot"}]


def test_embedding_invalid_base64_is_text() -> None:
    body = {"model": EMBED_MODEL, "input": ["data:image/png;base64,not base64!"]}
    assert send(body, Op.EMBEDDING)["input"] == ["data:image/png;base64,not base64!"]


JINA_EMBEDDING = {
    "model": EMBED_MODEL,
    "object": "list",
    "usage": {"total_tokens": 8, "prompt_tokens": 8},
    "data": [
        {"object": "embedding", "index": 0, "embedding": [0.0123, -0.0456, 0.0789]},
        {"object": "embedding", "index": 1, "embedding": [0.0321, -0.0654, 0.0987]},
    ],
}


def test_embedding_answer_relayed_with_usage() -> None:
    raw = json.dumps(JINA_EMBEDDING).encode()
    decoded = A.decode_response(raw, dep(), Op.EMBEDDING)
    assert decoded.body == raw
    assert decoded.usage == Usage(prompt_tokens=8, total_tokens=8)
    assert decoded.model == EMBED_MODEL


# --- rerank -----------------------------------------------------------------------------


def test_rerank_body_keeps_jina_fields_and_defaults_return_documents() -> None:
    body = {
        "model": RERANK_MODEL,
        "query": "What is the capital of the United States?",
        "documents": DOCS,
        "top_n": 1,
        "rank_fields": ["text"],  # Cohere-only: LiteLLM filters it out for Jina
        "max_chunks_per_doc": 3,
        "user": "u-1",
    }
    assert send(body, Op.RERANK, model=RERANK_MODEL) == {
        "model": RERANK_MODEL,
        "query": "What is the capital of the United States?",
        "top_n": 1,
        "documents": DOCS,
        "return_documents": True,
    }


def test_rerank_explicit_return_documents_and_object_documents() -> None:
    docs = [{"text": DOCS[0]}, {"image": "https://example.com/a.png"}]
    body = {"model": RERANK_MODEL, "query": "q", "documents": docs, "return_documents": False}
    sent = send(body, Op.RERANK)
    assert sent["return_documents"] is False
    assert sent["documents"] == docs


JINA_RERANK = {
    "model": RERANK_MODEL,
    "usage": {"total_tokens": 38},
    "results": [
        {"index": 1, "document": {"text": DOCS[1]}, "relevance_score": 0.9413},
        {"index": 0, "document": {"text": DOCS[0]}, "relevance_score": 0.1173},
    ],
}


def test_rerank_answer_in_cohere_shape() -> None:
    decoded = A.decode_response(json.dumps(JINA_RERANK).encode(), dep(), Op.RERANK)
    body = json.loads(decoded.body)
    assert len(body.pop("id")) == 36  # Jina sends no id: a fresh uuid4, as LiteLLM sets
    assert body == {
        "results": [
            {"index": 1, "relevance_score": 0.9413, "document": {"text": DOCS[1]}},
            {"index": 0, "relevance_score": 0.1173, "document": {"text": DOCS[0]}},
        ],
        "meta": {"billed_units": {"total_tokens": 38}},
    }
    assert decoded.usage == Usage(prompt_tokens=38, total_tokens=38)
    assert decoded.model == RERANK_MODEL


def test_rerank_answer_string_documents_wrapped_and_missing_dropped() -> None:
    raw = json.dumps(
        {
            "id": "rr-1",
            "results": [
                {"index": 0, "relevance_score": 0.72, "document": "hello"},
                {"index": 1, "relevance_score": 0.1},
            ],
        }
    ).encode()
    decoded = A.decode_response(raw, dep(model=RERANK_MODEL), Op.RERANK)
    assert json.loads(decoded.body) == {
        "id": "rr-1",
        "results": [
            {"index": 0, "relevance_score": 0.72, "document": {"text": "hello"}},
            {"index": 1, "relevance_score": 0.1},
        ],
        "meta": {"billed_units": {}},
    }
    assert decoded.usage == Usage()
    assert decoded.model == RERANK_MODEL


def test_rerank_answer_missing_results_is_upstream_error() -> None:
    with pytest.raises(UpstreamError, match="unexpected rerank answer"):
        A.decode_response(b'{"model":"m","usage":{"total_tokens":1}}', dep(), Op.RERANK)


# --- errors -----------------------------------------------------------------------------


def test_rate_limit_keeps_retry_after() -> None:
    body = b'{"detail":"Rate limit exceeded: 500 requests per minute"}'
    err = A.map_error(429, {"retry-after": "7"}, body)
    assert isinstance(err, UpstreamRateLimited)
    assert err.http_status == 429
    assert err.message == "Rate limit exceeded: 500 requests per minute"
    assert err.headers["retry-after"] == "7"


def test_context_window_from_prose() -> None:
    body = b'{"detail":"Input text is too long: 9000 tokens, context length is 8192"}'
    err = A.map_error(400, {}, body)
    assert isinstance(err, ContextWindowExceeded)
    assert err.instance_code == "context_length_exceeded"


def test_auth_and_validation_errors() -> None:
    err = A.map_error(401, {}, b'{"detail":"Unauthorized: invalid API key"}')
    assert err.http_status == 401
    assert err.instance_type == "authentication_error"
    assert not err.retryable
    detail = [{"loc": ["body", "query"], "msg": "field required", "type": "value_error.missing"}]
    err = A.map_error(422, {}, json.dumps({"detail": detail}).encode())
    assert err.http_status == 422
    assert "field required" in err.message


def test_server_error_retryable() -> None:
    err = A.map_error(503, {}, b"upstream connect error")
    assert err.retryable
    assert err.message == "upstream connect error"
