"""MessagesBridge: Anthropic Messages on top of any chat adapter, both directions."""

from __future__ import annotations

import itertools
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tianji_common.errors import InvalidRequest, UpstreamRateLimited

from tianji_gateway.api.messages import approximate_tokens
from tianji_gateway.providers._messages_bridge import MessagesBridge
from tianji_gateway.providers._messages_translate import reasoning_effort
from tianji_gateway.providers.anthropic import AnthropicAdapter
from tianji_gateway.providers.base import (
    ChunkTransformer,
    Op,
    OpenAIChunkRelay,
    ProviderAdapter,
    ProviderCaps,
    Usage,
    error_from_status,
)
from tianji_gateway.providers.openai import OpenAIAdapter
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.streaming.sse import SSEEvent, SSEParser

BRIDGE = MessagesBridge(OpenAIAdapter())


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d1",
        "model_name": "gpt",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "api_key": "sk-openai-test",
        "api_base": "http://vendor.test/v1",
    }
    return Deployment(**(base | kw))


def raw_body(body: dict[str, Any]) -> dict[str, msgspec.Raw]:
    return msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])


def encode(
    body: dict[str, Any], *, stream: bool = False, bridge: MessagesBridge = BRIDGE, **kw: Any
) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(
        bridge.encode_request(raw_body(body), dep(**kw), Op.MESSAGES, stream)
    )
    return out


HI = {"role": "user", "content": "hi"}


# --- transport hooks delegate with Op.CHAT --------------------------------------------


def test_transport_delegates_to_inner_chat() -> None:
    d = dep()
    assert BRIDGE.caps.ops == frozenset({Op.MESSAGES})
    assert BRIDGE.name == "openai"
    assert BRIDGE.url(d, Op.MESSAGES, False) == "http://vendor.test/v1/chat/completions"
    assert BRIDGE.headers(d) == [
        ("content-type", "application/json"),
        ("authorization", "Bearer sk-openai-test"),
    ]
    assert BRIDGE.token_request(d, 0.0) is None
    assert BRIDGE.follow_up(d, Op.MESSAGES, False, 200, b"{}") is None
    err = BRIDGE.map_error(429, {"retry-after": "3"}, b'{"error":{"message":"slow down"}}')
    assert isinstance(err, UpstreamRateLimited)
    assert err.headers["retry-after"] == "3"


# --- request translation -------------------------------------------------------------


def test_minimal_request() -> None:
    body = {"model": "gpt-4o-mini", "max_tokens": 64, "messages": [HI]}
    assert encode(body) == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 64,
    }


def test_system_string_and_sampling_params() -> None:
    body = {
        "model": "gpt-4o-mini",
        "max_tokens": 10,
        "system": "be brief",
        "messages": [HI],
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 5,
        "stop_sequences": ["END", "STOP"],
        "metadata": {"user_id": "user-42"},
    }
    assert encode(body) == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "be brief"}, HI],
        "max_tokens": 10,
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 5,
        "stop": ["END", "STOP"],
        "user": "user-42",
    }


def test_system_blocks_joined_for_openai_wire() -> None:
    system = [
        {"type": "text", "text": "one", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "two"},
    ]
    out = encode({"model": "m", "max_tokens": 5, "system": system, "messages": [HI]})
    assert out["messages"][0] == {"role": "system", "content": "one\ntwo"}


def test_system_blocks_kept_for_native_translators() -> None:
    system = [{"type": "text", "text": "one", "cache_control": {"type": "ephemeral"}}]
    bridge = MessagesBridge(AnthropicAdapter())
    body = {"model": "m", "max_tokens": 5, "system": system, "messages": [HI]}
    out = encode(body, bridge=bridge, provider="anthropic", model="claude-x")
    assert out["system"] == [
        {"type": "text", "text": "one", "cache_control": {"type": "ephemeral"}}
    ]


def test_images_base64_and_url() -> None:
    content = [
        {"type": "text", "text": "what is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
        {"type": "image", "source": {"type": "url", "url": "https://x.test/cat.jpg"}},
    ]
    out = encode(
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": content}]}
    )
    assert out["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
                {"type": "image_url", "image_url": {"url": "https://x.test/cat.jpg"}},
            ],
        }
    ]


TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
OPENAI_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": TOOL["input_schema"],
    },
}


def test_tool_conversation() -> None:
    messages = [
        {"role": "user", "content": "weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "call the tool", "signature": "sig"},
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C sunny"},
                {"type": "text", "text": "and tomorrow?"},
            ],
        },
    ]
    body = {
        "model": "m",
        "max_tokens": 100,
        "messages": messages,
        "tools": [TOOL],
        "tool_choice": {"type": "auto"},
    }
    out = encode(body)
    assert out["tools"] == [OPENAI_TOOL]
    assert out["tool_choice"] == "auto"
    assert out["messages"] == [
        {"role": "user", "content": "weather in Paris?"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "toolu_01",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_01", "content": "18C sunny"},
        {"role": "user", "content": [{"type": "text", "text": "and tomorrow?"}]},
    ]


def test_tool_result_block_list_content() -> None:
    result = {
        "type": "tool_result",
        "tool_use_id": "t1",
        "content": [
            {"type": "text", "text": "chart:"},
            {"type": "image", "source": {"type": "url", "url": "https://x.test/c.png"}},
        ],
    }
    single = {
        "type": "tool_result",
        "tool_use_id": "t2",
        "content": [{"type": "text", "text": "ok"}],
    }
    msg = {"role": "user", "content": [result, single]}
    out = encode({"model": "m", "max_tokens": 5, "messages": [msg]})
    assert out["messages"] == [
        {
            "role": "tool",
            "tool_call_id": "t1",
            "content": [
                {"type": "text", "text": "chart:"},
                {"type": "image_url", "image_url": {"url": "https://x.test/c.png"}},
            ],
        },
        {"role": "tool", "tool_call_id": "t2", "content": "ok"},
    ]


def test_thinking_blocks_go_to_native_translators_only() -> None:
    assistant = {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "s1"},
            {"type": "text", "text": "A"},
        ],
    }
    body = {"model": "m", "max_tokens": 5, "messages": [HI, assistant, HI]}
    assert "thinking_blocks" not in encode(body)["messages"][1]
    bridge = MessagesBridge(AnthropicAdapter())
    native = encode(body, bridge=bridge, provider="anthropic", model="claude-x")
    assert native["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": "hmm",
        "signature": "s1",
    }


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        (
            {"type": "tool", "name": "get_weather"},
            {"type": "function", "function": {"name": "get_weather"}},
        ),
    ],
)
def test_tool_choice(choice: dict[str, Any], expected: object) -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [HI], "tools": [TOOL], "tool_choice": choice}
    assert encode(body)["tool_choice"] == expected


def test_disable_parallel_tool_use() -> None:
    choice = {"type": "auto", "disable_parallel_tool_use": True}
    body = {"model": "m", "max_tokens": 5, "messages": [HI], "tools": [TOOL], "tool_choice": choice}
    out = encode(body)
    assert out["parallel_tool_calls"] is False


def test_bad_tool_choice_rejected() -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "messages": [HI],
        "tools": [TOOL],
        "tool_choice": {"type": "x"},
    }
    with pytest.raises(InvalidRequest):
        encode(body)


def test_server_tools_dropped_web_search_mapped() -> None:
    tools = [
        TOOL,
        {"type": "web_search_20250305", "name": "web_search"},
        {"type": "bash_20250124", "name": "bash"},
    ]
    out = encode({"model": "m", "max_tokens": 5, "messages": [HI], "tools": tools})
    assert out["tools"] == [OPENAI_TOOL]
    assert out["web_search_options"] == {}


@pytest.mark.parametrize(
    ("budget", "effort"),
    [
        (0, "minimal"),
        (1023, "minimal"),
        (1024, "low"),
        (2048, "medium"),
        (4096, "high"),
        (32000, "high"),
    ],
)
def test_thinking_budget_to_reasoning_effort(budget: int, effort: str) -> None:
    thinking = {"type": "enabled", "budget_tokens": budget}
    out = encode({"model": "m", "max_tokens": 5, "messages": [HI], "thinking": thinking})
    assert out["reasoning_effort"] == effort
    assert "thinking" not in out


def test_thinking_disabled_and_adaptive() -> None:
    assert reasoning_effort({"type": "disabled"}) is None
    assert reasoning_effort({"type": "adaptive"}) == "medium"


def test_thinking_kept_for_claude_models() -> None:
    thinking = {"type": "enabled", "budget_tokens": 2048}
    body = {"model": "m", "max_tokens": 5000, "messages": [HI], "thinking": thinking}
    # The pipeline puts the upstream model id into the body before the bridge sees it.
    body["model"] = "anthropic.claude-3-7-sonnet"
    out = encode(body)
    assert out["thinking"] == thinking
    assert "reasoning_effort" not in out


def test_stream_adds_include_usage_when_vendor_takes_it() -> None:
    out = encode({"model": "m", "max_tokens": 5, "messages": [HI], "stream": True}, stream=True)
    assert out["stream"] is True
    assert out["stream_options"] == {"include_usage": True}

    class NoUsage(ProviderAdapter):
        caps = ProviderCaps(stream_usage=False)

    out = encode(
        {"model": "m", "max_tokens": 5, "messages": [HI], "stream": True},
        stream=True,
        bridge=MessagesBridge(NoUsage()),
    )
    assert "stream_options" not in out


def test_anthropic_only_fields_dropped_unknown_forwarded() -> None:
    body = {
        "model": "m",
        "max_tokens": 5,
        "messages": [HI],
        "container": "c1",
        "mcp_servers": [],
        "seed": 7,
    }
    out = encode(body)
    assert "container" not in out
    assert "mcp_servers" not in out
    assert out["seed"] == 7


def test_inner_map_params_applies() -> None:
    class NoTopK(ProviderAdapter):
        caps = ProviderCaps(unsupported_params=frozenset({"top_k"}))

    bridge = MessagesBridge(NoTopK())
    body = {"model": "m", "max_tokens": 5, "messages": [HI], "top_k": 3}
    with pytest.raises(InvalidRequest, match="top_k"):
        encode(body, bridge=bridge)
    assert "top_k" not in encode(body, bridge=bridge, drop_params=True)


def test_native_inner_encodes_its_own_wire() -> None:
    bridge = MessagesBridge(AnthropicAdapter())
    body = {"model": "claude-x", "max_tokens": 64, "system": "s", "messages": [HI]}
    out = encode(body, bridge=bridge, provider="anthropic", model="claude-x")
    assert out["system"] == [{"type": "text", "text": "s"}]
    assert out["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


def test_empty_messages_rejected() -> None:
    with pytest.raises(InvalidRequest):
        encode({"model": "m", "max_tokens": 5, "messages": []})


# --- response translation ------------------------------------------------------------


def completion(message: dict[str, Any], finish: str, **extra: Any) -> bytes:
    body = {
        "id": "chatcmpl-abc",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": 20,
            "completion_tokens": 9,
            "total_tokens": 29,
            "prompt_tokens_details": {"cached_tokens": 4},
        },
        **extra,
    }
    return json.dumps(body).encode()


def test_response_text() -> None:
    raw = completion({"role": "assistant", "content": "Hello!"}, "stop")
    decoded = BRIDGE.decode_response(raw, dep(), Op.MESSAGES)
    assert json.loads(decoded.body) == {
        "id": "msg_chatcmpl-abc",
        "type": "message",
        "role": "assistant",
        "model": "gpt-4o-mini-2024-07-18",
        "content": [{"type": "text", "text": "Hello!"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 16,
            "output_tokens": 9,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 4,
        },
    }
    assert decoded.usage == Usage(
        prompt_tokens=20, completion_tokens=9, total_tokens=29, cached_tokens=4
    )
    assert decoded.model == "gpt-4o-mini-2024-07-18"


def test_response_tool_calls_and_reasoning() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "reasoning_content": "need weather",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            {"id": "call_2", "type": "function", "function": {"name": "noop", "arguments": ""}},
        ],
    }
    body = json.loads(
        BRIDGE.decode_response(completion(message, "tool_calls"), dep(), Op.MESSAGES).body
    )
    assert body["content"] == [
        {"type": "thinking", "thinking": "need weather", "signature": ""},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "noop", "input": {}},
    ]
    assert body["stop_reason"] == "tool_use"


@pytest.mark.parametrize(
    ("finish", "reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("content_filter", "refusal"),
        ("weird", "end_turn"),
    ],
)
def test_stop_reasons(finish: str, reason: str) -> None:
    raw = completion({"role": "assistant", "content": "x"}, finish)
    assert json.loads(BRIDGE.decode_response(raw, dep(), Op.MESSAGES).body)["stop_reason"] == reason


def test_response_through_native_inner() -> None:
    """An Anthropic answer decoded by the inner adapter, then back to Messages."""
    bridge = MessagesBridge(AnthropicAdapter())
    vendor = {
        "id": "msg_01X",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": "Hi"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 2},
    }
    d = dep(provider="anthropic", model="claude-x")
    body = json.loads(bridge.decode_response(json.dumps(vendor).encode(), d, Op.MESSAGES).body)
    assert body["id"] == "msg_01X"
    assert body["content"] == [{"type": "text", "text": "Hi"}]
    assert body["stop_reason"] == "end_turn"
    assert body["usage"]["input_tokens"] == 5
    assert body["usage"]["output_tokens"] == 2


# --- streaming -----------------------------------------------------------------------


def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "chatcmpl-s1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
    }
    if delta is None:
        return base | {"choices": []} | extra
    return base | {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]} | extra


def tool_delta(
    index: int, args: str, call_id: str | None = None, name: str | None = None
) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if call_id:
        call |= {"id": call_id, "type": "function"}
        call["function"]["name"] = name
    return {"tool_calls": [call]}


STREAM = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"reasoning_content": "think"}),
    chunk({"content": "Let me"}),
    chunk({"content": " check."}),
    chunk(tool_delta(0, "", "call_a", "get_weather")),
    chunk(tool_delta(0, '{"city":')),
    chunk(tool_delta(0, '"Paris"}')),
    chunk(tool_delta(1, '{"x":1}', "call_b", "noop")),
    chunk({}, "tool_calls"),
    chunk(None, usage={"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42}),
]


def sse_bytes(chunks: list[dict[str, Any]]) -> bytes:
    return (
        b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
    )


def run_stream(raw: bytes, splits: list[int] | None = None) -> tuple[list[bytes], Usage | None]:
    tx = BRIDGE.new_stream(dep(), Op.MESSAGES, False)
    assert getattr(tx, "framed", False) is True
    parser = SSEParser()
    out: list[bytes] = []
    cuts = [0, *sorted(splits or []), len(raw)]
    for a, b in itertools.pairwise(cuts):
        for ev in parser.feed(raw[a:b]):
            out.extend(tx.feed(ev))
    for ev in parser.flush():
        out.extend(tx.feed(ev))
    return out, tx.finish()


def parse_frames(frames: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
    events = SSEParser().feed(b"".join(frames))
    return [(e.event or "", json.loads(e.data)) for e in events]


EXPECTED = [
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_chatcmpl-s1",
                "type": "message",
                "role": "assistant",
                "model": "gpt-4o-mini",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            },
        },
    ),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "think"},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "text_delta", "text": "Let me"},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "text_delta", "text": " check."},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {
                "type": "tool_use",
                "id": "call_a",
                "name": "get_weather",
                "input": {},
            },
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": '{"city":'},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 2}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 3,
            "content_block": {"type": "tool_use", "id": "call_b", "name": "noop", "input": {}},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 3,
            "delta": {"type": "input_json_delta", "partial_json": '{"x":1}'},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 3}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {
                "input_tokens": 30,
                "output_tokens": 12,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        },
    ),
    ("message_stop", {"type": "message_stop"}),
]


def test_stream_text_thinking_tools_exact_events() -> None:
    frames, usage = run_stream(sse_bytes(STREAM))
    assert parse_frames(frames) == EXPECTED
    assert frames[0].startswith(b"event: message_start\ndata: {")
    assert usage == Usage(prompt_tokens=30, completion_tokens=12, total_tokens=42)


def test_stream_without_usage_chunk_ends_on_done() -> None:
    chunks = [chunk({"role": "assistant", "content": "Hi"}), chunk({}, "length")]
    events = parse_frames(run_stream(sse_bytes(chunks))[0])
    assert [e for e, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[4][1]["delta"]["stop_reason"] == "max_tokens"
    assert events[4][1]["usage"]["output_tokens"] == 0


def test_stream_empty_still_well_formed() -> None:
    events = parse_frames(run_stream(b"data: [DONE]\n\n")[0])
    assert [e for e, _ in events] == ["message_start", "message_delta", "message_stop"]
    assert events[1][1]["delta"]["stop_reason"] == "end_turn"


def test_stream_inner_errors_propagate() -> None:
    class Failing(OpenAIChunkRelay):
        def feed(self, event: SSEEvent) -> list[bytes]:
            raise error_from_status(429, "slow down")

    class Inner(ProviderAdapter):
        def new_stream(self, dep: Deployment, op: Op, include_usage: bool) -> ChunkTransformer:
            assert op is Op.CHAT
            assert include_usage is True
            return Failing(include_usage)

    tx = MessagesBridge(Inner()).new_stream(dep(), Op.MESSAGES, False)
    with pytest.raises(UpstreamRateLimited):
        tx.feed(SSEEvent(b"{}"))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(sse_bytes(STREAM))), max_size=12))
def test_stream_any_byte_split_gives_same_events(splits: list[int]) -> None:
    frames, _ = run_stream(sse_bytes(STREAM), splits)
    assert parse_frames(frames) == EXPECTED


# --- count_tokens approximation ------------------------------------------------------


def test_approximate_tokens() -> None:
    body = {
        "model": "m",
        "system": "x" * 40,
        "messages": [
            {"role": "user", "content": "y" * 80},
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "A" * 9999},
                    }
                ],
            },
        ],
    }
    # 120 chars / 4 + one image + 2 messages * 3 + 3
    assert approximate_tokens(body) == 30 + 250 + 6 + 3
    with_tools = approximate_tokens(body | {"tools": [TOOL]})
    assert with_tools > approximate_tokens(body)
