"""The Cohere adapter: OpenAI chat <-> Cohere v2 chat, embed and rerank, as pure hooks."""

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
from tianji_gateway.providers.cohere import CohereAdapter
from tianji_gateway.providers.registry import ADAPTERS, HOSTS
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.streaming.sse import SSEParser

ADAPTER = CohereAdapter()
MODEL = "command-a-03-2025"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "gets the weather of a given location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d1",
        "model_name": "command",
        "provider": "cohere",
        "model": MODEL,
        "api_key": "co-test-key",
    }
    return Deployment(**(base | kw))


def raw_body(body: dict[str, Any]) -> dict[str, msgspec.Raw]:
    return msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])


def encode(
    body: dict[str, Any], *, op: Op = Op.CHAT, stream: bool = False, **dep_kw: Any
) -> dict[str, Any]:
    d = dep(**dep_kw)
    params = ADAPTER.map_params(raw_body({"model": MODEL, **body}), d)
    out: dict[str, Any] = json.loads(ADAPTER.encode_request(params, d, op, stream))
    return out


def decode(payload: dict[str, Any], op: Op = Op.CHAT) -> tuple[dict[str, Any], Usage]:
    decoded = ADAPTER.decode_response(json.dumps(payload).encode(), dep(), op)
    body: dict[str, Any] = json.loads(decoded.body)
    return body, decoded.usage


def stream_chunks(wire: bytes, include_usage: bool = False) -> list[dict[str, Any]]:
    parser = SSEParser()
    tx = ADAPTER.new_stream(dep(), Op.CHAT, include_usage)
    out = [json.loads(c) for ev in parser.feed(wire) for c in tx.feed(ev)]
    out += [json.loads(c) for ev in parser.flush() for c in tx.feed(ev)]
    return out


def sse(*events: dict[str, Any]) -> bytes:
    return (
        b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)
        + b"data: [DONE]\n\n"
    )


USER_HI = {"role": "user", "content": "Hi"}


# --- registration, url, headers --------------------------------------------------------


def test_registered() -> None:
    assert ADAPTERS["cohere"] is CohereAdapter
    assert HOSTS["api.cohere.com"] == "cohere"
    assert CohereAdapter.env_key == "COHERE_API_KEY"
    assert CohereAdapter.caps.ops == frozenset({Op.CHAT, Op.EMBEDDING, Op.RERANK})
    assert CohereAdapter.caps.stream_usage is False


@pytest.mark.parametrize(
    ("api_base", "op", "expected"),
    [
        (None, Op.CHAT, "https://api.cohere.com/v2/chat"),
        (None, Op.EMBEDDING, "https://api.cohere.com/v2/embed"),
        (None, Op.RERANK, "https://api.cohere.com/v2/rerank"),
        # LiteLLM: a custom chat/embed api_base is the whole URL ...
        ("https://proxy.example.com/cohere", Op.CHAT, "https://proxy.example.com/cohere"),
        ("https://proxy.example.com/cohere", Op.EMBEDDING, "https://proxy.example.com/cohere"),
        # ... while rerank appends /v2/rerank unless it is already there.
        ("https://proxy.example.com/c", Op.RERANK, "https://proxy.example.com/c/v2/rerank"),
        ("https://h.example/v2/rerank/", Op.RERANK, "https://h.example/v2/rerank"),
        # Roots and other ops' endpoints resolve to this op's v2 path.
        ("https://api.cohere.ai", Op.CHAT, "https://api.cohere.ai/v2/chat"),
        ("https://api.cohere.ai/v1", Op.CHAT, "https://api.cohere.ai/v2/chat"),
        ("https://api.cohere.com/v2/chat", Op.EMBEDDING, "https://api.cohere.com/v2/embed"),
        ("https://h.example/x/v2/chat", Op.RERANK, "https://h.example/x/v2/rerank"),
    ],
)
def test_url(api_base: str | None, op: Op, expected: str) -> None:
    assert ADAPTER.url(dep(api_base=api_base), op, False) == expected
    assert ADAPTER.url(dep(api_base=api_base), op, True) == expected


def test_headers() -> None:
    d = dep(extra_headers=(("x-client-name", "tianji"),))
    assert ADAPTER.headers(d) == [
        ("content-type", "application/json"),
        ("accept", "application/json"),
        ("authorization", "Bearer co-test-key"),
        ("x-client-name", "tianji"),
    ]


# --- chat request ----------------------------------------------------------------------


def test_plain_chat_request_field_by_field() -> None:
    body = encode(
        {
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "developer", "content": [{"type": "text", "text": "No emojis."}]},
                USER_HI,
            ],
            "max_tokens": 100,
            "temperature": 0.3,
            "top_p": 0.75,
            "top_k": 20,
            "seed": 7,
            "frequency_penalty": 0.1,
            "presence_penalty": 0.2,
            "stop": "END",
            "user": "u-1",
            "n": 1,
            "safety_mode": "STRICT",
        }
    )
    assert body == {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "system", "content": [{"type": "text", "text": "No emojis."}]},
            {"role": "user", "content": "Hi"},
        ],
        "max_tokens": 100,
        "temperature": 0.3,
        "seed": 7,
        "frequency_penalty": 0.1,
        "presence_penalty": 0.2,
        "p": 0.75,
        "k": 20,
        "stop_sequences": ["END"],
        "safety_mode": "STRICT",
    }


def test_max_completion_tokens_wins_and_nulls_are_dropped() -> None:
    body = encode(
        {
            "messages": [USER_HI],
            "max_tokens": 5,
            "max_completion_tokens": 9,
            "temperature": None,
            "stop": ["a", "b"],
        }
    )
    assert body["max_tokens"] == 9
    assert "temperature" not in body
    assert body["stop_sequences"] == ["a", "b"]


def test_stream_flag_and_stream_options_not_forwarded() -> None:
    body = encode(
        {"messages": [USER_HI], "stream": True, "stream_options": {"include_usage": True}},
        stream=True,
    )
    assert body == {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "stream": True}


def test_images_as_content_parts() -> None:
    body = encode(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in this image?"},
                        {
                            "type": "image_url",
                            "image_url": {
                                "url": "data:image/png;base64,iVBORw0KGgo=",
                                "detail": "low",
                            },
                        },
                        {"type": "image_url", "image_url": "https://example.com/cat.jpg"},
                    ],
                }
            ]
        }
    )
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                },
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            ],
        }
    ]


def test_audio_content_part_rejected() -> None:
    msg = {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x"}}]}
    with pytest.raises(InvalidRequest, match="input_audio"):
        encode({"messages": [msg]})


def test_tools_and_tool_history() -> None:
    body = encode(
        {
            "messages": [
                {"role": "user", "content": "Weather in Toronto?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "get_weather_1byjy32y4hvq",
                            "type": "function",
                            "function": {
                                "name": "get_weather",
                                "arguments": '{"location":"Toronto"}',
                            },
                        }
                    ],
                },
                {
                    "role": "tool",
                    "tool_call_id": "get_weather_1byjy32y4hvq",
                    "content": '[{"temperature": "-5C"}]',
                },
            ],
            "tools": [WEATHER],
            "tool_choice": "required",
        }
    )
    assert body["tools"] == [WEATHER]
    assert body["tool_choice"] == "REQUIRED"
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "get_weather_1byjy32y4hvq",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "get_weather_1byjy32y4hvq",
            "content": '[{"temperature": "-5C"}]',
        },
    ]


@pytest.mark.parametrize(
    ("choice", "expected_choice", "expected_tools"),
    [
        ("auto", None, ["get_weather", "get_time"]),
        ("none", "NONE", ["get_weather", "get_time"]),
        ({"type": "function", "function": {"name": "get_time"}}, "REQUIRED", ["get_time"]),
    ],
)
def test_tool_choice(choice: Any, expected_choice: str | None, expected_tools: list[str]) -> None:
    body = encode({"messages": [USER_HI], "tools": [WEATHER, TIME], "tool_choice": choice})
    assert body.get("tool_choice") == expected_choice
    assert [t["function"]["name"] for t in body["tools"]] == expected_tools


def test_response_format() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    body = encode(
        {
            "messages": [USER_HI],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "person", "schema": schema, "strict": True},
            },
        }
    )
    assert body["response_format"] == {"type": "json_object", "json_schema": schema}
    plain = encode({"messages": [USER_HI], "response_format": {"type": "json_object"}})
    assert plain["response_format"] == {"type": "json_object"}


def test_unsupported_param_rejected_or_dropped() -> None:
    with pytest.raises(InvalidRequest) as exc:
        encode({"messages": [USER_HI], "logit_bias": {"50256": -100}})
    assert exc.value.param == "logit_bias"
    assert "drop_params" in exc.value.message
    body = encode({"messages": [USER_HI], "logit_bias": {"50256": -100}}, drop_params=True)
    assert "logit_bias" not in body


def test_n_greater_than_one_rejected_unless_dropped() -> None:
    with pytest.raises(InvalidRequest, match="'n'"):
        encode({"messages": [USER_HI], "n": 2})
    assert "n" not in encode({"messages": [USER_HI], "n": 2}, drop_params=True)


# --- chat response ---------------------------------------------------------------------

TEXT_RESPONSE = {
    "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
    "finish_reason": "COMPLETE",
    "message": {
        "role": "assistant",
        "content": [{"type": "text", "text": "LLMs are neural networks trained on text."}],
    },
    "usage": {
        "billed_units": {"input_tokens": 5, "output_tokens": 9},
        "tokens": {"input_tokens": 71, "output_tokens": 9},
    },
}


def test_text_response() -> None:
    body, usage = decode(TEXT_RESPONSE)
    assert body["id"] == "c14c80c3-18eb-4519-9460-6c92edd8cfb4"
    assert body["object"] == "chat.completion"
    assert body["model"] == MODEL
    assert body["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "LLMs are neural networks trained on text.",
            },
            "finish_reason": "stop",
        }
    ]
    assert body["usage"] == {"prompt_tokens": 71, "completion_tokens": 9, "total_tokens": 80}
    assert usage == Usage(prompt_tokens=71, completion_tokens=9, total_tokens=80)


def test_usage_falls_back_to_billed_units() -> None:
    payload = {
        **TEXT_RESPONSE,
        "usage": {"billed_units": {"input_tokens": 5.0, "output_tokens": 9}},
    }
    _, usage = decode(payload)
    assert usage == Usage(prompt_tokens=5, completion_tokens=9, total_tokens=14)


def test_tool_call_response() -> None:
    body, _ = decode(
        {
            "id": "4f5e2a7c",
            "finish_reason": "TOOL_CALL",
            "message": {
                "role": "assistant",
                "tool_plan": "I will look up the weather in Toronto.",
                "tool_calls": [
                    {
                        "id": "get_weather_1byjy32y4hvq",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'},
                    }
                ],
            },
            "usage": {"tokens": {"input_tokens": 37, "output_tokens": 28}},
        }
    )
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "get_weather_1byjy32y4hvq",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'},
            }
        ],
        "provider_specific_fields": {"tool_plan": "I will look up the weather in Toronto."},
    }


def test_citations_become_annotations_and_thinking_reasoning() -> None:
    body, _ = decode(
        {
            "id": "x",
            "finish_reason": "COMPLETE",
            "message": {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Check the docs."},
                    {"type": "text", "text": "Emperor penguins are the tallest."},
                ],
                "citations": [
                    {
                        "start": 0,
                        "end": 16,
                        "text": "Emperor penguins",
                        "sources": [
                            {"type": "document", "id": "doc:0", "document": {"title": "Penguins"}}
                        ],
                    }
                ],
            },
        }
    )
    message = body["choices"][0]["message"]
    assert message["content"] == "Emperor penguins are the tallest."
    assert message["reasoning_content"] == "Check the docs."
    assert message["annotations"] == [
        {
            "type": "url_citation",
            "url_citation": {
                "start_index": 0,
                "end_index": 16,
                "title": "Penguins",
                "url": "source:doc:0",
            },
        }
    ]


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("COMPLETE", "stop"),
        ("STOP_SEQUENCE", "stop"),
        ("MAX_TOKENS", "length"),
        ("TOOL_CALL", "tool_calls"),
        ("ERROR_TOXIC", "content_filter"),
        ("ERROR", "stop"),
        ("max_tokens", "length"),
    ],
)
def test_finish_reasons(reason: str, expected: str) -> None:
    body, _ = decode({**TEXT_RESPONSE, "finish_reason": reason})
    assert body["choices"][0]["finish_reason"] == expected


# --- streaming -------------------------------------------------------------------------

MESSAGE_START = {
    "id": "29f14a5a-11de-4cae-9800-25e4747408ea",
    "type": "message-start",
    "delta": {
        "message": {
            "role": "assistant",
            "content": [],
            "tool_plan": "",
            "tool_calls": [],
            "citations": [],
        }
    },
}
USAGE = {
    "billed_units": {"input_tokens": 3, "output_tokens": 2},
    "tokens": {"input_tokens": 69, "output_tokens": 2},
}


def test_text_stream() -> None:
    wire = sse(
        MESSAGE_START,
        {
            "type": "content-start",
            "index": 0,
            "delta": {"message": {"content": {"type": "text", "text": ""}}},
        },
        {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Hi"}}}},
        {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "!"}}}},
        {"type": "content-end", "index": 0},
        {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": USAGE}},
    )
    chunks = stream_chunks(wire, include_usage=True)
    assert all(c["id"] == MESSAGE_START["id"] for c in chunks)
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == MODEL for c in chunks)
    assert [c["choices"] for c in chunks] == [
        [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}],
        [{"index": 0, "delta": {"content": "!"}, "finish_reason": None}],
        [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        [],
    ]
    assert chunks[-1]["usage"] == {"prompt_tokens": 69, "completion_tokens": 2, "total_tokens": 71}


def test_stream_usage_chunk_only_when_asked() -> None:
    parser, tx = SSEParser(), ADAPTER.new_stream(dep(), Op.CHAT, False)
    wire = sse(
        MESSAGE_START,
        {"type": "message-end", "delta": {"finish_reason": "MAX_TOKENS", "usage": USAGE}},
    )
    chunks = [json.loads(c) for ev in parser.feed(wire) for c in tx.feed(ev)]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, "length"]
    assert tx.finish() == Usage(prompt_tokens=69, completion_tokens=2, total_tokens=71)


def test_tool_call_stream_reassembles() -> None:
    def call_delta(args: str) -> dict[str, Any]:
        return {
            "type": "tool-call-delta",
            "index": 0,
            "delta": {"message": {"tool_calls": {"function": {"arguments": args}}}},
        }

    wire = sse(
        MESSAGE_START,
        {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will"}}},
        {
            "type": "tool-call-start",
            "index": 0,
            "delta": {
                "message": {
                    "tool_calls": {
                        "id": "get_weather_nsz5zm3w56q3",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                }
            },
        },
        call_delta('{\n    "'),
        call_delta('location":"Toronto"}'),
        {"type": "tool-call-end", "index": 0},
        {
            "type": "tool-call-start",
            "index": 1,
            "delta": {
                "message": {
                    "tool_calls": {
                        "id": "get_time_abc",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": "{}"},
                    }
                }
            },
        },
        {"type": "tool-call-end", "index": 1},
        {"type": "message-end", "delta": {"finish_reason": "TOOL_CALL", "usage": USAGE}},
    )
    chunks = stream_chunks(wire)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[1] == {"provider_specific_fields": {"tool_plan": "I will"}}
    assert deltas[2] == {
        "tool_calls": [
            {
                "index": 0,
                "id": "get_weather_nsz5zm3w56q3",
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }
        ]
    }
    assert deltas[3] == {"tool_calls": [{"index": 0, "function": {"arguments": '{\n    "'}}]}
    calls: dict[int, dict[str, str]] = {}
    for d in deltas:
        for tc in d.get("tool_calls", []):
            call = calls.setdefault(tc["index"], {"id": "", "name": "", "args": ""})
            call["id"] += tc.get("id", "")
            call["name"] += tc["function"].get("name", "")
            call["args"] += tc["function"]["arguments"]
    assert calls == {
        0: {
            "id": "get_weather_nsz5zm3w56q3",
            "name": "get_weather",
            "args": '{\n    "location":"Toronto"}',
        },
        1: {"id": "get_time_abc", "name": "get_time", "args": "{}"},
    }
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_stream_split_at_every_byte() -> None:
    wire = sse(
        MESSAGE_START,
        {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "ok"}}}},
        {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": USAGE}},
    )
    parser, tx = SSEParser(), ADAPTER.new_stream(dep(), Op.CHAT, False)
    out: list[bytes] = []
    for i in range(len(wire)):
        for ev in parser.feed(wire[i : i + 1]):
            out.extend(tx.feed(ev))
    text = "".join(json.loads(c)["choices"][0]["delta"].get("content", "") for c in out)
    assert text == "ok"


def test_malformed_stream_event() -> None:
    tx = ADAPTER.new_stream(dep(), Op.CHAT, False)
    [event] = SSEParser().feed(b"data: {not json\n\n")
    with pytest.raises(UpstreamError, match="malformed"):
        tx.feed(event)


# --- embeddings and rerank -------------------------------------------------------------


def test_embed_request_and_response() -> None:
    body = encode(
        {"input": ["hello", "world"], "encoding_format": "base64", "dimensions": 512, "user": "u"},
        op=Op.EMBEDDING,
        model="embed-v4.0",
    )
    assert body == {
        "model": "embed-v4.0",
        "texts": ["hello", "world"],
        "input_type": "search_document",
        "embedding_types": ["float"],
        "output_dimension": 512,
    }
    out, usage = decode(
        {
            "id": "da6e531f",
            "embeddings": {"float": [[0.016, -0.0312], [0.5, 0.25]]},
            "texts": ["hello", "world"],
            "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 2}},
            "response_type": "embeddings_by_type",
        },
        op=Op.EMBEDDING,
    )
    assert out == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.016, -0.0312]},
            {"object": "embedding", "index": 1, "embedding": [0.5, 0.25]},
        ],
        "model": MODEL,
        "usage": {"prompt_tokens": 2, "total_tokens": 2},
    }
    assert usage == Usage(prompt_tokens=2, total_tokens=2)


def test_embed_input_type_override_and_images() -> None:
    body = encode({"input": "q", "input_type": "search_query"}, op=Op.EMBEDDING)
    assert (body["texts"], body["input_type"]) == (["q"], "search_query")
    img = encode({"input": ["data:image/png;base64,iVBORw0KGgo="]}, op=Op.EMBEDDING)
    assert img["images"] == ["data:image/png;base64,iVBORw0KGgo="]
    assert img["input_type"] == "image"
    with pytest.raises(InvalidRequest):
        encode({"input": [[1, 2, 3]]}, op=Op.EMBEDDING)


def test_rerank_is_a_pass_through() -> None:
    request = {
        "model": "rerank-v3.5",
        "query": "capital of the US?",
        "documents": ["Carson City is in Nevada.", {"text": "Washington, D.C. is the capital."}],
        "top_n": 1,
        "return_documents": True,
        "rank_fields": ["text"],
        "max_chunks_per_doc": 10,
    }
    assert encode(request, op=Op.RERANK) == request
    answer = {
        "id": "07734bd2",
        "results": [{"index": 1, "relevance_score": 0.999}],
        "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
    }
    raw = json.dumps(answer).encode()
    assert ADAPTER.decode_response(raw, dep(), Op.RERANK).body == raw


# --- errors ----------------------------------------------------------------------------


def test_rate_limit_keeps_retry_after() -> None:
    err = ADAPTER.map_error(
        429,
        {"retry-after": "12"},
        b'{"id":"a1","message":"You are using a Trial key, which is limited to 10 API calls / minute."}',
    )
    assert isinstance(err, UpstreamRateLimited)
    assert err.retryable
    assert err.headers["retry-after"] == "12"
    assert "Trial key" in err.message


def test_too_many_tokens_is_context_window() -> None:
    body = (
        b'{"id":"b2","message":"too many tokens: total number of tokens in the prompt cannot '
        b'exceed 4081 - received 6327. Try using a shorter prompt"}'
    )
    err = ADAPTER.map_error(400, {}, body)
    assert isinstance(err, ContextWindowExceeded)
    assert err.http_status == 400
    assert not err.retryable


def test_blocked_output_is_content_policy() -> None:
    body = b'{"message":"blocked output: please adjust your prompt and try again"}'
    err = ADAPTER.map_error(400, {}, body)
    assert isinstance(err, ContentPolicyViolation)


def test_other_errors() -> None:
    auth = ADAPTER.map_error(498, {}, b'{"message":"invalid api token"}')
    assert auth.http_status == 401
    assert not auth.retryable
    server = ADAPTER.map_error(503, {}, b"upstream connect error")
    assert server.retryable
    assert server.message == "upstream connect error"
