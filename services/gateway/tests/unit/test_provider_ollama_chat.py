"""ollama_chat adapter: `/api/chat` requests, answers and NDJSON streams."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tianji_common.errors import InvalidRequest, UpstreamError, UpstreamRateLimited

from tianji_gateway.providers._ollama_common import NDJSONParser, created_epoch
from tianji_gateway.providers.base import Op, Usage
from tianji_gateway.providers.ollama_chat import OllamaChatAdapter
from tianji_gateway.routing.deployment import Deployment

ADAPTER = OllamaChatAdapter()


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d1",
        "model_name": "llama",
        "provider": "ollama_chat",
        "model": "llama3.2",
    }
    return Deployment(**(base | kw))


def prepare(
    body: dict[str, Any], d: Deployment | None = None, stream: bool = False, op: Op = Op.CHAT
) -> dict[str, Any]:
    d = d or dep()
    b = msgspec.json.decode(
        json.dumps({**body, "model": d.model}).encode(), type=dict[str, msgspec.Raw]
    )
    out: dict[str, Any] = json.loads(
        ADAPTER.encode_request(ADAPTER.map_params(b, d), d, op, stream)
    )
    return out


USER_HI = {"role": "user", "content": "Why is the sky blue?"}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather for a location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string"},
                "format": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location", "format"],
        },
    },
}


# --- URLs and auth -----------------------------------------------------------------


def test_class_attributes() -> None:
    assert OllamaChatAdapter.default_api_base == "http://localhost:11434"
    assert OllamaChatAdapter.env_base == "OLLAMA_API_BASE"
    assert OllamaChatAdapter.passthrough is False
    assert OllamaChatAdapter.caps.stream_usage is False


@pytest.mark.parametrize(
    ("api_base", "op", "expected"),
    [
        (None, Op.CHAT, "http://localhost:11434/api/chat"),
        ("http://gpu-box:11434/", Op.CHAT, "http://gpu-box:11434/api/chat"),
        ("http://gpu-box:11434/api/chat", Op.CHAT, "http://gpu-box:11434/api/chat"),
        (
            "https://proxy.example.com/ollama",
            Op.EMBEDDING,
            "https://proxy.example.com/ollama/api/embed",
        ),
    ],
)
def test_urls(api_base: str | None, op: Op, expected: str) -> None:
    assert ADAPTER.url(dep(api_base=api_base), op, True) == expected


def test_headers() -> None:
    assert ADAPTER.headers(dep()) == [("content-type", "application/json")]
    assert ADAPTER.headers(dep(api_key="ollama-key", extra_headers=(("x-a", "1"),))) == [
        ("content-type", "application/json"),
        ("authorization", "Bearer ollama-key"),
        ("x-a", "1"),
    ]
    assert ADAPTER.stream_parser(dep()).__class__ is NDJSONParser


# --- requests ------------------------------------------------------------------------


def test_plain_chat_request() -> None:
    assert prepare({"messages": [{"role": "system", "content": "Be brief."}, USER_HI]}) == {
        "model": "llama3.2",
        "messages": [{"role": "system", "content": "Be brief."}, USER_HI],
        "options": {},
        "stream": False,
    }


def test_params_map_to_options_and_top_level() -> None:
    body = prepare(
        {
            "messages": [USER_HI],
            "stream": True,
            "max_tokens": 128,
            "temperature": 0.2,
            "top_p": 0.9,
            "seed": 7,
            "stop": "###",
            "frequency_penalty": 1.1,
            "num_ctx": 8192,
            "top_k": 40,
            "keep_alive": "5m",
            "response_format": {"type": "json_object"},
        },
        stream=True,
    )
    assert body == {
        "model": "llama3.2",
        "messages": [USER_HI],
        "options": {
            "num_predict": 128,
            "temperature": 0.2,
            "top_p": 0.9,
            "seed": 7,
            "stop": ["###"],
            "repeat_penalty": 1.1,
            "num_ctx": 8192,
            "top_k": 40,
        },
        "stream": True,
        "keep_alive": "5m",
        "format": "json",
    }


def test_json_schema_and_reasoning_effort() -> None:
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}
    body = prepare(
        {
            "messages": [USER_HI],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": schema},
            },
            "reasoning_effort": "high",
        },
        dep(model="qwen3:8b"),
    )
    assert body["format"] == schema
    assert body["think"] is True
    assert (
        prepare({"messages": [USER_HI], "reasoning_effort": "low"}, dep(model="gpt-oss:20b"))[
            "think"
        ]
        == "low"
    )


def test_tools_sent_natively_tool_choice_never() -> None:
    body = prepare({"messages": [USER_HI], "tools": [WEATHER_TOOL], "tool_choice": "auto"})
    assert body["tools"] == [WEATHER_TOOL]
    assert "tool_choice" not in body and "tool_choice" not in body["options"]
    legacy = prepare({"messages": [USER_HI], "functions": [WEATHER_TOOL["function"]]})
    assert legacy["tools"] == [WEATHER_TOOL]


def test_tool_history_and_images() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather where this photo "},
                {"type": "text", "text": "was taken?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkZJRg=="},
                },
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "Looks like Paris.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "get_current_weather",
                        "arguments": '{"location": "Paris", "format": "celsius"}',
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "22 degrees"},
    ]
    assert prepare({"messages": messages, "tools": [WEATHER_TOOL]})["messages"] == [
        {
            "role": "user",
            "content": "Weather where this photo was taken?",
            "images": ["/9j/4AAQSkZJRg=="],
        },
        {
            "role": "assistant",
            "content": "",
            "thinking": "Looks like Paris.",
            "tool_calls": [
                {
                    "function": {
                        "name": "get_current_weather",
                        "arguments": {"location": "Paris", "format": "celsius"},
                    }
                }
            ],
        },
        {"role": "tool", "content": "22 degrees", "tool_name": "get_current_weather"},
    ]


@pytest.mark.parametrize(
    ("param", "value"), [("n", 2), ("user", "u-1"), ("logprobs", True), ("presence_penalty", 0.5)]
)
def test_unsupported_params(param: str, value: object) -> None:
    with pytest.raises(InvalidRequest, match="ollama_chat does not support parameter") as exc:
        prepare({"messages": [USER_HI], param: value})
    assert exc.value.param == param
    body = prepare({"messages": [USER_HI], param: value}, dep(drop_params=True))
    assert param not in body and param not in body["options"]


# --- answers -------------------------------------------------------------------------

ANSWER = {
    "model": "llama3.2",
    "created_at": "2023-12-12T14:13:43.416799Z",
    "message": {"role": "assistant", "content": "Hello! How are you today?"},
    "done": True,
    "done_reason": "stop",
    "total_duration": 5191566416,
    "load_duration": 2154458,
    "prompt_eval_count": 26,
    "prompt_eval_duration": 383809000,
    "eval_count": 298,
    "eval_duration": 4799921000,
}


def decode(answer: dict[str, Any]) -> tuple[dict[str, Any], Usage]:
    decoded = ADAPTER.decode_response(json.dumps(answer).encode(), dep(), Op.CHAT)
    out: dict[str, Any] = json.loads(decoded.body)
    return out, decoded.usage


def test_plain_answer() -> None:
    body, usage = decode(ANSWER)
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert body["created"] == 1702390423
    assert body["model"] == "llama3.2"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello! How are you today?"},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    assert body["usage"] == {"prompt_tokens": 26, "completion_tokens": 298, "total_tokens": 324}
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (26, 298, 324)


def test_thinking_and_think_tags() -> None:
    body, _ = decode(
        ANSWER | {"message": {"role": "assistant", "content": "42", "thinking": "Compute."}}
    )
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "42",
        "reasoning_content": "Compute.",
    }
    body, _ = decode(
        ANSWER | {"message": {"role": "assistant", "content": "<think>\nHmm.\n</think>\n\n42"}}
    )
    assert body["choices"][0]["message"]["reasoning_content"] == "\nHmm.\n"
    assert body["choices"][0]["message"]["content"] == "\n\n42"


def test_tool_call_answer_and_length_finish() -> None:
    call = {
        "function": {
            "name": "get_current_weather",
            "arguments": {"location": "Paris", "format": "celsius"},
        }
    }
    body, _ = decode(
        ANSWER | {"message": {"role": "assistant", "content": "", "tool_calls": [call]}}
    )
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (tool,) = choice["message"]["tool_calls"]
    assert tool["id"].startswith("call_") and tool["type"] == "function"
    assert tool["function"] == {
        "name": "get_current_weather",
        "arguments": '{"location":"Paris","format":"celsius"}',
    }
    body, _ = decode(ANSWER | {"done_reason": "length"})
    assert body["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("stamp", "epoch"),
    [
        ("2023-12-12T14:13:43.416799Z", 1702390423),
        ("2024-08-05T15:32:10.123456789-07:00", 1722897130),
        ("2023-12-12T14:13:43Z", 1702390423),
    ],
)
def test_created_epoch(stamp: str, epoch: int) -> None:
    assert created_epoch(stamp) == epoch


# --- streaming -----------------------------------------------------------------------


def line(content: str = "", done: bool = False, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": "llama3.2",
        "created_at": "2023-08-04T08:52:19.385406455-07:00",
        "message": {"role": "assistant", "content": content} | kw.pop("message", {}),
        "done": done,
    }
    if done:
        out |= {
            "done_reason": "stop",
            "total_duration": 4883583458,
            "prompt_eval_count": 26,
            "eval_count": 282,
        }
    return out | kw


def ndjson(*lines: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(x).encode() + b"\n" for x in lines)


def run(
    data: bytes, include_usage: bool, step: int = 5
) -> tuple[list[dict[str, Any]], Usage | None]:
    parser = ADAPTER.stream_parser(dep())
    tx = ADAPTER.new_stream(dep(), Op.CHAT, include_usage)
    out: list[bytes] = []
    for i in range(0, len(data), step):
        for event in parser.feed(data[i : i + step]):
            out.extend(tx.feed(event))
    for event in parser.flush():
        out.extend(tx.feed(event))
    return [json.loads(o) for o in out], tx.finish()


def test_text_stream() -> None:
    data = ndjson(line("The"), line(" sky"), line(" is blue."), line("", done=True))
    chunks, usage = run(data, include_usage=False)
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": "The"},
        {"content": " sky"},
        {"content": " is blue."},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, "stop"]
    assert {c["id"] for c in chunks} == {chunks[0]["id"]}
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "llama3.2" for c in chunks)
    assert chunks[0]["created"] == 1691164339
    assert usage == Usage(prompt_tokens=26, completion_tokens=282, total_tokens=308)


def test_usage_chunk_only_when_asked() -> None:
    chunks, _ = run(ndjson(line("Hi"), line("", done=True)), include_usage=True)
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 26,
        "completion_tokens": 282,
        "total_tokens": 308,
    }


def test_tool_call_and_thinking_stream() -> None:
    call = {
        "function": {
            "name": "get_current_weather",
            "arguments": {"location": "Oslo", "format": "celsius"},
        }
    }
    data = ndjson(
        line(message={"thinking": "Need weather."}),
        line(message={"tool_calls": [call]}),
        line("", done=True),
    )
    chunks, _ = run(data, include_usage=False)
    assert chunks[0]["choices"][0]["delta"] == {
        "role": "assistant",
        "reasoning_content": "Need weather.",
    }
    (tool,) = chunks[1]["choices"][0]["delta"]["tool_calls"]
    assert tool["index"] == 0 and tool["type"] == "function"
    assert json.loads(tool["function"]["arguments"]) == {"location": "Oslo", "format": "celsius"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_think_tags_in_stream() -> None:
    data = ndjson(
        line("<think>"), line("Hmm"), line("</think>"), line("Answer"), line("", done=True)
    )
    chunks, _ = run(data, include_usage=False)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[:2] == [{"role": "assistant", "reasoning_content": "Hmm"}, {"content": "Answer"}]


def test_error_line_mid_stream() -> None:
    with pytest.raises(UpstreamError, match="model runner has unexpectedly stopped"):
        run(
            ndjson(line("Hi"), {"error": "model runner has unexpectedly stopped"}),
            include_usage=False,
        )


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30))
def test_ndjson_parser_any_split(sizes: list[int]) -> None:
    data = ndjson(line("a"), line("b"), line("", done=True))[:-1]  # last line unterminated
    parser, events, pos = NDJSONParser(), [], 0
    for size in sizes:
        events.extend(parser.feed(data[pos : pos + size]))
        pos += size
    events.extend(parser.feed(data[pos:]))
    events.extend(parser.flush())
    assert [json.loads(e.data)["message"]["content"] for e in events] == ["a", "b", ""]


# --- embeddings and errors ---------------------------------------------------------------


def test_embeddings() -> None:
    body = prepare(
        {
            "input": ["Why is the sky blue?", "Why is the grass green?"],
            "dimensions": 2,
            "encoding_format": "float",
        },
        op=Op.EMBEDDING,
    )
    assert body == {
        "model": "llama3.2",
        "input": ["Why is the sky blue?", "Why is the grass green?"],
        "dimensions": 2,
    }
    answer = {
        "model": "all-minilm",
        "embeddings": [[0.010071029, -0.0017594862], [-0.0098027075, 0.06042469]],
        "total_duration": 14143917,
        "load_duration": 1019500,
        "prompt_eval_count": 8,
    }
    decoded = ADAPTER.decode_response(json.dumps(answer).encode(), dep(), Op.EMBEDDING)
    assert json.loads(decoded.body) == {
        "data": [
            {"index": 0, "embedding": [0.010071029, -0.0017594862], "object": "embedding"},
            {"index": 1, "embedding": [-0.0098027075, 0.06042469], "object": "embedding"},
        ],
        "model": "all-minilm",
        "usage": {"prompt_tokens": 8, "total_tokens": 8},
        "object": "list",
    }
    assert decoded.usage.prompt_tokens == 8


def test_errors() -> None:
    missing = ADAPTER.map_error(
        404, {}, b'{"error":"model \\"llama9\\" not found, try pulling it first"}'
    )
    assert missing.http_status == 404
    assert missing.message == 'model "llama9" not found, try pulling it first'
    assert missing.retryable is False
    rate = ADAPTER.map_error(
        429, {"retry-after": "10"}, b'{"error": "too many concurrent requests"}'
    )
    assert isinstance(rate, UpstreamRateLimited)
    assert rate.headers == {"retry-after": "10"}
    crashed = ADAPTER.map_error(
        500, {}, b'{"error":"llama runner process has terminated: signal: killed"}'
    )
    assert crashed.retryable is True
