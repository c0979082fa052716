"""DeepSeek quirks: thinking mode, reasoning_content on turns, reasoner params, cache hits."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from tianji_common.errors import InvalidRequest

from tianji_gateway.providers.base import Op, Usage
from tianji_gateway.providers.deepseek import DeepSeekAdapter
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.streaming.sse import SSEEvent

A = DeepSeekAdapter()


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d",
        "model_name": "ds",
        "provider": "deepseek",
        "model": "deepseek-chat",
        "api_key": "sk-ds",
    }
    return Deployment(**(base | kw))


def send(body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    d = dep(**kw)
    raw = msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])
    out: dict[str, Any] = json.loads(A.encode_request(A.map_params(raw, d), d, Op.CHAT, False))
    return out


HI = [{"role": "user", "content": "hi"}]


def test_default_base_is_litellms_beta() -> None:
    assert A.url(dep(), Op.CHAT, False) == "https://api.deepseek.com/beta/chat/completions"
    assert A.url(dep(), Op.COMPLETION, False) == "https://api.deepseek.com/beta/completions"


@pytest.mark.parametrize(
    ("params", "sent"),
    [
        (
            {"thinking": {"type": "enabled", "budget_tokens": 2048}},
            {"thinking": {"type": "enabled"}},
        ),
        ({"thinking": {"type": "disabled"}}, {"thinking": {"type": "disabled"}}),
        ({"reasoning_effort": "none"}, {"thinking": {"type": "disabled"}}),
        (
            {"reasoning_effort": "low"},
            {"thinking": {"type": "enabled"}, "reasoning_effort": "low"},
        ),
        ({"thinking": "bogus"}, {}),
        ({}, {}),
    ],
)
def test_thinking_mapping(params: dict[str, Any], sent: dict[str, Any]) -> None:
    out = send({"model": "x", "messages": HI, **params})
    assert {k: v for k, v in out.items() if k in ("thinking", "reasoning_effort")} == sent


def test_reasoning_content_restored_on_assistant_turns_when_thinking() -> None:
    messages = [
        *HI,
        {
            "role": "assistant",
            "content": "hello",
            "provider_specific_fields": {"reasoning_content": "greet back", "x": 1},
        },
        {"role": "user", "content": "again"},
        {"role": "assistant", "content": "hi again"},
        {"role": "user", "content": "bye"},
    ]
    sent = send({"model": "x", "messages": messages, "thinking": {"type": "enabled"}})
    assert sent["messages"][1] == {
        "role": "assistant",
        "content": "hello",
        "provider_specific_fields": {"x": 1},
        "reasoning_content": "greet back",
    }
    assert sent["messages"][3]["reasoning_content"] == " "
    # Without thinking mode the history is relayed as sent.
    plain = send({"model": "x", "messages": messages})
    assert plain["messages"] == messages


def test_text_parts_collapsed_images_kept() -> None:
    text_only = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    image = [
        {"type": "text", "text": "what?"},
        {"type": "image_url", "image_url": {"url": "https://e.com/x.png"}},
    ]
    sent = send(
        {
            "model": "x",
            "messages": [
                {"role": "user", "content": text_only},
                {"role": "user", "content": image},
            ],
        }
    )
    assert sent["messages"] == [
        {"role": "user", "content": "ab"},
        {"role": "user", "content": image},
    ]


def test_non_function_tools_dropped() -> None:
    fn = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    sent = send({"model": "x", "messages": HI, "tools": [fn, {"type": "namespace"}]})
    assert sent["tools"] == [fn]
    only_odd = send(
        {"model": "x", "messages": HI, "tools": [{"type": "web_search"}], "tool_choice": "auto"}
    )
    assert "tools" not in only_odd and "tool_choice" not in only_odd


def test_reasoner_rejects_logprobs() -> None:
    body = {"model": "x", "messages": HI, "logprobs": True}
    with pytest.raises(InvalidRequest, match="logprobs"):
        send(body, model="deepseek-reasoner")
    assert "logprobs" not in send(body, model="deepseek-reasoner", drop_params=True)
    assert send(body)["logprobs"] is True  # deepseek-chat takes them


ANSWER = {
    "id": "930c60df",
    "object": "chat.completion",
    "model": "deepseek-reasoner",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "4", "reasoning_content": "2+2=4"},
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 20,
        "completion_tokens": 40,
        "total_tokens": 60,
        "prompt_cache_hit_tokens": 16,
        "prompt_cache_miss_tokens": 4,
        "completion_tokens_details": {"reasoning_tokens": 35},
    },
}


def test_cache_hits_and_reasoning_in_usage() -> None:
    raw = json.dumps(ANSWER).encode()
    decoded = A.decode_response(raw, dep(), Op.CHAT)
    assert decoded.body == raw
    assert decoded.usage == Usage(
        prompt_tokens=20,
        completion_tokens=40,
        total_tokens=60,
        cached_tokens=16,
        reasoning_tokens=35,
    )


def test_stream_reasoning_deltas_relayed_and_cache_hits_counted() -> None:
    tx = A.new_stream(dep(), Op.CHAT, False)
    base = {"id": "c", "object": "chat.completion.chunk", "model": "deepseek-reasoner"}
    think = {**base, "choices": [{"index": 0, "delta": {"reasoning_content": "2+2"}}]}
    data = json.dumps(think).encode()
    assert tx.feed(SSEEvent(data)) == [data]
    usage_chunk = {**base, "choices": [], "usage": ANSWER["usage"]}
    assert tx.feed(SSEEvent(json.dumps(usage_chunk).encode())) == []
    usage = tx.finish()
    assert usage is not None and usage.cached_tokens == 16 and usage.reasoning_tokens == 35


def test_overloaded_503_is_retryable() -> None:
    body = b'{"error":{"message":"Server overloaded, please retry shortly.","type":"service_unavailable_error"}}'
    assert A.map_error(503, {}, body).retryable is True
