"""Together AI quirks: rerank in Cohere's shape, response_format text, internal fields."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from tianji_common.errors import InvalidRequest, UpstreamError

from tianji_gateway.providers.base import Op, Usage
from tianji_gateway.providers.together_ai import TogetherAIAdapter
from tianji_gateway.routing.deployment import Deployment

A = TogetherAIAdapter()
RERANK_MODEL = "Salesforce/Llama-Rank-V1"


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d",
        "model_name": "t",
        "provider": "together_ai",
        "model": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "api_key": "tg-key",
    }
    return Deployment(**(base | kw))


def send(body: dict[str, Any], op: Op = Op.CHAT, **kw: Any) -> dict[str, Any]:
    d = dep(**kw)
    raw = msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])
    out: dict[str, Any] = json.loads(A.encode_request(A.map_params(raw, d), d, op, False))
    return out


HI = [{"role": "user", "content": "hi"}]
DOCS = ["Carson City is the capital of Nevada.", "Washington, D.C. is the US capital."]


def test_rerank_url() -> None:
    assert A.url(dep(), Op.RERANK, False) == "https://api.together.xyz/v1/rerank"


def test_rerank_request_keeps_cohere_fields_and_defaults_return_documents() -> None:
    body = {
        "model": RERANK_MODEL,
        "query": "What is the capital of the United States?",
        "documents": DOCS,
        "top_n": 1,
        "user": "u-1",  # not a rerank field: LiteLLM's RerankRequest leaves it out
    }
    assert send(body, Op.RERANK) == {
        "model": RERANK_MODEL,
        "query": "What is the capital of the United States?",
        "documents": DOCS,
        "top_n": 1,
        "return_documents": True,
    }


def test_rerank_explicit_return_documents_and_rank_fields() -> None:
    docs = [{"title": "a", "text": "x"}]
    body = {
        "model": RERANK_MODEL,
        "query": "q",
        "documents": docs,
        "rank_fields": ["title"],
        "return_documents": False,
    }
    sent = send(body, Op.RERANK)
    assert sent["return_documents"] is False
    assert sent["rank_fields"] == ["title"]
    assert sent["documents"] == docs


def test_rerank_max_chunks_per_doc_rejected_or_dropped() -> None:
    body = {"model": RERANK_MODEL, "query": "q", "documents": DOCS, "max_chunks_per_doc": 3}
    with pytest.raises(InvalidRequest, match="max_chunks_per_doc"):
        send(body, Op.RERANK)
    assert "max_chunks_per_doc" not in send(body, Op.RERANK, drop_params=True)


TOGETHER_RERANK = {
    "object": "rerank",
    "id": "oGs6Zt9-62bZBn-8a6b2f9f0b0c1d2e",
    "model": RERANK_MODEL,
    "results": [
        {"index": 1, "relevance_score": 0.9921, "document": {"text": DOCS[1]}},
        {"index": 0, "relevance_score": 0.0412, "document": {"text": DOCS[0]}},
    ],
    "usage": {"prompt_tokens": 153, "completion_tokens": 0, "total_tokens": 153},
}


def test_rerank_answer_in_cohere_shape() -> None:
    decoded = A.decode_response(json.dumps(TOGETHER_RERANK).encode(), dep(), Op.RERANK)
    assert json.loads(decoded.body) == {
        "id": "oGs6Zt9-62bZBn-8a6b2f9f0b0c1d2e",
        "results": [
            {"index": 1, "relevance_score": 0.9921, "document": {"text": DOCS[1]}},
            {"index": 0, "relevance_score": 0.0412, "document": {"text": DOCS[0]}},
        ],
        "meta": {
            "billed_units": {"total_tokens": 153},
            "tokens": {"input_tokens": 153, "output_tokens": 0},
        },
    }
    assert decoded.usage == Usage(prompt_tokens=153, total_tokens=153)
    assert decoded.model == RERANK_MODEL


def test_rerank_answer_without_documents_or_id() -> None:
    raw = json.dumps({"results": [{"index": 0, "relevance_score": 0.5, "document": None}]}).encode()
    body = json.loads(A.decode_response(raw, dep(), Op.RERANK).body)
    assert body["results"] == [{"index": 0, "relevance_score": 0.5}]
    assert len(body["id"]) == 36  # a fresh uuid4, as LiteLLM sets
    assert body["meta"]["tokens"] == {"input_tokens": 0, "output_tokens": 0}


def test_rerank_answer_missing_results_is_upstream_error() -> None:
    with pytest.raises(UpstreamError, match="unexpected rerank answer"):
        A.decode_response(b'{"object":"rerank"}', dep(), Op.RERANK)


def test_response_format_text_dropped() -> None:
    sent = send({"model": "x", "messages": HI, "response_format": {"type": "text"}})
    assert "response_format" not in sent
    fmt = {"type": "json_object"}
    assert send({"model": "x", "messages": HI, "response_format": fmt})["response_format"] == fmt


def test_litellm_internal_assistant_fields_stripped_reasoning_kept() -> None:
    messages = [
        *HI,
        {
            "role": "assistant",
            "content": "4",
            "reasoning_content": "2+2",
            "thinking_blocks": [{"type": "thinking", "thinking": "2+2"}],
            "provider_specific_fields": {"x": 1},
        },
        {"role": "user", "content": "and 3+3?"},
    ]
    sent = send({"model": "x", "messages": messages})
    assert sent["messages"][1] == {"role": "assistant", "content": "4", "reasoning_content": "2+2"}


def test_completions_and_embeddings_paths() -> None:
    assert A.url(dep(), Op.COMPLETION, False) == "https://api.together.xyz/v1/completions"
    assert A.url(dep(), Op.EMBEDDING, False) == "https://api.together.xyz/v1/embeddings"
    body = {"model": "BAAI/bge-large-en-v1.5", "input": ["hello"]}
    assert send(body, Op.EMBEDDING) == body
