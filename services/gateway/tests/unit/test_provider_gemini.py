"""The Gemini (AI Studio) adapter: OpenAI chat <-> generateContent, as pure functions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.support.gemini_cases import (
    ADAPTER,
    HI,
    KEY,
    MODEL,
    USER_HI,
    dep,
    encode,
    raw_body,
)
from tianji_common.errors import (
    InvalidRequest,
)

from tianji_gateway.providers.base import Op
from tianji_gateway.providers.gemini import GeminiAdapter

# --- class attributes, url, headers --------------------------------------------------


def test_class_attributes() -> None:
    assert GeminiAdapter.name == "gemini"
    assert GeminiAdapter.default_api_base == "https://generativelanguage.googleapis.com/v1beta"
    assert GeminiAdapter.env_key == "GEMINI_API_KEY"
    assert GeminiAdapter.passthrough is False
    assert GeminiAdapter.caps.stream_usage is False
    assert GeminiAdapter.caps.ops == frozenset({Op.CHAT, Op.EMBEDDING})


@pytest.mark.parametrize(
    ("api_base", "op", "stream", "expected"),
    [
        (
            None,
            Op.CHAT,
            False,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
        ),
        (
            None,
            Op.CHAT,
            True,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
            ":streamGenerateContent?alt=sse",
        ),
        (
            None,
            Op.EMBEDDING,
            False,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
            ":batchEmbedContents",
        ),
        (
            "https://gateway.ai.cloudflare.com/v1/acct/gw/google-ai-studio/v1beta/",
            Op.CHAT,
            False,
            "https://gateway.ai.cloudflare.com/v1/acct/gw/google-ai-studio/v1beta"
            "/models/gemini-2.5-flash:generateContent",
        ),
    ],
)
def test_url(api_base: str | None, op: Op, stream: bool, expected: str) -> None:
    url = ADAPTER.url(dep(api_base=api_base), op, stream)
    assert url == expected
    assert KEY not in url  # the key is a header, never in a URL that logs may keep


def test_headers() -> None:
    d = dep(extra_headers=(("x-goog-user-project", "billing-proj"),))
    assert ADAPTER.headers(d) == [
        ("content-type", "application/json"),
        ("x-goog-api-key", KEY),
        ("x-goog-user-project", "billing-proj"),
    ]
    assert ADAPTER.token_request(d, 0.0) is None


# --- requests: plain chat ------------------------------------------------------------


def test_plain_chat_request() -> None:
    body = encode(
        {
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "developer", "content": [{"type": "text", "text": "No emoji."}]},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "Tell me a joke"},
                {"role": "user", "content": "about cats"},
            ],
            "max_tokens": 256,
            "temperature": 0.7,
            "top_p": 0.9,
            "top_k": 40,
            "n": 2,
            "seed": 7,
            "stop": ["END"],
            "presence_penalty": 0.1,
            "frequency_penalty": 0.2,
            "user": "user-123",
            "stream": False,
            "stream_options": {"include_usage": True},
            "metadata": {"trace": "x"},
            "some_unknown_field": 1,
        }
    )
    assert body == {
        "contents": [
            USER_HI,
            {"role": "model", "parts": [{"text": "Hello!"}]},
            {"role": "user", "parts": [{"text": "Tell me a joke"}, {"text": "about cats"}]},
        ],
        "systemInstruction": {"parts": [{"text": "You are terse."}, {"text": "No emoji."}]},
        "generationConfig": {
            "temperature": 0.7,
            "topP": 0.9,
            "topK": 40,
            "candidateCount": 2,
            "seed": 7,
            "presencePenalty": 0.1,
            "frequencyPenalty": 0.2,
            "maxOutputTokens": 256,
            "stopSequences": ["END"],
        },
    }


def test_max_completion_tokens_and_string_stop() -> None:
    config = encode({"messages": HI, "max_completion_tokens": 9, "stop": "STOP"})
    assert config["generationConfig"] == {"maxOutputTokens": 9, "stopSequences": ["STOP"]}


def test_generation_config_passthrough_and_safety_settings() -> None:
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    body = encode(
        {
            "messages": HI,
            "thinking_config": {"thinkingBudget": 0},
            "responseModalities": ["TEXT"],
            "cached_content": "cachedContents/abc",
            "labels": {"team": "a"},  # Vertex-only: dropped on AI Studio
        },
        settings={"safety_settings": safety},
    )
    assert body["generationConfig"] == {
        "thinkingConfig": {"thinkingBudget": 0},
        "responseModalities": ["TEXT"],
    }
    assert body["safetySettings"] == safety
    assert body["cachedContent"] == "cachedContents/abc"
    assert "labels" not in body


def test_system_only_gets_a_user_turn() -> None:
    body = encode({"messages": [{"role": "system", "content": "rules"}]})
    assert body["contents"] == [{"role": "user", "parts": [{"text": "."}]}]


def test_gemini_3_defaults_as_litellm() -> None:
    body = encode({"messages": HI, "frequency_penalty": 0.5}, model="gemini-3-pro-preview")
    assert body["generationConfig"] == {
        "temperature": 1.0,
        "thinkingConfig": {"thinkingLevel": "low"},
    }


# --- requests: multi-part content ----------------------------------------------------


def test_multimodal_user_content() -> None:
    content = [
        {"type": "text", "text": "Compare these"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp"}},
        {"type": "image_url", "image_url": "http://example.com/photo"},
        {"type": "image_url", "image_url": {"url": "gs://bucket/doc.pdf"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "file", "file": {"file_id": "https://files/abc", "format": "video/mp4"}},
    ]
    body = encode({"messages": [{"role": "user", "content": content}]})
    assert body["contents"][0]["parts"] == [
        {"text": "Compare these"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp"}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "http://example.com/photo"}},
        {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://bucket/doc.pdf"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
        {"fileData": {"mimeType": "video/mp4", "fileUri": "https://files/abc"}},
    ]


def test_image_only_user_turn_gets_text_part() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}}
    body = encode({"messages": [{"role": "user", "content": [image]}]})
    assert body["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/"}},
        {"text": " "},
    ]


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}},
        {"type": "image_url", "image_url": {"url": "ftp://x/y.png"}},
        {"type": "file", "file": {"file_id": "gs://bucket/blob"}},
        {"type": "file", "file": {}},
    ],
)
def test_bad_media_is_400(part: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as info:
        encode({"messages": [{"role": "user", "content": [part]}]})
    assert info.value.param == "messages"


# --- requests: tools -----------------------------------------------------------------

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "strict": True,
        "parameters": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "title": "Args",
            "properties": {
                "city": {"type": "string", "format": "city-name"},
                "unit": {"anyOf": [{"$ref": "#/$defs/Unit"}, {"type": "null"}]},
                "when": {"type": ["string", "null"], "format": "date-time"},
                "tags": {"type": "array", "items": {}},
            },
            "required": ["city"],
            "additionalProperties": False,
            "$defs": {"Unit": {"type": "string", "enum": ["C", "F"]}},
        },
    },
}


def test_tools_and_schema_cleaning() -> None:
    body = encode({"messages": HI, "tools": [WEATHER], "tool_choice": "required"})
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": {
                        "type": "object",
                        "title": "Args",
                        "properties": {
                            "city": {"type": "string"},
                            "unit": {"type": "string", "enum": ["C", "F"], "nullable": True},
                            "when": {"format": "date-time", "nullable": True, "type": "string"},
                            "tags": {"type": "array", "items": {"type": "object"}},
                        },
                        "required": ["city"],
                    },
                }
            ]
        }
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    body = encode({"messages": HI, "tools": [WEATHER], "tool_choice": choice})
    assert body["toolConfig"] == {"functionCallingConfig": expected}


def test_no_argument_tool_and_native_tools() -> None:
    no_args = {
        "type": "function",
        "function": {"name": "now", "parameters": {"type": "object", "properties": {}}},
    }
    body = encode(
        {
            "messages": HI,
            "tools": [
                no_args,
                {"googleSearch": {}},
                {"type": "code_execution", "code_execution": {}},
            ],
        }
    )
    assert body["tools"] == [
        {"functionDeclarations": [{"name": "now"}], "googleSearch": {}, "codeExecution": {}}
    ]
    searched = encode({"messages": HI, "web_search_options": {}})
    assert searched["tools"] == [{"googleSearch": {}}]


def test_top_level_any_of_parameters_are_kept() -> None:
    either = {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {
                "anyOf": [
                    {"type": "object", "properties": {"id": {"type": "integer"}}},
                    {"type": "null"},
                ]
            },
        },
    }
    declaration = encode({"messages": HI, "tools": [either]})["tools"][0]["functionDeclarations"][0]
    assert declaration["parameters"] == {
        "type": "object",
        "properties": {"id": {"type": "integer"}},
        "nullable": True,
    }


def test_tool_call_history_round_trip() -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_a__thought__c2lnbmF0dXJl",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_a__thought__c2lnbmF0dXJl", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "21C"}]},
        {"role": "user", "content": "Thanks"},
    ]
    body = encode({"messages": messages, "tools": [WEATHER]})
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                    "thoughtSignature": "c2lnbmF0dXJl",
                },
                {"functionCall": {"name": "get_weather", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"content": "18C"}}},
                {"functionResponse": {"name": "get_weather", "response": {"content": "21C"}}},
            ],
        },
        {"role": "user", "parts": [{"text": "Thanks"}]},
    ]


def test_assistant_reasoning_is_sent_back_as_thought() -> None:
    messages = [*HI, {"role": "assistant", "content": "4", "reasoning_content": "2+2"}]
    body = encode({"messages": messages})
    assert body["contents"][1] == {
        "role": "model",
        "parts": [{"text": "2+2", "thought": True}, {"text": "4"}],
    }


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "tool", "tool_call_id": "nope", "content": "x"}],
        [{"role": "narrator", "content": "x"}],
        [
            {
                "role": "assistant",
                "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{bad"}}],
            }
        ],
    ],
)
def test_bad_history_is_400(messages: list[dict[str, Any]]) -> None:
    with pytest.raises(InvalidRequest):
        encode({"messages": messages})


# --- requests: response_format, reasoning --------------------------------------------


def test_response_format_json_schema() -> None:
    fmt = {
        "type": "json_schema",
        "json_schema": {
            "name": "person",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                "required": ["name", "age"],
                "additionalProperties": False,
            },
        },
    }
    config = encode({"messages": HI, "response_format": fmt})["generationConfig"]
    assert config == {
        "responseMimeType": "application/json",
        "responseSchema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"],
            "propertyOrdering": ["name", "age"],
        },
    }


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [({"type": "json_object"}, "application/json"), ({"type": "text"}, "text/plain")],
)
def test_response_format_mime(fmt: dict[str, Any], mime: str) -> None:
    config = encode({"messages": HI, "response_format": fmt})["generationConfig"]
    assert config == {"responseMimeType": mime}


@pytest.mark.parametrize(
    ("model", "effort", "expected"),
    [
        (MODEL, "low", {"thinkingBudget": 1024, "includeThoughts": True}),
        (MODEL, "medium", {"thinkingBudget": 2048, "includeThoughts": True}),
        (MODEL, "high", {"thinkingBudget": 4096, "includeThoughts": True}),
        (MODEL, "minimal", {"thinkingBudget": 1, "includeThoughts": True}),
        ("gemini-2.5-pro", "minimal", {"thinkingBudget": 128, "includeThoughts": True}),
        (MODEL, "none", {"thinkingBudget": 0, "includeThoughts": False}),
        (MODEL, "disable", {"thinkingBudget": 0, "includeThoughts": False}),
        ("gemini-3-pro-preview", "medium", {"thinkingLevel": "high", "includeThoughts": True}),
        ("gemini-3-pro-preview", "none", {"thinkingLevel": "low", "includeThoughts": False}),
    ],
)
def test_reasoning_effort(model: str, effort: str, expected: dict[str, Any]) -> None:
    config = encode({"messages": HI, "reasoning_effort": effort}, model=model)["generationConfig"]
    assert config["thinkingConfig"] == expected


def test_thinking_param_and_bad_effort() -> None:
    thinking = {"type": "enabled", "budget_tokens": 3000}
    config = encode({"messages": HI, "thinking": thinking})["generationConfig"]
    assert config == {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 3000}}
    with pytest.raises(InvalidRequest) as info:
        encode({"messages": HI, "reasoning_effort": "extreme"})
    assert info.value.param == "reasoning_effort"


# --- drop vs reject ------------------------------------------------------------------


def test_unsupported_param_rejected_then_dropped() -> None:
    body = raw_body({"model": MODEL, "messages": HI, "logit_bias": {"50256": -100}})
    with pytest.raises(InvalidRequest) as info:
        ADAPTER.map_params(dict(body), dep())
    assert info.value.param == "logit_bias"
    assert "drop_params" in info.value.message
    kept = ADAPTER.map_params(dict(body), dep(drop_params=True))
    assert "logit_bias" not in kept
    assert "logit_bias" not in json.dumps(encode({"messages": HI}, drop_params=True))


def test_parallel_tool_calls_false_with_several_tools() -> None:
    other = {"type": "function", "function": {"name": "other"}}
    request = {"messages": HI, "tools": [WEATHER, other], "parallel_tool_calls": False}
    with pytest.raises(InvalidRequest) as info:
        encode(request)
    assert info.value.param == "parallel_tool_calls"
    assert "tools" in encode(request, drop_params=True)
    assert "tools" in encode({**request, "tools": [WEATHER]})


def test_unsupported_tool_choice() -> None:
    with pytest.raises(InvalidRequest):
        encode({"messages": HI, "tools": [WEATHER], "tool_choice": "sometimes"})
    assert "toolConfig" not in encode(
        {"messages": HI, "tools": [WEATHER], "tool_choice": "sometimes"}, drop_params=True
    )
