"""Per-request cost: a deployment's prices resolved once, then one multiply-add.

Why resolve at build time: custom pricing, `base_model` and the table lookup are all
known when the config loads, so the request path holds a ready `Prices` and never looks
a model up by string (PP-1). The arithmetic follows LiteLLM's `generic_cost_per_token`
(`litellm_core_utils/llm_cost_calc/utils.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from tianji_common.pricing._schema import LITELLM_PRICE_FIELDS, PriceEntry

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tianji_common.pricing._table import PriceTable

__all__ = ["Prices", "TokenUsage", "cost", "custom_prices", "resolve_prices"]

_ZERO = Decimal(0)


class TokenUsage(Protocol):
    """Token counts as OpenAI reports them, details flattened (the gateway's `Usage`)."""

    @property
    def prompt_tokens(self) -> int: ...
    @property
    def completion_tokens(self) -> int: ...
    @property
    def cached_tokens(self) -> int: ...
    @property
    def cache_creation_tokens(self) -> int: ...
    @property
    def reasoning_tokens(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Prices:
    """One deployment's effective prices, fallbacks already applied (no `None` on the hot path).

    Cache reads and writes fall back to the input price and reasoning to the output
    price, as LiteLLM does when a model lists no separate price.
    """

    input: Decimal = _ZERO
    output: Decimal = _ZERO
    cache_read: Decimal = _ZERO
    cache_write: Decimal = _ZERO
    reasoning: Decimal = _ZERO
    per_request: Decimal = _ZERO
    per_second: Decimal = _ZERO  # input + output per-second prices
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None

    @classmethod
    def from_entry(cls, e: PriceEntry) -> Prices:
        """Flatten a table entry into ready-to-multiply prices."""
        inp, out = e.input or _ZERO, e.output or _ZERO
        return cls(
            input=inp,
            output=out,
            cache_read=inp if e.cache_read is None else e.cache_read,
            cache_write=inp if e.cache_write is None else e.cache_write,
            reasoning=out if e.reasoning is None else e.reasoning,
            per_request=e.per_request or _ZERO,
            per_second=(e.per_second_input or _ZERO) + (e.per_second_output or _ZERO),
            max_input_tokens=e.max_input_tokens,
            max_output_tokens=e.max_output_tokens,
        )


def cost(usage: TokenUsage, prices: Prices, *, seconds: float = 0.0) -> Decimal:
    """USD for one request, exact in `Decimal`.

    `prompt_tokens` includes cached reads and cache writes, and `completion_tokens`
    includes reasoning tokens (OpenAI's usage shape), so each is charged once: text
    tokens are what is left after the priced details are taken out. `seconds` is the
    call's duration, charged only for models priced per second.
    """
    cached, written = usage.cached_tokens, usage.cache_creation_tokens
    text_in = max(usage.prompt_tokens - cached - written, 0)
    text_out = max(usage.completion_tokens - usage.reasoning_tokens, 0)
    total = (
        text_in * prices.input
        + cached * prices.cache_read
        + written * prices.cache_write
        + text_out * prices.output
        + usage.reasoning_tokens * prices.reasoning
        + prices.per_request
    )
    if prices.per_second and seconds > 0:
        total += Decimal(f"{seconds:.6f}") * prices.per_second
    return total


def _decimal(value: Any, name: str) -> Decimal:
    try:
        out = Decimal(str(value)) if isinstance(value, int | float | str) else None
    except InvalidOperation:
        out = None
    if out is None or not out.is_finite() or out < 0:
        raise ValueError(f"{name}: expected a non-negative number, got {value!r}")
    return out


def custom_prices(*sources: Mapping[str, Any]) -> dict[str, Decimal]:
    """Custom pricing keys (LiteLLM names) found in `sources`, later sources winning.

    Pass `model_info` then `litellm_params`: the call's own params are the more specific.
    """
    out: dict[str, Decimal] = {}
    for source in sources:
        for ours, theirs in LITELLM_PRICE_FIELDS.items():
            name = next((n for n in theirs if source.get(n) is not None), None)
            if name is not None:
                out[ours] = _decimal(source[name], name)
    return out


def resolve_prices(
    table: PriceTable,
    model: str,
    provider: str,
    *,
    base_model: str | None = None,
    custom: Mapping[str, Decimal] | None = None,
) -> Prices | None:
    """The deployment's prices: the table entry with custom prices over it, or `None`."""
    entry = table.lookup(model, provider, base_model)
    if custom:
        entry = msgspec.structs.replace(entry or PriceEntry(provider=provider), **custom)
    return Prices.from_entry(entry) if entry is not None else None
