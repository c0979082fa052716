"""Rate limits and budgets through `tianji up`: keys made with `/key/generate`, then used.

Counters in memory (one process, no REDIS_URL); the split test shares them in Redis.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import MASTER_KEY
from tests.e2e.test_virtual_keys import MESSAGES, generate_key
from tests.support.fake_upstream import FakeUpstream
from tests.support.limits_gateway import away_from_window_edge
from tests.support.proc import TianjiProcess, start_tianji

pytestmark = pytest.mark.e2e


def limits_config(upstream: FakeUpstream) -> str:
    priced = "input_cost_per_token: 0.001, output_cost_per_token: 0.002"
    return f"""
model_list:
  - model_name: priced
    litellm_params: {{model: openai/m-ok, api_base: "{upstream.base}/v1", api_key: k, {priced}}}
general_settings:
  master_key: {MASTER_KEY}
"""


@pytest.fixture(scope="module")
def tp(upstream: FakeUpstream) -> Iterator[TianjiProcess]:
    proc = start_tianji(["up"], config_text=limits_config(upstream))
    yield proc
    proc.stop()


def chat(base: str, key: str, **extra: object) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/chat/completions",
        json={"model": "priced", "messages": MESSAGES, **extra},
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    )


def test_rpm_limit_3_then_429_with_retry_after(tp: TianjiProcess) -> None:
    away_from_window_edge()
    key = generate_key(tp.base, rpm_limit=3)
    remaining = []
    for _ in range(3):
        r = chat(tp.base, key)
        assert r.status_code == 200, r.text
        assert r.headers["x-ratelimit-limit-requests"] == "3"
        remaining.append(r.headers["x-ratelimit-remaining-requests"])
    assert remaining == ["2", "1", "0"]
    r = chat(tp.base, key)
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert r.json()["error"]["message"].startswith("Rate limit exceeded for api_key: ")
    assert "Limit type: requests. Current limit: 3, Remaining: 0." in r.text


def test_streams_count_too_and_headers_arrive_first(tp: TianjiProcess) -> None:
    away_from_window_edge()
    key = generate_key(tp.base, rpm_limit=2)
    with httpx.stream(
        "POST",
        f"{tp.base}/v1/chat/completions",
        json={"model": "priced", "messages": MESSAGES, "stream": True},
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    ) as r:
        assert r.status_code == 200
        assert r.headers["x-ratelimit-remaining-requests"] == "1"
        assert b"[DONE]" in r.read()
    assert chat(tp.base, key).status_code == 200
    assert chat(tp.base, key).status_code == 429


def test_tiny_budget_is_refused_without_retry(tp: TianjiProcess) -> None:
    key = generate_key(tp.base, max_budget=0.0000001)
    r = chat(tp.base, key)
    assert r.status_code == 429
    assert r.headers["x-should-retry"] == "false"
    body = r.json()["error"]
    assert body["type"] == "budget_exceeded"
    assert body["message"] == "Budget has been exceeded! Current cost: 0.0, Max budget: 1e-07"


def test_budget_runs_out_after_real_spend(tp: TianjiProcess) -> None:
    # Each answer costs 0.025; max_tokens 7 reserves 0.023: two fit in 0.06, not three.
    key = generate_key(tp.base, max_budget=0.06)
    assert chat(tp.base, key, max_tokens=7).status_code == 200
    r = chat(tp.base, key, max_tokens=7)
    assert r.status_code == 200
    assert r.headers["x-litellm-response-cost"] == "0.025"
    r = chat(tp.base, key, max_tokens=7)
    assert r.status_code == 429
    assert "Budget has been exceeded!" in r.json()["error"]["message"]
