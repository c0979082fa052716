"""`gemini/` and `vertex_ai/` through `tianji up`, driven by the official `openai` SDK.

The fake Google (tests/support/fake_google.py) speaks the Gemini API, Vertex AI and an
OAuth token endpoint that verifies the service account's RS256 assertion against a
throwaway key generated here; Vertex calls must carry the token it issued.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.e2e.conftest import MASTER_KEY
from tests.support.fake_google import API_KEY, ISSUED_TOKEN, FakeGoogle, Recorded
from tests.support.proc import TianjiProcess, start_tianji

pytestmark = pytest.mark.e2e

CLIENT_EMAIL = "tianji-e2e@test-proj.iam.gserviceaccount.com"
KID = "e2e-key-1"


@pytest.fixture(scope="module")
def google() -> Iterator[FakeGoogle]:
    fake = FakeGoogle().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def service_account(google: FakeGoogle) -> str:
    """A throwaway service-account JSON whose public key the fake token endpoint trusts."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    google.trust(KID, key.public_key())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "test-proj",
            "private_key_id": KID,
            "private_key": pem,
            "client_email": CLIENT_EMAIL,
            "token_uri": f"{google.base}/token",
        }
    )


def _config(google: FakeGoogle, creds: str) -> str:
    vertex = f"{google.base}/v1/projects/test-proj/locations"
    return f"""
model_list:
  - model_name: gemini-flash
    litellm_params:
      model: gemini/gemini-2.0-flash
      api_base: {google.base}/v1beta
      api_key: {API_KEY}
  - model_name: gemini-embed
    litellm_params:
      model: gemini/text-embedding-004
      api_base: {google.base}/v1beta
      api_key: {API_KEY}
  - model_name: vertex-gemini
    litellm_params:
      model: vertex_ai/gemini-2.0-flash
      api_base: {vertex}/us-central1/publishers/google/models/gemini-2.0-flash
      vertex_project: test-proj
      vertex_location: us-central1
      vertex_credentials: '{creds}'
  - model_name: vertex-claude
    litellm_params:
      model: vertex_ai/claude-sonnet-4@20250514
      api_base: {vertex}/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514
      vertex_location: us-east5
      vertex_credentials: '{creds}'
general_settings:
  master_key: {MASTER_KEY}
"""


@pytest.fixture(scope="module")
def tianji(google: FakeGoogle, service_account: str) -> Iterator[TianjiProcess]:
    proc = start_tianji(["up"], config_text=_config(google, service_account))
    yield proc
    proc.stop()


def client(tianji: TianjiProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{tianji.base}/v1", api_key=MASTER_KEY, max_retries=0)


def last(google: FakeGoogle, path_part: str) -> Recorded:
    return next(r for r in reversed(google.requests) if path_part in r.path)


WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


# --- gemini/ (AI Studio) -------------------------------------------------------------


def test_gemini_chat(tianji: TianjiProcess, google: FakeGoogle) -> None:
    resp = client(tianji).chat.completions.create(
        model="gemini-flash",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
        ],
        max_tokens=50,
        temperature=0.3,
    )
    assert resp.choices[0].message.content == "Hello from Gemini"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (11, 6)
    assert resp.usage.total_tokens == 17
    sent = last(google, ":generateContent")
    assert sent.path == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert sent.query == ""  # the key travels in a header, never in the URL
    assert sent.headers["x-goog-api-key"] == API_KEY
    assert sent.body == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.3, "maxOutputTokens": 50},
    }


def test_gemini_stream_with_usage(tianji: TianjiProcess, google: FakeGoogle) -> None:
    stream = client(tianji).chat.completions.create(
        model="gemini-flash",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from Gemini"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 12
    sent = last(google, ":streamGenerateContent")
    assert sent.query == "alt=sse"
    assert "stream_options" not in sent.body


def test_gemini_tool_calls_round_trip(tianji: TianjiProcess, google: FakeGoogle) -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris and Tokyo?"}]
    first = client(tianji).chat.completions.create(
        model="gemini-flash", messages=messages, tools=[WEATHER_TOOL], tool_choice="auto"
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather", "get_weather"]
    assert [json.loads(c.function.arguments) for c in calls] == [
        {"city": "Paris"},
        {"city": "Tokyo"},
    ]
    assert len({c.id for c in calls}) == 2
    sent = last(google, ":generateContent").body
    assert sent["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Current weather for a city",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    },
                }
            ]
        }
    ]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}

    messages.append(choice.message.model_dump(exclude_none=True))
    for call, answer in zip(calls, ["sunny", "rainy"], strict=True):
        messages.append({"role": "tool", "tool_call_id": call.id, "content": answer})
    second = client(tianji).chat.completions.create(
        model="gemini-flash", messages=messages, tools=[WEATHER_TOOL]
    )
    assert second.choices[0].message.content == "Hello from Gemini"
    contents = last(google, ":generateContent").body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"content": "sunny"}}},
        {"functionResponse": {"name": "get_weather", "response": {"content": "rainy"}}},
    ]


def test_gemini_streamed_tool_calls(tianji: TianjiProcess) -> None:
    stream = client(tianji).chat.completions.create(
        model="gemini-flash",
        messages=[{"role": "user", "content": "Weather?"}],
        tools=[WEATHER_TOOL],
        stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                slot = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                slot["id"] += delta.id or ""
                if delta.function is not None:
                    slot["name"] += delta.function.name or ""
                    slot["arguments"] += delta.function.arguments or ""
    assert finish == "tool_calls"
    assert sorted(calls) == [0, 1]
    assert [json.loads(calls[i]["arguments"])["city"] for i in (0, 1)] == ["Paris", "Tokyo"]
    assert all(c["id"].startswith("call_") and c["name"] == "get_weather" for c in calls.values())


def test_gemini_context_window_error(tianji: TianjiProcess) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(tianji).chat.completions.create(
            model="gemini-flash", messages=[{"role": "user", "content": "max tokens please"}]
        )
    assert info.value.code == "context_length_exceeded"
    assert "exceeds the maximum number of tokens" in info.value.message


def test_gemini_embeddings(tianji: TianjiProcess, google: FakeGoogle) -> None:
    resp = client(tianji).embeddings.create(
        model="gemini-embed", input=["alpha", "beta"], encoding_format="float"
    )
    assert [d.index for d in resp.data] == [0, 1]
    assert resp.data[1].embedding == [0.1, 0.2, 0.3]
    sent = last(google, ":batchEmbedContents")
    assert sent.path == "/v1beta/models/text-embedding-004:batchEmbedContents"
    assert sent.body == {
        "requests": [
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "alpha"}]}},
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "beta"}]}},
        ]
    }


# --- vertex_ai/ ------------------------------------------------------------------------


def test_vertex_gemini_with_service_account(tianji: TianjiProcess, google: FakeGoogle) -> None:
    for _ in range(2):
        resp = client(tianji).chat.completions.create(
            model="vertex-gemini", messages=[{"role": "user", "content": "hi"}]
        )
        assert resp.choices[0].message.content == "Hello from Gemini"
    sent = last(google, "/publishers/google/")
    assert sent.path == (
        "/v1/projects/test-proj/locations/us-central1/publishers/google/models/"
        "gemini-2.0-flash:generateContent"
    )
    assert sent.headers["authorization"] == f"Bearer {ISSUED_TOKEN}"
    token_calls = [r for r in google.requests if r.path == "/token"]
    assert len(token_calls) == 1  # cached until it expires
    assert token_calls[0].headers["content-type"] == "application/x-www-form-urlencoded"
    assert token_calls[0].body["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = google.assertions[0]
    assert claims["iss"] == CLIENT_EMAIL
    assert claims["aud"] == f"{google.base}/token"


def test_vertex_gemini_stream(tianji: TianjiProcess, google: FakeGoogle) -> None:
    stream = client(tianji).chat.completions.create(
        model="vertex-gemini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Hello from Gemini"
    sent = last(google, "/publishers/google/")
    assert sent.path.endswith("gemini-2.0-flash:streamGenerateContent")
    assert sent.query == "alt=sse"


def test_vertex_claude(tianji: TianjiProcess, google: FakeGoogle) -> None:
    resp = client(tianji).chat.completions.create(
        model="vertex-claude",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        max_tokens=100,
    )
    assert resp.choices[0].message.content == "Hi from Claude on Vertex"
    assert resp.usage is not None and resp.usage.total_tokens == 20
    sent = last(google, "/publishers/anthropic/")
    assert sent.path == (
        "/v1/projects/test-proj/locations/us-east5/publishers/anthropic/models/"
        "claude-sonnet-4@20250514:rawPredict"
    )
    assert sent.headers["authorization"] == f"Bearer {ISSUED_TOKEN}"
    assert sent.body == {
        "anthropic_version": "vertex-2023-10-16",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "system": [{"type": "text", "text": "Be brief."}],
        "max_tokens": 100,
    }


def test_vertex_claude_stream(tianji: TianjiProcess, google: FakeGoogle) -> None:
    stream = client(tianji).chat.completions.create(
        model="vertex-claude", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Hi from Vertex"
    sent = last(google, "/publishers/anthropic/")
    assert sent.path.endswith(":streamRawPredict")
    assert sent.body["stream"] is True


def test_vertex_claude_native_messages(tianji: TianjiProcess, google: FakeGoogle) -> None:
    sdk = anthropic.Anthropic(base_url=tianji.base, api_key=MASTER_KEY, max_retries=0)
    msg = sdk.messages.create(
        model="vertex-claude", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.content[0].type == "text"
    assert msg.content[0].text == "Hi from Claude on Vertex"
    sent = last(google, "/publishers/anthropic/")
    assert sent.path.endswith(":rawPredict")
    assert sent.body == {
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
        "anthropic_version": "vertex-2023-10-16",
    }
