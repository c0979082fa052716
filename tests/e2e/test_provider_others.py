"""Cohere, Cloudflare Workers AI and Replicate through `tianji up`, driven by the
official `openai` SDK (and httpx for Cohere-shaped `/v1/rerank`), against a fake vendor
server that speaks each vendor's own wire format.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionToolParam

from tests.e2e.conftest import MASTER_KEY
from tests.support.fake_others import FakeOthers
from tests.support.proc import TianjiProcess, start_tianji

pytestmark = pytest.mark.e2e

WEATHER_TOOL: ChatCompletionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}


def _config(vendor: FakeOthers) -> str:
    base = vendor.base
    return f"""
model_list:
  - model_name: command
    litellm_params: {{model: cohere/command-r-plus, api_base: "{base}/v2/chat",
                      api_key: co-upstream-secret}}
  - model_name: command-limited
    litellm_params: {{model: cohere/command-r-429, api_base: "{base}/v2/chat",
                      api_key: co-upstream-secret, num_retries: 0}}
  - model_name: command-long
    litellm_params: {{model: cohere/command-r-long, api_base: "{base}/v2/chat",
                      api_key: co-upstream-secret, num_retries: 0}}
  - model_name: cohere-embed
    litellm_params: {{model: cohere/embed-english-v3.0, api_base: "{base}/v2/embed",
                      api_key: co-upstream-secret}}
  - model_name: cohere-rerank
    litellm_params: {{model: cohere/rerank-english-v3.0, api_base: "{base}",
                      api_key: co-upstream-secret}}
  - model_name: workers-llama
    litellm_params: {{model: "cloudflare/@cf/meta/llama-3.1-8b-instruct",
                      api_base: "{base}/client/v4/accounts/acct-123/ai/run/",
                      api_key: cf-upstream-secret}}
  - model_name: replicate-llama
    litellm_params: {{model: replicate/meta/meta-llama-3-8b-instruct, api_base: "{base}/v1",
                      api_key: r8-upstream-secret}}
general_settings:
  master_key: {MASTER_KEY}
"""


@pytest.fixture(scope="module")
def vendor() -> Iterator[FakeOthers]:
    fake = FakeOthers().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def gateway(vendor: FakeOthers) -> Iterator[TianjiProcess]:
    proc = start_tianji(["up"], config_text=_config(vendor))
    yield proc
    proc.stop()


def client(gateway: TianjiProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base + "/v1", api_key=MASTER_KEY, max_retries=0)


# --- Cohere ---------------------------------------------------------------------------


def test_cohere_chat(gateway: TianjiProcess, vendor: FakeOthers) -> None:
    resp = client(gateway).chat.completions.create(
        model="command",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        max_tokens=50,
        top_p=0.5,
        stop=["END"],
    )
    assert resp.choices[0].message.content == "Hello from fake Cohere!"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (71, 5)
    sent = vendor.last("/v2/chat")
    assert sent.headers["authorization"] == "Bearer co-upstream-secret"
    assert sent.body == {
        "model": "command-r-plus",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        "max_tokens": 50,
        "p": 0.5,
        "stop_sequences": ["END"],
    }


def test_cohere_stream_with_usage(gateway: TianjiProcess, vendor: FakeOthers) -> None:
    stream = client(gateway).chat.completions.create(
        model="command",
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from Cohere"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 76
    sent = vendor.last("/v2/chat")
    assert sent.body["stream"] is True
    assert "stream_options" not in sent.body


def test_cohere_tool_call(gateway: TianjiProcess, vendor: FakeOthers) -> None:
    resp = client(gateway).chat.completions.create(
        model="command",
        messages=[{"role": "user", "content": "Weather in Toronto?"}],
        tools=[WEATHER_TOOL],
        tool_choice="required",
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.id == "get_weather_1byjy32y4hvq"
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"location": "Toronto"}
    sent = vendor.last("/v2/chat")
    assert sent.body["tools"] == [WEATHER_TOOL]
    assert sent.body["tool_choice"] == "REQUIRED"


def test_cohere_tool_call_stream_reassembled(gateway: TianjiProcess) -> None:
    stream = client(gateway).chat.completions.create(
        model="command",
        messages=[{"role": "user", "content": "Weather in Toronto?"}],
        tools=[WEATHER_TOOL],
        stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        finish = chunk.choices[0].finish_reason or finish
        for d in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(d.index, {"id": "", "name": "", "arguments": ""})
            call["id"] += d.id or ""
            if d.function is not None:
                call["name"] += d.function.name or ""
                call["arguments"] += d.function.arguments or ""
    assert finish == "tool_calls"
    assert calls == {
        0: {
            "id": "get_weather_nsz5zm3w56q3",
            "name": "get_weather",
            "arguments": '{"location": "Toronto"}',
        }
    }


def test_cohere_tool_result_round_trip(gateway: TianjiProcess, vendor: FakeOthers) -> None:
    client(gateway).chat.completions.create(
        model="command",
        messages=[
            {"role": "user", "content": "Weather in Toronto?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "-5C, snow"},
        ],
    )
    assert vendor.last("/v2/chat").body["messages"][1:] == [
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "-5C, snow"},
    ]


def test_cohere_errors_mapped(gateway: TianjiProcess) -> None:
    with pytest.raises(openai.RateLimitError) as limited:
        client(gateway).chat.completions.create(
            model="command-limited", messages=[{"role": "user", "content": "Hi"}]
        )
    assert "Trial key" in str(limited.value)
    with pytest.raises(openai.BadRequestError) as long:
        client(gateway).chat.completions.create(
            model="command-long", messages=[{"role": "user", "content": "Hi"}]
        )
    assert long.value.code == "context_length_exceeded"


def test_cohere_embeddings(gateway: TianjiProcess, vendor: FakeOthers) -> None:
    resp = client(gateway).embeddings.create(model="cohere-embed", input=["hello", "world"])
    assert [d.index for d in resp.data] == [0, 1]
    assert resp.data[0].embedding == pytest.approx([0.016, -0.0312, 0.25])
    assert resp.usage.prompt_tokens == 4
    sent = vendor.last("/v2/embed")
    assert sent.body == {
        "model": "embed-english-v3.0",
        "texts": ["hello", "world"],
        "input_type": "search_document",
        "embedding_types": ["float"],
    }


def test_cohere_rerank(gateway: TianjiProcess, vendor: FakeOthers) -> None:
    resp = httpx.post(
        gateway.base + "/v1/rerank",
        headers={"authorization": "Bearer " + MASTER_KEY},
        json={
            "model": "cohere-rerank",
            "query": "What is the capital of the United States?",
            "documents": [
                "Carson City is the capital city of the American state of Nevada.",
                {"text": "Washington, D.C. is the capital of the United States."},
            ],
            "top_n": 2,
            "return_documents": True,
        },
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["id"] == "07734bd2-2473-4f07-94e1-0d9f0e6843cf"
    assert [r["index"] for r in out["results"]] == [1, 0]
    assert out["results"][0]["relevance_score"] > out["results"][1]["relevance_score"]
    assert out["results"][0]["document"] == {
        "text": "Washington, D.C. is the capital of the United States."
    }
    assert out["meta"]["billed_units"] == {"search_units": 1}
    sent = vendor.last("/v2/rerank")
    assert sent.headers["authorization"] == "Bearer co-upstream-secret"
    assert sent.body["model"] == "rerank-english-v3.0"
    assert sent.body["top_n"] == 2


# --- Replicate ------------------------------------------------------------------------


def test_replicate_polls_until_succeeded(gateway: TianjiProcess, vendor: FakeOthers) -> None:
    before = len(vendor.requests)
    resp = client(gateway).chat.completions.create(
        model="replicate-llama",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hello"},
        ],
        max_tokens=20,
        temperature=0.2,
    )
    assert resp.choices[0].message.content == "Hello from Replicate"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (14, 3)
    seen = vendor.requests[before:]
    assert [(r.method, r.path.rsplit("/", 1)[0]) for r in seen] == [
        ("POST", "/v1/models/meta/meta-llama-3-8b-instruct"),
        ("GET", "/v1/predictions"),
        ("GET", "/v1/predictions"),
        ("GET", "/v1/predictions"),
    ]
    assert all(r.headers["authorization"] == "Bearer r8-upstream-secret" for r in seen)
    assert seen[0].body == {
        "input": {
            "prompt": "Say hello",
            "system_prompt": "You are terse.",
            "max_new_tokens": 20,
            "temperature": 0.2,
        }
    }


def test_replicate_stream(gateway: TianjiProcess, vendor: FakeOthers) -> None:
    stream = client(gateway).chat.completions.create(
        model="replicate-llama", messages=[{"role": "user", "content": "Say hello"}], stream=True
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from Replicate"
    assert chunks[-1].choices[0].finish_reason == "stop"
    created = vendor.last("/v1/models/")
    assert created.body["stream"] is True
    opened = vendor.last("/v1/streams/")
    assert opened.method == "GET"
    assert opened.headers["accept"] == "text/event-stream"


# --- Cloudflare -----------------------------------------------------------------------


def test_cloudflare_chat(gateway: TianjiProcess, vendor: FakeOthers) -> None:
    resp = client(gateway).chat.completions.create(
        model="workers-llama", messages=[{"role": "user", "content": "Hi"}], max_tokens=16
    )
    assert resp.choices[0].message.content == "Hello from Workers AI"
    assert resp.usage is not None
    assert resp.usage.total_tokens == 22
    sent = vendor.last("/client/v4/")
    assert sent.path == "/client/v4/accounts/acct-123/ai/run/@cf/meta/llama-3.1-8b-instruct"
    assert sent.headers["authorization"] == "Bearer cf-upstream-secret"
    assert sent.body == {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 16}


def test_cloudflare_stream(gateway: TianjiProcess) -> None:
    stream = client(gateway).chat.completions.create(
        model="workers-llama",
        messages=[{"role": "user", "content": "Hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from Workers AI"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == 18
