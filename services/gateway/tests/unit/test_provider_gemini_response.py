"""Gemini: generateContent answers, errors, streams and embeddings in OpenAI's shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.gemini_cases import (
    ADAPTER,
    MODEL,
    decode,
    dep,
    encode,
)
from tianji_common.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    InvalidRequest,
    UpstreamError,
    UpstreamRateLimited,
)

from tianji_gateway.providers._gemini_schema import clean_schema
from tianji_gateway.providers.base import Op
from tianji_gateway.streaming.sse import SSEEvent, SSEParser

# --- responses -----------------------------------------------------------------------

TEXT_RESPONSE = {
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [
                    {"text": "Let me think about cats.", "thought": True},
                    {"text": "Why did the cat "},
                    {"text": "sit on the computer?"},
                ],
            },
            "finishReason": "STOP",
            "avgLogprobs": -0.21,
            "safetyRatings": [],
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 12,
        "candidatesTokenCount": 9,
        "totalTokenCount": 41,
        "thoughtsTokenCount": 20,
        "cachedContentTokenCount": 4,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}],
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "resp-123",
}


def test_text_response() -> None:
    out = decode(TEXT_RESPONSE)
    assert out["id"] == "resp-123"
    assert out["object"] == "chat.completion"
    assert out["model"] == MODEL
    assert out["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Why did the cat sit on the computer?",
                "reasoning_content": "Let me think about cats.",
            },
            "finish_reason": "stop",
        }
    ]
    # thoughts are not in candidatesTokenCount (12 + 9 != 41), so they are added (LiteLLM)
    assert out["usage"] == {
        "prompt_tokens": 12,
        "completion_tokens": 29,
        "total_tokens": 41,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 20},
    }
    usage = ADAPTER.decode_response(json.dumps(TEXT_RESPONSE).encode(), dep(), Op.CHAT).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (12, 29, 41)
    assert (usage.cached_tokens, usage.reasoning_tokens) == (4, 20)


def test_function_call_response() -> None:
    resp = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {
                            "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                            "thoughtSignature": "CiQBsig==",
                        },
                        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
                    ],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 30,
            "candidatesTokenCount": 10,
            "totalTokenCount": 40,
        },
    }
    out = decode(resp)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    calls = choice["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_weather"]
    # arguments are the vendor's JSON text, relayed unparsed
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [
        {"city": "Paris"},
        {"city": "Rome"},
    ]
    assert all(set(c) == {"id", "type", "function"} for c in calls)
    assert calls[0]["id"].startswith("call_") and calls[0]["id"].endswith("__thought__CiQBsig==")
    assert "__thought__" not in calls[1]["id"]
    assert [c["type"] for c in calls] == ["function", "function"]
    assert out["id"].startswith("chatcmpl-")


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("MALFORMED_FUNCTION_CALL", "stop"),
        ("OTHER", "content_filter"),
        ("SOMETHING_NEW", "stop"),
        (None, "stop"),
    ],
)
def test_finish_reasons(reason: str | None, finish: str) -> None:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": "x"}]}}
    if reason is not None:
        cand["finishReason"] = reason
    assert decode({"candidates": [cand]})["choices"][0]["finish_reason"] == finish


@pytest.mark.parametrize("reason", ["SAFETY", "RECITATION", "PROHIBITED_CONTENT", "SPII"])
def test_flagged_answer_withheld(reason: str) -> None:
    cand = {"content": {"role": "model", "parts": [{"text": "partial"}]}, "finishReason": reason}
    out = decode({"candidates": [cand], "usageMetadata": {"promptTokenCount": 5}})
    assert out["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": None},
            "finish_reason": "content_filter",
        }
    ]


def test_several_candidates_and_images() -> None:
    resp = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "A"}]}, "finishReason": "STOP"},
            {
                "content": {
                    "role": "model",
                    "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBO"}}],
                },
                "finishReason": "STOP",
                "index": 1,
            },
        ]
    }
    choices = decode(resp)["choices"]
    assert [c["index"] for c in choices] == [0, 1]
    assert choices[0]["message"]["content"] == "A"
    assert choices[1]["message"]["images"] == [
        {
            "type": "image_url",
            "image_url": {"url": "data:image/png;base64,iVBO", "detail": "auto"},
            "index": 0,
        }
    ]


def test_blocked_prompt_is_content_policy_violation() -> None:
    resp = {
        "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
        "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
    }
    with pytest.raises(ContentPolicyViolation) as info:
        decode(resp)
    assert "SAFETY" in info.value.message
    assert info.value.http_status == 400


def test_malformed_response_is_502() -> None:
    with pytest.raises(UpstreamError) as info:
        ADAPTER.decode_response(b"<html>", dep(), Op.CHAT)
    assert info.value.http_status == 502


# --- errors --------------------------------------------------------------------------


def google_error(code: int, message: str, status: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "status": status}}).encode()


def test_rate_limit_error() -> None:
    body = google_error(
        429, "Resource has been exhausted (e.g. check quota).", "RESOURCE_EXHAUSTED"
    )
    err = ADAPTER.map_error(429, {"Retry-After": "13"}, body)
    assert isinstance(err, UpstreamRateLimited)
    assert err.retryable
    assert err.headers["retry-after"] == "13"
    assert err.message == "Resource has been exhausted (e.g. check quota)."


def test_context_window_error() -> None:
    body = google_error(
        400,
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
        "INVALID_ARGUMENT",
    )
    err = ADAPTER.map_error(400, {}, body)
    assert isinstance(err, ContextWindowExceeded)
    assert err.body().error.code == "context_length_exceeded"
    assert not err.retryable


def test_content_policy_error_as_list_body() -> None:
    body = b'[{"error": {"code": 400, "message": "The prompt was blocked due to prohibited content.", "status": "INVALID_ARGUMENT"}}]'
    err = ADAPTER.map_error(400, {}, body)
    assert isinstance(err, ContentPolicyViolation)


@pytest.mark.parametrize(
    ("status", "body", "retryable"),
    [
        (403, google_error(403, "API key not valid.", "PERMISSION_DENIED"), False),
        (503, google_error(503, "The model is overloaded.", "UNAVAILABLE"), True),
        (500, b"upstream connect error", True),
    ],
)
def test_other_errors(status: int, body: bytes, retryable: bool) -> None:
    err = ADAPTER.map_error(status, {}, body)
    assert type(err) is UpstreamError
    assert err.http_status == status
    assert err.retryable is retryable
    assert err.message


# --- streaming -----------------------------------------------------------------------


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\r\n\r\n" for e in events)


def run_stream(
    raw: bytes, *, include_usage: bool, chunk: int = 7
) -> tuple[list[dict[str, Any]], Any]:
    tx = ADAPTER.new_stream(dep(), Op.CHAT, include_usage)
    parser = SSEParser()
    out: list[bytes] = []
    for i in range(0, len(raw), chunk):
        for event in parser.feed(raw[i : i + chunk]):
            out.extend(tx.feed(event))
    for event in parser.flush():
        out.extend(tx.feed(event))
    return [json.loads(o) for o in out], tx.finish()


TEXT_STREAM = sse(
    {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Hmm", "thought": True}]}}],
        "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r-1",
    },
    {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Hello"}]}}],
        "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7},
        "responseId": "r-1",
    },
    {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": " world"}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {
            "promptTokenCount": 7,
            "candidatesTokenCount": 2,
            "thoughtsTokenCount": 3,
            "totalTokenCount": 12,
        },
        "responseId": "r-1",
    },
)


def test_text_stream_with_usage() -> None:
    chunks, usage = run_stream(TEXT_STREAM, include_usage=True)
    assert {c["id"] for c in chunks} == {"r-1"}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert [c["choices"] for c in chunks] == [
        [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": "", "reasoning_content": "Hmm"},
                "finish_reason": None,
            }
        ],
        [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}],
        [{"index": 0, "delta": {"content": " world"}, "finish_reason": None}],
        [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        [],
    ]
    assert chunks[-1]["usage"]["completion_tokens"] == 5
    assert chunks[-1]["usage"]["total_tokens"] == 12
    assert (usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens) == (7, 5, 3)


def test_text_stream_without_usage_chunk() -> None:
    chunks, usage = run_stream(TEXT_STREAM, include_usage=False)
    assert all(c["choices"] for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert usage.total_tokens == 12


def test_tool_call_stream_reassembles() -> None:
    raw = sse(
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [
                            {
                                "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                                "thoughtSignature": "sig1",
                            }
                        ],
                    }
                }
            ],
            "responseId": "r-2",
        },
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [{"functionCall": {"name": "get_time", "args": {}}}],
                    },
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 20,
                "candidatesTokenCount": 8,
                "totalTokenCount": 28,
            },
            "responseId": "r-2",
        },
    )
    chunks, _ = run_stream(raw, include_usage=False, chunk=13)
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in chunks:
        for choice in chunk["choices"]:
            finish = choice["finish_reason"] or finish
            for delta in choice["delta"].get("tool_calls", []):
                slot = calls.setdefault(delta["index"], {"id": "", "name": "", "args": ""})
                slot["id"] += delta.get("id", "")
                slot["name"] += delta["function"].get("name", "")
                slot["args"] += delta["function"]["arguments"]
    assert finish == "tool_calls"
    assert [calls[i]["name"] for i in sorted(calls)] == ["get_weather", "get_time"]
    assert [json.loads(calls[i]["args"]) for i in sorted(calls)] == [{"city": "Paris"}, {}]
    assert calls[0]["id"].endswith("__thought__sig1")
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"


def test_stream_error_event_raises() -> None:
    tx = ADAPTER.new_stream(dep(), Op.CHAT, False)
    event = SSEEvent(google_error(429, "Quota exceeded", "RESOURCE_EXHAUSTED"))
    with pytest.raises(UpstreamRateLimited):
        tx.feed(event)
    assert tx.finish() is None


def test_stream_blocked_prompt_raises() -> None:
    tx = ADAPTER.new_stream(dep(), Op.CHAT, True)
    with pytest.raises(ContentPolicyViolation):
        tx.feed(SSEEvent(json.dumps({"promptFeedback": {"blockReason": "OTHER"}}).encode()))


def test_stream_safety_finish() -> None:
    raw = sse(
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Sure"}]}}]},
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": "bad"}]}, "finishReason": "SAFETY"}
            ]
        },
    )
    chunks, _ = run_stream(raw, include_usage=False)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "Sure"
    assert chunks[-1]["choices"][0]["finish_reason"] == "content_filter"


# --- embeddings ----------------------------------------------------------------------


def test_embedding_request_and_response() -> None:
    body = encode(
        {"input": ["alpha", "beta"], "dimensions": 256, "task_type": "RETRIEVAL_QUERY"},
        op=Op.EMBEDDING,
        model="text-embedding-004",
    )
    assert body == {
        "requests": [
            {
                "model": "models/text-embedding-004",
                "content": {"parts": [{"text": text}]},
                "outputDimensionality": 256,
                "taskType": "RETRIEVAL_QUERY",
            }
            for text in ("alpha", "beta")
        ]
    }
    resp = {"embeddings": [{"values": [0.1, 0.2]}, {"values": [0.3, 0.4]}]}
    out = decode(resp, Op.EMBEDDING)
    assert out == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]},
            {"object": "embedding", "index": 1, "embedding": [0.3, 0.4]},
        ],
        "model": MODEL,
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }


def test_embedding_rejects_token_arrays() -> None:
    with pytest.raises(InvalidRequest) as info:
        encode({"input": [[1, 2, 3]]}, op=Op.EMBEDDING)
    assert info.value.param == "input"


# --- the schema cleaner under arbitrary schemas --------------------------------------

_FORBIDDEN = {"additionalProperties", "$schema", "$ref", "$defs", "strict", "$id", "definitions"}

_leaf = st.fixed_dictionaries(
    {"type": st.sampled_from(["string", "integer", "number", "boolean"])},
    optional={
        "additionalProperties": st.booleans(),
        "strict": st.booleans(),
        "$id": st.just("x"),
        "description": st.text(max_size=5),
        "format": st.sampled_from(["date-time", "uri", "email"]),
    },
)
_schema = st.recursive(
    _leaf,
    lambda inner: st.one_of(
        st.fixed_dictionaries(
            {
                "type": st.just("object"),
                "properties": st.dictionaries(
                    st.text(alphabet="abcxyz", min_size=1, max_size=4), inner, max_size=3
                ),
            },
            optional={"additionalProperties": st.booleans(), "$schema": st.just("draft-07")},
        ),
        st.fixed_dictionaries({"type": st.just("array"), "items": inner}),
        st.fixed_dictionaries(
            {
                "anyOf": st.lists(inner, min_size=1, max_size=2).map(
                    lambda xs: [*xs, {"type": "null"}]
                )
            }
        ),
    ),
    max_leaves=8,
)


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in _keys(v)}
    return set()


@settings(max_examples=150, deadline=None)
@given(_schema)
def test_clean_schema_never_leaves_unsupported_keys(schema: dict[str, Any]) -> None:
    before = json.dumps(schema, sort_keys=True)
    cleaned = clean_schema(schema, property_ordering=True)
    assert not (_keys(cleaned) & _FORBIDDEN)
    assert json.dumps(schema, sort_keys=True) == before  # the input is not mutated
    formats = {v for k, v in _walk_items(cleaned) if k == "format"}
    assert formats <= {"date-time", "enum"}


def _walk_items(node: Any) -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [(k, v) for k, v in node.items() if not isinstance(v, dict | list)] + [
            kv for v in node.values() for kv in _walk_items(v)
        ]
    if isinstance(node, list):
        return [kv for v in node for kv in _walk_items(v)]
    return []
