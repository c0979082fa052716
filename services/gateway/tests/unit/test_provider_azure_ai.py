"""Azure AI Foundry adapter: URL rules, api-key vs bearer, content-list flattening."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from tianji_common.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    InvalidRequest,
    UpstreamRateLimited,
)

from tianji_gateway.providers.azure_ai import AzureAIAdapter
from tianji_gateway.providers.base import Op
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.streaming.sse import SSEParser

ADAPTER = AzureAIAdapter()
FOUNDRY = "https://my-hub.services.ai.azure.com"
SERVERLESS = "https://Mistral-large-2411-abcd.eastus2.models.ai.azure.com"


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d1",
        "model_name": "mistral",
        "provider": "azure_ai",
        "model": "mistral-large-2411",
        "api_base": FOUNDRY,
        "api_key": "foundry-key",
    }
    return Deployment(**(base | kw))


def encode(body: dict[str, Any], d: Deployment | None = None, op: Op = Op.CHAT) -> dict[str, Any]:
    d = d or dep()
    b = msgspec.json.decode(
        json.dumps({**body, "model": d.model}).encode(), type=dict[str, msgspec.Raw]
    )
    out: dict[str, Any] = json.loads(ADAPTER.encode_request(ADAPTER.map_params(b, d), d, op, False))
    return out


def test_class_attributes() -> None:
    assert AzureAIAdapter.name == "azure_ai"
    assert AzureAIAdapter.env_key == "AZURE_AI_API_KEY"
    assert AzureAIAdapter.env_base == "AZURE_AI_API_BASE"
    assert AzureAIAdapter.caps.ops == frozenset({Op.CHAT, Op.EMBEDDING})


@pytest.mark.parametrize(
    ("api_base", "version", "expected"),
    [
        (FOUNDRY, None, f"{FOUNDRY}/models/chat/completions"),
        (
            FOUNDRY + "/models",
            "2024-05-01-preview",
            f"{FOUNDRY}/models/chat/completions?api-version=2024-05-01-preview",
        ),
        (
            FOUNDRY + "/models/chat/completions?api-version=2024-05-01-preview",
            "2025-01-01",
            f"{FOUNDRY}/models/chat/completions?api-version=2024-05-01-preview",
        ),
        (SERVERLESS, None, f"{SERVERLESS}/chat/completions"),
        (SERVERLESS + "/v1/", None, f"{SERVERLESS}/v1/chat/completions"),
    ],
)
def test_chat_url(api_base: str, version: str | None, expected: str) -> None:
    assert ADAPTER.url(dep(api_base=api_base, api_version=version), Op.CHAT, True) == expected


def test_embedding_url() -> None:
    d = dep(api_base=FOUNDRY + "/models", api_version="2024-05-01-preview")
    assert (
        ADAPTER.url(d, Op.EMBEDDING, False)
        == f"{FOUNDRY}/models/embeddings?api-version=2024-05-01-preview"
    )


def test_api_base_required() -> None:
    with pytest.raises(InvalidRequest, match="azure_ai requires api_base"):
        ADAPTER.url(dep(api_base=None), Op.CHAT, False)


@pytest.mark.parametrize(
    ("api_base", "header"),
    [
        (FOUNDRY, ("api-key", "foundry-key")),
        ("https://res.openai.azure.com/openai/v1", ("api-key", "foundry-key")),
        (SERVERLESS, ("authorization", "Bearer foundry-key")),
        ("http://localhost:9000", ("authorization", "Bearer foundry-key")),
    ],
)
def test_auth_header_depends_on_host(api_base: str, header: tuple[str, str]) -> None:
    assert ADAPTER.headers(dep(api_base=api_base)) == [("content-type", "application/json"), header]


def test_text_only_lists_are_flattened_images_kept() -> None:
    text_list = {
        "role": "user",
        "content": [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}],
    }
    image = {
        "role": "user",
        "content": [
            {"type": "text", "text": "Describe"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        ],
    }
    body = encode({"messages": [{"role": "system", "content": "Be brief."}, text_list, image]})
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello there"},
        image,
    ]


def test_plain_chat_and_tools_forwarded() -> None:
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    body = encode(
        {
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [tool],
            "tool_choice": "auto",
            "top_p": 0.9,
        }
    )
    assert body == {
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [tool],
        "tool_choice": "auto",
        "top_p": 0.9,
        "model": "mistral-large-2411",
    }


def test_response_and_stream_relayed() -> None:
    answer = {
        "id": "cmpl-f3b1",
        "object": "chat.completion",
        "created": 1731000000,
        "model": "mistral-large-2411",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi!", "tool_calls": None},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "total_tokens": 12, "completion_tokens": 3},
    }
    raw_bytes = json.dumps(answer).encode()
    decoded = ADAPTER.decode_response(raw_bytes, dep(), Op.CHAT)
    assert decoded.body == raw_bytes
    assert decoded.usage.total_tokens == 12
    chunk = {
        "id": "cmpl-f3b1",
        "object": "chat.completion.chunk",
        "created": 1731000000,
        "model": "mistral-large-2411",
        "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}],
    }
    usage = {
        **chunk,
        "choices": [],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }
    tx = ADAPTER.new_stream(dep(), Op.CHAT, False)
    data = f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode()
    out = [o for e in SSEParser().feed(data) for o in tx.feed(e)]
    assert [json.loads(o) for o in out] == [chunk]
    assert tx.finish() is not None


def test_errors() -> None:
    rate = ADAPTER.map_error(
        429,
        {"retry-after": "3"},
        b'{"error": {"code": "RateLimitReached", "message": "Rate limit of 200 per 60s exceeded"}}',
    )
    assert isinstance(rate, UpstreamRateLimited)
    assert rate.headers == {"retry-after": "3"}
    ctx = {
        "error": {
            "code": "Invalid input",
            "status": 422,
            "message": "invalid input error",
            "details": [],
        }
    }
    assert not isinstance(
        ADAPTER.map_error(422, {}, json.dumps(ctx).encode()), ContextWindowExceeded
    )
    ctx2 = {
        "error": {
            "message": "This model's maximum context length is 32768 tokens.",
            "code": "Bad Request",
        }
    }
    assert isinstance(ADAPTER.map_error(400, {}, json.dumps(ctx2).encode()), ContextWindowExceeded)
    policy = {
        "error": {
            "code": "content_filter",
            "message": "The response was filtered",
            "innererror": {"code": "ResponsibleAIPolicyViolation"},
        }
    }
    assert isinstance(
        ADAPTER.map_error(400, {}, json.dumps(policy).encode()), ContentPolicyViolation
    )
