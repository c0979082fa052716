"""The Gemini (AI Studio) adapter: OpenAI chat <-> generateContent, as pure functions."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tianji_common.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    InvalidRequest,
    UpstreamError,
    UpstreamRateLimited,
)

from tianji_gateway.providers._gemini_schema import clean_schema
from tianji_gateway.providers.base import Op
from tianji_gateway.providers.gemini import GeminiAdapter
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.streaming.sse import SSEEvent, SSEParser

MODEL = "gemini-2.5-flash"
KEY = "AIza-test-key"
ADAPTER = GeminiAdapter()


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d1",
        "model_name": "gemini",
        "provider": "gemini",
        "model": MODEL,
        "api_key": KEY,
    }
    return Deployment(**(base | kw))


def raw_body(body: dict[str, Any]) -> dict[str, msgspec.Raw]:
    return msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])


def encode(body: dict[str, Any], *, op: Op = Op.CHAT, **dep_kw: Any) -> dict[str, Any]:
    out = ADAPTER.encode_request(raw_body({"model": MODEL, **body}), dep(**dep_kw), op, False)
    result: dict[str, Any] = json.loads(out)
    return result


def decode(body: dict[str, Any], op: Op = Op.CHAT) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(
        ADAPTER.decode_response(json.dumps(body).encode(), dep(), op).body
    )
    return result


HI = [{"role": "user", "content": "Hi"}]
USER_HI = {"role": "user", "parts": [{"text": "Hi"}]}


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
