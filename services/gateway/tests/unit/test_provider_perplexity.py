"""Perplexity quirks: no tools, citations relayed, int8 embeddings decoded to floats."""

from __future__ import annotations

import base64
import json
from typing import Any

import msgspec
import pytest
from tianji_common.errors import InvalidRequest, UpstreamError

from tianji_gateway.providers.base import Op, Usage
from tianji_gateway.providers.perplexity import PerplexityAdapter
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.streaming.sse import SSEEvent

A = PerplexityAdapter()


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d",
        "model_name": "p",
        "provider": "perplexity",
        "model": "sonar-pro",
        "api_key": "pplx-key",
    }
    return Deployment(**(base | kw))


def send(body: dict[str, Any], op: Op = Op.CHAT, **kw: Any) -> dict[str, Any]:
    d = dep(**kw)
    raw = msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])
    out: dict[str, Any] = json.loads(A.encode_request(A.map_params(raw, d), d, op, False))
    return out


HI = [{"role": "user", "content": "latest news on fusion?"}]


@pytest.mark.parametrize("name", ["tools", "tool_choice", "n", "logprobs", "seed"])
def test_params_perplexity_lacks(name: str) -> None:
    body = {"model": "x", "messages": HI, name: [] if name == "tools" else 1}
    with pytest.raises(InvalidRequest, match="perplexity does not support"):
        send(body)
    assert name not in send(body, drop_params=True)


def test_search_params_forwarded() -> None:
    body = {"model": "x", "messages": HI, "search_recency_filter": "week", "return_images": True}
    assert send(body) == body


ANSWER = {
    "id": "3c90c3cc",
    "model": "sonar-pro",
    "object": "chat.completion",
    "created": 1735689600,
    "citations": ["https://www.iter.org/", "https://en.wikipedia.org/wiki/Fusion_power"],
    "search_results": [{"title": "ITER", "url": "https://www.iter.org/", "date": "2025-01-02"}],
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "ITER is assembling... [1]"},
        }
    ],
    "usage": {
        "prompt_tokens": 9,
        "completion_tokens": 120,
        "total_tokens": 129,
        "search_context_size": "low",
    },
}


def test_citations_relayed_whole_and_streamed() -> None:
    raw = json.dumps(ANSWER).encode()
    decoded = A.decode_response(raw, dep(), Op.CHAT)
    assert decoded.body == raw
    assert decoded.usage == Usage(prompt_tokens=9, completion_tokens=120, total_tokens=129)
    chunk = {**ANSWER, "object": "chat.completion.chunk"}
    chunk["choices"] = [{"index": 0, "delta": {"content": "ITER"}, "finish_reason": None}]
    data = json.dumps(chunk).encode()
    tx = A.new_stream(dep(), Op.CHAT, False)
    assert tx.feed(SSEEvent(data)) == [data]
    assert json.loads(data)["citations"] == ANSWER["citations"]


def test_embeddings_url_and_body() -> None:
    assert A.url(dep(), Op.EMBEDDING, False) == "https://api.perplexity.ai/v1/embeddings"
    assert A.url(dep(api_base="https://p.example"), Op.EMBEDDING, False) == (
        "https://p.example/v1/embeddings"
    )
    assert A.url(dep(api_base="https://p.example/v1/embeddings"), Op.EMBEDDING, False) == (
        "https://p.example/v1/embeddings"
    )
    body = {
        "model": "pplx-embed-v1-0.6b",
        "input": ["a", "b"],
        "dimensions": 512,
        "encoding_format": "base64",
        "user": "u",
    }
    assert send(body, Op.EMBEDDING) == {
        "model": "pplx-embed-v1-0.6b",
        "input": ["a", "b"],
        "dimensions": 512,
    }


def test_int8_embeddings_decoded_to_floats() -> None:
    vec = base64.b64encode(bytes([127, 0, 0x81, 0xFF])).decode()  # 127, 0, -127, -1
    raw = json.dumps(
        {
            "object": "list",
            "model": "pplx-embed-v1-0.6b",
            "data": [{"object": "embedding", "index": 0, "embedding": vec}],
            "usage": {"total_tokens": 4},
        }
    ).encode()
    decoded = A.decode_response(raw, dep(), Op.EMBEDDING)
    body = json.loads(decoded.body)
    assert body["data"][0]["embedding"] == [1.0, 0.0, -1.0, -1 / 127.0]
    assert body["model"] == "pplx-embed-v1-0.6b"
    assert decoded.usage == Usage(prompt_tokens=4, total_tokens=4)


def test_bad_base64_is_upstream_error() -> None:
    raw = b'{"data":[{"embedding":"%%%"}]}'
    with pytest.raises(UpstreamError, match="not valid base64"):
        A.decode_response(raw, dep(), Op.EMBEDDING)
