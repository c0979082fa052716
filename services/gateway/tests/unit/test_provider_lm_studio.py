"""LM Studio adapter: local default URL, response_format rewrite, string errors."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from tianji_common.errors import ContextWindowExceeded, UpstreamRateLimited

from tianji_gateway.providers.base import Op
from tianji_gateway.providers.lm_studio import LMStudioAdapter
from tianji_gateway.routing.deployment import Deployment

ADAPTER = LMStudioAdapter()


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d1",
        "model_name": "local",
        "provider": "lm_studio",
        "model": "qwen2.5-7b-instruct",
    }
    return Deployment(**(base | kw))


def prepare(body: dict[str, Any], d: Deployment | None = None) -> dict[str, Any]:
    d = d or dep()
    b = msgspec.json.decode(
        json.dumps({**body, "model": d.model}).encode(), type=dict[str, msgspec.Raw]
    )
    out: dict[str, Any] = json.loads(
        ADAPTER.encode_request(ADAPTER.map_params(b, d), d, Op.CHAT, False)
    )
    return out


def test_defaults_url_and_auth() -> None:
    assert LMStudioAdapter.env_key == "LM_STUDIO_API_KEY"
    assert LMStudioAdapter.env_base == "LM_STUDIO_API_BASE"
    assert LMStudioAdapter.caps.ops == frozenset({Op.CHAT, Op.COMPLETION, Op.EMBEDDING})
    assert ADAPTER.url(dep(), Op.CHAT, False) == "http://localhost:1234/v1/chat/completions"
    assert (
        ADAPTER.url(dep(api_base="http://studio:1234/v1"), Op.EMBEDDING, False)
        == "http://studio:1234/v1/embeddings"
    )
    assert ADAPTER.headers(dep()) == [("content-type", "application/json")]


def test_top_level_schema_is_nested() -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
    }
    body = prepare(
        {
            "messages": [{"role": "user", "content": "q"}],
            "response_format": {"type": "json_schema", "schema": schema},
        }
    )
    assert body["response_format"] == {"type": "json_schema", "json_schema": {"schema": schema}}


def test_openai_shaped_formats_and_tools_untouched() -> None:
    nested = {
        "type": "json_schema",
        "json_schema": {"name": "a", "strict": True, "schema": {"type": "object"}},
    }
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    image = {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}],
    }
    body = {"messages": [image], "response_format": nested, "tools": [tool]}
    assert prepare(body) == {**body, "model": "qwen2.5-7b-instruct"}
    assert prepare({"messages": [], "response_format": {"type": "json_object"}})[
        "response_format"
    ] == {"type": "json_object"}


def test_response_relayed() -> None:
    answer = {
        "id": "chatcmpl-lms",
        "object": "chat.completion",
        "created": 1739000000,
        "model": "qwen2.5-7b-instruct",
        "choices": [
            {
                "index": 0,
                "logprobs": None,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "Hi"},
            }
        ],
        "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
        "stats": {},
        "system_fingerprint": "qwen2.5-7b-instruct",
    }
    raw_bytes = json.dumps(answer).encode()
    decoded = ADAPTER.decode_response(raw_bytes, dep(), Op.CHAT)
    assert decoded.body == raw_bytes and decoded.usage.total_tokens == 6


def test_errors() -> None:
    overflow = {
        "error": "Trying to keep the first 5120 tokens when context the overflows. However, the model is loaded "
        "with context length of only 4096 tokens, which is not enough. Try to load the model with a larger "
        "context length, or provide a shorter input"
    }
    assert isinstance(
        ADAPTER.map_error(400, {}, json.dumps(overflow).encode()), ContextWindowExceeded
    )
    missing = ADAPTER.map_error(
        404,
        {},
        b'{"error": {"message": "Model not found", "type": "invalid_request_error", "code": "model_not_found"}}',
    )
    assert missing.http_status == 404 and missing.message == "Model not found"
    assert isinstance(ADAPTER.map_error(429, {}, b'{"error": "busy"}'), UpstreamRateLimited)
