"""Anthropic adapter: responses, streams and errors translated to OpenAI's shapes."""

from __future__ import annotations

import itertools
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.anthropic_cases import (
    ADAPTER,
    MODEL,
    TRANSCRIPTS,
    dep,
)
from tianji_common.errors import UpstreamError

from tianji_gateway.providers.base import Op, Usage
from tianji_gateway.streaming.sse import SSEEvent, SSEParser

# --- class attributes, url, headers --------------------------------------------------


def anthropic_message(content: list[dict[str, Any]], **kw: Any) -> bytes:
    msg = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    } | kw
    return json.dumps(msg, separators=(",", ":")).encode()  # compact, as Anthropic sends


def decode(raw: bytes) -> tuple[dict[str, Any], Usage, str | None]:
    decoded = ADAPTER.decode_response(raw, dep(), Op.CHAT)
    body: dict[str, Any] = json.loads(decoded.body)
    assert isinstance(body.pop("created"), int)
    return body, decoded.usage, decoded.model


PLAIN_USAGE = {
    "prompt_tokens": 10,
    "completion_tokens": 5,
    "total_tokens": 15,
    "prompt_tokens_details": {"cached_tokens": 0, "cache_creation_tokens": 0},
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
}


def test_decode_text() -> None:
    body, usage, model = decode(
        anthropic_message([{"type": "text", "text": "Hello"}, {"type": "text", "text": "!"}])
    )
    assert body == {
        "id": "msg_01",
        "object": "chat.completion",
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello!"},
                "finish_reason": "stop",
            }
        ],
        "usage": PLAIN_USAGE,
    }
    assert usage == Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15)
    assert model == MODEL


def test_decode_tool_calls() -> None:
    raw = anthropic_message(
        [
            {"type": "text", "text": "Let me check."},
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "get_weather",
                "input": {"location": "SF"},
            },
            {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}},
        ],
        stop_reason="tool_use",
    )
    body, _, _ = decode(raw)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [
            {
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"location":"SF"}'},
            },
            {
                "id": "toolu_2",
                "type": "function",
                "function": {"name": "get_time", "arguments": "{}"},
            },
        ],
    }
    calls = choice["message"]["tool_calls"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"location": "SF"}


def test_decode_only_tool_calls_has_null_content() -> None:
    raw = anthropic_message(
        [{"type": "tool_use", "id": "t", "name": "f", "input": {}}], stop_reason="tool_use"
    )
    assert decode(raw)[0]["choices"][0]["message"]["content"] is None


def test_decode_thinking() -> None:
    raw = anthropic_message(
        [
            {"type": "thinking", "thinking": "Let me think.", "signature": "sig1"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "42"},
        ],
        usage={
            "input_tokens": 10,
            "output_tokens": 50,
            "output_tokens_details": {"thinking_tokens": 30},
        },
    )
    body, usage, _ = decode(raw)
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "42",
        "reasoning_content": "Let me think.",
        "thinking_blocks": [
            {"type": "thinking", "thinking": "Let me think.", "signature": "sig1"},
            {"type": "redacted_thinking", "data": "opaque"},
        ],
    }
    assert body["usage"]["completion_tokens_details"] == {"reasoning_tokens": 30}
    assert usage.reasoning_tokens == 30


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        ("model_context_window_exceeded", "length"),
    ],
)
def test_decode_stop_reasons(stop_reason: str, finish: str) -> None:
    raw = anthropic_message([{"type": "text", "text": "x"}], stop_reason=stop_reason)
    assert decode(raw)[0]["choices"][0]["finish_reason"] == finish


def test_decode_usage_with_cache() -> None:
    raw = anthropic_message(
        [{"type": "text", "text": "x"}],
        usage={
            "input_tokens": 20,
            "output_tokens": 7,
            "cache_creation_input_tokens": 1000,
            "cache_read_input_tokens": 3000,
        },
    )
    body, usage, _ = decode(raw)
    assert body["usage"] == {
        "prompt_tokens": 4020,
        "completion_tokens": 7,
        "total_tokens": 4027,
        "prompt_tokens_details": {"cached_tokens": 3000, "cache_creation_tokens": 1000},
        "cache_creation_input_tokens": 1000,
        "cache_read_input_tokens": 3000,
    }
    assert usage == Usage(
        prompt_tokens=4020,
        completion_tokens=7,
        total_tokens=4027,
        cached_tokens=3000,
        cache_creation_tokens=1000,
    )


def test_decode_json_mode_tool_becomes_content() -> None:
    raw = anthropic_message(
        [{"type": "tool_use", "id": "t", "name": "json_tool_call", "input": {"name": "Ada"}}],
        stop_reason="tool_use",
    )
    choice = decode(raw)[0]["choices"][0]
    assert choice == {
        "index": 0,
        "message": {"role": "assistant", "content": '{"name":"Ada"}'},
        "finish_reason": "stop",
    }


def test_decode_error_and_garbage() -> None:
    err = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    with pytest.raises(UpstreamError) as info:
        ADAPTER.decode_response(err, dep(), Op.CHAT)
    assert info.value.http_status == 529
    with pytest.raises(UpstreamError):
        ADAPTER.decode_response(b"<html>", dep(), Op.CHAT)


# --- streaming -----------------------------------------------------------------------


def transcript(name: str) -> bytes:
    return (TRANSCRIPTS / name).read_bytes()


def run_stream(data: bytes, *, include_usage: bool, splits: list[int] | None = None) -> Any:
    transformer = ADAPTER.new_stream(dep(), Op.CHAT, include_usage)
    parser = SSEParser()
    pieces = [data] if splits is None else _split(data, splits)
    events = [ev for piece in pieces for ev in parser.feed(piece)] + parser.flush()
    chunks = [json.loads(out) for ev in events for out in transformer.feed(ev)]
    return chunks, transformer.finish()


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def chunk(
    delta: dict[str, Any], finish: str | None = None, msg_id: str = "msg_014p7gG3wDgGV9EUtLvnow3U"
) -> dict[str, Any]:
    return {
        "id": msg_id,
        "object": "chat.completion.chunk",
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def tool_delta(index: int, arguments: str, **head: Any) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index}
    if head:
        call |= {"id": head["id"], "type": "function"}
        return {"tool_calls": [call | {"function": {"name": head["name"], "arguments": arguments}}]}
    return {"tool_calls": [call | {"function": {"arguments": arguments}}]}


STREAM_USAGE = {
    "prompt_tokens": 872,
    "completion_tokens": 89,
    "total_tokens": 961,
    "prompt_tokens_details": {"cached_tokens": 300, "cache_creation_tokens": 100},
    "cache_creation_input_tokens": 100,
    "cache_read_input_tokens": 300,
}


def strip_created(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    created = {c.pop("created") for c in chunks}
    assert len(created) == 1
    assert isinstance(created.pop(), int)
    return chunks


def test_stream_text_then_tools() -> None:
    chunks, usage = run_stream(transcript("text_then_tool.sse"), include_usage=True)
    assert strip_created(chunks) == [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Okay"}),
        chunk({"content": ", let me check the weather."}),
        chunk(tool_delta(0, "", id="toolu_01T1x1fJ34qAmk2tNTrN7Up6", name="get_weather")),
        chunk(tool_delta(0, '{"location":')),
        chunk(tool_delta(0, ' "San Fra')),
        chunk(tool_delta(0, 'ncisco, CA", "unit": "fah')),
        chunk(tool_delta(0, 'renheit"}')),
        chunk(tool_delta(1, "", id="toolu_02AbCdEf", name="get_time")),
        chunk(tool_delta(1, '{"tz": "PST"}')),
        chunk({}, "tool_calls"),
        {
            "id": "msg_014p7gG3wDgGV9EUtLvnow3U",
            "object": "chat.completion.chunk",
            "model": MODEL,
            "choices": [],
            "usage": STREAM_USAGE,
        },
    ]
    assert usage == Usage(
        prompt_tokens=872,
        completion_tokens=89,
        total_tokens=961,
        cached_tokens=300,
        cache_creation_tokens=100,
    )
    arguments: dict[int, str] = {}
    for c in chunks:
        for call in (c["choices"] or [{}])[0].get("delta", {}).get("tool_calls", []):
            arguments[call["index"]] = (
                arguments.get(call["index"], "") + call["function"]["arguments"]
            )
    assert {i: json.loads(a) for i, a in arguments.items()} == {
        0: {"location": "San Francisco, CA", "unit": "fahrenheit"},
        1: {"tz": "PST"},
    }


def test_stream_without_include_usage() -> None:
    chunks, usage = run_stream(transcript("text_then_tool.sse"), include_usage=False)
    assert all(c["choices"] for c in chunks)
    assert "usage" not in chunks[-1]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert usage == Usage(
        prompt_tokens=872,
        completion_tokens=89,
        total_tokens=961,
        cached_tokens=300,
        cache_creation_tokens=100,
    )


def test_stream_thinking() -> None:
    chunks, usage = run_stream(transcript("thinking.sse"), include_usage=False)
    assert strip_created(chunks) == [
        chunk({"role": "assistant", "content": ""}, msg_id="msg_01Think"),
        chunk(
            {
                "reasoning_content": "2+2 is 4.",
                "thinking_blocks": [{"type": "thinking", "thinking": "2+2 is 4.", "signature": ""}],
            },
            msg_id="msg_01Think",
        ),
        chunk(
            {
                "thinking_blocks": [
                    {"type": "thinking", "thinking": "", "signature": "EqQBCgIYAhIM"}
                ]
            },
            msg_id="msg_01Think",
        ),
        chunk({"content": "4"}, msg_id="msg_01Think"),
        chunk({}, "stop", msg_id="msg_01Think"),
    ]
    assert usage == Usage(
        prompt_tokens=40, completion_tokens=30, total_tokens=70, reasoning_tokens=20
    )


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + json.dumps(e).encode() + b"\n\n"
        for e in events
    )


START = {
    "type": "message_start",
    "message": {"id": "msg_j", "model": MODEL, "content": [], "usage": {"input_tokens": 5}},
}


def test_stream_json_mode_tool_becomes_content() -> None:
    data = sse(
        START,
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "t", "name": "json_tool_call", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"a":'},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": " 1}"},
        },
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 3},
        },
        {"type": "message_stop"},
    )
    chunks, _ = run_stream(data, include_usage=False)
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": '{"a":'},
        {"content": " 1}"},
        {},
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_stream_message_delta_usage_overrides_start() -> None:
    data = sse(
        START,
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"input_tokens": 9, "cache_read_input_tokens": 4, "output_tokens": 2},
        },
    )
    _, usage = run_stream(data, include_usage=True)
    assert usage == Usage(prompt_tokens=13, completion_tokens=2, total_tokens=15, cached_tokens=4)


def test_stream_error_event_raises() -> None:
    transformer = ADAPTER.new_stream(dep(), Op.CHAT, True)
    transformer.feed(SSEEvent(json.dumps(START).encode(), "message_start"))
    error = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    with pytest.raises(UpstreamError) as info:
        transformer.feed(SSEEvent(error, "error"))
    assert info.value.http_status == 529
    assert info.value.retryable is True
    assert info.value.body().error.type == "overloaded_error"
    assert info.value.message == "Overloaded"


def test_stream_finish_before_start_is_none() -> None:
    transformer = ADAPTER.new_stream(dep(), Op.CHAT, True)
    assert transformer.feed(SSEEvent(b'{"type":"ping"}', "ping")) == []
    assert transformer.finish() is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=30))
def test_stream_any_split_gives_same_chunks(cuts: list[int]) -> None:
    data = transcript("text_then_tool.sse")
    whole, whole_usage = run_stream(data, include_usage=True)
    split, split_usage = run_stream(data, include_usage=True, splits=cuts)
    assert strip_created(split) == strip_created(whole)
    assert split_usage == whole_usage


# --- errors --------------------------------------------------------------------------


def error_body(type_: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": type_, "message": message}}).encode()


@pytest.mark.parametrize(
    ("status", "type_", "retryable"),
    [
        (400, "invalid_request_error", False),
        (401, "authentication_error", False),
        (403, "permission_error", False),
        (404, "not_found_error", False),
        (413, "request_too_large", False),
        (429, "rate_limit_error", True),
        (500, "api_error", True),
        (529, "overloaded_error", True),
    ],
)
def test_map_error_classes(status: int, type_: str, retryable: bool) -> None:
    err = ADAPTER.map_error(status, {}, error_body(type_, "boom"))
    assert err.http_status == status
    assert err.retryable is retryable
    assert msgspec.to_builtins(err.body()) == {
        "error": {"message": "boom", "type": type_, "param": None, "code": str(status)}
    }


def test_map_error_keeps_retry_after() -> None:
    err = ADAPTER.map_error(429, {"Retry-After": "7"}, error_body("rate_limit_error", "slow"))
    assert err.headers == {"retry-after": "7"}
    assert ADAPTER.map_error(400, {"retry-after": "7"}, error_body("x", "y")).headers == {}


@pytest.mark.parametrize(
    "message",
    [
        "prompt is too long: 208310 tokens > 200000 maximum",
        "input length and `max_tokens` exceed context limit: 198000 + 8192 > 200000",
    ],
)
def test_map_error_context_length(message: str) -> None:
    err = ADAPTER.map_error(400, {}, error_body("invalid_request_error", message))
    assert err.body().error.code == "context_length_exceeded"
    assert err.body().error.type == "invalid_request_error"
    assert err.retryable is False


def test_map_error_content_policy() -> None:
    body = error_body("invalid_request_error", "Output blocked by content filtering policy")
    assert ADAPTER.map_error(400, {}, body).body().error.code == "content_policy_violation"


def test_map_error_spend_limit_not_retryable() -> None:
    body = json.dumps(
        {
            "type": "error",
            "error": {
                "type": "rate_limit_error",
                "message": "spend limit reached",
                "details": {"error_code": "enforced_spend_limit_reached"},
            },
        }
    ).encode()
    assert ADAPTER.map_error(429, {}, body).retryable is False


def test_map_error_non_json_body() -> None:
    err = ADAPTER.map_error(502, {}, b"<html>Bad gateway</html>")
    assert err.http_status == 502
    assert err.message == "<html>Bad gateway</html>"
    assert err.body().error.type == "api_error"
    assert ADAPTER.map_error(503, {}, b"").message == "anthropic returned HTTP 503"
