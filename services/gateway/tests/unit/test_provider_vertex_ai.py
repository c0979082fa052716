"""The Vertex AI adapter: URLs, service-account tokens, Gemini and Claude on Vertex."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import msgspec
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from tianji_common.errors import (
    ContextWindowExceeded,
    InvalidRequest,
    NotImplementedFeature,
    UpstreamError,
    UpstreamRateLimited,
)

from tianji_gateway.providers.base import Op, UpstreamCall
from tianji_gateway.providers.vertex_ai import VertexAIAdapter
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.streaming.sse import SSEParser

GEMINI = "gemini-2.0-flash-001"
CLAUDE = "claude-sonnet-4@20250514"
NOW = 1_750_000_000.0
SA_EMAIL = "gateway@my-proj.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def service_account(private_key: rsa.RSAPrivateKey) -> dict[str, Any]:
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": "creds-proj",
        "private_key_id": "0123abcd",
        "private_key": pem,
        "client_email": SA_EMAIL,
        "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


def dep(model: str = GEMINI, **kw: Any) -> Deployment:
    settings = {"vertex_project": "my-proj", "vertex_location": "us-central1"}
    settings.update(kw.pop("settings", {}))
    base: dict[str, Any] = {
        "id": "v1",
        "model_name": "vertex",
        "provider": "vertex_ai",
        "model": model,
        "settings": settings,
    }
    return Deployment(**(base | kw))


def raw_body(body: dict[str, Any]) -> dict[str, msgspec.Raw]:
    return msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])


def encode(
    body: dict[str, Any], d: Deployment | None = None, *, op: Op = Op.CHAT, stream: bool = False
) -> dict[str, Any]:
    d = d or dep()
    out = VertexAIAdapter().encode_request(raw_body({"model": d.model, **body}), d, op, stream)
    result: dict[str, Any] = json.loads(out)
    return result


def b64url_json(segment: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return data


HI = [{"role": "user", "content": "Hi"}]
PREFIX = "https://us-central1-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-central1"


# --- URLs ----------------------------------------------------------------------------


def test_class_attributes() -> None:
    assert VertexAIAdapter.name == "vertex_ai"
    assert VertexAIAdapter.env_key is None
    assert VertexAIAdapter.caps.stream_usage is False
    assert VertexAIAdapter.caps.ops == frozenset(
        {Op.CHAT, Op.MESSAGES, Op.EMBEDDING, Op.IMAGE_GENERATION}
    )


@pytest.mark.parametrize(
    ("model", "op", "stream", "settings", "expected"),
    [
        (GEMINI, Op.CHAT, False, {}, f"{PREFIX}/publishers/google/models/{GEMINI}:generateContent"),
        (
            GEMINI,
            Op.CHAT,
            True,
            {},
            f"{PREFIX}/publishers/google/models/{GEMINI}:streamGenerateContent?alt=sse",
        ),
        (CLAUDE, Op.CHAT, False, {}, f"{PREFIX}/publishers/anthropic/models/{CLAUDE}:rawPredict"),
        (
            CLAUDE,
            Op.CHAT,
            True,
            {},
            f"{PREFIX}/publishers/anthropic/models/{CLAUDE}:streamRawPredict",
        ),
        (
            "text-embedding-005",
            Op.EMBEDDING,
            False,
            {},
            f"{PREFIX}/publishers/google/models/text-embedding-005:predict",
        ),
        (
            "imagen-3.0-generate-002",
            Op.IMAGE_GENERATION,
            False,
            {},
            f"{PREFIX}/publishers/google/models/imagen-3.0-generate-002:predict",
        ),
        (
            GEMINI,
            Op.CHAT,
            False,
            {"vertex_location": "global"},
            "https://aiplatform.googleapis.com/v1/projects/my-proj/locations/global"
            f"/publishers/google/models/{GEMINI}:generateContent",
        ),
        (
            "gemini/4965075652664360960",
            Op.CHAT,
            False,
            {"vertex_ai_location": "europe-west4", "vertex_location": None},
            "https://europe-west4-aiplatform.googleapis.com/v1/projects/my-proj/locations/"
            "europe-west4/endpoints/4965075652664360960:generateContent",
        ),
    ],
)
def test_urls(model: str, op: Op, stream: bool, settings: dict[str, Any], expected: str) -> None:
    assert VertexAIAdapter().url(dep(model, settings=settings), op, stream) == expected


@pytest.mark.parametrize(
    ("model", "op", "stream", "expected"),
    [
        (GEMINI, Op.CHAT, False, "https://proxy.example/vertex/models/g:generateContent"),
        (
            GEMINI,
            Op.CHAT,
            True,
            "https://proxy.example/vertex/models/g:streamGenerateContent?alt=sse",
        ),
        (CLAUDE, Op.CHAT, True, "https://proxy.example/vertex/models/g:streamRawPredict?alt=sse"),
        ("imagen-3.0", Op.IMAGE_GENERATION, False, "https://proxy.example/vertex/models/g"),
    ],
)
def test_custom_api_base_is_the_prefix(model: str, op: Op, stream: bool, expected: str) -> None:
    d = dep(model, api_base="https://proxy.example/vertex/models/g/")
    assert VertexAIAdapter().url(d, op, stream) == expected


def test_environment_fallbacks_never_beat_the_config() -> None:
    env = VertexAIAdapter.env_settings
    assert env["vertex_ai_project"] == ("VERTEXAI_PROJECT",)
    assert env["vertex_ai_credentials"] == (
        "VERTEXAI_CREDENTIALS",
        "GOOGLE_APPLICATION_CREDENTIALS",
    )
    # build.py fills env values into the vertex_ai_* aliases; vertex_project wins over them.
    d = dep(settings={"vertex_ai_project": "from-env", "vertex_ai_location": "asia-east1"})
    assert VertexAIAdapter().url(d, Op.CHAT, False).startswith(PREFIX)
    d = dep(
        settings={
            "vertex_project": None,
            "vertex_location": None,
            "vertex_ai_project": "env-proj",
            "vertex_ai_location": "asia-east1",
        }
    )
    assert "asia-east1-aiplatform.googleapis.com/v1/projects/env-proj/locations/asia-east1/" in (
        VertexAIAdapter().url(d, Op.CHAT, False)
    )


def test_project_from_credentials_or_400(service_account: dict[str, Any]) -> None:
    d = dep(settings={"vertex_project": None, "vertex_credentials": service_account})
    assert "/projects/creds-proj/" in VertexAIAdapter().url(d, Op.CHAT, False)
    with pytest.raises(InvalidRequest):
        VertexAIAdapter().url(dep(settings={"vertex_project": None}), Op.CHAT, False)


# --- tokens --------------------------------------------------------------------------


def test_service_account_token_request(
    service_account: dict[str, Any], private_key: rsa.RSAPrivateKey
) -> None:
    d = dep(settings={"vertex_credentials": json.dumps(service_account)})
    call = VertexAIAdapter().token_request(d, NOW)
    assert isinstance(call, UpstreamCall)
    assert (call.method, call.url) == ("POST", "https://oauth2.googleapis.com/token")
    assert call.headers == [("content-type", "application/x-www-form-urlencoded")]
    assert call.body is not None
    form = dict(parse_qsl(call.body.decode()))
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    head, claims, signature = form["assertion"].split(".")
    assert b64url_json(head) == {"alg": "RS256", "typ": "JWT", "kid": "0123abcd"}
    assert b64url_json(claims) == {
        "iss": SA_EMAIL,
        "scope": "https://www.googleapis.com/auth/cloud-platform",
        "aud": "https://oauth2.googleapis.com/token",
        "iat": int(NOW),
        "exp": int(NOW) + 3600,
    }
    # Verifies with the public half, or raises InvalidSignature.
    private_key.public_key().verify(
        base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)),
        f"{head}.{claims}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


def test_parse_token() -> None:
    adapter = VertexAIAdapter()
    body = b'{"access_token": "ya29.a0Ae", "expires_in": 3599, "token_type": "Bearer"}'
    token = adapter.parse_token(200, body, NOW)
    assert (token.value, token.expires_at) == ("ya29.a0Ae", NOW + 3599)
    with pytest.raises(UpstreamError) as info:
        adapter.parse_token(200, b'{"error": "invalid_grant"}', NOW)
    assert info.value.http_status == 502


def test_credentials_file_is_read_once(service_account: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(service_account))
    adapter = VertexAIAdapter()
    d = dep(settings={"vertex_credentials": str(path), "vertex_project": None})
    assert adapter.token_request(d, NOW) is not None
    path.unlink()  # later calls use the parsed copy, never the disk
    assert adapter.token_request(d, NOW + 3000) is not None
    assert "/projects/creds-proj/" in adapter.url(d, Op.CHAT, False)


def test_authorized_user_refresh_grant() -> None:
    creds = {
        "type": "authorized_user",
        "client_id": "cid.apps.googleusercontent.com",
        "client_secret": "csecret",
        "refresh_token": "1//refresh",
        "quota_project_id": "quota-proj",
    }
    d = dep(settings={"vertex_credentials": creds, "vertex_project": None})
    call = VertexAIAdapter().token_request(d, NOW)
    assert call is not None and call.body is not None
    assert call.url == "https://oauth2.googleapis.com/token"
    assert dict(parse_qsl(call.body.decode())) == {
        "grant_type": "refresh_token",
        "client_id": "cid.apps.googleusercontent.com",
        "client_secret": "csecret",
        "refresh_token": "1//refresh",
    }
    assert "/projects/quota-proj/" in VertexAIAdapter().url(d, Op.CHAT, False)


@pytest.mark.parametrize(
    "creds",
    [
        "/no/such/file.json",
        "{not json",
        {"type": "external_account"},
        {"type": "service_account", "client_email": "x@y", "private_key": "not a pem"},
    ],
)
def test_bad_credentials(creds: Any) -> None:
    with pytest.raises(UpstreamError) as info:
        VertexAIAdapter().token_request(dep(settings={"vertex_credentials": creds}), NOW)
    assert info.value.http_status == 500
    assert "not a pem" not in info.value.message  # never echo key material


def test_api_key_as_access_token_and_headers() -> None:
    adapter = VertexAIAdapter()
    d = dep(api_key="ya29.preissued", extra_headers=(("x-goog-user-project", "bill"),))
    assert adapter.token_request(d, NOW) is None
    assert adapter.headers(d, None) == [
        ("content-type", "application/json"),
        ("authorization", "Bearer ya29.preissued"),
        ("x-goog-user-project", "bill"),
    ]
    assert adapter.headers(d, "ya29.fresh")[1] == ("authorization", "Bearer ya29.fresh")
    with pytest.raises(UpstreamError):
        adapter.token_request(dep(), NOW)


# --- Gemini on Vertex ----------------------------------------------------------------


def test_gemini_request_is_shared_and_keeps_labels() -> None:
    body = encode(
        {
            "messages": [{"role": "system", "content": "terse"}, *HI],
            "max_tokens": 10,
            "labels": {"team": "search"},
        }
    )
    assert body == {
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
        "systemInstruction": {"parts": [{"text": "terse"}]},
        "labels": {"team": "search"},
        "generationConfig": {"maxOutputTokens": 10},
    }


def test_gemini_response_and_errors() -> None:
    adapter = VertexAIAdapter()
    resp = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "Hello"}]},
                "finishReason": "MAX_TOKENS",
            }
        ],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4},
        "modelVersion": GEMINI,
        "createTime": "2025-06-01T00:00:00Z",
        "responseId": "vx-1",
    }
    decoded = adapter.decode_response(json.dumps(resp).encode(), dep(), Op.CHAT)
    out = json.loads(decoded.body)
    assert out["choices"][0]["message"]["content"] == "Hello"
    assert out["choices"][0]["finish_reason"] == "length"
    assert decoded.usage.total_tokens == 4
    quota = b'{"error": {"code": 429, "message": "Quota exceeded for aiplatform.googleapis.com/generate_content_requests_per_minute_per_project_per_base_model", "status": "RESOURCE_EXHAUSTED"}}'
    assert isinstance(adapter.map_error(429, {}, quota), UpstreamRateLimited)
    long = b'{"error": {"code": 400, "message": "The input token count (2000000) exceeds the maximum number of tokens allowed (1048576).", "status": "INVALID_ARGUMENT"}}'
    assert isinstance(adapter.map_error(400, {}, long), ContextWindowExceeded)


def test_gemini_stream() -> None:
    adapter = VertexAIAdapter()
    raw = (
        b'data: {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}}]}\r\n\r\n'
        b'data: {"candidates": [{"content": {"role": "model", "parts": [{"text": "!"}]},'
        b' "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 2,'
        b' "candidatesTokenCount": 2, "totalTokenCount": 4}}\r\n\r\n'
    )
    tx = adapter.new_stream(dep(), Op.CHAT, True)
    chunks = [json.loads(o) for e in SSEParser().feed(raw) for o in tx.feed(e)]
    assert (
        "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        == "Hi!"
    )
    assert chunks[-1]["usage"]["total_tokens"] == 4


def test_gemini_messages_op_is_bridged_through_chat() -> None:
    body = encode({"messages": HI, "max_tokens": 5, "system": "terse"}, op=Op.MESSAGES)
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Hi"}]}]
    assert body["systemInstruction"] == {"parts": [{"text": "terse"}]}
    assert body["generationConfig"]["maxOutputTokens"] == 5
    resp = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "Yo"}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4},
    }
    decoded = VertexAIAdapter().decode_response(json.dumps(resp).encode(), dep(), Op.MESSAGES)
    message = json.loads(decoded.body)
    assert message["type"] == "message"
    assert message["content"] == [{"type": "text", "text": "Yo"}]
    assert message["stop_reason"] == "end_turn"


def test_drop_vs_reject_for_gemini() -> None:
    body = raw_body({"model": GEMINI, "messages": HI, "logit_bias": {"1": 2}})
    with pytest.raises(InvalidRequest) as info:
        VertexAIAdapter().map_params(dict(body), dep())
    assert info.value.param == "logit_bias"
    assert "logit_bias" not in VertexAIAdapter().map_params(dict(body), dep(drop_params=True))


# --- Claude on Vertex ----------------------------------------------------------------


def test_claude_request_is_anthropic_without_model() -> None:
    body = encode(
        {
            "messages": [{"role": "system", "content": "terse"}, *HI],
            "temperature": 0.5,
            "stop": "END",
        },
        dep(CLAUDE),
    )
    assert body == {
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "system": [{"type": "text", "text": "terse"}],
        "max_tokens": 4096,
        "stop_sequences": ["END"],
        "temperature": 0.5,
        "anthropic_version": "vertex-2023-10-16",
    }
    streamed = encode({"messages": HI, "max_tokens": 10}, dep(CLAUDE), stream=True)
    assert streamed["stream"] is True
    assert "model" not in streamed


def test_claude_betas_move_from_header_to_body() -> None:
    beta = (("anthropic-beta", "context-1m-2025-08-07, interleaved-thinking-2025-05-14"),)
    d = dep(CLAUDE, extra_headers=(*beta, ("x-trace", "t1")))
    body = encode({"messages": HI, "max_tokens": 10}, d)
    assert body["anthropic_beta"] == ["context-1m-2025-08-07", "interleaved-thinking-2025-05-14"]
    headers = VertexAIAdapter().headers(d, "tok")
    assert ("x-trace", "t1") in headers
    assert all(name != "anthropic-beta" for name, _ in headers)
    # Gemini models keep every configured header as-is.
    assert beta[0] in VertexAIAdapter().headers(dep(extra_headers=beta), "tok")


def test_claude_native_messages_body() -> None:
    native = {"messages": HI, "max_tokens": 20, "system": "terse"}
    assert encode(native, dep(CLAUDE), op=Op.MESSAGES) == {
        "messages": HI,
        "max_tokens": 20,
        "system": "terse",
        "anthropic_version": "vertex-2023-10-16",
    }


def test_claude_params_follow_anthropic_rules() -> None:
    body = raw_body({"model": CLAUDE, "messages": HI, "seed": 1})
    with pytest.raises(InvalidRequest) as info:
        VertexAIAdapter().map_params(dict(body), dep(CLAUDE))
    assert info.value.param == "seed"  # Gemini takes seed; Anthropic does not
    assert "seed" in VertexAIAdapter().map_params(dict(body), dep())


def test_claude_response_and_stream() -> None:
    adapter = VertexAIAdapter()
    message = {
        "id": "msg_vrtx_013",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-20250514",
        "content": [
            {"type": "text", "text": "Checking."},
            {
                "type": "tool_use",
                "id": "toolu_01",
                "name": "get_weather",
                "input": {"city": "Oslo"},
            },
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 20, "output_tokens": 9},
    }
    decoded = adapter.decode_response(json.dumps(message).encode(), dep(CLAUDE), Op.CHAT)
    out = json.loads(decoded.body)
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert out["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert decoded.usage.total_tokens == 29
    events = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "model": "claude",
                    "usage": {"input_tokens": 5, "output_tokens": 1},
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Yo"},
            },
        ),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 2},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    raw = "".join(f"event: {n}\ndata: {json.dumps(d)}\n\n" for n, d in events).encode()
    tx = adapter.new_stream(dep(CLAUDE), Op.CHAT, False)
    chunks = [json.loads(o) for e in SSEParser().feed(raw) for o in tx.feed(e)]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Yo"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_claude_errors_by_shape() -> None:
    adapter = VertexAIAdapter()
    anthropic_body = b'{"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long: 210000 tokens > 200000 maximum"}}'
    assert isinstance(adapter.map_error(400, {}, anthropic_body), ContextWindowExceeded)
    google_body = b'{"error": {"code": 429, "message": "Quota exceeded for online_prediction_tokens_per_minute_per_base_model", "status": "RESOURCE_EXHAUSTED"}}'
    err = adapter.map_error(429, {"retry-after": "30"}, google_body)
    assert isinstance(err, UpstreamRateLimited)
    assert err.headers["retry-after"] == "30"


@pytest.mark.parametrize(
    ("model", "op", "error"),
    [
        ("meta/llama-3.1-405b-instruct-maas", Op.CHAT, NotImplementedFeature),
        ("mistral-large@2407", Op.CHAT, NotImplementedFeature),
        (CLAUDE, Op.EMBEDDING, InvalidRequest),
    ],
)
def test_unserved_models(model: str, op: Op, error: type[Exception]) -> None:
    with pytest.raises(error):
        encode({"messages": HI, "input": "x"}, dep(model), op=op)


# --- embeddings and Imagen -----------------------------------------------------------


def test_embeddings_predict() -> None:
    d = dep("text-embedding-005")
    body = encode({"input": ["a", "b"], "dimensions": 64}, d, op=Op.EMBEDDING)
    assert body == {
        "instances": [{"content": "a"}, {"content": "b"}],
        "parameters": {"outputDimensionality": 64},
    }
    resp = {
        "predictions": [
            {"embeddings": {"values": [0.1], "statistics": {"token_count": 2, "truncated": False}}},
            {"embeddings": {"values": [0.2], "statistics": {"token_count": 3, "truncated": False}}},
        ],
        "metadata": {"billableCharacterCount": 2},
    }
    decoded = VertexAIAdapter().decode_response(json.dumps(resp).encode(), d, Op.EMBEDDING)
    out = json.loads(decoded.body)
    assert [e["embedding"] for e in out["data"]] == [[0.1], [0.2]]
    assert [e["index"] for e in out["data"]] == [0, 1]
    assert out["usage"] == {"prompt_tokens": 5, "total_tokens": 5}
    assert decoded.usage.prompt_tokens == 5


def test_imagen_predict() -> None:
    d = dep("imagen-3.0-generate-002")
    body = encode({"prompt": "a red fox", "n": 2, "size": "1792x1024"}, d, op=Op.IMAGE_GENERATION)
    assert body == {
        "instances": [{"prompt": "a red fox"}],
        "parameters": {"sampleCount": 2, "aspectRatio": "16:9"},
    }
    resp = {
        "predictions": [
            {"bytesBase64Encoded": "iVBORw0KGgo=", "mimeType": "image/png"},
            {"bytesBase64Encoded": "iVBORw0KGgp=", "mimeType": "image/png"},
        ]
    }
    decoded = VertexAIAdapter().decode_response(json.dumps(resp).encode(), d, Op.IMAGE_GENERATION)
    out = json.loads(decoded.body)
    assert out["data"] == [{"b64_json": "iVBORw0KGgo="}, {"b64_json": "iVBORw0KGgp="}]
    assert isinstance(out["created"], int)
    with pytest.raises(InvalidRequest):
        encode({"prompt": ""}, d, op=Op.IMAGE_GENERATION)
