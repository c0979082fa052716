"""The official `openai` SDK against `tianji up`, as a LiteLLM user's client would run."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.e2e.conftest import MASTER_KEY
from tests.support.fake_upstream import FakeUpstream
from tests.support.proc import TianjiProcess

pytestmark = pytest.mark.e2e


def client(tianji: TianjiProcess, key: str = MASTER_KEY, **kw: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{tianji.base}/v1", api_key=key, max_retries=0, **kw)  # type: ignore[arg-type]


def last_body(upstream: FakeUpstream) -> dict[str, object]:
    body = upstream.requests[-1].body
    assert isinstance(body, dict)
    return body


def test_chat_completion(tianji: TianjiProcess, upstream: FakeUpstream) -> None:
    raw = client(tianji).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    resp = raw.parse()
    assert resp.choices[0].message.content == "Hello from the fake upstream!"
    assert resp.usage is not None and resp.usage.total_tokens == 18
    assert raw.headers["x-litellm-model-group"] == "gpt-4o-mini"
    assert raw.headers["x-litellm-model-api-base"] == f"{upstream.base}/v1"
    assert len(raw.headers["x-litellm-call-id"]) == 32
    assert raw.headers["x-litellm-model-id"]
    sent = upstream.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-upstream-openai-secret"
    assert last_body(upstream)["model"] == "gpt-4o-mini-ok"


def test_without_v1_prefix(tianji: TianjiProcess) -> None:
    c = openai.OpenAI(base_url=tianji.base, api_key=MASTER_KEY, max_retries=0)
    assert c.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
    ).id


def test_unknown_params_forwarded_and_defaults_merged(
    tianji: TianjiProcess, upstream: FakeUpstream
) -> None:
    client(tianji).chat.completions.create(
        model="defaults",
        messages=[{"role": "user", "content": "hi"}],
        temperature=0.7,
        extra_body={"vendor_flag": {"nested": [1, 2]}, "top_k": 5},
    )
    body = last_body(upstream)
    assert body["vendor_flag"] == {"nested": [1, 2]}
    assert body["top_k"] == 5
    assert body["temperature"] == 0.7  # the client's value wins over the config default
    assert body["max_tokens"] == 99  # the config default fills what the client left out


def test_streaming(tianji: TianjiProcess, upstream: FakeUpstream) -> None:
    stream = client(tianji).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the fake stream!"
    assert all(c.usage is None for c in chunks)  # usage chunk stripped: not asked for
    assert last_body(upstream)["stream_options"] == {"include_usage": True}


def test_streaming_usage_when_asked(tianji: TianjiProcess) -> None:
    chunks = list(
        client(tianji).chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 15


def test_anthropic_deployment_through_openai_sdk(
    tianji: TianjiProcess, upstream: FakeUpstream
) -> None:
    c = client(tianji)
    resp = c.chat.completions.create(
        model="claude",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    )
    assert resp.choices[0].message.content == "Hi from fake Claude"
    assert resp.choices[0].finish_reason == "stop"
    sent = upstream.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-upstream-secret"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert last_body(upstream)["system"] in ("be brief", [{"type": "text", "text": "be brief"}])
    chunks = list(
        c.chat.completions.create(
            model="claude", stream=True, messages=[{"role": "user", "content": "hi"}]
        )
    )
    assert (
        "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
        == "Hi from Claude"
    )


def test_text_completion_and_embeddings(tianji: TianjiProcess) -> None:
    c = client(tianji)
    assert c.completions.create(model="gpt-4o-mini", prompt="hello").choices[0].text == " world"
    emb = c.embeddings.create(model="embed", input=["a", "b"])
    assert len(emb.data) == 2 and emb.data[0].embedding == [0.1, 0.2, 0.3]


def test_models_list(tianji: TianjiProcess) -> None:
    ids = {m.id for m in client(tianji).models.list()}
    assert {"gpt-4o-mini", "claude", "embed"} <= ids
    assert client(tianji).models.retrieve("claude").id == "claude"


def test_azure_client_deployment_path(tianji: TianjiProcess, upstream: FakeUpstream) -> None:
    az = openai.AzureOpenAI(
        azure_endpoint=tianji.base, api_key=MASTER_KEY, api_version="2024-10-21", max_retries=0
    )
    resp = az.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
    )
    assert resp.choices[0].message.content == "Hello from the fake upstream!"
    assert last_body(upstream)["model"] == "gpt-4o-mini-ok"


def test_wildcard_group(tianji: TianjiProcess, upstream: FakeUpstream) -> None:
    client(tianji).chat.completions.create(
        model="wild/gpt-x-ok", messages=[{"role": "user", "content": "x"}]
    )
    assert last_body(upstream)["model"] == "gpt-x-ok"


def test_bad_key_is_401_auth_error(tianji: TianjiProcess) -> None:
    with pytest.raises(openai.AuthenticationError) as e:
        client(tianji, key="sk-not-the-key-0000").chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    assert e.value.status_code == 401
    assert "sk-not-the-key" not in str(e.value)


def test_rate_limit_maps_to_429_with_retry_after(tianji: TianjiProcess) -> None:
    with pytest.raises(openai.RateLimitError) as e:
        client(tianji).chat.completions.create(
            model="limited", messages=[{"role": "user", "content": "x"}]
        )
    assert e.value.response.headers["retry-after"] == "7"


def test_retry_recovers_from_one_failure(tianji: TianjiProcess) -> None:
    raw = client(tianji).chat.completions.with_raw_response.create(
        model="flaky", messages=[{"role": "user", "content": "x"}]
    )
    assert raw.headers["x-litellm-attempted-retries"] == "1"


def test_upstream_500_after_retries(tianji: TianjiProcess, upstream: FakeUpstream) -> None:
    before = len(upstream.requests)
    with pytest.raises(openai.InternalServerError):
        client(tianji).chat.completions.create(
            model="broken-upstream", messages=[{"role": "user", "content": "x"}]
        )
    assert len(upstream.requests) - before == 2  # 1 try + num_retries=1


def test_timeout_is_504(tianji: TianjiProcess) -> None:
    with pytest.raises(openai.APIStatusError) as e:
        client(tianji).chat.completions.create(
            model="hangs", messages=[{"role": "user", "content": "x"}]
        )
    assert e.value.status_code == 504


def test_invalid_model_and_unsupported_provider(tianji: TianjiProcess) -> None:
    with pytest.raises(openai.BadRequestError, match="Invalid model name passed in model=nope"):
        client(tianji).chat.completions.create(
            model="nope", messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(openai.BadRequestError) as e:
        client(tianji).chat.completions.create(
            model="odd", messages=[{"role": "user", "content": "x"}]
        )
    assert (
        e.value.message.startswith("Error code: 400")
        and "unsupported provider: foo" in e.value.message
    )


def test_unimplemented_endpoint_is_501_naming_it(tianji: TianjiProcess) -> None:
    with pytest.raises(openai.APIStatusError) as e:
        client(tianji).files.list()
    assert e.value.status_code == 501
    assert "GET /v1/files (LLM: files) is not implemented" in e.value.message


def test_bad_json_and_oversized_body(tianji: TianjiProcess) -> None:
    h = {"authorization": f"Bearer {MASTER_KEY}", "content-type": "application/json"}
    r = httpx.post(f"{tianji.base}/v1/chat/completions", content=b"{nope", headers=h)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    big = b'{"model": "gpt-4o-mini", "x": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    r = httpx.post(f"{tianji.base}/v1/chat/completions", content=big, headers=h)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large"


def test_health_is_public(tianji: TianjiProcess) -> None:
    assert httpx.get(f"{tianji.base}/health/liveliness").json() == "I'm alive!"
    assert httpx.get(f"{tianji.base}/health/readiness").json()["status"] == "healthy"


def test_engines_and_deployment_paths_take_the_model_from_the_path(
    tianji: TianjiProcess, upstream: FakeUpstream
) -> None:
    h = {"authorization": f"Bearer {MASTER_KEY}"}
    r = httpx.post(
        f"{tianji.base}/engines/gpt-4o-mini/chat/completions",
        headers=h,
        json={"messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 200
    assert last_body(upstream)["model"] == "gpt-4o-mini-ok"
    r = httpx.post(
        f"{tianji.base}/openai/deployments/embed/embeddings",
        headers={"api-key": MASTER_KEY},
        json={"input": "hello"},
    )
    assert r.status_code == 200
    assert r.json()["data"][0]["embedding"] == [0.1, 0.2, 0.3]
