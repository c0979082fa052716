"""Mistral quirks: strict request schema, tool_choice spelling, /v1, thinking blocks."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from tianji_common.errors import InvalidRequest

from tianji_gateway.providers.base import Op, Usage
from tianji_gateway.providers.mistral import MistralAdapter
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.streaming.sse import SSEEvent

A = MistralAdapter()


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d",
        "model_name": "m",
        "provider": "mistral",
        "model": "mistral-large-latest",
        "api_key": "mistral-key",
    }
    return Deployment(**(base | kw))


def send(body: dict[str, Any], *, stream: bool = False, **kw: Any) -> dict[str, Any]:
    d = dep(**kw)
    raw = msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])
    out: dict[str, Any] = json.loads(A.encode_request(A.map_params(raw, d), d, Op.CHAT, stream))
    return out


HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("api_base", "url"),
    [
        (None, "https://api.mistral.ai/v1/chat/completions"),
        ("https://api.mistral.ai", "https://api.mistral.ai/v1/chat/completions"),
        ("https://my-mistral.example/", "https://my-mistral.example/v1/chat/completions"),
        ("https://my-mistral.example/v1", "https://my-mistral.example/v1/chat/completions"),
    ],
)
def test_v1_always_appended(api_base: str | None, url: str) -> None:
    assert A.url(dep(api_base=api_base), Op.CHAT, False) == url
    assert A.url(dep(api_base=api_base), Op.EMBEDDING, False) == url.replace(
        "chat/completions", "embeddings"
    )


def test_renamed_params() -> None:
    sent = send({"model": "x", "messages": HI, "max_completion_tokens": 50, "seed": 7})
    assert sent == {"model": "x", "messages": HI, "max_tokens": 50, "random_seed": 7}


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    sent = send({"model": "x", "messages": HI, "max_tokens": 10, "max_completion_tokens": 50})
    assert sent["max_tokens"] == 50
    assert "max_completion_tokens" not in sent


def test_stream_options_never_sent_and_no_stream_usage_cap() -> None:
    assert A.caps.stream_usage is False
    sent = send(
        {"model": "x", "messages": HI, "stream": True, "stream_options": {"include_usage": True}},
        stream=True,
    )
    assert "stream_options" not in sent


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "any"),
        ({"type": "function", "function": {"name": "get_weather"}}, "any"),
    ],
)
def test_tool_choice_spelling(choice: object, sent: str) -> None:
    assert send({"model": "x", "messages": HI, "tool_choice": choice})["tool_choice"] == sent


@pytest.mark.parametrize("name", ["user", "logit_bias", "top_logprobs", "functions"])
def test_extra_forbidden_params(name: str) -> None:
    body = {"model": "x", "messages": HI, name: "v"}
    with pytest.raises(InvalidRequest, match=f"mistral does not support parameter '{name}'"):
        send(body)
    assert name not in send(body, drop_params=True)


def test_messages_rewritten_to_mistral_schema() -> None:
    messages = [
        {
            "role": "system",
            "content": [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}],
        },
        {"role": "user", "content": "weather?", "name": "alice"},
        {"role": "assistant", "content": ""},
        {
            "role": "assistant",
            "content": None,
            "function_call": None,
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "name": " ", "content": "ok"},
    ]
    assert send({"model": "x", "messages": messages})["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "content": "ok"},
    ]


def test_image_parts_kept() -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    ]
    sent = send(
        {"model": "pixtral-large-latest", "messages": [{"role": "user", "content": content}]}
    )
    assert sent["messages"][0]["content"] == content


def answer(message: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "id": "cmpl-1",
            "object": "chat.completion",
            "model": "magistral-medium-latest",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 30, "total_tokens": 40},
        }
    ).encode()


def test_thinking_blocks_become_content_and_reasoning() -> None:
    message = {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": [{"type": "text", "text": "2+2 is 4."}]},
            {"type": "text", "text": "4"},
        ],
    }
    decoded = A.decode_response(answer(message), dep(), Op.CHAT)
    out = json.loads(decoded.body)["choices"][0]["message"]
    assert out == {"role": "assistant", "content": "4", "reasoning_content": "2+2 is 4."}
    assert decoded.usage == Usage(prompt_tokens=10, completion_tokens=30, total_tokens=40)


def test_empty_content_becomes_null() -> None:
    message = {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "abc123XYZ", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ],
    }
    out = json.loads(A.decode_response(answer(message), dep(), Op.CHAT).body)
    assert out["choices"][0]["message"]["content"] is None


def test_plain_answer_relayed_byte_for_byte() -> None:
    raw = answer({"role": "assistant", "content": "hello"})
    assert A.decode_response(raw, dep(), Op.CHAT).body == raw


def test_stream_thinking_delta_and_final_usage() -> None:
    tx = A.new_stream(dep(), Op.CHAT, True)
    thinking = {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": "magistral-small-latest",
        "choices": [
            {
                "index": 0,
                "delta": {
                    "content": [{"type": "thinking", "thinking": [{"type": "text", "text": "Hmm"}]}]
                },
                "finish_reason": None,
            }
        ],
    }
    last = {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": "magistral-small-latest",
        "choices": [{"index": 0, "delta": {"content": "4"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 8, "completion_tokens": 5, "total_tokens": 13},
    }
    [first] = tx.feed(SSEEvent(json.dumps(thinking).encode()))
    delta = json.loads(first)["choices"][0]["delta"]
    assert delta == {"content": None, "reasoning_content": "Hmm"}
    data = json.dumps(last).encode()
    assert tx.feed(SSEEvent(data)) == [data]  # usage rides on the last choice chunk
    assert tx.finish() == Usage(prompt_tokens=8, completion_tokens=5, total_tokens=13)


def test_validation_error_shape() -> None:
    body = json.dumps(
        {
            "object": "error",
            "message": {
                "detail": [
                    {
                        "type": "extra_forbidden",
                        "loc": ["body", "frequency_penalty"],
                        "msg": "Extra inputs are not permitted",
                    }
                ]
            },
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    ).encode()
    err = A.map_error(422, {}, body)
    assert err.http_status == 422 and err.retryable is False
    assert "Extra inputs are not permitted" in err.message
