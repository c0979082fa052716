"""`x-litellm-response-cost` through `tianji up`, and the same Decimal in the spend log."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from tianji_common.pricing import PriceEntry, load_prices

from tests.e2e.conftest import MASTER_KEY
from tests.support.fake_media import FakeMedia
from tests.support.fake_upstream import FakeUpstream
from tests.support.proc import TianjiProcess, start_tianji

# The fake answers 11 prompt tokens (2 cached) and 7 completion tokens; gpt-4o-mini costs
# 0.15/M input, 0.075/M cached input and 0.6/M output in the shipped table.
MINI_COST = 9 * Decimal("0.00000015") + 2 * Decimal("0.000000075") + 7 * Decimal("0.0000006")
# Custom pricing: cache reads fall back to the input price, as in LiteLLM.
CUSTOM_COST = 11 * Decimal("0.001") + 7 * Decimal("0.002")
# The fake's stream usage: 9 prompt, 6 completion tokens.
STREAM_COST = 9 * Decimal("0.00000015") + 6 * Decimal("0.0000006")


MEDIA_KEY = "sk-media-upstream"


def _entry(key: str) -> PriceEntry:
    entry = load_prices().models.get(key)
    assert entry is not None, key
    return entry


def _d(value: Decimal | None) -> Decimal:
    assert value is not None
    return value


def _config(upstream: FakeUpstream, media: FakeMedia) -> str:
    base = f"{upstream.base}/v1"
    return f"""
model_list:
  - model_name: "wild/*"
    litellm_params: {{model: "openai/*", api_base: "{base}", api_key: k}}
  - model_name: dall-e-3
    litellm_params: {{model: openai/dall-e-3, api_base: "{media.base}/v1", api_key: {MEDIA_KEY}}}
  - model_name: gpt-image-1
    litellm_params: {{model: openai/gpt-image-1, api_base: "{media.base}/v1", api_key: {MEDIA_KEY}}}
  - model_name: gpt-4o-mini
    litellm_params: {{model: openai/gpt-4o-mini-ok, api_base: "{base}", api_key: k}}
    model_info: {{base_model: gpt-4o-mini}}
  - model_name: custom
    litellm_params: {{model: openai/m-ok, api_base: "{base}", api_key: k,
                      input_cost_per_token: 0.001, output_cost_per_token: 0.002}}
  - model_name: unpriced
    litellm_params: {{model: openai/m-ok, api_base: "{base}", api_key: k}}
general_settings:
  master_key: {MASTER_KEY}
"""


@pytest.fixture(scope="module")
def media() -> Iterator[FakeMedia]:
    fake = FakeMedia(api_key=MEDIA_KEY, models=frozenset({"dall-e-3", "gpt-image-1"})).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def tp(upstream: FakeUpstream, media: FakeMedia) -> Iterator[TianjiProcess]:
    proc = start_tianji(["up"], config_text=_config(upstream, media))
    yield proc
    proc.stop()


def _spend(tp: TianjiProcess, request_id: str, timeout: float = 10.0) -> Decimal:
    db = tp.workdir / ".tianji" / "tianji.db"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            row = conn.execute(
                "SELECT spend FROM tianji_spend_log WHERE request_id = ?", (request_id,)
            ).fetchone()
        if row is not None:
            return Decimal(str(row[0]))
        time.sleep(0.05)
    raise AssertionError(f"no spend log row for {request_id}")


def _chat(tp: TianjiProcess, model: str, **extra: object) -> httpx.Response:
    resp = httpx.post(
        f"{tp.base}/v1/chat/completions",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        json={"model": model, "messages": [{"role": "user", "content": "hi"}], **extra},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    return resp


@pytest.mark.parametrize(
    ("model", "expected"), [("gpt-4o-mini", MINI_COST), ("custom", CUSTOM_COST)]
)
def test_response_cost_header_and_spend_log_agree(
    tp: TianjiProcess, model: str, expected: Decimal
) -> None:
    resp = _chat(tp, model)
    header = resp.headers["x-litellm-response-cost"]
    assert header == str(float(expected))  # LiteLLM's float formatting
    assert Decimal(header) == expected
    assert _spend(tp, resp.headers["x-litellm-call-id"]) == expected


def test_stream_cost_reaches_the_usage_event_only(tp: TianjiProcess) -> None:
    resp = _chat(tp, "gpt-4o-mini", stream=True)
    assert "x-litellm-response-cost" not in resp.headers
    assert _spend(tp, resp.headers["x-litellm-call-id"]) == STREAM_COST


def test_unpriced_model_sends_no_cost(tp: TianjiProcess) -> None:
    resp = _chat(tp, "unpriced")
    assert "x-litellm-response-cost" not in resp.headers
    assert _spend(tp, resp.headers["x-litellm-call-id"]) == 0


def _assert_cost(tp: TianjiProcess, resp: httpx.Response, expected: Decimal) -> None:
    assert resp.headers["x-litellm-response-cost"] == str(float(expected))
    assert _spend(tp, resp.headers["x-litellm-call-id"]) == expected


def test_wildcard_deployment_priced_per_concrete_model(tp: TianjiProcess) -> None:
    _assert_cost(tp, _chat(tp, "wild/gpt-4o-mini"), MINI_COST)
    o3 = _entry("o3")
    expected = 9 * _d(o3.input) + 2 * _d(o3.cache_read) + 7 * _d(o3.output)
    _assert_cost(tp, _chat(tp, "wild/o3"), expected)


@pytest.mark.parametrize("tier", ["flex", "priority"])
def test_service_tier_prices_the_request(tp: TianjiProcess, tier: str) -> None:
    o3 = _entry("o3")
    inp, out, read = (_d(getattr(o3, f"{k}_{tier}")) for k in ("input", "output", "cache_read"))
    _assert_cost(tp, _chat(tp, "wild/o3", service_tier=tier), 9 * inp + 2 * read + 7 * out)


def _image(tp: TianjiProcess, model: str, **extra: object) -> httpx.Response:
    resp = httpx.post(
        f"{tp.base}/v1/images/generations",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        json={"model": model, "prompt": "a lighthouse", **extra},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    return resp


def test_image_generation_priced_per_image(tp: TianjiProcess) -> None:
    per_image = _d(_entry("dall-e-3").per_image_input)
    resp = _image(tp, "dall-e-3", n=2)
    assert len(resp.json()["data"]) == 2
    _assert_cost(tp, resp, 2 * per_image)


def test_image_generation_priced_by_size_and_quality(tp: TianjiProcess) -> None:
    per_image = _d(_entry("hd/1024-x-1792/dall-e-3").per_pixel) * 1024 * 1792
    _assert_cost(tp, _image(tp, "dall-e-3", quality="hd", size="1024x1792"), per_image)


def test_gpt_image_1_priced_by_its_image_tokens(tp: TianjiProcess) -> None:
    # The fake reports 50 input tokens (10 text, 40 image) and 50 output (image) tokens.
    e = _entry("gpt-image-1")
    expected = 10 * _d(e.input) + 40 * _d(e.input_image) + 50 * _d(e.output_image)
    resp = _image(tp, "gpt-image-1", response_format="b64_json", quality="high", size="1024x1024")
    _assert_cost(tp, resp, expected)
