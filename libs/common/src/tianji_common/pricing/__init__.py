"""Model prices: the shipped table, custom pricing, and per-request cost in `Decimal`.

Why in `tianji_common`: the gateway prices each request once (the cost travels in the
usage event), and other services read the same table for context windows and reports.

Units charged (LiteLLM's price keys; `docs/pricing.md` has the full list):

- text tokens in and out; cache reads and writes; reasoning tokens;
- audio tokens in and out, at the audio prices (else the text price of that side);
- image tokens in and out, at the image-token prices (else the text price);
- generated images: `n` images at the price of the request's `quality`/`size` entry
  (`hd/1024-x-1792/dall-e-3`, per image or per pixel), else the model's per-image
  price; a generation reported in image tokens (gpt-image-1) is charged by its tokens;
- per request and per second;
- long context: a prompt above 200k (or 128k) tokens prices the whole request at the
  `*_above_200k_tokens` (`*_above_128k_tokens`) set, as LiteLLM does;
- `service_tier` `priority` / `flex`, for models that list those prices.
"""

from __future__ import annotations

from tianji_common.pricing._cost import Prices, TokenUsage, cost, custom_prices, resolve_prices
from tianji_common.pricing._schema import (
    LITELLM_PRICE_FIELDS,
    PriceEntry,
    PriceFile,
    provider_family,
)
from tianji_common.pricing._table import PRICING_FILE_ENV, PriceTable, load_prices

__all__ = [
    "LITELLM_PRICE_FIELDS",
    "PRICING_FILE_ENV",
    "PriceEntry",
    "PriceFile",
    "PriceTable",
    "Prices",
    "TokenUsage",
    "cost",
    "custom_prices",
    "load_prices",
    "provider_family",
    "resolve_prices",
]
