"""Bedrock: Converse answers, errors, the binary event stream, embeddings and rerank."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.bedrock_cases import (
    ADAPTER,
    MODEL,
    dep,
    raw_body,
)
from tianji_common.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    InvalidRequest,
    UpstreamError,
    UpstreamRateLimited,
)

from tianji_gateway.providers._bedrock_eventstream import EventStreamParser, decode_headers
from tianji_gateway.providers.base import Op, Usage
from tianji_gateway.streaming.sse import SSEEvent

# --- responses -------------------------------------------------------------------------

CONVERSE_TEXT = {
    "output": {"message": {"role": "assistant", "content": [{"text": "Hello! How can I help?"}]}},
    "stopReason": "end_turn",
    "usage": {
        "inputTokens": 11,
        "outputTokens": 9,
        "totalTokens": 150,
        "cacheReadInputTokens": 100,
        "cacheWriteInputTokens": 30,
    },
    "metrics": {"latencyMs": 617},
}
CONVERSE_TOOL = {
    "output": {
        "message": {
            "role": "assistant",
            "content": [
                {
                    "reasoningContent": {
                        "reasoningText": {"text": "Need weather.", "signature": "EqoBCkgIARAB"}
                    }
                },
                {"text": "I'll check."},
                {
                    "toolUse": {
                        "toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    }
                },
            ],
        }
    },
    "stopReason": "tool_use",
    "usage": {"inputTokens": 402, "outputTokens": 61, "totalTokens": 463},
    "metrics": {"latencyMs": 1412},
}


def decode(payload: dict[str, Any]) -> dict[str, Any]:
    """Decode a vendor answer sent as compact JSON, as AWS sends it."""
    wire = json.dumps(payload, separators=(",", ":")).encode()
    decoded = ADAPTER.decode_response(wire, dep(), Op.CHAT)
    out: dict[str, Any] = json.loads(decoded.body)
    return out


def test_decode_text_with_cache_usage() -> None:
    decoded = ADAPTER.decode_response(json.dumps(CONVERSE_TEXT).encode(), dep(), Op.CHAT)
    out = json.loads(decoded.body)
    assert out["id"].startswith("chatcmpl-")
    assert out["object"] == "chat.completion"
    assert out["model"] == MODEL
    assert out["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello! How can I help?"},
            "finish_reason": "stop",
        }
    ]
    assert out["usage"] == {
        "prompt_tokens": 141,
        "completion_tokens": 9,
        "total_tokens": 150,
        "prompt_tokens_details": {"cached_tokens": 100},
        "cache_creation_input_tokens": 30,
        "cache_read_input_tokens": 100,
    }
    assert decoded.usage == Usage(
        prompt_tokens=141,
        completion_tokens=9,
        total_tokens=150,
        cached_tokens=100,
        cache_creation_tokens=30,
    )


def test_decode_tool_use_and_reasoning() -> None:
    message = decode(CONVERSE_TOOL)["choices"][0]
    assert message["finish_reason"] == "tool_calls"
    assert message["message"] == {
        "role": "assistant",
        "content": "I'll check.",
        "tool_calls": [
            {
                "id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
        "reasoning_content": "Need weather.",
        "thinking_blocks": [
            {"type": "thinking", "thinking": "Need weather.", "signature": "EqoBCkgIARAB"}
        ],
    }


def test_decode_json_mode_answer_is_content() -> None:
    payload = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {
                        "toolUse": {
                            "toolUseId": "t",
                            "name": "json_tool_call",
                            "input": {"answer": "42"},
                        }
                    }
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 5, "outputTokens": 5, "totalTokens": 10},
    }
    choice = decode(payload)["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": '{"answer":"42"}'}
    assert choice["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
    ],
)
def test_stop_reasons(stop: str, finish: str) -> None:
    assert decode({**CONVERSE_TEXT, "stopReason": stop})["choices"][0]["finish_reason"] == finish


def test_malformed_answer_is_502() -> None:
    with pytest.raises(UpstreamError) as e:
        ADAPTER.decode_response(b"<html>", dep(), Op.CHAT)
    assert e.value.http_status == 502


# --- errors ------------------------------------------------------------------------------


def aws_error(kind: str) -> dict[str, str]:
    return {"x-amzn-errortype": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"}


def test_map_error_classes() -> None:
    throttled = ADAPTER.map_error(
        429,
        {**aws_error("ThrottlingException"), "retry-after": "3"},
        b'{"message":"Too many tokens, please wait before trying again."}',
    )
    assert isinstance(throttled, UpstreamRateLimited)
    assert throttled.headers["retry-after"] == "3"
    too_long = ADAPTER.map_error(
        400,
        aws_error("ValidationException"),
        b'{"message":"Input is too long for requested model."}',
    )
    assert isinstance(too_long, ContextWindowExceeded)
    assert too_long.body().error.code == "context_length_exceeded"
    blocked = ADAPTER.map_error(
        400,
        aws_error("ValidationException"),
        b'{"message":"Output blocked by content filtering policy"}',
    )
    assert isinstance(blocked, ContentPolicyViolation)
    denied = ADAPTER.map_error(
        403,
        aws_error("AccessDeniedException"),
        b'{"Message":"You don\'t have access to the model"}',
    )
    assert type(denied) is UpstreamError
    assert denied.http_status == 403
    assert denied.message == "You don't have access to the model"
    unavailable = ADAPTER.map_error(503, aws_error("ServiceUnavailableException"), b"{}")
    assert unavailable.retryable


# --- event-stream frames --------------------------------------------------------------


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """Encode one event-stream message (string headers only), as the vendor does."""
    hdrs = b""
    for name, value in headers.items():
        hdrs += bytes([len(name)]) + name.encode() + b"\x07"
        hdrs += struct.pack("!H", len(value.encode())) + value.encode()
    total = 12 + len(hdrs) + len(payload) + 4
    prelude = struct.pack("!II", total, len(hdrs))
    head = prelude + struct.pack("!I", zlib.crc32(prelude)) + hdrs + payload
    return head + struct.pack("!I", zlib.crc32(head))


def event(kind: str, payload: dict[str, Any]) -> bytes:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, json.dumps({**payload, "p": "abcdefghijklmnopqrstuvwxyzABCDEF"}).encode())


def exception(kind: str, message: str) -> bytes:
    headers = {
        ":exception-type": kind,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return frame(headers, json.dumps({"message": message}).encode())


def test_botocore_encoded_message_split_in_three() -> None:
    """botocore's test_event_stream_initial_response bytes, fed as it feeds them."""
    parser = EventStreamParser()
    chunks = [
        b"\x00\x00\x00~\x00\x00\x00O\xc5\xa3\xdd\xc6\r:message-type\x07\x00",
        b"\x05event\x0b:event-type\x07\x00\x10initial-response\r:content-type",
        b'\x07\x00\ttext/json{"InitialResponse": "sometext"}\xf6\x98$\x83',
    ]
    events = [e for c in chunks for e in parser.feed(c)]
    assert events == [SSEEvent(b'{"InitialResponse": "sometext"}', "initial-response")]
    assert parser.flush() == []


def test_botocore_all_header_types() -> None:
    """botocore's ALL_HEADERS_TYPES headers section, every value type decoded."""
    data = (
        b"\x010\x00\x011\x01\x012\x02\x02\x013\x03\x00\x03"
        b"\x014\x04\x00\x00\x00\x04\x015\x05\x00\x00\x00\x00\x00\x00\x00\x05"
        b"\x016\x06\x00\x05bytes\x017\x07\x00\x04utf8"
        b"\x018\x08\x00\x00\x00\x00\x00\x00\x00\x08\x019\x090123456789abcdef"
    )
    assert decode_headers(data) == {
        "0": True,
        "1": False,
        "2": 2,
        "3": 3,
        "4": 4,
        "5": 5,
        "6": b"bytes",
        "7": "utf8",
        "8": 8,
        "9": b"0123456789abcdef",
    }


def test_botocore_error_message_and_corrupt_payload() -> None:
    error_message = (
        b"\x00\x00\x00\x52\x00\x00\x00\x42\xbf\x23\x63\x7e"
        b"\x0d:message-type\x07\x00\x05error"
        b"\x0b:error-code\x07\x00\x04code"
        b"\x0e:error-message\x07\x00\x07message"
        b"\x6b\x6c\xea\x3d"
    )
    with pytest.raises(UpstreamError, match="message"):
        EventStreamParser().feed(error_message)
    corrupted_payload = b"\x00\x00\x00\x1d\x00\x00\x00\x00\xfdR\x8cZ{'foo':'bar'\x8d\xc3e96"
    with pytest.raises(UpstreamError, match="CRC"):
        EventStreamParser().feed(corrupted_payload)
    corrupted_length = b"\x01\x00\x00\x1d\x00\x00\x00\x00\xfdR\x8cZ{'foo':'bar'}\xc3e96"
    with pytest.raises(UpstreamError, match="corrupt"):
        EventStreamParser().feed(corrupted_length)


def test_truncated_stream_is_an_error_at_flush() -> None:
    parser = EventStreamParser()
    data = event("messageStart", {"role": "assistant"})
    assert parser.feed(data[:-3]) == []
    with pytest.raises(UpstreamError, match="ended inside a frame"):
        parser.flush()


def test_exception_frame_after_events_in_the_same_chunk() -> None:
    parser = EventStreamParser()
    data = event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}})
    data += exception("throttlingException", "Too many requests, please wait before trying again.")
    events = parser.feed(data)
    assert [e.event for e in events] == ["contentBlockDelta"]
    with pytest.raises(UpstreamRateLimited, match="Too many requests"):
        parser.flush()


@pytest.mark.parametrize(
    ("kind", "message", "cls", "status"),
    [
        (
            "throttlingException",
            "Too many tokens, please wait before trying again.",
            UpstreamRateLimited,
            429,
        ),
        (
            "validationException",
            "Input is too long for requested model.",
            ContextWindowExceeded,
            400,
        ),
        (
            "validationException",
            "Output blocked by content filtering policy",
            ContentPolicyViolation,
            400,
        ),
        ("internalServerException", "Internal error", UpstreamError, 500),
        ("modelStreamErrorException", "Model stream error", UpstreamError, 424),
        ("serviceUnavailableException", "Unavailable", UpstreamError, 503),
    ],
)
def test_exception_frames_map_to_error_classes(
    kind: str, message: str, cls: type[UpstreamError], status: int
) -> None:
    with pytest.raises(cls) as e:
        EventStreamParser().feed(exception(kind, message))
    assert type(e.value) is cls
    assert e.value.http_status == status
    assert e.value.message == message


TOOL_STREAM = [
    event("messageStart", {"role": "assistant"}),
    event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Checking"}}),
    event("contentBlockStop", {"contentBlockIndex": 0}),
    event(
        "contentBlockStart",
        {
            "contentBlockIndex": 1,
            "start": {"toolUse": {"toolUseId": "tooluse_A", "name": "get_weather"}},
        },
    ),
    event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"ci'}}}),
    event(
        "contentBlockDelta",
        {"contentBlockIndex": 1, "delta": {"toolUse": {"input": 'ty": "Paris"}'}}},
    ),
    event("contentBlockStop", {"contentBlockIndex": 1}),
    event(
        "contentBlockStart",
        {
            "contentBlockIndex": 2,
            "start": {"toolUse": {"toolUseId": "tooluse_B", "name": "get_weather"}},
        },
    ),
    event(
        "contentBlockDelta",
        {"contentBlockIndex": 2, "delta": {"toolUse": {"input": '{"city": "Rome"}'}}},
    ),
    event("contentBlockStop", {"contentBlockIndex": 2}),
    event("messageStop", {"stopReason": "tool_use"}),
    event(
        "metadata",
        {
            "usage": {"inputTokens": 300, "outputTokens": 40, "totalTokens": 340},
            "metrics": {"latencyMs": 900},
        },
    ),
]


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=30))
def test_frames_survive_arbitrary_byte_splits(cuts: list[int]) -> None:
    data = b"".join(TOOL_STREAM)
    whole = EventStreamParser().feed(data)
    assert len(whole) == len(TOOL_STREAM)
    parser = EventStreamParser()
    got: list[SSEEvent] = []
    prev = 0
    for cut in sorted({c % (len(data) + 1) for c in cuts}):
        got += parser.feed(data[prev:cut])
        prev = cut
    got += parser.feed(data[prev:])
    got += parser.flush()
    assert got == whole


def run_stream(
    frames: list[bytes], include_usage: bool = True, model: str = MODEL
) -> tuple[list[dict[str, Any]], Usage | None]:
    parser = ADAPTER.stream_parser(dep())
    tx = ADAPTER.new_stream(dep(model=model), Op.CHAT, include_usage)
    out: list[dict[str, Any]] = []
    for data in frames:
        for ev in parser.feed(data):
            out += [json.loads(chunk) for chunk in tx.feed(ev)]
    for ev in parser.flush():
        out += [json.loads(chunk) for chunk in tx.feed(ev)]
    return out, tx.finish()


def test_stream_tool_call_deltas_reassemble() -> None:
    chunks, usage = run_stream(TOOL_STREAM)
    assert len({c["id"] for c in chunks}) == 1
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == MODEL for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[1]["choices"][0]["delta"] == {"content": "Checking"}
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            for call in choice["delta"].get("tool_calls", []):
                slot = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                slot["id"] += call.get("id", "")
                slot["name"] += call["function"].get("name", "")
                slot["arguments"] += call["function"]["arguments"]
    assert calls == {
        0: {"id": "tooluse_A", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        1: {"id": "tooluse_B", "name": "get_weather", "arguments": '{"city": "Rome"}'},
    }
    assert chunks[-2]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == 340
    assert usage == Usage(prompt_tokens=300, completion_tokens=40, total_tokens=340)


def test_stream_without_include_usage_has_no_usage_chunk() -> None:
    chunks, usage = run_stream(TOOL_STREAM, include_usage=False)
    assert all(c["choices"] for c in chunks)
    assert usage is not None and usage.total_tokens == 340


def test_stream_reasoning_deltas() -> None:
    frames = [
        event("messageStart", {"role": "assistant"}),
        event(
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Hmm"}}},
        ),
        event(
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "EqQBCg"}}},
        ),
        event(
            "contentBlockDelta",
            {
                "contentBlockIndex": 1,
                "delta": {"reasoningContent": {"redactedContent": "RW5jcnlwdGVk"}},
            },
        ),
        event("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"text": "Done"}}),
        event("messageStop", {"stopReason": "end_turn"}),
    ]
    chunks, usage = run_stream(frames)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[1] == {
        "reasoning_content": "Hmm",
        "thinking_blocks": [{"type": "thinking", "thinking": "Hmm"}],
    }
    assert deltas[2] == {
        "thinking_blocks": [{"type": "thinking", "thinking": "", "signature": "EqQBCg"}]
    }
    assert deltas[3] == {"thinking_blocks": [{"type": "redacted_thinking", "data": "RW5jcnlwdGVk"}]}
    assert deltas[4] == {"content": "Done"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert usage is None  # no metadata event arrived


def test_stream_json_mode_tool_is_content() -> None:
    frames = [
        event("messageStart", {"role": "assistant"}),
        event(
            "contentBlockStart",
            {
                "contentBlockIndex": 0,
                "start": {"toolUse": {"toolUseId": "t", "name": "json_tool_call"}},
            },
        ),
        event(
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '{"answer": '}}},
        ),
        event(
            "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '"42"}'}}}
        ),
        event("messageStop", {"stopReason": "tool_use"}),
    ]
    chunks, _ = run_stream(frames)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == '{"answer": "42"}'
    assert all("tool_calls" not in c["choices"][0]["delta"] for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


# --- embeddings and rerank ---------------------------------------------------------------


def test_titan_embeddings() -> None:
    d = dep(model="amazon.titan-embed-text-v2:0")
    body = raw_body({"model": "titan", "input": ["hello world"], "dimensions": 512})
    assert json.loads(ADAPTER.encode_request(body, d, Op.EMBEDDING, False)) == {
        "inputText": "hello world",
        "dimensions": 512,
    }
    answer = b'{"embedding": [0.1, -0.2, 0.3], "inputTextTokenCount": 3, "embeddingsByType": {"float": [0.1, -0.2, 0.3]}}'
    decoded = ADAPTER.decode_response(answer, d, Op.EMBEDDING)
    assert json.loads(decoded.body) == {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2, 0.3]}],
        "model": "amazon.titan-embed-text-v2:0",
        "usage": {"prompt_tokens": 3, "total_tokens": 3},
    }
    assert decoded.usage.prompt_tokens == 3
    with pytest.raises(InvalidRequest, match="one input"):
        ADAPTER.encode_request(raw_body({"input": ["a", "b"]}), d, Op.EMBEDDING, False)


def test_cohere_embeddings() -> None:
    d = dep(model="cohere.embed-english-v3")
    body = raw_body({"model": "c", "input": ["a", "b"], "input_type": "search_query"})
    assert json.loads(ADAPTER.encode_request(body, d, Op.EMBEDDING, False)) == {
        "texts": ["a", "b"],
        "input_type": "search_query",
    }
    answer = b'{"embeddings": [[0.1, 0.2], [0.3, 0.4]], "id": "e1", "response_type": "embeddings_floats", "texts": ["a", "b"]}'
    data = json.loads(ADAPTER.decode_response(answer, d, Op.EMBEDDING).body)["data"]
    assert [x["embedding"] for x in data] == [[0.1, 0.2], [0.3, 0.4]]
    with pytest.raises(InvalidRequest, match="titan-embed"):
        ADAPTER.encode_request(
            raw_body({"input": "x"}), dep(model="meta.llama3"), Op.EMBEDDING, False
        )


def test_rerank() -> None:
    d = dep(model="cohere.rerank-v3-5:0")
    body = raw_body(
        {
            "model": "r",
            "query": "capital of France?",
            "documents": ["Paris", {"text": "Rome"}],
            "top_n": 1,
        }
    )
    assert json.loads(ADAPTER.encode_request(body, d, Op.RERANK, False)) == {
        "queries": [{"type": "TEXT", "textQuery": {"text": "capital of France?"}}],
        "sources": [
            {
                "type": "INLINE",
                "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": "Paris"}},
            },
            {
                "type": "INLINE",
                "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": "Rome"}},
            },
        ],
        "rerankingConfiguration": {
            "type": "BEDROCK_RERANKING_MODEL",
            "bedrockRerankingConfiguration": {
                "numberOfResults": 1,
                "modelConfiguration": {
                    "modelArn": "arn:aws:bedrock:us-east-1::foundation-model/cohere.rerank-v3-5:0"
                },
            },
        },
    }
    answer = b'{"results": [{"index": 0, "relevanceScore": 0.98, "document": {"type": "TEXT", "textDocument": {"text": "Paris"}}}]}'
    out = json.loads(ADAPTER.decode_response(answer, d, Op.RERANK).body)
    assert out["results"] == [{"index": 0, "relevance_score": 0.98, "document": {"text": "Paris"}}]
