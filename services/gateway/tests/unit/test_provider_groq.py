"""Groq quirks: null fields on assistant turns, rejected params, service_tier, x_groq usage."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from tianji_common.errors import InvalidRequest

from tianji_gateway.providers.base import Op, Usage
from tianji_gateway.providers.groq import GroqAdapter
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.streaming.sse import SSEEvent

A = GroqAdapter()


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d",
        "model_name": "g",
        "provider": "groq",
        "model": "llama-3.3-70b-versatile",
        "api_key": "gsk_test",
    }
    return Deployment(**(base | kw))


def send(body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    d = dep(**kw)
    raw = msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])
    out: dict[str, Any] = json.loads(A.encode_request(A.map_params(raw, d), d, Op.CHAT, False))
    return out


def test_null_fields_removed_from_assistant_turns_only() -> None:
    messages: list[Any] = [
        {"role": "user", "content": "weather in Paris?", "name": None},
        {
            "role": "assistant",
            "content": None,
            "function_call": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
    ]
    sent = send({"model": "x", "messages": messages})
    assert sent["messages"][0] == {"role": "user", "content": "weather in Paris?", "name": None}
    assert sent["messages"][1] == {"role": "assistant", "tool_calls": messages[1]["tool_calls"]}
    assert sent["messages"][2] == messages[2]


@pytest.mark.parametrize("name", ["logprobs", "logit_bias", "top_logprobs"])
def test_documented_400_params(name: str) -> None:
    body = {"model": "x", "messages": [{"role": "user", "content": "hi"}], name: True}
    with pytest.raises(InvalidRequest, match="groq does not support parameter"):
        send(body)
    assert name not in send(body, drop_params=True)


def test_service_tier_on_demand_becomes_auto() -> None:
    answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "llama-3.3-70b-versatile",
        "service_tier": "on_demand",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
        "x_groq": {"id": "req_01"},
    }
    decoded = A.decode_response(json.dumps(answer).encode(), dep(), Op.CHAT)
    body = json.loads(decoded.body)
    assert body["service_tier"] == "auto"
    assert body["x_groq"] == {"id": "req_01"}
    assert decoded.usage.total_tokens == 6


def test_openai_service_tier_untouched() -> None:
    raw = b'{"id":"c","service_tier":"flex","choices":[],"usage":{"total_tokens":3}}'
    assert A.decode_response(raw, dep(), Op.CHAT).body == raw


def test_stream_usage_read_from_x_groq() -> None:
    tx = A.new_stream(dep(), Op.CHAT, False)
    last = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "llama-3.3-70b-versatile",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "x_groq": {
            "id": "req_01",
            "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
        },
    }
    data = json.dumps(last).encode()
    assert tx.feed(SSEEvent(data)) == [data]
    assert tx.finish() == Usage(prompt_tokens=12, completion_tokens=9, total_tokens=21)


def test_audio_ops_use_openai_paths() -> None:
    assert A.url(dep(), Op.AUDIO_TRANSCRIPTION, False) == (
        "https://api.groq.com/openai/v1/audio/transcriptions"
    )
    assert A.url(dep(), Op.AUDIO_SPEECH, False) == "https://api.groq.com/openai/v1/audio/speech"
