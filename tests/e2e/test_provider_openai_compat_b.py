"""The plain OpenAI-compatible vendors through `tianji up`, driven by the official SDK.

Every vendor of the group answers a chat through the real gateway process against
`tests/support/fake_openai_compat.py`; Groq, Mistral and Together AI get the deeper
paths: streams with tool calls and usage, Mistral's strict schema and embeddings,
Together's rerank over `POST /v1/rerank`, and vendor error bodies mapped to SDK errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.conftest import MASTER_KEY
from tests.support.fake_openai_compat import FakeOpenAICompat
from tests.support.proc import TianjiProcess, start_tianji

pytestmark = pytest.mark.e2e

# provider id -> (fake vendor prefix, api_base path, upstream model, path the vendor sees)
VENDORS: dict[str, tuple[str, str, str, str]] = {
    "groq": (
        "groq",
        "/groq/openai/v1",
        "llama-3.3-70b-versatile",
        "/groq/openai/v1/chat/completions",
    ),
    "mistral": ("mistral", "/mistral", "mistral-large-latest", "/mistral/v1/chat/completions"),
    "together_ai": (
        "together",
        "/together/v1",
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "/together/v1/chat/completions",
    ),
    "fireworks_ai": (
        "fireworks",
        "/fireworks/inference/v1",
        "llama-v3p1-8b-instruct",
        "/fireworks/inference/v1/chat/completions",
    ),
    "deepseek": ("deepseek", "/deepseek/beta", "deepseek-chat", "/deepseek/beta/chat/completions"),
    "perplexity": ("perplexity", "/perplexity", "sonar-pro", "/perplexity/chat/completions"),
    "xai": ("xai", "/xai/v1", "grok-3", "/xai/v1/chat/completions"),
    "cerebras": ("cerebras", "/cerebras/v1", "llama3.1-8b", "/cerebras/v1/chat/completions"),
    "sambanova": (
        "sambanova",
        "/sambanova/v1",
        "Meta-Llama-3.3-70B-Instruct",
        "/sambanova/v1/chat/completions",
    ),
    "openrouter": (
        "openrouter",
        "/openrouter/api/v1",
        "meta-llama/llama-3.3-70b-instruct",
        "/openrouter/api/v1/chat/completions",
    ),
    "deepinfra": (
        "deepinfra",
        "/deepinfra/v1/openai",
        "meta-llama/Meta-Llama-3.1-8B-Instruct",
        "/deepinfra/v1/openai/chat/completions",
    ),
    "nvidia_nim": (
        "nvidia",
        "/nvidia/v1",
        "meta/llama-3.1-8b-instruct",
        "/nvidia/v1/chat/completions",
    ),
}
SENT_MODEL = {"fireworks_ai": "accounts/fireworks/models/llama-v3p1-8b-instruct"}
WEATHER_TOOL: Any = {
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
HI: list[Any] = [{"role": "user", "content": "hi"}]
# Keys the gateway must find in LiteLLM's env vars (TOGETHERAI_API_KEY is a fallback name).
ENV_KEYS = {"groq": "gsk-from-env", "together_ai": "tg-from-env"}
ENV = {
    "GROQ_API_KEY": ENV_KEYS["groq"],
    "TOGETHERAI_API_KEY": ENV_KEYS["together_ai"],
    "OR_SITE_URL": "https://app.example",
    "OR_APP_NAME": "Example App",
}


def config(fake: FakeOpenAICompat) -> str:
    entries = []
    for pid, (_, path, model, _) in VENDORS.items():
        key = "" if pid in ENV_KEYS else f", api_key: sk-{pid}-upstream"
        entries.append(
            f"  - model_name: {pid}-chat\n"
            f'    litellm_params: {{model: "{pid}/{model}", api_base: "{fake.base}{path}"{key}}}'
        )
    b = fake.base
    entries += [
        f"  - model_name: mistral-drop\n"
        f"    litellm_params: {{model: mistral/mistral-small-latest, api_base: {b}/mistral,"
        f" api_key: k, drop_params: true}}",
        f"  - model_name: mistral-embed\n"
        f"    litellm_params: {{model: mistral/mistral-embed, api_base: {b}/mistral, api_key: k}}",
        f"  - model_name: mistral-ctx\n"
        f"    litellm_params: {{model: mistral/m-ctx, api_base: {b}/mistral, api_key: k,"
        f" num_retries: 0}}",
        f"  - model_name: groq-limited\n"
        f"    litellm_params: {{model: groq/m-429, api_base: {b}/groq/openai/v1, api_key: k,"
        f" num_retries: 0}}",
        f"  - model_name: together-rerank\n"
        f"    litellm_params: {{model: together_ai/Salesforce/Llama-Rank-V1,"
        f" api_base: {b}/together/v1, api_key: k}}",
    ]
    return (
        "model_list:\n" + "\n".join(entries) + f"\ngeneral_settings:\n  master_key: {MASTER_KEY}\n"
    )


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAICompat]:
    server = FakeOpenAICompat().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(fake: FakeOpenAICompat) -> Iterator[TianjiProcess]:
    proc = start_tianji(["up"], config_text=config(fake), env=ENV)
    yield proc
    proc.stop()


def client(gateway: TianjiProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base}/v1", api_key=MASTER_KEY, max_retries=0)


@pytest.mark.parametrize("pid", sorted(VENDORS))
def test_chat_through_every_vendor(
    pid: str, gateway: TianjiProcess, fake: FakeOpenAICompat
) -> None:
    vendor, _, model, path = VENDORS[pid]
    resp = client(gateway).chat.completions.create(model=f"{pid}-chat", messages=HI)
    assert resp.choices[0].message.content == f"Hello from {vendor}!"
    assert resp.usage is not None and resp.usage.total_tokens == 20
    sent = fake.last(vendor)
    assert sent.path == path
    key = ENV_KEYS.get(pid, f"sk-{pid}-upstream")
    assert sent.headers["authorization"] == f"Bearer {key}"
    assert sent.body["model"] == SENT_MODEL.get(pid, model)
    assert sent.body["messages"] == HI


def test_groq_stream_tool_call_and_usage(gateway: TianjiProcess, fake: FakeOpenAICompat) -> None:
    stream = client(gateway).chat.completions.create(
        model="groq-chat",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER_TOOL],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert calls[0].id == "call_fake1" and calls[0].function is not None
    assert calls[0].function.name == "get_weather"
    args = "".join(tc.function.arguments or "" for tc in calls if tc.function)
    assert json.loads(args) == {"city": "Paris"}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "tool_calls"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 16
    sent = fake.last("groq").body
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["tools"] == [WEATHER_TOOL]


def test_groq_answer_fixes(gateway: TianjiProcess, fake: FakeOpenAICompat) -> None:
    history: list[Any] = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "function_call": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
    ]
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="groq-chat",
        messages=history,
    )
    body = json.loads(raw.text)
    assert body["service_tier"] == "auto"  # Groq's "on_demand", as LiteLLM maps it
    assert body["x_groq"] == {"id": "req_fake"}
    sent = fake.last("groq").body["messages"]
    assert sent[1] == {"role": "assistant", "tool_calls": history[1]["tool_calls"]}


def test_groq_rate_limit(gateway: TianjiProcess) -> None:
    with pytest.raises(openai.RateLimitError) as exc:
        client(gateway).chat.completions.create(model="groq-limited", messages=HI)
    assert exc.value.response.headers["retry-after"] == "7"
    assert "Rate limit reached" in exc.value.message


def test_groq_unsupported_param_rejected(gateway: TianjiProcess) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        client(gateway).chat.completions.create(
            model="groq-chat", messages=HI, logit_bias={"50256": -100}
        )
    assert "logit_bias" in exc.value.message


def test_mistral_request_in_mistral_schema(gateway: TianjiProcess, fake: FakeOpenAICompat) -> None:
    resp = client(gateway).chat.completions.create(
        model="mistral-drop",
        messages=HI,
        tools=[WEATHER_TOOL],
        tool_choice="required",
        seed=42,
        max_completion_tokens=64,
        user="end-user-1",
    )
    assert resp.choices[0].finish_reason == "tool_calls"
    tool_calls = resp.choices[0].message.tool_calls
    assert tool_calls is not None and tool_calls[0].function.name == "get_weather"  # type: ignore[union-attr]
    sent = fake.last("mistral")
    assert sent.path == "/mistral/v1/chat/completions"
    assert sent.body["tool_choice"] == "any"
    assert sent.body["random_seed"] == 42
    assert sent.body["max_tokens"] == 64
    assert "user" not in sent.body and "seed" not in sent.body


def test_mistral_rejects_what_mistral_forbids(gateway: TianjiProcess) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        client(gateway).chat.completions.create(model="mistral-chat", messages=HI, user="u-1")
    assert "mistral does not support parameter 'user'" in exc.value.message


def test_mistral_stream_without_stream_options(
    gateway: TianjiProcess, fake: FakeOpenAICompat
) -> None:
    chunks = list(
        client(gateway).chat.completions.create(
            model="mistral-chat",
            messages=HI,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from mistral!"
    usage = [c.usage for c in chunks if c.usage is not None]
    assert usage and usage[-1].total_tokens == 16
    assert "stream_options" not in fake.last("mistral").body


def test_mistral_embeddings(gateway: TianjiProcess, fake: FakeOpenAICompat) -> None:
    resp = client(gateway).embeddings.create(model="mistral-embed", input=["a", "b"])
    assert [d.embedding for d in resp.data] == [[0.25, -0.5, 0.125]] * 2
    assert resp.usage.prompt_tokens == 8
    sent = fake.last("mistral")
    assert sent.path == "/mistral/v1/embeddings"
    assert sent.body["input"] == ["a", "b"] and sent.body["model"] == "mistral-embed"


def test_mistral_context_window(gateway: TianjiProcess) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        client(gateway).chat.completions.create(model="mistral-ctx", messages=HI)
    assert exc.value.code == "context_length_exceeded"
    assert "too large for model" in exc.value.message


def test_together_stream(gateway: TianjiProcess) -> None:
    chunks = list(
        client(gateway).chat.completions.create(model="together_ai-chat", messages=HI, stream=True)
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from together!"
    assert all(c.usage is None for c in chunks)  # not asked for: stripped


def test_together_rerank_cohere_shape(gateway: TianjiProcess, fake: FakeOpenAICompat) -> None:
    docs = [
        "Carson City is the capital city of the American state of Nevada.",
        "Washington, D.C. is the capital of the United States.",
        "Capital punishment has existed in the United States since before it was a country.",
    ]
    r = httpx.post(
        f"{gateway.base}/v1/rerank",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        json={
            "model": "together-rerank",
            "query": "What is the capital of the United States?",
            "documents": docs,
            "top_n": 2,
        },
        timeout=30,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "rr-fake-1"
    assert [res["index"] for res in body["results"]] == [1, 2]
    assert body["results"][0]["document"] == {"text": docs[1]}
    assert body["results"][0]["relevance_score"] > body["results"][1]["relevance_score"]
    assert body["meta"] == {
        "billed_units": {"total_tokens": 42},
        "tokens": {"input_tokens": 42, "output_tokens": 0},
    }
    sent = fake.last("together")
    assert sent.path == "/together/v1/rerank"
    assert sent.body == {
        "model": "Salesforce/Llama-Rank-V1",
        "query": "What is the capital of the United States?",
        "documents": docs,
        "top_n": 2,
        "return_documents": True,
    }


def test_perplexity_citations_reach_the_client(gateway: TianjiProcess) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="perplexity-chat", messages=HI
    )
    assert json.loads(raw.text)["citations"] == ["https://example.com/a"]


def test_openrouter_attribution_headers_from_env(
    gateway: TianjiProcess, fake: FakeOpenAICompat
) -> None:
    client(gateway).chat.completions.create(model="openrouter-chat", messages=HI)
    sent = fake.last("openrouter")
    assert sent.headers["http-referer"] == "https://app.example"
    assert sent.headers["x-title"] == "Example App"
    assert sent.body["usage"] == {"include": True}
