"""The official `openai` SDK through `tianji up` to a fake Bedrock that checks SigV4.

The fake recomputes every signature from the request as it arrived, so these tests
prove the gateway signs what it sends (path, headers, body), and that ConverseStream's
binary frames, cut into uneven pieces, come out as OpenAI chunks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.e2e.conftest import MASTER_KEY
from tests.support.fake_bedrock import FakeBedrock
from tests.support.proc import TianjiProcess, start_tianji

pytestmark = pytest.mark.e2e

MODEL = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def _config(fake: FakeBedrock) -> str:
    creds = f"""api_base: {fake.base}
      aws_access_key_id: AKIDFAKEBEDROCK
      aws_secret_access_key: fake/secret+key
      aws_region_name: us-east-1"""
    return f"""
model_list:
  - model_name: claude-bedrock
    litellm_params:
      model: bedrock/{MODEL}
      {creds}
  - model_name: claude-profile
    litellm_params:
      model: bedrock/converse/{ARN}
      {creds}
  - model_name: claude-session
    litellm_params:
      model: bedrock/{MODEL}
      {creds}
      aws_session_token: FwoGZXIvYXdzEXAMPLEsessiontoken
  - model_name: claude-apikey
    litellm_params:
      model: bedrock/{MODEL}
      api_base: {fake.base}
      api_key: bedrock-api-key-fake
  - model_name: claude-badsecret
    litellm_params:
      model: bedrock/{MODEL}
      api_base: {fake.base}
      aws_access_key_id: AKIDFAKEBEDROCK
      aws_secret_access_key: not-the-secret
      aws_region_name: us-east-1
      num_retries: 0
  - model_name: claude-throttled
    litellm_params:
      model: bedrock/anthropic.claude-m-429
      {creds}
      num_retries: 0
  - model_name: claude-toolong
    litellm_params:
      model: bedrock/anthropic.claude-m-toolong
      {creds}
      num_retries: 0
  - model_name: claude-streamerr
    litellm_params:
      model: bedrock/anthropic.claude-m-streamerr
      {creds}
  - model_name: titan-embed
    litellm_params:
      model: bedrock/amazon.titan-embed-text-v2:0
      {creds}
  - model_name: cohere-embed
    litellm_params:
      model: bedrock/cohere.embed-english-v3
      {creds}
  - model_name: bedrock-rerank
    litellm_params:
      model: bedrock/cohere.rerank-v3-5:0
      {creds}
general_settings:
  master_key: {MASTER_KEY}
"""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBedrock]:
    server = FakeBedrock().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tianji(fake: FakeBedrock) -> Iterator[TianjiProcess]:
    proc = start_tianji(["up"], config_text=_config(fake))
    yield proc
    proc.stop()


def client(tianji: TianjiProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{tianji.base}/v1", api_key=MASTER_KEY, max_retries=0)


def test_chat(tianji: TianjiProcess, fake: FakeBedrock) -> None:
    resp = client(tianji).chat.completions.create(
        model="claude-bedrock",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        max_tokens=64,
        temperature=0.3,
    )
    assert resp.choices[0].message.content == "Hello from fake Bedrock!"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None and resp.usage.total_tokens == 18
    sent = fake.requests[-1]
    assert sent.auth == "sigv4"
    assert sent.raw_path == f"/model/{MODEL}/converse"
    assert sent.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDFAKEBEDROCK/")
    assert sent.body == {
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "system": [{"text": "be brief"}],
        "inferenceConfig": {"maxTokens": 64, "temperature": 0.3},
    }


def test_stream(tianji: TianjiProcess, fake: FakeBedrock) -> None:
    stream = client(tianji).chat.completions.create(
        model="claude-bedrock",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from Bedrock"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 13
    sent = fake.requests[-1]
    assert sent.auth == "sigv4"
    assert sent.raw_path == f"/model/{MODEL}/converse-stream"


def test_tool_call_then_result(tianji: TianjiProcess, fake: FakeBedrock) -> None:
    c = client(tianji)
    messages: list[dict[str, object]] = [{"role": "user", "content": "Weather in Paris?"}]
    first = c.chat.completions.create(model="claude-bedrock", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.id == "tooluse_fake01"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert fake.requests[-1].body["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18C, sunny"},
    ]
    second = c.chat.completions.create(model="claude-bedrock", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    assert second.choices[0].message.content == "Hello from fake Bedrock!"
    turns = fake.requests[-1].body["messages"]
    assert turns[1]["content"][-1]["toolUse"]["toolUseId"] == "tooluse_fake01"
    assert turns[2] == {
        "role": "user",
        "content": [
            {"toolResult": {"toolUseId": "tooluse_fake01", "content": [{"text": "18C, sunny"}]}}
        ],
    }


def test_streamed_tool_call(tianji: TianjiProcess) -> None:
    stream = client(tianji).chat.completions.create(
        model="claude-bedrock",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=TOOLS,  # type: ignore[arg-type]
        stream=True,
    )
    name, args, finish = "", "", None
    for chunk in stream:
        for call in chunk.choices[0].delta.tool_calls or []:
            name += call.function.name or "" if call.function else ""
            args += call.function.arguments or "" if call.function else ""
        finish = chunk.choices[0].finish_reason or finish
    assert name == "get_weather"
    assert json.loads(args) == {"city": "Paris"}
    assert finish == "tool_calls"


def test_inference_profile_arn_is_escaped_and_signed(
    tianji: TianjiProcess, fake: FakeBedrock
) -> None:
    resp = client(tianji).chat.completions.create(
        model="claude-profile", messages=[{"role": "user", "content": "hi"}]
    )
    assert resp.choices[0].message.content == "Hello from fake Bedrock!"
    sent = fake.requests[-1]
    assert sent.auth == "sigv4"
    assert sent.model_id == ARN
    assert sent.raw_path == "/model/" + ARN.replace("/", "%2F") + "/converse"


def test_session_token_is_signed(tianji: TianjiProcess, fake: FakeBedrock) -> None:
    client(tianji).chat.completions.create(
        model="claude-session", messages=[{"role": "user", "content": "hi"}]
    )
    sent = fake.requests[-1]
    assert sent.auth == "sigv4"
    assert sent.headers["x-amz-security-token"] == "FwoGZXIvYXdzEXAMPLEsessiontoken"
    assert "x-amz-security-token" in sent.headers["authorization"]


def test_bedrock_api_key_is_a_bearer_token(tianji: TianjiProcess, fake: FakeBedrock) -> None:
    client(tianji).chat.completions.create(
        model="claude-apikey", messages=[{"role": "user", "content": "hi"}]
    )
    sent = fake.requests[-1]
    assert sent.auth == "bearer"
    assert sent.headers["authorization"] == "Bearer bedrock-api-key-fake"
    assert "x-amz-date" not in sent.headers


def test_wrong_secret_is_refused_by_the_vendor(tianji: TianjiProcess) -> None:
    with pytest.raises(openai.PermissionDeniedError) as e:
        client(tianji).chat.completions.create(
            model="claude-badsecret", messages=[{"role": "user", "content": "hi"}]
        )
    assert "signature" in str(e.value)


def test_throttling_is_a_rate_limit(tianji: TianjiProcess) -> None:
    with pytest.raises(openai.RateLimitError):
        client(tianji).chat.completions.create(
            model="claude-throttled", messages=[{"role": "user", "content": "hi"}]
        )


def test_input_too_long_is_context_window(tianji: TianjiProcess) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        client(tianji).chat.completions.create(
            model="claude-toolong", messages=[{"role": "user", "content": "hi"}]
        )
    assert e.value.code == "context_length_exceeded"


def test_exception_frame_mid_stream(tianji: TianjiProcess) -> None:
    stream = client(tianji).chat.completions.create(
        model="claude-streamerr", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    seen: list[str] = []

    def drain() -> None:
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content or "" if chunk.choices else "")

    with pytest.raises(openai.APIError) as e:
        drain()
    assert "".join(seen) == "Hello from"
    assert "Too many requests" in str(e.value)


def test_titan_embeddings(tianji: TianjiProcess, fake: FakeBedrock) -> None:
    resp = client(tianji).embeddings.create(model="titan-embed", input="hello", dimensions=256)
    assert resp.data[0].embedding == [0.5, -0.25, 0.125]
    assert resp.usage.prompt_tokens == 4
    sent = fake.requests[-1]
    assert sent.auth == "sigv4"
    assert sent.raw_path == "/model/amazon.titan-embed-text-v2:0/invoke"
    assert sent.body == {"inputText": "hello", "dimensions": 256}


def test_cohere_embeddings_batch(tianji: TianjiProcess, fake: FakeBedrock) -> None:
    resp = client(tianji).embeddings.create(model="cohere-embed", input=["a", "b"])
    assert [d.index for d in resp.data] == [0, 1]
    assert fake.requests[-1].body == {"texts": ["a", "b"], "input_type": "search_document"}
    assert fake.requests[-1].auth == "sigv4"


def test_rerank(tianji: TianjiProcess, fake: FakeBedrock) -> None:
    r = httpx.post(
        f"{tianji.base}/v1/rerank",
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
        json={"model": "bedrock-rerank", "query": "capital?", "documents": ["Rome", "Paris"]},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert [x["index"] for x in r.json()["results"]] == [1, 0]
    sent = fake.requests[-1]
    assert sent.auth == "sigv4"
    assert sent.raw_path == "/rerank"
    model_arn = sent.body["rerankingConfiguration"]["bedrockRerankingConfiguration"][
        "modelConfiguration"
    ]["modelArn"]
    assert model_arn == "arn:aws:bedrock:us-east-1::foundation-model/cohere.rerank-v3-5:0"
