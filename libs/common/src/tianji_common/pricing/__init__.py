"""Model prices: the shipped table, custom pricing, and per-request cost in `Decimal`.

Why in `tianji_common`: the gateway prices each request once (the cost travels in the
usage event), and other services read the same table for context windows and reports.
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
