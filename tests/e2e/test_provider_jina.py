"""Jina AI through `tianji up`: embeddings via the official `openai` SDK and Cohere-shaped
`/v1/rerank` via httpx, against a fake Jina that speaks its own wire format.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.e2e.conftest import MASTER_KEY
from tests.support.fake_jina import API_KEY, FakeJina
from tests.support.proc import TianjiProcess, start_tianji

pytestmark = pytest.mark.e2e

DOCS = [
    "Carson City is the capital city of the American state of Nevada.",
    "Washington, D.C. is the capital of the United States.",
    "Capital punishment has existed in the United States since before it was a country.",
]
QUERY = "What is the capital of the United States?"


def _config(vendor: FakeJina) -> str:
    base = vendor.base
    return f"""
model_list:
  - model_name: jina-embed
    litellm_params: {{model: jina_ai/jina-embeddings-v3, api_base: "{base}/v1"}}
  - model_name: jina-embed-limited
    litellm_params: {{model: jina_ai/jina-embeddings-v3-429, api_base: "{base}/v1",
                      api_key: {API_KEY}, num_retries: 0}}
  - model_name: jina-rerank
    litellm_params: {{model: jina_ai/jina-reranker-v2-base-multilingual,
                      api_base: "{base}/v1", api_key: {API_KEY}}}
  - model_name: jina-rerank-limited
    litellm_params: {{model: jina_ai/jina-reranker-v2-429, api_base: "{base}/v1",
                      api_key: {API_KEY}, num_retries: 0}}
general_settings:
  master_key: {MASTER_KEY}
"""


@pytest.fixture(scope="module")
def vendor() -> Iterator[FakeJina]:
    fake = FakeJina().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def gateway(vendor: FakeJina) -> Iterator[TianjiProcess]:
    # The first deployment has no api_key: LiteLLM's JINA_AI_API_KEY supplies it.
    proc = start_tianji(["up"], config_text=_config(vendor), env={"JINA_AI_API_KEY": API_KEY})
    yield proc
    proc.stop()


def client(gateway: TianjiProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base + "/v1", api_key=MASTER_KEY, max_retries=0)


def rerank(gateway: TianjiProcess, body: dict[str, object]) -> httpx.Response:
    return httpx.post(
        gateway.base + "/v1/rerank",
        headers={"authorization": "Bearer " + MASTER_KEY},
        json=body,
        timeout=30,
    )


def test_embeddings_via_openai_sdk(gateway: TianjiProcess, vendor: FakeJina) -> None:
    resp = client(gateway).embeddings.create(
        model="jina-embed",
        input=["hello world", "hello world again"],
        dimensions=256,
        extra_body={"task": "retrieval.passage", "late_chunking": True},
    )
    assert [d.index for d in resp.data] == [0, 1]
    assert resp.data[0].embedding == pytest.approx([0.01, -0.02, 0.5])
    assert resp.data[1].embedding == pytest.approx([0.02, -0.04, 0.5])
    assert resp.usage.prompt_tokens == 5
    assert resp.usage.total_tokens == 5
    sent = vendor.last("/v1/embeddings")
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["content-type"].startswith("application/json")
    assert sent.body == {
        "model": "jina-embeddings-v3",
        "input": ["hello world", "hello world again"],
        "dimensions": 256,
        "task": "retrieval.passage",
        "late_chunking": True,
    }


def test_embeddings_rate_limit(gateway: TianjiProcess) -> None:
    with pytest.raises(openai.RateLimitError) as info:
        client(gateway).embeddings.create(model="jina-embed-limited", input="hi")
    assert "Rate limit exceeded" in str(info.value)
    assert info.value.response.headers.get("retry-after") == "4"


def test_rerank_cohere_shape(gateway: TianjiProcess, vendor: FakeJina) -> None:
    r = rerank(gateway, {"model": "jina-rerank", "query": QUERY, "documents": DOCS, "top_n": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["id"], str)
    assert body["id"]
    assert len(body["results"]) == 2
    assert body["results"][0]["index"] == 1  # the fake scores by word overlap
    assert body["results"][0]["document"] == {"text": DOCS[1]}
    assert body["results"][0]["relevance_score"] > body["results"][1]["relevance_score"]
    assert body["meta"] == {"billed_units": {"total_tokens": 42}}
    sent = vendor.last("/v1/rerank")
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.body == {
        "model": "jina-reranker-v2-base-multilingual",
        "query": QUERY,
        "top_n": 2,
        "documents": DOCS,
        "return_documents": True,
    }


def test_rerank_text_objects_without_documents(gateway: TianjiProcess, vendor: FakeJina) -> None:
    docs = [{"text": d} for d in DOCS]
    r = rerank(
        gateway,
        {"model": "jina-rerank", "query": QUERY, "documents": docs, "return_documents": False},
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == 3
    assert all("document" not in res for res in results)
    sent = vendor.last("/v1/rerank")
    assert sent.body["documents"] == docs
    assert sent.body["return_documents"] is False
    assert "top_n" not in sent.body


def test_rerank_rate_limit(gateway: TianjiProcess) -> None:
    r = rerank(gateway, {"model": "jina-rerank-limited", "query": QUERY, "documents": DOCS})
    assert r.status_code == 429, r.text
    assert "Rate limit exceeded" in r.json()["error"]["message"]
    assert r.headers.get("retry-after") == "4"
