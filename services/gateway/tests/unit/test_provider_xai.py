"""xAI quirks: per-model rejected params, names, finish_reason "", reasoning fold."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from tianji_common.errors import InvalidRequest

from tianji_gateway.providers.base import Op, Usage
from tianji_gateway.providers.xai import XAIAdapter
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.streaming.sse import SSEEvent

A = XAIAdapter()


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d",
        "model_name": "x",
        "provider": "xai",
        "model": "grok-3",
        "api_key": "xai-key",
    }
    return Deployment(**(base | kw))


def send(body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    d = dep(**kw)
    raw = msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])
    out: dict[str, Any] = json.loads(A.encode_request(A.map_params(raw, d), d, Op.CHAT, False))
    return out


HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("model", "param", "rejected"),
    [
        ("grok-4-0709", "stop", True),
        ("grok-4-0709", "frequency_penalty", True),
        ("grok-3-mini", "stop", True),
        ("grok-3-mini", "frequency_penalty", False),
        ("grok-code-fast-1", "frequency_penalty", True),
        ("grok-3", "stop", False),
    ],
)
def test_per_model_params(model: str, param: str, rejected: bool) -> None:
    body = {"model": "x", "messages": HI, param: ["\n"] if param == "stop" else 0.5}
    if rejected:
        with pytest.raises(InvalidRequest, match=param):
            send(body, model=model)
        assert param not in send(body, model=model, drop_params=True)
    else:
        assert param in send(body, model=model)


def test_request_cleanups() -> None:
    messages = [
        {"role": "system", "content": "s", "name": "sys"},
        {"role": "user", "content": "u", "name": "alice"},
    ]
    tool = {"type": "function", "function": {"name": "f", "strict": True, "parameters": {}}}
    sent = send(
        {
            "model": "x",
            "messages": messages,
            "tools": [tool],
            "max_completion_tokens": 100,
            "web_search_options": {"search_context_size": "low"},
        }
    )
    assert sent["messages"] == [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u", "name": "alice"},
    ]
    assert sent["tools"] == [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    assert sent["max_tokens"] == 100
    assert "web_search_options" not in sent and "max_completion_tokens" not in sent


USAGE = {
    "prompt_tokens": 32,
    "completion_tokens": 9,
    "total_tokens": 135,
    "prompt_tokens_details": {"cached_tokens": 6},
    "completion_tokens_details": {"reasoning_tokens": 94},
}


def test_answer_finish_reason_and_reasoning_fold() -> None:
    answer = {
        "id": "a",
        "object": "chat.completion",
        "model": "grok-4-0709",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                "finish_reason": "",
            }
        ],
        "usage": USAGE,
    }
    decoded = A.decode_response(json.dumps(answer).encode(), dep(), Op.CHAT)
    body = json.loads(decoded.body)
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert body["usage"]["completion_tokens"] == 103
    assert decoded.usage == Usage(
        prompt_tokens=32,
        completion_tokens=103,
        total_tokens=135,
        cached_tokens=6,
        reasoning_tokens=94,
    )


def test_already_openai_shaped_usage_untouched() -> None:
    usage = {**USAGE, "completion_tokens": 103}
    raw = json.dumps({"id": "a", "choices": [], "usage": usage}).encode()
    assert json.loads(A.decode_response(raw, dep(), Op.CHAT).body)["usage"] == usage


def test_stream_usage_chunk_folded() -> None:
    tx = A.new_stream(dep(), Op.CHAT, True)
    chunk = {"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": USAGE}
    [out] = tx.feed(SSEEvent(json.dumps(chunk).encode()))
    assert json.loads(out)["usage"]["completion_tokens"] == 103
    usage = tx.finish()
    assert usage is not None and usage.completion_tokens == 103 and usage.total_tokens == 135


def test_error_string_shape() -> None:
    body = b'{"code":"Client specified an invalid argument","error":"Incorrect API key provided"}'
    err = A.map_error(400, {}, body)
    assert err.message == "Incorrect API key provided"
    assert err.http_status == 400 and err.retryable is False
