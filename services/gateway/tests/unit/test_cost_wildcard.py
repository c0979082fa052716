"""Wildcard deployments are priced per concrete model, once each, custom pricing included."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from tianji_common.config.loader import load_config_text
from tianji_common.pricing import custom_prices, load_prices, resolve_prices

from tianji_gateway.providers.registry import load_adapters
from tianji_gateway.routing import build
from tianji_gateway.routing.build import WildcardPrices, build_deployments
from tianji_gateway.routing.router import Router

CONFIG = """
model_list:
  - {model_name: 'wild/*', litellm_params: {model: 'openai/*'}}
  - {model_name: 'priced/*', litellm_params: {model: 'openai/*', input_cost_per_token: 0.001,
     output_cost_per_token: 0.002, input_cost_per_audio_token: 0.01}}
  - {model_name: 'based/*', litellm_params: {model: 'openai/*'}, model_info: {base_model: gpt-4o}}
  - {model_name: '*', litellm_params: {model: '*'}}
"""


def _router() -> Router:
    cfg = load_config_text(CONFIG, Path("."), {}).config
    adapters = load_adapters()
    res = build_deployments(cfg, {"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"}, adapters)
    assert not res.warnings
    assert all(d.price is None and d.pricer is not None for d in res.deployments)
    return Router(res.deployments, served=adapters.keys())


@pytest.mark.parametrize(
    ("requested", "model", "provider"),
    [
        ("wild/gpt-4o-mini", "gpt-4o-mini", "openai"),
        ("wild/o3", "o3", "openai"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929", "anthropic"),
        ("anthropic/claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929", "anthropic"),
    ],
)
def test_each_concrete_model_gets_its_table_prices(
    requested: str, model: str, provider: str
) -> None:
    dep = _router().resolve(requested).deployments[0]
    expected = resolve_prices(load_prices(), model, provider)
    assert expected is not None
    assert dep.price == expected


def test_an_unknown_concrete_model_stays_unpriced() -> None:
    assert _router().resolve("wild/my-finetune-xyz").deployments[0].price is None


def test_custom_pricing_prices_every_model_of_the_wildcard() -> None:
    dep = _router().resolve("priced/anything-at-all").deployments[0]
    assert dep.price is not None
    assert (dep.price.input, dep.price.output, dep.price.input_audio) == (
        Decimal("0.001"),
        Decimal("0.002"),
        Decimal("0.01"),
    )


def test_base_model_prices_every_model_of_the_wildcard() -> None:
    dep = _router().resolve("based/my-deployment").deployments[0]
    assert dep.price == resolve_prices(load_prices(), "gpt-4o", "openai")


def test_resolved_once_per_model_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "WILDCARD_PRICE_CACHE_MAX", 2)
    pricer = WildcardPrices(load_prices(), custom_prices({}), None)
    first = pricer("gpt-4o", "openai")
    assert first is not None and pricer("gpt-4o", "openai") is first
    pricer("o3", "openai")
    third = pricer("gpt-4o-mini", "openai")  # past the bound: priced, not kept
    assert third is not None and pricer("gpt-4o-mini", "openai") is not third
    assert pricer("gpt-4o-mini", "openai") == third
