"""The native /v1/messages relay: bytes unchanged, event names kept, usage read."""

from __future__ import annotations

import json

import pytest
from tianji_common.errors import UpstreamError

from tianji_gateway.providers._anthropic_native import NativeMessagesRelay, native_usage
from tianji_gateway.providers.anthropic import AnthropicAdapter
from tianji_gateway.providers.base import Op, Usage
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.streaming.sse import SSEEvent, SSEParser

DEP = Deployment(id="d", model_name="claude", provider="anthropic", model="claude-x", api_key="k")


def events() -> bytes:
    parts = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "usage": {
                        "input_tokens": 10,
                        "output_tokens": 1,
                        "cache_read_input_tokens": 4,
                        "cache_creation_input_tokens": 2,
                    },
                },
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "hi"},
            },
        ),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 9},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(f"event: {n}\ndata: {json.dumps(d)}\n\n".encode() for n, d in parts)


def test_frames_are_relayed_byte_for_byte_with_names() -> None:
    raw = events()
    relay = AnthropicAdapter().new_stream(DEP, Op.MESSAGES, include_usage=False)
    out = b"".join(b"".join(relay.feed(e)) for e in SSEParser().feed(raw))
    assert out == raw
    assert relay.finish() == Usage(
        prompt_tokens=16,
        completion_tokens=9,
        total_tokens=25,
        cached_tokens=4,
        cache_creation_tokens=2,
    )


def test_error_event_raises_mapped_error() -> None:
    relay = NativeMessagesRelay()
    with pytest.raises(UpstreamError) as e:
        relay.feed(
            SSEEvent(
                b'{"type":"error","error":{"type":"overloaded_error","message":"busy"}}', "error"
            )
        )
    assert e.value.message == "busy"
    assert e.value.body().error.type == "overloaded_error"


def test_body_passes_unchanged_and_usage_read() -> None:
    adapter = AnthropicAdapter()
    import msgspec

    body = {
        "model": msgspec.Raw(b'"claude-x"'),
        "max_tokens": msgspec.Raw(b"5"),
        "messages": msgspec.Raw(b'[{"role":"user","content":"x"}]'),
        "metadata": msgspec.Raw(b'{"user_id":"u"}'),
    }
    assert json.loads(adapter.encode_request(body, DEP, Op.MESSAGES, False)) == {
        "model": "claude-x",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "x"}],
        "metadata": {"user_id": "u"},
    }
    resp = b'{"id":"msg","usage":{"input_tokens":3,"output_tokens":4}}'
    decoded = adapter.decode_response(resp, DEP, Op.MESSAGES)
    assert decoded.body == resp
    assert decoded.usage == Usage(prompt_tokens=3, completion_tokens=4, total_tokens=7)
    assert native_usage(b"not json") == Usage()
