"""hosted_vllm adapter: thinking -> reasoning_effort, custom tools, message clean-up."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from tianji_common.errors import ContextWindowExceeded, InvalidRequest, UpstreamRateLimited

from tianji_gateway.providers.base import Op
from tianji_gateway.providers.hosted_vllm import HostedVLLMAdapter, effort_from_budget
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.streaming.sse import SSEParser

ADAPTER = HostedVLLMAdapter()


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d1",
        "model_name": "qwen",
        "provider": "hosted_vllm",
        "model": "Qwen/Qwen3-8B",
        "api_base": "http://vllm.internal:8000/v1",
    }
    return Deployment(**(base | kw))


def prepare(
    body: dict[str, Any], d: Deployment | None = None, stream: bool = False
) -> dict[str, Any]:
    d = d or dep()
    b = msgspec.json.decode(
        json.dumps({**body, "model": d.model}).encode(), type=dict[str, msgspec.Raw]
    )
    if stream:
        b["stream_options"] = msgspec.Raw(b'{"include_usage":true}')
    out: dict[str, Any] = json.loads(
        ADAPTER.encode_request(ADAPTER.map_params(b, d), d, Op.CHAT, stream)
    )
    return out


USER_HI = {"role": "user", "content": "Hi"}


def test_url_and_auth() -> None:
    assert HostedVLLMAdapter.env_key == "HOSTED_VLLM_API_KEY"
    assert HostedVLLMAdapter.env_base == "HOSTED_VLLM_API_BASE"
    assert ADAPTER.url(dep(), Op.CHAT, False) == "http://vllm.internal:8000/v1/chat/completions"
    assert (
        ADAPTER.url(dep(api_base="http://h:8000/v1/"), Op.EMBEDDING, False)
        == "http://h:8000/v1/embeddings"
    )
    assert ADAPTER.headers(dep()) == [("content-type", "application/json")]
    assert ADAPTER.headers(dep(api_key="token-abc")) == [
        ("content-type", "application/json"),
        ("authorization", "Bearer token-abc"),
    ]
    with pytest.raises(InvalidRequest, match="hosted_vllm requires api_base"):
        ADAPTER.url(dep(api_base=None), Op.CHAT, False)


def test_plain_and_streaming_body_relayed() -> None:
    body = {
        "messages": [USER_HI],
        "temperature": 0.7,
        "top_k": 20,
        "chat_template_kwargs": {"enable_thinking": False},
    }
    assert prepare(body) == {**body, "model": "Qwen/Qwen3-8B"}
    assert prepare({"messages": [USER_HI], "stream": True}, stream=True)["stream_options"] == {
        "include_usage": True
    }


@pytest.mark.parametrize(
    ("budget", "effort"), [(0, "minimal"), (1024, "low"), (3000, "medium"), (8000, "high")]
)
def test_thinking_becomes_reasoning_effort(budget: int, effort: str) -> None:
    assert effort_from_budget(budget) == effort
    body = prepare(
        {"messages": [USER_HI], "thinking": {"type": "enabled", "budget_tokens": budget}}
    )
    assert body["reasoning_effort"] == effort
    assert "thinking" not in body


def test_thinking_does_not_override_effort_and_disabled_is_dropped() -> None:
    body = prepare(
        {
            "messages": [USER_HI],
            "reasoning_effort": "high",
            "thinking": {"type": "enabled", "budget_tokens": 1024},
        }
    )
    assert body["reasoning_effort"] == "high"
    body = prepare({"messages": [USER_HI], "thinking": {"type": "disabled"}})
    assert "thinking" not in body and "reasoning_effort" not in body


def test_custom_tools_become_function_tools() -> None:
    fn_tool = {"type": "function", "function": {"name": "a", "parameters": {"type": "object"}}}
    custom = {"type": "custom", "custom": {"name": "run_sql", "description": "Run SQL"}}
    body = prepare({"messages": [USER_HI], "tools": [fn_tool, custom]})
    assert body["tools"] == [
        fn_tool,
        {
            "type": "function",
            "function": {
                "name": "run_sql",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "input": {"type": "string", "description": "Raw tool input payload."}
                    },
                    "required": ["input"],
                },
                "description": "Run SQL",
            },
        },
    ]


def test_assistant_history_cleaned() -> None:
    messages = [
        USER_HI,
        {
            "role": "assistant",
            "thinking_blocks": [{"type": "thinking", "thinking": "hmm", "signature": "x"}],
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Rome"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "And this clip?"},
                {"type": "file", "file": {"file_id": "https://cdn.example.com/clip.mp4"}},
            ],
        },
    ]
    sent = prepare({"messages": messages})["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
            }
        ],
    }
    assert sent[2] == messages[2]
    assert sent[3]["content"][1] == {
        "type": "video_url",
        "video_url": {"url": "https://cdn.example.com/clip.mp4"},
    }


def test_response_and_stream() -> None:
    answer = {
        "id": "chatcmpl-8f3e",
        "object": "chat.completion",
        "created": 1740000000,
        "model": "Qwen/Qwen3-8B",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "reasoning_content": "Simple greeting.",
                    "content": "Hello!",
                    "tool_calls": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
                "stop_reason": None,
            }
        ],
        "usage": {
            "prompt_tokens": 10,
            "total_tokens": 25,
            "completion_tokens": 15,
            "prompt_tokens_details": None,
        },
        "prompt_logprobs": None,
    }
    raw_bytes = json.dumps(answer).encode()
    decoded = ADAPTER.decode_response(raw_bytes, dep(), Op.CHAT)
    assert decoded.body == raw_bytes
    assert decoded.usage.total_tokens == 25
    base = {
        "id": "chatcmpl-s",
        "object": "chat.completion.chunk",
        "created": 1740000000,
        "model": "Qwen/Qwen3-8B",
    }
    events = [
        base
        | {
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": ""},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ]
        },
        base
        | {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "id": "chatcmpl-tool-1",
                                "type": "function",
                                "index": 0,
                                "function": {"name": "get_weather", "arguments": ""},
                            }
                        ]
                    },
                    "finish_reason": None,
                }
            ]
        },
        base
        | {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Rome"}'}}]
                    },
                    "finish_reason": None,
                }
            ]
        },
        base
        | {
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": ""},
                    "finish_reason": "tool_calls",
                    "stop_reason": None,
                }
            ]
        },
        base
        | {
            "choices": [],
            "usage": {"prompt_tokens": 20, "total_tokens": 40, "completion_tokens": 20},
        },
    ]
    data = (
        b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    )
    tx = ADAPTER.new_stream(dep(), Op.CHAT, True)
    out = [json.loads(o) for e in SSEParser().feed(data) for o in tx.feed(e)]
    assert len(out) == 5
    assert out[-1]["usage"]["total_tokens"] == 40
    assert (
        out[2]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
        == '{"city": "Rome"}'
    )


def test_errors() -> None:
    old = {
        "object": "error",
        "message": "This model's maximum context length is 32768 tokens. However, you requested 33000 tokens "
        "(1000 in the messages, 32000 in the completion). Please reduce the length of the messages or completion.",
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
    err = ADAPTER.map_error(400, {}, json.dumps(old).encode())
    assert isinstance(err, ContextWindowExceeded)
    assert err.body().error.type == "BadRequestError"
    new = {
        "error": {"message": old["message"], "type": "BadRequestError", "param": None, "code": 400}
    }
    assert isinstance(ADAPTER.map_error(400, {}, json.dumps(new).encode()), ContextWindowExceeded)
    rate = ADAPTER.map_error(
        429, {"retry-after": "2"}, b'{"error": {"message": "Too many requests", "code": 429}}'
    )
    assert isinstance(rate, UpstreamRateLimited)
    assert rate.headers == {"retry-after": "2"}
    other = ADAPTER.map_error(
        404,
        {},
        b'{"object": "error", "message": "The model `x` does not exist.", "type": "NotFoundError", "code": 404}',
    )
    assert other.message == "The model `x` does not exist."
    assert other.http_status == 404
