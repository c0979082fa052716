"""The Anthropic adapter: OpenAI chat <-> Anthropic Messages, as pure functions."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from tests.support.anthropic_cases import (
    ADAPTER,
    ANTH_HI,
    MODEL,
    USER_HI,
    dep,
    encode,
    raw_body,
)
from tianji_common.errors import InvalidRequest

from tianji_gateway.providers.anthropic import AnthropicAdapter
from tianji_gateway.providers.base import Op

# --- class attributes, url, headers --------------------------------------------------


def test_class_attributes() -> None:
    assert AnthropicAdapter.name == "anthropic"
    assert AnthropicAdapter.default_api_base == "https://api.anthropic.com"
    assert AnthropicAdapter.env_key == "ANTHROPIC_API_KEY"
    assert AnthropicAdapter.env_base == "ANTHROPIC_API_BASE"
    assert AnthropicAdapter.passthrough is False
    assert AnthropicAdapter.caps.ops == frozenset({Op.CHAT, Op.MESSAGES})


@pytest.mark.parametrize(
    ("api_base", "expected"),
    [
        (None, "https://api.anthropic.com/v1/messages"),
        ("https://proxy.example.com", "https://proxy.example.com/v1/messages"),
        ("https://proxy.example.com/", "https://proxy.example.com/v1/messages"),
        ("https://proxy.example.com/v1/messages", "https://proxy.example.com/v1/messages"),
    ],
)
def test_url(api_base: str | None, expected: str) -> None:
    assert ADAPTER.url(dep(api_base=api_base), Op.CHAT, False) == expected
    assert ADAPTER.url(dep(api_base=api_base), Op.CHAT, True) == expected


def test_headers() -> None:
    d = dep(extra_headers=(("anthropic-beta", "prompt-caching-2024-07-31"),))
    assert ADAPTER.headers(d) == [
        ("x-api-key", "sk-ant-test"),
        ("anthropic-version", "2023-06-01"),
        ("content-type", "application/json"),
        ("anthropic-beta", "prompt-caching-2024-07-31"),
    ]
    assert all(name.lower() != "authorization" for name, _ in ADAPTER.headers(d))


# --- request translation -------------------------------------------------------------


def test_minimal_request_defaults_max_tokens() -> None:
    assert encode({"model": "claude", "messages": [USER_HI]}) == {
        "model": MODEL,
        "messages": [ANTH_HI],
        "max_tokens": 4096,
    }


def test_system_messages_become_blocks() -> None:
    body = {
        "model": "claude",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {
                "role": "system",
                "content": [
                    {"type": "text", "text": "Long context", "cache_control": {"type": "ephemeral"}}
                ],
            },
            {"role": "developer", "content": "Be kind.", "cache_control": {"type": "ephemeral"}},
            USER_HI,
        ],
    }
    assert encode(body)["system"] == [
        {"type": "text", "text": "You are terse."},
        {"type": "text", "text": "Long context", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Be kind.", "cache_control": {"type": "ephemeral"}},
    ]
    assert encode(body)["messages"] == [ANTH_HI]


def test_multi_turn_merges_same_role() -> None:
    body = {
        "messages": [
            USER_HI,
            {"role": "user", "content": "Anyone there?"},
            {"role": "assistant", "content": "Yes."},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": "Good."},
        ]
    }
    assert encode(body)["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "Anyone there?"}],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "Yes."}]},
        {"role": "user", "content": [{"type": "text", "text": "Good."}]},
    ]


def test_multipart_images_and_pdf() -> None:
    body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"},
                    },
                    {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBER"}},
                    {"type": "text", "text": ""},
                ],
            }
        ]
    }
    assert encode(body)["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these?"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"},
                },
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                {
                    "type": "document",
                    "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBER"},
                },
            ],
        }
    ]


@pytest.mark.parametrize("url", ["data:image/png,notbase64", "ftp://example.com/x.png"])
def test_bad_image_url_is_400(url: str) -> None:
    part = {"type": "image_url", "image_url": {"url": url}}
    with pytest.raises(InvalidRequest) as info:
        encode({"messages": [{"role": "user", "content": [part]}]})
    assert info.value.param == "messages"


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}
ANTH_WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
}


def test_tools_translated() -> None:
    no_params = {"type": "function", "function": {"name": "ping"}}
    native = {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}
    out = encode({"messages": [USER_HI], "tools": [WEATHER_TOOL, no_params, native]})
    assert out["tools"] == [
        ANTH_WEATHER_TOOL,
        {"name": "ping", "input_schema": {"type": "object", "properties": {}}},
        native,
    ]
    assert "tool_choice" not in out


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("required", None, {"type": "any"}),
        ("none", None, {"type": "none"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            None,
            {"type": "tool", "name": "get_weather"},
        ),
        ("auto", False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
        ("auto", True, {"type": "auto"}),
    ],
)
def test_tool_choice(choice: Any, parallel: bool | None, expected: dict[str, Any]) -> None:
    body: dict[str, Any] = {"messages": [USER_HI], "tools": [WEATHER_TOOL]}
    if choice is not None:
        body["tool_choice"] = choice
    if parallel is not None:
        body["parallel_tool_calls"] = parallel
    assert encode(body)["tool_choice"] == expected


def test_tool_calls_and_results_merged() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "Weather in SF and NYC?"},
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location": "SF"}'},
                    },
                    {
                        "id": "toolu_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location": "NYC"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "15C"},
            {
                "role": "tool",
                "tool_call_id": "toolu_2",
                "content": [{"type": "text", "text": "20C"}],
            },
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [WEATHER_TOOL],
    }
    assert encode(body)["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in SF and NYC?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"location": "SF"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_2",
                    "name": "get_weather",
                    "input": {"location": "NYC"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "15C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [{"type": "text", "text": "20C"}],
                },
                {"type": "text", "text": "Thanks"},
            ],
        },
    ]


def test_assistant_without_content_and_thinking_blocks() -> None:
    body = {
        "messages": [
            USER_HI,
            {
                "role": "assistant",
                "content": None,
                "thinking_blocks": [{"type": "thinking", "thinking": "hmm", "signature": "sig"}],
                "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "f", "arguments": ""}}
                ],
            },
        ]
    }
    assert encode(body)["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
        ],
    }


def test_bad_tool_arguments_and_roles_are_400() -> None:
    bad_args = {
        "role": "assistant",
        "tool_calls": [{"id": "t1", "function": {"name": "f", "arguments": "{nope"}}],
    }
    with pytest.raises(InvalidRequest):
        encode({"messages": [USER_HI, bad_args]})
    with pytest.raises(InvalidRequest):
        encode({"messages": [{"role": "tool", "content": "x"}]})
    with pytest.raises(InvalidRequest):
        encode({"messages": [{"role": "wizard", "content": "x"}]})


@pytest.mark.parametrize(
    ("stop", "expected"), [("END", ["END"]), (["a", "b"], ["a", "b"]), (None, None), ([], None)]
)
def test_stop(stop: Any, expected: list[str] | None) -> None:
    assert encode({"messages": [USER_HI], "stop": stop}).get("stop_sequences") == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, 4096),
        ({"max_tokens": 100}, 100),
        ({"max_completion_tokens": 200}, 200),
        ({"max_tokens": None}, 4096),
    ],
)
def test_max_tokens(params: dict[str, Any], expected: int) -> None:
    out = encode({"messages": [USER_HI], **params})
    assert out["max_tokens"] == expected
    assert "max_completion_tokens" not in out


@pytest.mark.parametrize(("effort", "budget"), [("low", 1024), ("medium", 2048), ("high", 4096)])
def test_reasoning_effort(effort: str, budget: int) -> None:
    out = encode({"messages": [USER_HI], "reasoning_effort": effort})
    assert out["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert out["max_tokens"] == budget + 4096  # LiteLLM: max_tokens must exceed the budget
    assert "reasoning_effort" not in out


def test_thinking_passes_through() -> None:
    thinking = {"type": "enabled", "budget_tokens": 5000}
    out = encode({"messages": [USER_HI], "thinking": thinking, "max_tokens": 8000})
    assert out["thinking"] == thinking
    assert out["max_tokens"] == 8000


def test_bad_reasoning_effort_is_400() -> None:
    with pytest.raises(InvalidRequest) as info:
        encode({"messages": [USER_HI], "reasoning_effort": "extreme"})
    assert info.value.param == "reasoning_effort"


def test_sampling_user_and_stream() -> None:
    out = encode(
        {
            "messages": [USER_HI],
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 5,
            "user": "user-123",
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        stream=True,
    )
    assert out == {
        "model": MODEL,
        "messages": [ANTH_HI],
        "max_tokens": 4096,
        "metadata": {"user_id": "user-123"},
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 5,
        "stream": True,
    }


def test_null_sampling_params_dropped_and_email_user_skipped() -> None:
    out = encode({"messages": [USER_HI], "temperature": None, "user": "a@b.com"})
    assert out == {"model": MODEL, "messages": [ANTH_HI], "max_tokens": 4096}


def test_unknown_params_forwarded_untouched() -> None:
    body = raw_body({"messages": [USER_HI], "metadata": {"user_id": "u1"}})
    body["container"] = msgspec.Raw(b'{"id":  "c_1"}')  # odd spacing survives byte for byte
    out = ADAPTER.encode_request(body, dep(), Op.CHAT, False)
    assert b'"container":{"id":  "c_1"}' in out
    assert json.loads(out)["metadata"] == {"user_id": "u1"}


@pytest.mark.parametrize(
    "param",
    ["seed", "logprobs", "presence_penalty", "frequency_penalty", "logit_bias"],
)
def test_unsupported_param_rejected_or_dropped(param: str) -> None:
    value: Any = {"50256": -100} if param == "logit_bias" else 1
    with pytest.raises(InvalidRequest) as info:
        encode({"messages": [USER_HI], param: value})
    assert info.value.param == param
    assert param in info.value.message
    out = encode({"messages": [USER_HI], param: value}, drop_params=True)
    assert param not in out


def test_n() -> None:
    assert "n" not in encode({"messages": [USER_HI], "n": 1})
    with pytest.raises(InvalidRequest) as info:
        encode({"messages": [USER_HI], "n": 2})
    assert info.value.param == "n"
    assert "n" not in encode({"messages": [USER_HI], "n": 2}, drop_params=True)


def test_additional_drop_params() -> None:
    out = encode({"messages": [USER_HI], "top_k": 3}, additional_drop_params=frozenset({"top_k"}))
    assert "top_k" not in out


def test_response_format_json_schema() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    body = {
        "messages": [USER_HI],
        "tools": [WEATHER_TOOL],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
    }
    out = encode(body)
    assert out["tools"] == [
        ANTH_WEATHER_TOOL,
        {"name": "json_tool_call", "input_schema": schema},
    ]
    assert out["tool_choice"] == {"type": "tool", "name": "json_tool_call"}
    assert "response_format" not in out


def test_response_format_json_object_and_text() -> None:
    out = encode({"messages": [USER_HI], "response_format": {"type": "json_object"}})
    assert out["tools"] == [
        {
            "name": "json_tool_call",
            "input_schema": {"type": "object", "additionalProperties": True, "properties": {}},
        }
    ]
    plain = encode({"messages": [USER_HI], "response_format": {"type": "text"}})
    assert "tools" not in plain
    assert "response_format" not in plain


def test_response_format_with_thinking_does_not_force_tool() -> None:
    body = {
        "messages": [USER_HI],
        "reasoning_effort": "low",
        "response_format": {"type": "json_object"},
    }
    assert "tool_choice" not in encode(body)


# --- response decoding ---------------------------------------------------------------
