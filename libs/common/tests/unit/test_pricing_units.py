"""Every unit a model is priced in: audio and image tokens, generated images by size and
quality, long-context tiers and service tiers, read from the shipped table's entries."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tianji_common.pricing import (
    LITELLM_PRICE_FIELDS,
    PriceEntry,
    Prices,
    PriceTable,
    cost,
    custom_prices,
    load_prices,
    resolve_prices,
)

D = Decimal


@dataclass(frozen=True)
class U:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0
    audio_input_tokens: int = 0
    audio_output_tokens: int = 0
    image_input_tokens: int = 0
    image_output_tokens: int = 0
    images: int = 0


def _entry(key: str) -> PriceEntry:
    entry = load_prices().models.get(key)
    assert entry is not None, key
    return entry


def _prices(model: str, provider: str = "openai") -> Prices:
    p = resolve_prices(load_prices(), model, provider)
    assert p is not None, model
    return p


def _d(value: Decimal | None) -> Decimal:
    assert value is not None
    return value


# --- audio and image tokens -----------------------------------------------------------------


def test_audio_tokens_at_audio_prices() -> None:
    e = _entry("gpt-4o-audio-preview")
    assert e.input_audio is not None and e.output_audio is not None
    u = U(prompt_tokens=100, audio_input_tokens=60, completion_tokens=80, audio_output_tokens=50)
    expected = (
        40 * _d(e.input) + 60 * _d(e.input_audio) + 30 * _d(e.output) + 50 * _d(e.output_audio)
    )
    assert cost(u, _prices("gpt-4o-audio-preview")) == expected
    # Audio is dearer than text here: charging it at text prices would undercount.
    assert expected > 100 * _d(e.input) + 80 * _d(e.output)


def test_audio_without_an_audio_price_costs_the_text_price() -> None:
    e = _entry("gpt-4o-mini")
    assert e.input_audio is None and e.output_audio is None
    u = U(prompt_tokens=100, audio_input_tokens=60, completion_tokens=80, audio_output_tokens=50)
    assert cost(u, _prices("gpt-4o-mini")) == 100 * _d(e.input) + 80 * _d(e.output)


def test_gpt_image_1_tokens_at_image_token_prices() -> None:
    # The images API's usage: 50 in (10 text, 40 image), 50 out (all image tokens).
    e = _entry("gpt-image-1")
    u = U(prompt_tokens=50, image_input_tokens=40, completion_tokens=50, image_output_tokens=50)
    expected = 10 * _d(e.input) + 40 * _d(e.input_image) + 50 * _d(e.output_image)
    assert cost(u, _prices("gpt-image-1")) == expected


def test_images_reported_as_tokens_are_not_charged_again_per_image() -> None:
    e = _entry("gpt-image-1")
    u = U(prompt_tokens=10, completion_tokens=50, image_output_tokens=50, images=1)
    p = _prices("gpt-image-1")
    assert p.image_variants  # the size and quality entries exist ...
    expected = 10 * _d(e.input) + 50 * _d(e.output_image)
    assert cost(u, p, image_quality="high", image_size="1024x1024") == expected  # ... unused


# --- generated images -----------------------------------------------------------------------


def test_dall_e_3_images_at_the_per_image_price() -> None:
    # LiteLLM names DALL-E's per-image price `input_cost_per_image`.
    per_image = _d(_entry("dall-e-3").per_image_input)
    assert cost(U(images=3), _prices("dall-e-3")) == 3 * per_image


@pytest.mark.parametrize(
    ("quality", "size", "key"),
    [
        ("hd", "1024x1792", "hd/1024-x-1792/dall-e-3"),
        ("standard", "1792x1024", "standard/1792-x-1024/dall-e-3"),
        ("hd", "1024-x-1024", "hd/1024-x-1024/dall-e-3"),
    ],
)
def test_dall_e_3_size_and_quality_priced_per_pixel(quality: str, size: str, key: str) -> None:
    width, height = (int(x) for x in size.replace("-x-", "x").split("x"))
    per_image = _d(_entry(key).per_pixel) * width * height
    p = _prices("dall-e-3")
    assert cost(U(images=2), p, image_quality=quality, image_size=size) == 2 * per_image


def test_unknown_size_falls_back_to_the_per_image_price() -> None:
    per_image = _d(_entry("dall-e-3").per_image_input)
    p = _prices("dall-e-3")
    assert cost(U(images=1), p, image_quality="ultra", image_size="9x9") == per_image


def test_gpt_image_1_size_and_quality_priced_per_image() -> None:
    per_image = _d(_entry("medium/1536-x-1024/gpt-image-1").per_image_input)
    p = _prices("gpt-image-1")
    assert cost(U(images=2), p, image_quality="medium", image_size="1536x1024") == 2 * per_image


def test_azure_image_variants_come_from_azure_keys() -> None:
    p = _prices("gpt-image-1", "azure")
    key = "azure/low/1024-x-1024/gpt-image-1"
    assert p.image_variants["low/1024x1024"] == _d(_entry(key).per_pixel) * 1024 * 1024


def test_per_image_output_price_of_an_image_model() -> None:
    e = _entry("gemini/gemini-2.5-flash-image")
    assert e.per_image_output is not None
    p = _prices("gemini-2.5-flash-image", "gemini")
    assert cost(U(images=2), p) == 2 * e.per_image_output


def test_a_chat_models_input_image_price_is_not_a_generation_price() -> None:
    e = _entry("gpt-realtime")
    assert e.per_image_input is not None and e.mode == "chat"
    assert _prices("gpt-realtime").per_image == 0


# --- long context ---------------------------------------------------------------------------


def test_above_200k_prompt_tokens_the_whole_request_uses_the_higher_prices() -> None:
    e = _entry("gemini-2.5-pro")
    p = _prices("gemini-2.5-pro", "vertex_ai")
    assert p.long_context_tokens == 200_000
    at = U(prompt_tokens=200_000, cached_tokens=1000, completion_tokens=500)
    assert cost(at, p) == 199_000 * _d(e.input) + 1000 * _d(e.cache_read) + 500 * _d(e.output)
    above = U(prompt_tokens=200_001, cached_tokens=1000, completion_tokens=500)
    assert cost(above, p) == (
        199_001 * _d(e.input_above_200k)
        + 1000 * _d(e.cache_read_above_200k)
        + 500 * _d(e.output_above_200k)
    )


def test_above_128k_tier() -> None:
    e = _entry("gemini-1.5-pro")
    p = _prices("gemini-1.5-pro", "vertex_ai")
    assert p.long_context_tokens == 128_000
    u = U(prompt_tokens=128_001, completion_tokens=10)
    assert cost(u, p) == 128_001 * _d(e.input_above_128k) + 10 * _d(e.output_above_128k)


# --- service tiers --------------------------------------------------------------------------


@pytest.mark.parametrize("tier", ["priority", "flex"])
def test_service_tier_prices(tier: str) -> None:
    e = _entry("o3")
    inp, out, read = (getattr(e, f"{kind}_{tier}") for kind in ("input", "output", "cache_read"))
    u = U(prompt_tokens=100, cached_tokens=40, completion_tokens=30)
    p = _prices("o3")
    assert cost(u, p, service_tier=tier) == 60 * inp + 40 * read + 30 * out
    base = 60 * _d(e.input) + 40 * _d(e.cache_read) + 30 * _d(e.output)
    assert cost(u, p, service_tier="default") == base
    assert cost(u, p) == base


# --- custom pricing for the new units ---------------------------------------------------------


def test_custom_prices_name_every_unit_with_litellm_keys() -> None:
    params = {
        "input_cost_per_audio_token": 0.0001,
        "output_cost_per_audio_token": "0.0002",
        "input_cost_per_image_token": 0.00001,
        "output_cost_per_image_token": 0.00004,
        "output_cost_per_image": 0.05,
        "input_cost_per_token_above_200k_tokens": 0.000005,
        "output_cost_per_token_above_200k_tokens": 0.00002,
        "input_cost_per_token_priority": 0.000009,
    }
    got = custom_prices(params)
    assert {LITELLM_PRICE_FIELDS[k][0] for k in got} == set(params)
    assert got["output_audio"] == D("0.0002")


def test_custom_prices_for_a_model_the_table_does_not_know() -> None:
    custom = custom_prices(
        {
            "input_cost_per_token": 0.000001,
            "output_cost_per_token": 0.000002,
            "input_cost_per_audio_token": 0.00001,
            "output_cost_per_image": 0.07,
            "input_cost_per_token_above_200k_tokens": 0.000003,
        }
    )
    p = resolve_prices(PriceTable({}), "my-model", "openai", custom=custom)
    assert p is not None
    u = U(prompt_tokens=10, audio_input_tokens=4, completion_tokens=5)
    assert cost(u, p) == 6 * D("0.000001") + 4 * D("0.00001") + 5 * D("0.000002")
    assert cost(U(images=2), p) == 2 * D("0.07")
    long = U(prompt_tokens=200_001)
    assert cost(long, p) == 200_001 * D("0.000003")


def test_custom_per_image_price_wins_over_the_tables_sizes() -> None:
    custom = custom_prices({"output_cost_per_image": 0.5})
    p = resolve_prices(load_prices(), "dall-e-3", "openai", custom=custom)
    assert p is not None
    assert not p.image_variants
    assert cost(U(images=1), p, image_quality="hd", image_size="1024x1792") == D("0.5")


# --- properties -----------------------------------------------------------------------------

_n = st.integers(min_value=0, max_value=10**6)
EVERY_UNIT = Prices(
    input=D("0.000001"),
    output=D("0.000002"),
    cache_read=D("0.0000001"),
    cache_write=D("0.0000012"),
    reasoning=D("0.000003"),
    input_audio=D("0.00004"),
    output_audio=D("0.00008"),
    input_image=D("0.00001"),
    output_image=D("0.00004"),
)


@st.composite
def detailed(draw: st.DrawFn) -> U:
    """Usage whose details are parts of its totals, as OpenAI reports them."""
    cached, written, audio_in, image_in, text_in = (draw(_n) for _ in range(5))
    reasoning, audio_out, image_out, text_out = (draw(_n) for _ in range(4))
    return U(
        prompt_tokens=cached + written + audio_in + image_in + text_in,
        completion_tokens=reasoning + audio_out + image_out + text_out,
        cached_tokens=cached,
        cache_creation_tokens=written,
        reasoning_tokens=reasoning,
        audio_input_tokens=audio_in,
        audio_output_tokens=audio_out,
        image_input_tokens=image_in,
        image_output_tokens=image_out,
    )


@given(detailed(), detailed())
def test_every_unit_is_additive(a: U, b: U) -> None:
    both = U(*(x + y for x, y in zip(vars(a).values(), vars(b).values(), strict=True)))
    assert cost(both, EVERY_UNIT) == cost(a, EVERY_UNIT) + cost(b, EVERY_UNIT)


@given(detailed())
def test_each_token_is_charged_once_at_its_own_price(u: U) -> None:
    text_in = u.prompt_tokens - u.cached_tokens - u.cache_creation_tokens
    text_in -= u.audio_input_tokens + u.image_input_tokens
    text_out = u.completion_tokens - u.reasoning_tokens
    text_out -= u.audio_output_tokens + u.image_output_tokens
    p = EVERY_UNIT
    assert cost(u, p) == (
        text_in * p.input
        + u.cached_tokens * p.cache_read
        + u.cache_creation_tokens * p.cache_write
        + u.audio_input_tokens * p.input_audio
        + u.image_input_tokens * p.input_image
        + text_out * p.output
        + u.reasoning_tokens * p.reasoning
        + u.audio_output_tokens * p.output_audio
        + u.image_output_tokens * p.output_image
    )
