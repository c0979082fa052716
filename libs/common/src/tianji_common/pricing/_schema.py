"""Our price-table schema: a compact, typed subset of LiteLLM's price map.

Why our own schema: LiteLLM's map carries 120 fields, most unused by a gateway; we keep
the prices we charge and the context windows, as exact decimal strings, so the shipped
file stays small and `Decimal` arithmetic never sees a binary float.
"""

from __future__ import annotations

from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "LITELLM_PRICE_FIELDS",
    "PriceEntry",
    "PriceFile",
    "provider_family",
]

# Our field name -> LiteLLM's field name (in the price map, `model_info` and
# `litellm_params` alike). The first LiteLLM name present wins.
LITELLM_PRICE_FIELDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "input": ("input_cost_per_token",),
        "output": ("output_cost_per_token",),
        # DeepSeek-style entries name the cache-hit price differently.
        "cache_read": ("cache_read_input_token_cost", "input_cost_per_token_cache_hit"),
        "cache_write": ("cache_creation_input_token_cost",),
        "reasoning": ("output_cost_per_reasoning_token",),
        "input_audio": ("input_cost_per_audio_token",),
        "output_audio": ("output_cost_per_audio_token",),
        "input_image": ("input_cost_per_image_token",),
        "output_image": ("output_cost_per_image_token",),
        "per_request": ("input_cost_per_request",),
        "per_image_input": ("input_cost_per_image",),
        "per_image_output": ("output_cost_per_image",),
        "per_second_input": ("input_cost_per_second",),
        "per_second_output": ("output_cost_per_second",),
        # Image generation priced by size: `hd/1024-x-1792/dall-e-3` entries.
        "per_pixel": ("input_cost_per_pixel", "output_cost_per_pixel"),
        # Long context: above the threshold the whole request uses these prices.
        "input_above_128k": ("input_cost_per_token_above_128k_tokens",),
        "output_above_128k": ("output_cost_per_token_above_128k_tokens",),
        "input_above_200k": ("input_cost_per_token_above_200k_tokens",),
        "output_above_200k": ("output_cost_per_token_above_200k_tokens",),
        "cache_read_above_200k": ("cache_read_input_token_cost_above_200k_tokens",),
        "cache_write_above_200k": ("cache_creation_input_token_cost_above_200k_tokens",),
        # OpenAI's `service_tier` (and Gemini's priority tier).
        "input_priority": ("input_cost_per_token_priority",),
        "output_priority": ("output_cost_per_token_priority",),
        "cache_read_priority": ("cache_read_input_token_cost_priority",),
        "input_flex": ("input_cost_per_token_flex",),
        "output_flex": ("output_cost_per_token_flex",),
        "cache_read_flex": ("cache_read_input_token_cost_flex",),
    }
)

# LiteLLM `litellm_provider` values that are one of our provider ids under another name.
_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "bedrock_converse": "bedrock",
        "cohere_chat": "cohere",
        "text-completion-openai": "openai",
        "azure_text": "azure",
        "ollama_chat": "ollama",
        "fireworks_ai-embedding-models": "fireworks_ai",
    }
)


def provider_family(provider: str) -> str:
    """Fold LiteLLM's provider variants (`vertex_ai-language-models`) onto one id."""
    if provider.startswith("vertex_ai-"):
        return "vertex_ai"
    return _ALIASES.get(provider, provider)


class PriceEntry(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One model's prices (USD per token unless the name says otherwise) and limits."""

    provider: str = ""
    mode: str | None = None
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    input: Decimal | None = None
    output: Decimal | None = None
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    reasoning: Decimal | None = None
    input_audio: Decimal | None = None
    output_audio: Decimal | None = None
    input_image: Decimal | None = None
    output_image: Decimal | None = None
    per_request: Decimal | None = None
    per_image_input: Decimal | None = None
    per_image_output: Decimal | None = None
    per_second_input: Decimal | None = None
    per_second_output: Decimal | None = None
    per_pixel: Decimal | None = None
    input_above_128k: Decimal | None = None
    output_above_128k: Decimal | None = None
    input_above_200k: Decimal | None = None
    output_above_200k: Decimal | None = None
    cache_read_above_200k: Decimal | None = None
    cache_write_above_200k: Decimal | None = None
    input_priority: Decimal | None = None
    output_priority: Decimal | None = None
    cache_read_priority: Decimal | None = None
    input_flex: Decimal | None = None
    output_flex: Decimal | None = None
    cache_read_flex: Decimal | None = None


class PriceFile(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The shipped table and override files share this shape."""

    models: dict[str, PriceEntry]
    version: int = 1
    source: str = ""
