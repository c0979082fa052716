"""`scripts/build_pricing.py` on a tiny synthetic LiteLLM map: our schema, served providers."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import msgspec
from tianji_common.pricing import LITELLM_PRICE_FIELDS, PriceEntry, PriceFile

SCRIPT = Path(__file__).resolve().parents[4] / "scripts" / "build_pricing.py"

SYNTHETIC = {
    "sample_spec": {"litellm_provider": "openai", "input_cost_per_token": 0.0},
    "gpt-x": {
        "litellm_provider": "openai",
        "mode": "chat",
        "max_input_tokens": 128000,
        "max_output_tokens": 16384,
        "max_tokens": 16384,
        "input_cost_per_token": 1.5e-07,
        "output_cost_per_token": 6e-07,
        "cache_read_input_token_cost": 7.5e-08,
        "supports_vision": True,
        "source": "https://example.invalid",
    },
    "deepseek/ds": {"litellm_provider": "deepseek", "input_cost_per_token_cache_hit": 2.8e-08},
    "bedrock/m": {"litellm_provider": "bedrock_converse", "output_cost_per_reasoning_token": 1e-5},
    "gemini-y": {"litellm_provider": "vertex_ai-language-models", "input_cost_per_second": 0.0001},
    "img": {
        "litellm_provider": "openai",
        "mode": "image_generation",
        "output_cost_per_image": 0.04,
    },
    "elsewhere/z": {"litellm_provider": "not_served", "input_cost_per_token": 1e-6},
}


def test_script_writes_our_compact_schema(tmp_path: Path) -> None:
    src, out = tmp_path / "map.json", tmp_path / "prices.json"
    src.write_text(json.dumps(SYNTHETIC))
    providers = "openai,deepseek,bedrock,vertex_ai"
    cmd = [sys.executable, str(SCRIPT), "--source", str(src), "--out", str(out)]
    subprocess.run([*cmd, "--providers", providers], check=True, capture_output=True)
    text = out.read_text()
    assert "E-" not in text  # prices in positional notation
    table = msgspec.json.decode(text.encode(), type=PriceFile)
    assert table.source.startswith("litellm model_prices_and_context_window.json sha256:")
    assert table.models == {
        "bedrock/m": PriceEntry(provider="bedrock", reasoning=Decimal("0.00001")),
        "deepseek/ds": PriceEntry(provider="deepseek", cache_read=Decimal("0.000000028")),
        "gemini-y": PriceEntry(provider="vertex_ai", per_second_input=Decimal("0.0001")),
        "gpt-x": PriceEntry(
            provider="openai",
            mode="chat",
            max_input_tokens=128000,
            max_output_tokens=16384,
            input=Decimal("0.00000015"),
            output=Decimal("0.0000006"),
            cache_read=Decimal("0.000000075"),
        ),
        "img": PriceEntry(
            provider="openai", mode="image_generation", per_image_output=Decimal("0.04")
        ),
    }


# Every LiteLLM unit key the gateway charges, with a distinct value each.
UNITS = {
    "input_cost_per_audio_token": 1e-05,
    "output_cost_per_audio_token": 2e-05,
    "input_cost_per_image_token": 3e-06,
    "output_cost_per_image_token": 4e-05,
    "input_cost_per_image": 0.001,
    "output_cost_per_image": 0.039,
    "input_cost_per_pixel": 3.81469e-08,
    "input_cost_per_token_above_128k_tokens": 5e-06,
    "output_cost_per_token_above_128k_tokens": 6e-06,
    "input_cost_per_token_above_200k_tokens": 7e-06,
    "output_cost_per_token_above_200k_tokens": 8e-06,
    "cache_read_input_token_cost_above_200k_tokens": 9e-07,
    "cache_creation_input_token_cost_above_200k_tokens": 1.1e-06,
    "input_cost_per_token_priority": 1.2e-06,
    "output_cost_per_token_priority": 1.3e-06,
    "cache_read_input_token_cost_priority": 1.4e-07,
    "input_cost_per_token_flex": 1.5e-07,
    "output_cost_per_token_flex": 1.6e-07,
    "cache_read_input_token_cost_flex": 1.7e-08,
}


def test_script_keeps_every_unit_key(tmp_path: Path) -> None:
    src, out = tmp_path / "map.json", tmp_path / "prices.json"
    src.write_text(json.dumps({"m": {"litellm_provider": "openai", **UNITS}}))
    cmd = [sys.executable, str(SCRIPT), "--source", str(src), "--out", str(out)]
    subprocess.run([*cmd, "--providers", "openai"], check=True, capture_output=True)
    entry = msgspec.json.decode(out.read_bytes(), type=PriceFile).models["m"]
    theirs_to_ours = {t: o for o, names in LITELLM_PRICE_FIELDS.items() for t in names}
    for key, value in UNITS.items():
        assert getattr(entry, theirs_to_ours[key]) == Decimal(repr(value)), key
