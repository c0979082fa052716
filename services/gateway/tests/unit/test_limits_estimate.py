"""The reservation estimate follows the router's deployments when they change."""

from __future__ import annotations

from pathlib import Path

from tianji_common.config.loader import load_config_text

from tianji_gateway.limits.estimate import Estimator
from tianji_gateway.providers.registry import load_adapters
from tianji_gateway.request import parse_body
from tianji_gateway.routing.build import build_deployments
from tianji_gateway.routing.router import Router


def deployments(input_cost: float) -> list:  # type: ignore[type-arg]
    text = (
        "model_list:\n"
        "  - model_name: m\n"
        "    litellm_params: {model: openai/m, api_key: k, "
        f"input_cost_per_token: {input_cost}, output_cost_per_token: 0}}\n"
    )
    cfg = load_config_text(text, Path("."), {}).config
    return list(build_deployments(cfg, {}, load_adapters()).deployments)


def test_estimate_uses_new_prices_after_the_router_swaps_deployments() -> None:
    adapters = load_adapters()
    router = Router(deployments(0.001), served=adapters.keys())
    estimator = Estimator()
    parsed = parse_body(b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}')
    before = estimator.estimate(parsed, router)
    assert before > 0
    assert estimator.estimate(parsed, router) == before  # cached, same deployments

    router.update(deployments(0.002))  # e.g. /model/update repriced it

    assert estimator.estimate(parsed, router) == 2 * before
