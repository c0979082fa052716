"""`tianji up` in front of fake Azure OpenAI and Ollama servers, driven by the openai SDK.

The client is the plain `openai.OpenAI` pointed at TianjiLLM (no `AzureOpenAI`): the
gateway owns the deployment URL, `api-version` and `api-key`, and turns Ollama's
NDJSON into OpenAI chunks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.e2e.conftest import MASTER_KEY
from tests.support.fake_azure import FakeAzure
from tests.support.fake_ollama import FakeOllama
from tests.support.proc import TianjiProcess, start_tianji

pytestmark = pytest.mark.e2e

AZURE_KEY = "azure-upstream-key"
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
}
HI: Any = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def azure() -> Iterator[FakeAzure]:
    fake = FakeAzure(key=AZURE_KEY).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def ollama() -> Iterator[FakeOllama]:
    fake = FakeOllama().start()
    yield fake
    fake.stop()


def config(azure: FakeAzure, ollama: FakeOllama) -> str:
    return f"""
model_list:
  - model_name: azure-gpt
    litellm_params:
      model: azure/gpt-4o-prod
      api_base: {azure.base}
      api_key: {AZURE_KEY}
      api_version: "2024-10-21"
  - model_name: azure-v1
    litellm_params: {{model: azure/gpt-4o-prod, api_base: "{azure.base}", api_key: {AZURE_KEY},
                      api_version: v1}}
  - model_name: azure-env
    litellm_params: {{model: azure/gpt-4o-env}}
  - model_name: azure-limited
    litellm_params: {{model: azure/gpt-4o-429, api_base: "{azure.base}", api_key: {AZURE_KEY},
                      num_retries: 0}}
  - model_name: azure-filtered
    litellm_params: {{model: azure/gpt-4o-filtered, api_base: "{azure.base}", api_key: {AZURE_KEY}}}
  - model_name: azure-embed
    litellm_params: {{model: azure/text-embedding-3-small, api_base: "{azure.base}",
                      api_key: {AZURE_KEY}}}
  - model_name: llama
    litellm_params: {{model: ollama_chat/llama3.2, api_base: "{ollama.base}"}}
  - model_name: llama-generate
    litellm_params: {{model: ollama/llama3.2, api_base: "{ollama.base}"}}
  - model_name: llama-missing
    litellm_params: {{model: ollama_chat/llama9, api_base: "{ollama.base}", num_retries: 0}}
  - model_name: nomic
    litellm_params: {{model: ollama/nomic-embed-text, api_base: "{ollama.base}"}}
general_settings:
  master_key: {MASTER_KEY}
"""


@pytest.fixture(scope="module")
def tianji(azure: FakeAzure, ollama: FakeOllama) -> Iterator[TianjiProcess]:
    env = {
        "AZURE_API_KEY": AZURE_KEY,
        "AZURE_API_BASE": azure.base,
        "AZURE_API_VERSION": "2024-06-01",
    }
    proc = start_tianji(["up"], config_text=config(azure, ollama), env=env)
    yield proc
    proc.stop()


def client(tianji: TianjiProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{tianji.base}/v1", api_key=MASTER_KEY, max_retries=0)


def last(fake: FakeAzure | FakeOllama) -> Any:
    return fake.requests[-1]


# --- Azure -----------------------------------------------------------------------------


def test_azure_chat(tianji: TianjiProcess, azure: FakeAzure) -> None:
    raw = client(tianji).chat.completions.with_raw_response.create(
        model="azure-gpt", messages=HI, temperature=0.3
    )
    resp = raw.parse()
    assert resp.choices[0].message.content == "Hello from Azure!"
    assert resp.usage is not None and resp.usage.total_tokens == 17
    assert raw.headers["x-litellm-model-api-base"] == azure.base
    sent = last(azure)
    assert sent.path == "/openai/deployments/gpt-4o-prod/chat/completions"
    assert sent.query == {"api-version": "2024-10-21"}
    assert sent.headers["api-key"] == AZURE_KEY
    assert "authorization" not in sent.headers  # the master key never leaves the gateway
    assert sent.body == {"messages": HI, "temperature": 0.3, "model": "gpt-4o-prod"}


def test_azure_stream(tianji: TianjiProcess, azure: FakeAzure) -> None:
    chunks = list(
        client(tianji).chat.completions.create(model="azure-gpt", messages=HI, stream=True)
    )
    assert all(c.choices for c in chunks)  # no filter-only chunk, no usage chunk
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from Azure!"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert last(azure).body["stream_options"] == {"include_usage": True}


def test_azure_stream_usage_when_asked(tianji: TianjiProcess) -> None:
    chunks = list(
        client(tianji).chat.completions.create(
            model="azure-gpt", messages=HI, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 16


def test_azure_tools(tianji: TianjiProcess, azure: FakeAzure) -> None:
    resp = client(tianji).chat.completions.create(
        model="azure-gpt", messages=HI, tools=[WEATHER_TOOL], tool_choice="auto"
    )
    (call,) = resp.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    assert last(azure).body["tools"] == [WEATHER_TOOL]
    stream = client(tianji).chat.completions.create(
        model="azure-gpt", messages=HI, tools=[WEATHER_TOOL], stream=True
    )
    args, names = "", []
    for chunk in stream:
        for tc in chunk.choices[0].delta.tool_calls or []:
            if tc.function and tc.function.name:
                names.append(tc.function.name)
            args += (tc.function.arguments or "") if tc.function else ""
    assert names == ["get_weather"]
    assert json.loads(args) == {"city": "Paris"}


def test_azure_v1_api(tianji: TianjiProcess, azure: FakeAzure) -> None:
    resp = client(tianji).chat.completions.create(model="azure-v1", messages=HI)
    assert resp.choices[0].message.content == "Hello from Azure!"
    sent = last(azure)
    assert sent.path == "/openai/v1/chat/completions"
    assert sent.query == {}
    assert sent.headers["authorization"] == f"Bearer {AZURE_KEY}"


def test_azure_env_credentials(tianji: TianjiProcess, azure: FakeAzure) -> None:
    client(tianji).chat.completions.create(model="azure-env", messages=HI)
    sent = last(azure)
    assert sent.path == "/openai/deployments/gpt-4o-env/chat/completions"
    assert sent.query == {"api-version": "2024-06-01"}
    assert sent.headers["api-key"] == AZURE_KEY


def test_azure_rate_limit(tianji: TianjiProcess) -> None:
    with pytest.raises(openai.RateLimitError) as exc:
        client(tianji).chat.completions.create(model="azure-limited", messages=HI)
    assert exc.value.response.headers["retry-after"] == "6"


def test_azure_content_filter(tianji: TianjiProcess) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        client(tianji).chat.completions.create(model="azure-filtered", messages=HI)
    assert exc.value.code == "content_policy_violation"
    assert "content management policy" in exc.value.message


def test_azure_embeddings(tianji: TianjiProcess, azure: FakeAzure) -> None:
    resp = client(tianji).embeddings.create(model="azure-embed", input=["a", "b"])
    assert [d.index for d in resp.data] == [0, 1]
    assert resp.usage.prompt_tokens == 8
    assert last(azure).path == "/openai/deployments/text-embedding-3-small/embeddings"


# --- Ollama ----------------------------------------------------------------------------


def test_ollama_chat(tianji: TianjiProcess, ollama: FakeOllama) -> None:
    resp = client(tianji).chat.completions.create(model="llama", messages=HI, max_tokens=64)
    assert resp.choices[0].message.content == "The sky is blue."
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (26, 5)
    sent = last(ollama)
    assert sent.path == "/api/chat"
    assert sent.body == {
        "model": "llama3.2",
        "messages": HI,
        "options": {"num_predict": 64},
        "stream": False,
    }


def test_ollama_chat_stream(tianji: TianjiProcess, ollama: FakeOllama) -> None:
    chunks = list(client(tianji).chat.completions.create(model="llama", messages=HI, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "The sky is blue."
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)
    assert last(ollama).body["stream"] is True
    assert "stream_options" not in last(ollama).body


def test_ollama_chat_stream_usage(tianji: TianjiProcess) -> None:
    chunks = list(
        client(tianji).chat.completions.create(
            model="llama", messages=HI, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 31


def test_ollama_chat_tools(tianji: TianjiProcess, ollama: FakeOllama) -> None:
    resp = client(tianji).chat.completions.create(
        model="llama", messages=HI, tools=[WEATHER_TOOL], tool_choice="auto"
    )
    assert resp.choices[0].finish_reason == "tool_calls"
    (call,) = resp.choices[0].message.tool_calls or []
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "celsius"}  # type: ignore[union-attr]
    assert last(ollama).body["tools"] == [WEATHER_TOOL]
    assert "tool_choice" not in last(ollama).body
    chunks = list(
        client(tianji).chat.completions.create(
            model="llama", messages=HI, tools=[WEATHER_TOOL], stream=True
        )
    )
    calls = [tc for c in chunks for tc in c.choices[0].delta.tool_calls or []]
    assert [tc.function.name for tc in calls] == ["get_weather"]  # type: ignore[union-attr]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_ollama_generate_chat_and_completion(tianji: TianjiProcess, ollama: FakeOllama) -> None:
    chunks = list(
        client(tianji).chat.completions.create(model="llama-generate", messages=HI, stream=True)
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "The sky is blue."
    assert last(ollama).path == "/api/generate"
    assert last(ollama).body["prompt"] == "### User:\nHi\n\n"
    completion = client(tianji).completions.create(model="llama-generate", prompt="Why?")
    assert completion.choices[0].text == "The sky is blue."
    assert last(ollama).body["prompt"] == "Why?"


def test_ollama_model_not_found(tianji: TianjiProcess) -> None:
    with pytest.raises(openai.NotFoundError) as exc:
        client(tianji).chat.completions.create(model="llama-missing", messages=HI)
    assert 'model "llama9" not found' in exc.value.message


def test_ollama_embeddings(tianji: TianjiProcess, ollama: FakeOllama) -> None:
    resp = client(tianji).embeddings.create(model="nomic", input=["x", "y"])
    assert [d.embedding for d in resp.data] == [[0.010071029, -0.0017594862, 0.05007221]] * 2
    assert resp.usage.prompt_tokens == 16
    assert last(ollama).path == "/api/embed"
    assert last(ollama).body == {"model": "nomic-embed-text", "input": ["x", "y"]}
