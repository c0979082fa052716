"""Price lookup order, exact Decimal cost, custom pricing and the override file."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tianji_common.pricing import (
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


def table(**models: PriceEntry) -> PriceTable:
    return PriceTable({k.replace("__", "/"): v for k, v in models.items()})


TABLE = table(
    **{
        "gpt-4o": PriceEntry(provider="openai", input=D("0.0000025"), output=D("0.00001")),
        "azure/gpt-4o": PriceEntry(provider="azure", input=D("0.000005"), output=D("0.00002")),
        "llama-3": PriceEntry(provider="together_ai", input=D("0.0000001")),
        "claude-x": PriceEntry(provider="vertex_ai", input=D("0.000003")),
    }
)


# --- lookup order ---------------------------------------------------------------------------


def test_provider_key_wins_over_bare_key() -> None:
    assert TABLE.lookup("gpt-4o", "azure") is TABLE.models["azure/gpt-4o"]
    assert TABLE.lookup("gpt-4o", "openai") is TABLE.models["gpt-4o"]


def test_base_model_wins_and_names_azure_deployments() -> None:
    assert TABLE.lookup("my-prod-deployment", "azure") is None
    found = TABLE.lookup("my-prod-deployment", "azure", base_model="azure/gpt-4o")
    assert found is TABLE.models["azure/gpt-4o"]
    # A bare base_model is tried with the provider prefix too.
    assert TABLE.lookup("x", "azure", base_model="gpt-4o") is TABLE.models["gpt-4o"]


def test_bare_key_must_belong_to_the_provider() -> None:
    assert TABLE.lookup("llama-3", "groq") is None
    assert TABLE.lookup("llama-3", "together_ai") is TABLE.models["llama-3"]


def test_provider_variants_fold_onto_our_ids() -> None:
    assert TABLE.lookup("claude-x", "vertex_ai") is TABLE.models["claude-x"]


def test_shipped_table_prices_known_models() -> None:
    prices = load_prices()
    mini = prices.lookup("gpt-4o-mini", "openai")
    assert mini is not None
    assert (mini.input, mini.output, mini.cache_read) == (
        D("0.00000015"),
        D("0.0000006"),
        D("0.000000075"),
    )
    assert mini.max_input_tokens == 128000
    sonnet = prices.lookup("claude-sonnet-4-5-20250929", "anthropic")
    assert sonnet is not None
    assert sonnet.cache_write == D("0.00000375")
    assert load_prices() is prices  # cached per process


# --- cost -----------------------------------------------------------------------------------

FULL = Prices(
    input=D("0.000003"),
    output=D("0.000015"),
    cache_read=D("0.0000003"),
    cache_write=D("0.00000375"),
    reasoning=D("0.00002"),
)


def test_cost_charges_each_token_kind_once() -> None:
    u = U(
        prompt_tokens=100,
        cached_tokens=20,
        cache_creation_tokens=30,
        completion_tokens=50,
        reasoning_tokens=10,
    )
    expected = (
        50 * D("0.000003")
        + 20 * D("0.0000003")
        + 30 * D("0.00000375")
        + 40 * D("0.000015")
        + 10 * D("0.00002")
    )
    assert cost(u, FULL) == expected


def test_fallbacks_cached_at_input_price_reasoning_at_output_price() -> None:
    p = Prices.from_entry(PriceEntry(input=D("0.000001"), output=D("0.000002")))
    assert (p.cache_read, p.cache_write, p.reasoning) == (
        D("0.000001"),
        D("0.000001"),
        D("0.000002"),
    )
    u = U(prompt_tokens=10, cached_tokens=4, completion_tokens=6, reasoning_tokens=6)
    assert cost(u, p) == 10 * D("0.000001") + 6 * D("0.000002")


def test_gpt_4o_mini_fake_usage_is_exact() -> None:
    mini = load_prices().lookup("gpt-4o-mini", "openai")
    assert mini is not None
    u = U(prompt_tokens=11, cached_tokens=2, completion_tokens=7)
    # 9 text x 0.15/M + 2 cached x 0.075/M + 7 out x 0.6/M
    assert cost(u, Prices.from_entry(mini)) == D("0.0000057")


def test_per_request_and_per_second() -> None:
    p = Prices(per_request=D("0.005"), per_second=D("0.0001"))
    assert cost(U(), p) == D("0.005")
    assert cost(U(), p, seconds=2.5) == D("0.005") + D("0.00025")


_counts = st.integers(min_value=0, max_value=10**7)


@st.composite
def usages(draw: st.DrawFn) -> U:
    cached, written, text_in = draw(_counts), draw(_counts), draw(_counts)
    reasoning, text_out = draw(_counts), draw(_counts)
    return U(cached + written + text_in, reasoning + text_out, cached, written, reasoning)


def _add(a: U, b: U) -> U:
    return U(*(x + y for x, y in zip(vars(a).values(), vars(b).values(), strict=True)))


@given(usages(), usages())
def test_cost_is_additive(a: U, b: U) -> None:
    assert cost(_add(a, b), FULL) == cost(a, FULL) + cost(b, FULL)


@given(st.builds(U, _counts, _counts, _counts, _counts, _counts))
def test_cost_is_never_negative(u: U) -> None:
    assert cost(u, FULL) >= 0


# --- custom pricing -------------------------------------------------------------------------


def test_custom_prices_litellm_params_win_over_model_info() -> None:
    info = {"input_cost_per_token": 0.000001, "output_cost_per_token": "2e-6", "id": "x"}
    params = {"input_cost_per_token": 0.000004, "cache_read_input_token_cost": 1e-7}
    assert custom_prices(info, params) == {
        "input": D("0.000004"),
        "output": D("0.000002"),
        "cache_read": D("1E-7"),
    }


@pytest.mark.parametrize("bad", [-1, "free", True, [1]])
def test_custom_prices_reject_bad_values(bad: object) -> None:
    with pytest.raises(ValueError, match="input_cost_per_token"):
        custom_prices({"input_cost_per_token": bad})


def test_custom_prices_override_table_entry_field_by_field() -> None:
    custom = custom_prices({"output_cost_per_token": 0.00003})
    p = resolve_prices(TABLE, "gpt-4o", "openai", custom=custom)
    assert p is not None
    assert (p.input, p.output) == (D("0.0000025"), D("0.00003"))


def test_custom_prices_price_an_unknown_model() -> None:
    assert resolve_prices(TABLE, "my-llm", "openai") is None
    custom = custom_prices({"input_cost_per_second": 0.001})
    p = resolve_prices(TABLE, "my-llm", "openai", custom=custom)
    assert p == Prices(per_second=D("0.001"))


# --- override file --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_override_file_merges_over_shipped_table(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"prices{suffix}"
    if suffix == ".json":
        path.write_text(
            '{"models": {"gpt-4o-mini": {"provider": "openai", "input": "0.5"},'
            ' "acme/llm-1": {"provider": "openai", "output": 0.25}}}'
        )
    else:
        path.write_text(
            "models:\n  gpt-4o-mini: {provider: openai, input: '0.5'}\n"
            "  acme/llm-1: {provider: openai, output: 0.25}\n"
        )
    prices = load_prices(str(path))
    mini = prices.lookup("gpt-4o-mini", "openai")
    assert mini == PriceEntry(provider="openai", input=D("0.5"))
    assert prices.lookup("llm-1", "acme") == PriceEntry(provider="openai", output=D("0.25"))
    assert prices.lookup("gpt-4o", "openai") is not None  # the rest of the shipped table
    assert load_prices().lookup("gpt-4o-mini", "openai") != mini
