"""Databricks adapter: supported-param subset, message shape, Claude reasoning content."""

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

from tianji_gateway.providers.base import Op
from tianji_gateway.providers.databricks import DatabricksAdapter
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.streaming.sse import SSEParser

ADAPTER = DatabricksAdapter()
BASE = "https://adb-1234567890123456.7.azuredatabricks.net/serving-endpoints"


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d1",
        "model_name": "dbrx",
        "provider": "databricks",
        "model": "databricks-meta-llama-3-3-70b-instruct",
        "api_base": BASE,
        "api_key": "dapi0123456789abcdef",
    }
    return Deployment(**(base | kw))


def prepare(
    body: dict[str, Any], d: Deployment | None = None, op: Op = Op.CHAT, stream: bool = False
) -> dict[str, Any]:
    d = d or dep()
    b = msgspec.json.decode(
        json.dumps({**body, "model": d.model}).encode(), type=dict[str, msgspec.Raw]
    )
    if stream and ADAPTER.caps.stream_usage:
        b["stream_options"] = msgspec.Raw(b'{"include_usage":true}')
    out: dict[str, Any] = json.loads(
        ADAPTER.encode_request(ADAPTER.map_params(b, d), d, op, stream)
    )
    return out


USER_HI = {"role": "user", "content": "Hi"}


def test_class_attributes_url_and_auth() -> None:
    assert DatabricksAdapter.env_key == "DATABRICKS_API_KEY"
    assert DatabricksAdapter.env_base == "DATABRICKS_API_BASE"
    assert DatabricksAdapter.caps.stream_usage is False
    assert ADAPTER.url(dep(), Op.CHAT, True) == BASE + "/chat/completions"
    assert ADAPTER.url(dep(api_base=BASE + "/"), Op.EMBEDDING, False) == BASE + "/embeddings"
    assert ADAPTER.headers(dep()) == [
        ("content-type", "application/json"),
        ("authorization", "Bearer dapi0123456789abcdef"),
    ]
    with pytest.raises(InvalidRequest, match="databricks requires api_base"):
        ADAPTER.url(dep(api_base=None), Op.CHAT, False)


def test_plain_chat_body() -> None:
    body = prepare(
        {"messages": [USER_HI], "temperature": 0.5, "max_completion_tokens": 256, "stop": ["\n"]}
    )
    assert body == {
        "messages": [USER_HI],
        "temperature": 0.5,
        "stop": ["\n"],
        "model": "databricks-meta-llama-3-3-70b-instruct",
        "max_tokens": 256,
    }


def test_stream_sends_no_stream_options() -> None:
    body = prepare(
        {"messages": [USER_HI], "stream": True, "stream_options": {"include_usage": True}},
        stream=True,
    )
    assert body["stream"] is True
    assert "stream_options" not in body


@pytest.mark.parametrize(
    "param", ["frequency_penalty", "logit_bias", "seed", "user", "parallel_tool_calls"]
)
def test_unsupported_params_rejected_or_dropped(param: str) -> None:
    value: object = {"50256": -100} if param == "logit_bias" else ("u1" if param == "user" else 1)
    with pytest.raises(InvalidRequest, match="drop_params") as exc:
        prepare({"messages": [USER_HI], param: value})
    assert exc.value.param == param
    assert param not in prepare({"messages": [USER_HI], param: value}, dep(drop_params=True))


def test_messages_flattened_and_names_stripped() -> None:
    messages = [
        {"role": "system", "content": "Be terse.", "name": "policy"},
        {
            "role": "user",
            "name": "alice",
            "content": [{"type": "text", "text": "Hello "}, {"type": "text", "text": "DBRX"}],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
            ],
        },
    ]
    assert prepare({"messages": messages})["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "name": "alice", "content": "Hello DBRX"},
        messages[2],
    ]


def test_tools_forwarded_and_claude_reasoning_effort() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    body = prepare({"messages": [USER_HI], "tools": [tool], "tool_choice": "auto"})
    assert (body["tools"], body["tool_choice"]) == ([tool], "auto")
    claude = dep(model="databricks-claude-3-7-sonnet")
    body = prepare({"messages": [USER_HI], "reasoning_effort": "medium"}, claude)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert "reasoning_effort" not in body
    assert prepare({"messages": [USER_HI], "reasoning_effort": "low"})["reasoning_effort"] == "low"


CLAUDE_ANSWER = {
    "model": "databricks-claude-3-7-sonnet",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": [
                    {
                        "type": "reasoning",
                        "summary": [
                            {
                                "type": "summary_text",
                                "text": "The capital of France is Paris.",
                                "signature": "ErcBCkgIAxABGAIiQMZ",
                            }
                        ],
                    },
                    {"type": "text", "text": "Paris."},
                ],
            },
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 42, "completion_tokens": 58, "total_tokens": 100},
    "object": "chat.completion",
    "id": "msg_bdrk_01XFDUDYJgAACzvnptvVoYEL",
    "created": 1741108400,
}


def test_claude_reasoning_content_list() -> None:
    decoded = ADAPTER.decode_response(json.dumps(CLAUDE_ANSWER).encode(), dep(), Op.CHAT)
    message = json.loads(decoded.body)["choices"][0]["message"]
    assert message == {
        "role": "assistant",
        "content": "Paris.",
        "reasoning_content": "The capital of France is Paris.",
        "thinking_blocks": [
            {
                "type": "thinking",
                "thinking": "The capital of France is Paris.",
                "signature": "ErcBCkgIAxABGAIiQMZ",
            }
        ],
    }
    assert decoded.usage.total_tokens == 100


def test_string_content_relayed_unchanged() -> None:
    answer = {
        **CLAUDE_ANSWER,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
        ],
    }
    raw_bytes = json.dumps(answer).encode()
    assert ADAPTER.decode_response(raw_bytes, dep(), Op.CHAT).body == raw_bytes


def chunk(
    delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": "databricks-claude-3-7-sonnet",
        "choices": [{"delta": delta, "index": 0, "finish_reason": finish}],
        "object": "chat.completion.chunk",
        "id": "msg_bdrk_stream",
        "created": 1741108401,
    }
    if usage:
        out["usage"] = usage
    return out


def test_stream_reasoning_text_and_tool_calls() -> None:
    events = [
        chunk(
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "reasoning",
                        "summary": [{"type": "summary_text", "text": "Thinking", "signature": ""}],
                    }
                ],
            }
        ),
        chunk({"content": "Let me check."}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "toolu_01",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": "{}"},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Oslo"}'}}]}),
        chunk({}, "tool_calls", {"prompt_tokens": 30, "completion_tokens": 20, "total_tokens": 50}),
    ]
    data = (
        b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    )
    tx = ADAPTER.new_stream(dep(), Op.CHAT, False)
    out = [json.loads(o) for e in SSEParser().feed(data) for o in tx.feed(e)]
    deltas = [c["choices"][0]["delta"] for c in out]
    assert deltas[0]["reasoning_content"] == "Thinking"
    assert deltas[0]["content"] == ""
    assert deltas[1] == {"content": "Let me check."}
    args = "".join(tc["function"]["arguments"] for d in deltas for tc in d.get("tool_calls") or [])
    assert json.loads(args) == {"city": "Oslo"}
    assert out[-1]["choices"][0]["finish_reason"] == "tool_calls"
    usage = tx.finish()
    assert usage is not None and usage.total_tokens == 50


def test_errors() -> None:
    rate = ADAPTER.map_error(
        429,
        {"retry-after": "1"},
        b'{"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "Exceeded workspace rate limit for databricks-claude-3-7-sonnet."}',
    )
    assert isinstance(rate, UpstreamRateLimited)
    assert rate.headers == {"retry-after": "1"}
    ctx = ADAPTER.map_error(
        400,
        {},
        b'{"error_code": "BAD_REQUEST", "message": "Input validation error: This model\'s maximum context length is 131072 tokens."}',
    )
    assert isinstance(ctx, ContextWindowExceeded)
    policy = ADAPTER.map_error(
        400,
        {},
        b'{"error_code": "BAD_REQUEST", "message": "Request blocked by input guardrail \'safety\'"}',
    )
    assert isinstance(policy, ContentPolicyViolation)
    other = ADAPTER.map_error(
        404, {}, b'{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Endpoint not found"}'
    )
    assert other.body().error.code == "RESOURCE_DOES_NOT_EXIST"
    assert other.retryable is False
