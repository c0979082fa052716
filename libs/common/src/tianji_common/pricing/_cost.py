"""Per-request cost: a deployment's prices resolved once, then one multiply-add.

Why resolve at build time: custom pricing, `base_model` and the table lookup are all
known when the config loads, so the request path holds a ready `Prices` and never looks
a model up by string (PP-1). The arithmetic follows LiteLLM's `generic_cost_per_token`
(`litellm_core_utils/llm_cost_calc/utils.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from tianji_common.pricing._schema import LITELLM_PRICE_FIELDS, PriceEntry

if TYPE_CHECKING:
    from tianji_common.pricing._table import PriceTable

__all__ = ["Prices", "TokenUsage", "cost", "custom_prices", "resolve_prices"]

_ZERO = Decimal(0)


class TokenUsage(Protocol):
    """Token counts as OpenAI reports them, details flattened (the gateway's `Usage`).

    The audio and image counts are parts of `prompt_tokens` / `completion_tokens`, as
    OpenAI's `*_tokens_details` are; `images` counts generated images.
    """

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
    @property
    def audio_input_tokens(self) -> int: ...
    @property
    def audio_output_tokens(self) -> int: ...
    @property
    def image_input_tokens(self) -> int: ...
    @property
    def image_output_tokens(self) -> int: ...
    @property
    def images(self) -> int: ...


_IMAGE_PRICES = frozenset({"per_image_input", "per_image_output", "per_pixel"})
_NO_VARIANTS: Mapping[str, Decimal] = MappingProxyType({})
_NO_TIERS: Mapping[str, Prices] = MappingProxyType({})


def _or(value: Decimal | None, fallback: Decimal) -> Decimal:
    return fallback if value is None else value


@dataclass(frozen=True, slots=True)
class Prices:
    """One deployment's effective prices, fallbacks already applied (no `None` on the hot path).

    Fallbacks, as LiteLLM's: cache reads and writes cost the input price, reasoning the
    output price, audio and image tokens the text price of their side, when a model
    lists no separate price. `long_context` replaces the whole price set for requests
    whose prompt exceeds `long_context_tokens`; `tiers` holds the `service_tier` sets.
    """

    input: Decimal = _ZERO
    output: Decimal = _ZERO
    cache_read: Decimal = _ZERO
    cache_write: Decimal = _ZERO
    reasoning: Decimal = _ZERO
    input_audio: Decimal = _ZERO
    output_audio: Decimal = _ZERO
    input_image: Decimal = _ZERO
    output_image: Decimal = _ZERO
    per_image: Decimal = _ZERO  # each generated image
    per_request: Decimal = _ZERO
    per_second: Decimal = _ZERO  # input + output per-second prices
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    # Per-image prices by `quality/size` and `size` (`hd/1024x1792`, `1024x1024`).
    image_variants: Mapping[str, Decimal] = field(default_factory=lambda: _NO_VARIANTS)
    long_context_tokens: int = 0
    long_context: Prices | None = None
    tiers: Mapping[str, Prices] = field(default_factory=lambda: _NO_TIERS)

    @classmethod
    def from_entry(
        cls, e: PriceEntry, image_variants: Mapping[str, Decimal] | None = None
    ) -> Prices:
        """Flatten a table entry into ready-to-multiply prices."""
        base = _flat(e, e.input, e.output, e.cache_read, e.cache_write)
        long_tokens, long_context = 0, None
        if e.input_above_200k is not None or e.output_above_200k is not None:
            long_tokens = 200_000
            long_context = _flat(
                e,
                _or(e.input_above_200k, base.input),
                _or(e.output_above_200k, base.output),
                _or(e.cache_read_above_200k, base.cache_read),
                _or(e.cache_write_above_200k, base.cache_write),
            )
        elif e.input_above_128k is not None or e.output_above_128k is not None:
            long_tokens = 128_000
            long_context = _flat(
                e,
                _or(e.input_above_128k, base.input),
                _or(e.output_above_128k, base.output),
                base.cache_read,
                base.cache_write,
            )
        tiers: dict[str, Prices] = {}
        for tier, inp, out, read in (
            ("priority", e.input_priority, e.output_priority, e.cache_read_priority),
            ("flex", e.input_flex, e.output_flex, e.cache_read_flex),
        ):
            if inp is not None or out is not None:
                tier_inp = _or(inp, base.input)
                tiers[tier] = _flat(
                    e, tier_inp, _or(out, base.output), _or(read, tier_inp), base.cache_write
                )
        return replace(
            base,
            image_variants=MappingProxyType(dict(image_variants or {})) or _NO_VARIANTS,
            long_context_tokens=long_tokens,
            long_context=long_context,
            tiers=MappingProxyType(tiers) if tiers else _NO_TIERS,
        )

    def image_price(self, quality: str | None, size: str | None) -> Decimal:
        """One generated image: the `quality/size` variant, the size's, else `per_image`."""
        if self.image_variants and size:
            size = size.replace("-x-", "x")
            if quality:
                found = self.image_variants.get(f"{quality}/{size}")
                if found is not None:
                    return found
            found = self.image_variants.get(size)
            if found is not None:
                return found
        return self.per_image


def _flat(
    e: PriceEntry,
    inp: Decimal | None,
    out: Decimal | None,
    read: Decimal | None,
    write: Decimal | None,
) -> Prices:
    """One price set: token prices given (text side), media and fixed prices from `e`."""
    inp, out = inp or _ZERO, out or _ZERO
    # Image-generation entries name the per-image price `input_cost_per_image` (DALL-E).
    per_image = e.per_image_output
    if per_image is None and e.mode == "image_generation":
        per_image = e.per_image_input
    return Prices(
        input=inp,
        output=out,
        cache_read=_or(read, inp),
        cache_write=_or(write, inp),
        reasoning=_or(e.reasoning, out),
        input_audio=_or(e.input_audio, inp),
        output_audio=_or(e.output_audio, out),
        input_image=_or(e.input_image, inp),
        output_image=_or(e.output_image, out),
        per_image=per_image or _ZERO,
        per_request=e.per_request or _ZERO,
        per_second=(e.per_second_input or _ZERO) + (e.per_second_output or _ZERO),
        max_input_tokens=e.max_input_tokens,
        max_output_tokens=e.max_output_tokens,
    )


def cost(
    usage: TokenUsage,
    prices: Prices,
    *,
    seconds: float = 0.0,
    service_tier: str | None = None,
    image_quality: str | None = None,
    image_size: str | None = None,
) -> Decimal:
    """USD for one request, exact in `Decimal`.

    `prompt_tokens` includes cached reads, cache writes, audio and image tokens, and
    `completion_tokens` includes reasoning, audio and image tokens (OpenAI's usage
    shape), so each is charged once: text tokens are what is left after the priced
    details are taken out. A prompt above the long-context threshold prices the whole
    request at the long-context set (LiteLLM's rule); `service_tier` picks a tier's
    set when the model lists one. `seconds` is the call's duration, charged only for
    models priced per second; `usage.images` generated images are charged at the
    price of `image_quality`/`image_size`, else the model's per-image price, unless
    the answer reported its images as tokens (gpt-image-1), which are charged instead.
    """
    p = prices
    if service_tier and p.tiers:
        p = p.tiers.get(service_tier, p)
    if p.long_context is not None and usage.prompt_tokens > p.long_context_tokens:
        p = p.long_context
    cached, written, reasoning = (
        usage.cached_tokens,
        usage.cache_creation_tokens,
        usage.reasoning_tokens,
    )
    audio_in, image_in = usage.audio_input_tokens, usage.image_input_tokens
    audio_out, image_out = usage.audio_output_tokens, usage.image_output_tokens
    text_in = max(usage.prompt_tokens - cached - written - audio_in - image_in, 0)
    text_out = max(usage.completion_tokens - reasoning - audio_out - image_out, 0)
    # Zero counts are skipped: most requests are text only, and Decimal work is the cost.
    total = text_in * p.input + text_out * p.output + p.per_request
    if cached:
        total += cached * p.cache_read
    if written:
        total += written * p.cache_write
    if reasoning:
        total += reasoning * p.reasoning
    if audio_in or audio_out:
        total += audio_in * p.input_audio + audio_out * p.output_audio
    if image_in or image_out:
        total += image_in * p.input_image + image_out * p.output_image
    if usage.images and not image_out:
        total += usage.images * p.image_price(image_quality, image_size)
    if p.per_second and seconds > 0:
        total += Decimal(f"{seconds:.6f}") * p.per_second
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
    """The deployment's prices: the table entry with custom prices over it, or `None`.

    Image-generation models also get their size and quality prices, unless custom
    pricing names a per-image or per-pixel price of its own.
    """
    found = table.lookup_key(model, provider, base_model)
    entry = found[1] if found is not None else None
    variants: dict[str, Decimal] = {}
    own_image_price = bool(custom and _IMAGE_PRICES.intersection(custom))
    if found is not None and found[1].mode == "image_generation" and not own_image_price:
        variants = table.image_variants(found[0])
    if custom:
        entry = msgspec.structs.replace(entry or PriceEntry(provider=provider), **custom)
    return Prices.from_entry(entry, variants) if entry is not None else None
