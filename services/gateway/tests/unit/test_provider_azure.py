"""Azure OpenAI adapter: deployment URLs, api-key / Entra ID auth, api-version rules."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import msgspec
import pytest
from tianji_common.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    InvalidRequest,
    UpstreamError,
    UpstreamRateLimited,
)

from tianji_gateway.providers.azure import DEFAULT_API_VERSION, AzureAdapter
from tianji_gateway.providers.base import Op
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.streaming.sse import SSEEvent, SSEParser

ADAPTER = AzureAdapter()
BASE = "https://my-resource.openai.azure.com"


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d1",
        "model_name": "gpt-4o",
        "provider": "azure",
        "model": "gpt-4o-prod",
        "api_base": BASE,
        "api_key": "azure-key-123",
        "api_version": "2024-10-21",
    }
    return Deployment(**(base | kw))


def raw(body: dict[str, Any]) -> dict[str, msgspec.Raw]:
    return msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])


def prepare(
    body: dict[str, Any], d: Deployment | None = None, op: Op = Op.CHAT, stream: bool = False
) -> tuple[str, list[tuple[str, str]], dict[str, Any]]:
    """What the pipeline sends: map_params -> encode_request -> url -> headers."""
    d = d or dep()
    b = raw({**body, "model": d.model})
    if stream and ADAPTER.caps.stream_usage:
        b["stream_options"] = msgspec.Raw(b'{"include_usage":true}')
    b = ADAPTER.map_params(b, d)
    payload = ADAPTER.encode_request(b, d, op, stream)
    return ADAPTER.url(d, op, stream), ADAPTER.headers(d), json.loads(payload)


USER_HI = {"role": "user", "content": "Hi"}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


# --- class attributes and URLs -------------------------------------------------------


def test_class_attributes() -> None:
    assert AzureAdapter.name == "azure"
    assert AzureAdapter.env_key == "AZURE_API_KEY"
    assert AzureAdapter.env_base == "AZURE_API_BASE"
    assert AzureAdapter.env_version == "AZURE_API_VERSION"
    assert AzureAdapter.caps.ops == frozenset(
        {
            Op.CHAT,
            Op.COMPLETION,
            Op.EMBEDDING,
            Op.IMAGE_GENERATION,
            Op.AUDIO_SPEECH,
            Op.AUDIO_TRANSCRIPTION,
        }
    )


@pytest.mark.parametrize(
    ("op", "path"),
    [
        (Op.CHAT, "/chat/completions"),
        (Op.COMPLETION, "/completions"),
        (Op.EMBEDDING, "/embeddings"),
        (Op.IMAGE_GENERATION, "/images/generations"),
        (Op.AUDIO_SPEECH, "/audio/speech"),
        (Op.AUDIO_TRANSCRIPTION, "/audio/transcriptions"),
    ],
)
def test_deployment_urls(op: Op, path: str) -> None:
    assert ADAPTER.url(dep(), op, False) == (
        f"{BASE}/openai/deployments/gpt-4o-prod{path}?api-version=2024-10-21"
    )


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"api_base": BASE + "/"}, f"{BASE}/openai/deployments/gpt-4o-prod/chat/completions"),
        (  # a deployment base_url (the SDK's `base_url` form) is used as it is
            {"api_base": f"{BASE}/openai/deployments/other"},
            f"{BASE}/openai/deployments/other/chat/completions",
        ),
        (
            {"model": "o_series/my-o3"},
            f"{BASE}/openai/deployments/my-o3/chat/completions",
        ),
    ],
)
def test_url_variants(kw: dict[str, Any], expected: str) -> None:
    assert ADAPTER.url(dep(**kw), Op.CHAT, True) == expected + "?api-version=2024-10-21"


def test_default_api_version() -> None:
    url = ADAPTER.url(dep(api_version=None), Op.CHAT, False)
    assert parse_qs(url.split("?")[1]) == {"api-version": [DEFAULT_API_VERSION]}
    assert DEFAULT_API_VERSION == "2025-02-01-preview"


def test_api_version_already_in_base_is_kept() -> None:
    url = ADAPTER.url(dep(api_base=BASE + "?api-version=2024-06-01"), Op.CHAT, False)
    assert url == f"{BASE}/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-06-01"


@pytest.mark.parametrize("version", ["v1", "latest", "preview"])
def test_v1_api_url_and_bearer_key(version: str) -> None:
    d = dep(api_version=version)
    assert ADAPTER.url(d, Op.CHAT, False) == f"{BASE}/openai/v1/chat/completions"
    assert ADAPTER.url(
        dep(api_version=version, api_base=BASE + "/openai/v1"), Op.EMBEDDING, False
    ) == (f"{BASE}/openai/v1/embeddings")
    assert ADAPTER.headers(d) == [
        ("content-type", "application/json"),
        ("authorization", "Bearer azure-key-123"),
    ]


def test_missing_api_base_is_a_config_error() -> None:
    with pytest.raises(InvalidRequest, match="azure requires api_base"):
        ADAPTER.url(dep(api_base=None), Op.CHAT, False)


# --- auth ----------------------------------------------------------------------------


def test_api_key_header() -> None:
    d = dep(extra_headers=(("x-ms-client-request-id", "abc"),))
    assert ADAPTER.headers(d) == [
        ("content-type", "application/json"),
        ("api-key", "azure-key-123"),
        ("x-ms-client-request-id", "abc"),
    ]
    assert ADAPTER.token_request(d, 1000.0) is None


def test_static_azure_ad_token_wins_over_key() -> None:
    d = dep(settings={"azure_ad_token": "eyJ0eXAi.static"})
    assert ADAPTER.headers(d) == [
        ("content-type", "application/json"),
        ("authorization", "Bearer eyJ0eXAi.static"),
    ]
    assert ADAPTER.token_request(d, 1000.0) is None


ENTRA = {"tenant_id": "tenant-guid", "client_id": "app-guid", "client_secret": "s3cr3t"}


def test_entra_client_credentials_token_request() -> None:
    call = ADAPTER.token_request(dep(api_key=None, settings=ENTRA), 1000.0)
    assert call is not None
    assert call.method == "POST"
    assert call.url == "https://login.microsoftonline.com/tenant-guid/oauth2/v2.0/token"
    assert ("content-type", "application/x-www-form-urlencoded") in call.headers
    assert call.body is not None
    assert parse_qs(call.body.decode()) == {
        "grant_type": ["client_credentials"],
        "client_id": ["app-guid"],
        "client_secret": ["s3cr3t"],
        "scope": ["https://cognitiveservices.azure.com/.default"],
    }


def test_entra_custom_scope_and_username_password() -> None:
    settings = {"client_id": "app", "azure_username": "u@x.com", "azure_password": "pw"}
    call = ADAPTER.token_request(dep(api_key=None, settings=settings | {"azure_scope": "s"}), 0)
    assert call is not None
    assert call.url == "https://login.microsoftonline.com/organizations/oauth2/v2.0/token"
    assert call.body is not None
    form = parse_qs(call.body.decode())
    assert form["grant_type"] == ["password"]
    assert form["username"] == ["u@x.com"]
    assert form["scope"] == ["s"]


def test_no_token_request_without_credentials_or_with_a_key() -> None:
    assert ADAPTER.token_request(dep(api_key=None), 0) is None
    assert ADAPTER.token_request(dep(settings=ENTRA), 0) is None  # the key wins


def test_parse_token_and_bearer_header() -> None:
    body = json.dumps(
        {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": "tok"}
    ).encode()
    token = ADAPTER.parse_token(200, body, 1000.0)
    assert (token.value, token.expires_at) == ("tok", 4599.0)
    assert ADAPTER.headers(dep(api_key=None, settings=ENTRA), token.value) == [
        ("content-type", "application/json"),
        ("authorization", "Bearer tok"),
    ]


def test_parse_token_garbage() -> None:
    with pytest.raises(UpstreamError, match="access_token"):
        ADAPTER.parse_token(200, b'{"error": "invalid_client"}', 0.0)


# --- requests --------------------------------------------------------------------------


def test_plain_chat_body_is_relayed() -> None:
    url, headers, body = prepare({"messages": [USER_HI], "temperature": 0.2, "user": "u1"})
    assert url.endswith("/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21")
    assert ("api-key", "azure-key-123") in headers
    assert body == {"messages": [USER_HI], "temperature": 0.2, "user": "u1", "model": "gpt-4o-prod"}


def test_streaming_asks_for_usage() -> None:
    _, _, body = prepare({"messages": [USER_HI], "stream": True}, stream=True)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_tools_and_image_parts_are_forwarded() -> None:
    image = {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in this picture?"},
            {
                "type": "image_url",
                "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
            },
        ],
    }
    _, _, body = prepare({"messages": [image], "tools": [WEATHER_TOOL], "tool_choice": "auto"})
    assert body["messages"] == [image]
    assert body["tools"] == [WEATHER_TOOL]
    assert body["tool_choice"] == "auto"


def test_tool_choice_without_tools_is_dropped() -> None:
    _, _, body = prepare({"messages": [USER_HI], "tool_choice": "auto"})
    assert "tool_choice" not in body


@pytest.mark.parametrize(
    ("version", "choice"),
    [
        ("2023-05-15", "auto"),
        ("2024-05-01-preview", "required"),
        ("2024-02-15-preview", "required"),
    ],
)
def test_tool_choice_unsupported_by_api_version(version: str, choice: str) -> None:
    body = {"messages": [USER_HI], "tools": [WEATHER_TOOL], "tool_choice": choice}
    with pytest.raises(InvalidRequest, match="drop_params") as exc:
        prepare(body, dep(api_version=version))
    assert exc.value.param == "tool_choice"
    _, _, sent = prepare(body, dep(api_version=version, drop_params=True))
    assert "tool_choice" not in sent
    assert sent["tools"] == [WEATHER_TOOL]


def test_tool_choice_required_on_recent_version() -> None:
    body = {"messages": [USER_HI], "tools": [WEATHER_TOOL], "tool_choice": "required"}
    assert prepare(body, dep(api_version="2024-10-21"))[2]["tool_choice"] == "required"


@pytest.mark.parametrize("model", ["o3-mini", "o_series/reasoner", "gpt-5-chat-prod"])
def test_reasoning_deployments_get_max_completion_tokens(model: str) -> None:
    _, _, body = prepare({"messages": [USER_HI], "max_tokens": 300}, dep(model=model))
    assert body["max_completion_tokens"] == 300
    assert "max_tokens" not in body
    assert body["model"] == model.removeprefix("o_series/")


def test_max_tokens_kept_for_chat_deployments() -> None:
    assert prepare({"messages": [USER_HI], "max_tokens": 300})[2]["max_tokens"] == 300


def test_embedding_request() -> None:
    url, _, body = prepare({"input": ["a", "b"], "dimensions": 256}, op=Op.EMBEDDING)
    assert url == f"{BASE}/openai/deployments/gpt-4o-prod/embeddings?api-version=2024-10-21"
    assert body == {"input": ["a", "b"], "dimensions": 256, "model": "gpt-4o-prod"}


# --- responses -------------------------------------------------------------------------

CHAT_RESPONSE = {
    "choices": [
        {
            "content_filter_results": {
                "hate": {"filtered": False, "severity": "safe"},
                "self_harm": {"filtered": False, "severity": "safe"},
                "sexual": {"filtered": False, "severity": "safe"},
                "violence": {"filtered": False, "severity": "safe"},
            },
            "finish_reason": "tool_calls",
            "index": 0,
            "logprobs": None,
            "message": {
                "content": None,
                "refusal": None,
                "role": "assistant",
                "tool_calls": [
                    {
                        "function": {"arguments": '{"city":"Paris"}', "name": "get_weather"},
                        "id": "call_5TJ3YgXSBvkw4ZFbs4Rl3vYB",
                        "type": "function",
                    }
                ],
            },
        }
    ],
    "created": 1727870000,
    "id": "chatcmpl-AE4xyz",
    "model": "gpt-4o-2024-08-06",
    "object": "chat.completion",
    "prompt_filter_results": [
        {
            "prompt_index": 0,
            "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}},
        }
    ],
    "system_fingerprint": "fp_67802d9a6d",
    "usage": {
        "completion_tokens": 17,
        "completion_tokens_details": {"reasoning_tokens": 0},
        "prompt_tokens": 83,
        "prompt_tokens_details": {"cached_tokens": 64},
        "total_tokens": 100,
    },
}


def test_chat_response_relayed_with_usage() -> None:
    raw_bytes = json.dumps(CHAT_RESPONSE).encode()
    decoded = ADAPTER.decode_response(raw_bytes, dep(), Op.CHAT)
    assert decoded.body == raw_bytes
    assert decoded.model == "gpt-4o-2024-08-06"
    assert (decoded.usage.prompt_tokens, decoded.usage.completion_tokens) == (83, 17)
    assert decoded.usage.cached_tokens == 64


def test_embedding_response_usage() -> None:
    answer = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.0023, -0.0093]}],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 8, "total_tokens": 8},
    }
    decoded = ADAPTER.decode_response(json.dumps(answer).encode(), dep(), Op.EMBEDDING)
    assert (decoded.usage.prompt_tokens, decoded.usage.total_tokens) == (8, 8)


# --- streaming -------------------------------------------------------------------------


def sse(*chunks: dict[str, Any]) -> bytes:
    return (
        b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
    )


FILTER_CHUNK = {
    "choices": [],
    "created": 0,
    "id": "",
    "model": "",
    "object": "",
    "prompt_filter_results": [
        {
            "prompt_index": 0,
            "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}},
        }
    ],
}


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "choices": [
            {
                "content_filter_results": {},
                "delta": delta,
                "finish_reason": finish,
                "index": 0,
                "logprobs": None,
            }
        ],
        "created": 1727870001,
        "id": "chatcmpl-AE4stream",
        "model": "gpt-4o-2024-08-06",
        "object": "chat.completion.chunk",
        "system_fingerprint": "fp_67802d9a6d",
    }


TOOL_STREAM = sse(
    FILTER_CHUNK,
    chunk(
        {
            "content": None,
            "refusal": None,
            "role": "assistant",
            "tool_calls": [
                {
                    "function": {"arguments": "", "name": "get_weather"},
                    "id": "call_abc",
                    "index": 0,
                    "type": "function",
                }
            ],
        }
    ),
    chunk({"tool_calls": [{"function": {"arguments": '{"ci'}, "index": 0}]}),
    chunk({"tool_calls": [{"function": {"arguments": 'ty":"Paris"}'}, "index": 0}]}),
    chunk({}, "tool_calls"),
    {
        "choices": [],
        "created": 1727870001,
        "id": "chatcmpl-AE4stream",
        "model": "gpt-4o-2024-08-06",
        "object": "chat.completion.chunk",
        "usage": {"completion_tokens": 15, "prompt_tokens": 70, "total_tokens": 85},
    },
)


def run_stream(data: bytes, include_usage: bool) -> tuple[list[dict[str, Any]], Any]:
    parser = SSEParser()
    tx = ADAPTER.new_stream(dep(), Op.CHAT, include_usage)
    out: list[bytes] = []
    for i in range(0, len(data), 7):  # arbitrary splits
        for event in parser.feed(data[i : i + 7]):
            out.extend(tx.feed(event))
    for event in parser.flush():
        out.extend(tx.feed(event))
    return [json.loads(o) for o in out], tx.finish()


def test_stream_drops_filter_chunk_and_reassembles_tool_call() -> None:
    chunks, usage = run_stream(TOOL_STREAM, include_usage=False)
    assert all(c["choices"] for c in chunks)  # neither the filter chunk nor usage
    args = "".join(
        tc["function"].get("arguments") or ""
        for c in chunks
        for tc in c["choices"][0]["delta"].get("tool_calls") or []
    )
    assert json.loads(args) == {"city": "Paris"}
    assert chunks[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert (usage.prompt_tokens, usage.completion_tokens) == (70, 15)


def test_stream_keeps_usage_chunk_when_asked() -> None:
    chunks, _ = run_stream(TOOL_STREAM, include_usage=True)
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == 85


def test_stream_filter_chunk_with_choices_is_kept() -> None:
    tx = ADAPTER.new_stream(dep(), Op.CHAT, False)
    data = json.dumps(chunk({"content": "hi"}) | {"prompt_filter_results": []}).encode()
    assert tx.feed(SSEEvent(data)) == [data]


# --- errors ----------------------------------------------------------------------------


def test_rate_limit() -> None:
    body = {
        "error": {
            "code": "429",
            "message": "Requests to the ChatCompletions_Create Operation under Azure OpenAI API "
            "version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing "
            "tier. Please retry after 6 seconds.",
        }
    }
    err = ADAPTER.map_error(429, {"retry-after": "6"}, json.dumps(body).encode())
    assert isinstance(err, UpstreamRateLimited)
    assert err.retryable is True
    assert err.headers == {"retry-after": "6"}


def test_context_window() -> None:
    body = {
        "error": {
            "message": "This model's maximum context length is 128000 tokens. However, your "
            "messages resulted in 130211 tokens. Please reduce the length of the messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }
    err = ADAPTER.map_error(400, {}, json.dumps(body).encode())
    assert isinstance(err, ContextWindowExceeded)
    assert err.body().error.code == "context_length_exceeded"
    assert err.retryable is False


CONTENT_FILTER = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
        "content management policy. Please modify your prompt and retry.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {
                "hate": {"filtered": False, "severity": "safe"},
                "violence": {"filtered": True, "severity": "medium"},
            },
        },
    }
}


def test_content_filter() -> None:
    err = ADAPTER.map_error(400, {}, json.dumps(CONTENT_FILTER).encode())
    assert isinstance(err, ContentPolicyViolation)
    assert err.body().error.code == "content_policy_violation"
    assert "content management policy" in err.message


def test_inner_policy_code_and_dalle_content_filter() -> None:
    inner_only = {
        "error": {
            "message": "blocked",
            "code": "BadRequest",
            "inner_error": {"code": "ResponsibleAIPolicyViolation"},
        }
    }
    assert isinstance(
        ADAPTER.map_error(400, {}, json.dumps(inner_only).encode()), ContentPolicyViolation
    )
    dalle = {
        "error": {
            "code": "contentFilter",
            "message": "Your task failed as a result of our safety system.",
        }
    }
    assert isinstance(
        ADAPTER.map_error(400, {}, json.dumps(dalle).encode()), ContentPolicyViolation
    )


def test_server_error_is_retryable_and_keeps_message() -> None:
    err = ADAPTER.map_error(
        503, {}, b'{"error": {"code": "ServiceUnavailable", "message": "busy"}}'
    )
    assert err.retryable is True
    assert err.message == "busy"
    assert ADAPTER.map_error(502, {}, b"").message == "azure returned HTTP 502"
