"""The Cloudflare Workers AI adapter: OpenAI chat <-> `/ai/run/{model}`, as pure hooks."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from tianji_common.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    InvalidRequest,
    UpstreamError,
    UpstreamRateLimited,
)

from tianji_gateway.providers.base import Op, Usage
from tianji_gateway.providers.cloudflare import ACCOUNT_SETTING, CloudflareAdapter
from tianji_gateway.providers.registry import ADAPTERS
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.streaming.sse import SSEParser

ADAPTER = CloudflareAdapter()
MODEL = "@cf/meta/llama-3.1-8b-instruct"


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d1",
        "model_name": "llama",
        "provider": "cloudflare",
        "model": MODEL,
        "api_key": "cf-test-token",
        "settings": {ACCOUNT_SETTING: "023e105f4ecef8ad9ca31a8372d0c353"},
    }
    return Deployment(**(base | kw))


def encode(body: dict[str, Any], *, stream: bool = False, **dep_kw: Any) -> dict[str, Any]:
    d = dep(**dep_kw)
    raw = msgspec.json.decode(
        json.dumps({"model": MODEL, **body}).encode(), type=dict[str, msgspec.Raw]
    )
    out: dict[str, Any] = json.loads(
        ADAPTER.encode_request(ADAPTER.map_params(raw, d), d, Op.CHAT, stream)
    )
    return out


def decode(payload: dict[str, Any]) -> tuple[dict[str, Any], Usage]:
    decoded = ADAPTER.decode_response(json.dumps(payload).encode(), dep(), Op.CHAT)
    body: dict[str, Any] = json.loads(decoded.body)
    return body, decoded.usage


USER_HI = {"role": "user", "content": "Hi"}


def test_registered() -> None:
    assert ADAPTERS["cloudflare"] is CloudflareAdapter
    assert CloudflareAdapter.env_key == "CLOUDFLARE_API_KEY"
    assert CloudflareAdapter.caps.ops == frozenset({Op.CHAT})


@pytest.mark.parametrize(
    ("api_base", "expected"),
    [
        (
            None,
            "https://api.cloudflare.com/client/v4/accounts/023e105f4ecef8ad9ca31a8372d0c353"
            "/ai/run/@cf/meta/llama-3.1-8b-instruct",
        ),
        (
            "https://gw.example.com/v1/acct/workers-ai/",
            "https://gw.example.com/v1/acct/workers-ai/@cf/meta/llama-3.1-8b-instruct",
        ),
        (
            "https://gw.example.com/v1/acct/workers-ai",
            "https://gw.example.com/v1/acct/workers-ai/@cf/meta/llama-3.1-8b-instruct",
        ),
    ],
)
def test_url(api_base: str | None, expected: str) -> None:
    assert ADAPTER.url(dep(api_base=api_base), Op.CHAT, False) == expected


def test_url_without_account_is_a_clear_error() -> None:
    with pytest.raises(UpstreamError, match="CLOUDFLARE_ACCOUNT_ID"):
        ADAPTER.url(dep(settings={}), Op.CHAT, False)


def test_headers() -> None:
    assert ADAPTER.headers(dep()) == [
        ("content-type", "application/json"),
        ("authorization", "Bearer cf-test-token"),
    ]


def test_request_field_by_field() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    body = encode(
        {
            "messages": [{"role": "system", "content": "Be brief."}, USER_HI],
            "max_completion_tokens": 64,
            "temperature": 0.5,
            "top_p": 0.9,
            "seed": 3,
            "stop": ["\n\n"],
            "tools": tools,
            "user": "u-1",
            "n": 1,
        }
    )
    assert body == {
        "messages": [{"role": "system", "content": "Be brief."}, USER_HI],
        "temperature": 0.5,
        "top_p": 0.9,
        "seed": 3,
        "stop": ["\n\n"],
        "tools": tools,
        "max_tokens": 64,
    }


def test_stream_request() -> None:
    body = encode(
        {"messages": [USER_HI], "stream": True, "stream_options": {"include_usage": True}},
        stream=True,
    )
    assert body == {"messages": [USER_HI], "stream": True}


def test_unsupported_param_rejected_or_dropped() -> None:
    with pytest.raises(InvalidRequest) as exc:
        encode({"messages": [USER_HI], "logprobs": True})
    assert exc.value.param == "logprobs"
    assert "logprobs" not in encode({"messages": [USER_HI], "logprobs": True}, drop_params=True)


def test_response() -> None:
    body, usage = decode(
        {
            "result": {
                "response": "Hello! How can I help you today?",
                "tool_calls": [],
                "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29},
            },
            "success": True,
            "errors": [],
            "messages": [],
        }
    )
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == MODEL
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello! How can I help you today?"},
            "finish_reason": "stop",
        }
    ]
    assert body["usage"] == {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}
    assert usage == Usage(prompt_tokens=20, completion_tokens=9, total_tokens=29)


def test_tool_call_response() -> None:
    body, _ = decode(
        {
            "result": {
                "response": None,
                "tool_calls": [{"name": "get_weather", "arguments": {"location": "Lisbon"}}],
            },
            "success": True,
            "errors": [],
        }
    )
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_")
    assert call["type"] == "function"
    assert call["function"] == {"name": "get_weather", "arguments": '{"location":"Lisbon"}'}


def test_unsuccessful_envelope_is_an_error() -> None:
    payload = {
        "result": None,
        "success": False,
        "errors": [{"code": 5007, "message": "No such model"}],
    }
    with pytest.raises(UpstreamError, match="No such model"):
        decode(payload)


def test_stream() -> None:
    wire = (
        b'data: {"response":"Hel","p":"abc"}\n\n'
        b'data: {"response":"lo"}\n\n'
        b'data: {"response":"","usage":{"prompt_tokens":18,"completion_tokens":2,'
        b'"total_tokens":20}}\n\n'
        b"data: [DONE]\n\n"
    )
    parser = SSEParser()
    tx = ADAPTER.new_stream(dep(), Op.CHAT, True)
    chunks = [json.loads(c) for ev in parser.feed(wire) for c in tx.feed(ev)]
    assert len({c["id"] for c in chunks}) == 1
    assert [c["choices"] for c in chunks] == [
        [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}],
        [{"index": 0, "delta": {"content": "lo"}, "finish_reason": None}],
        [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        [],
    ]
    assert chunks[-1]["usage"] == {"prompt_tokens": 18, "completion_tokens": 2, "total_tokens": 20}
    assert tx.finish() == Usage(prompt_tokens=18, completion_tokens=2, total_tokens=20)


def test_stream_tool_calls_and_no_usage_chunk_unless_asked() -> None:
    wire = (
        b'data: {"response":"","tool_calls":[{"name":"f","arguments":{"a":1}}]}\n\ndata: [DONE]\n\n'
    )
    tx = ADAPTER.new_stream(dep(), Op.CHAT, False)
    chunks = [json.loads(c) for ev in SSEParser().feed(wire) for c in tx.feed(ev)]
    [call] = chunks[1]["choices"][0]["delta"]["tool_calls"]
    assert call["index"] == 0
    assert call["function"] == {"name": "f", "arguments": '{"a":1}'}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert all(c["choices"] for c in chunks)


def test_rate_limit() -> None:
    body = b'{"result":null,"success":false,"errors":[{"code":3040,"message":"Out of capacity"}]}'
    err = ADAPTER.map_error(429, {"retry-after": "2"}, body)
    assert isinstance(err, UpstreamRateLimited)
    assert err.headers["retry-after"] == "2"
    assert "code 3040" in err.message


def test_context_window() -> None:
    body = (
        b'{"success":false,"errors":[{"code":3030,"message":"AiError: Input exceeds the '
        b"model's context window"
        b'"}]}'
    )
    assert isinstance(ADAPTER.map_error(400, {}, body), ContextWindowExceeded)


def test_content_policy() -> None:
    body = (
        b'{"success":false,"errors":[{"code":3003,"message":"Request flagged as unsafe content"}]}'
    )
    assert isinstance(ADAPTER.map_error(400, {}, body), ContentPolicyViolation)


def test_non_json_error() -> None:
    err = ADAPTER.map_error(502, {}, b"<html>Bad gateway</html>")
    assert err.retryable
    assert "Bad gateway" in err.message
