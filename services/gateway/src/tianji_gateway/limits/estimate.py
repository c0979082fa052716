"""The cost a request reserves against budgets before it goes upstream.

The estimate, in USD:

    prompt_tokens * input price + output_tokens * output price + per-request price

* `prompt_tokens`: the byte length of the prompt fields (`messages`, `prompt`,
  `input`, `system`, `contents`) divided by 4, plus 1. About four bytes per token is
  OpenAI's rule of thumb for English; JSON punctuation makes it an overestimate,
  which is the safe side for a reservation, and it costs no tokenizer on the hot path.
* `output_tokens`: the request's `max_tokens` / `max_completion_tokens` /
  `max_output_tokens`, else `DEFAULT_OUTPUT_TOKENS` (256), capped by the model's
  `max_output_tokens` when the price table knows it.
* prices: the highest of the model group's deployments (the router has not picked
  one yet). An unpriced model reserves nothing: it costs nothing.

The reservation is replaced by the real cost when the request ends, so the estimate
only bounds how far concurrent requests can overshoot a budget together.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Final

import msgspec

from tianji_gateway.limits.spend import NANOS

if TYPE_CHECKING:
    from tianji_gateway.request import ParsedRequest
    from tianji_gateway.routing.router import ModelGroup, Router

__all__ = ["DEFAULT_OUTPUT_TOKENS", "Estimator"]

DEFAULT_OUTPUT_TOKENS: Final = 256
_PROMPT_FIELDS: Final = ("messages", "prompt", "input", "system", "contents")
_MAX_FIELDS: Final = ("max_tokens", "max_completion_tokens", "max_output_tokens")
_CACHE_MAX: Final = 4096
_int_or_none = msgspec.json.Decoder(int | None)
_ZERO = Decimal(0)

# Nano-USD per input token, per output token, per request (floats: an estimate needs no
# Decimal exactness, and float arithmetic keeps it off the request path's profile).
_GroupPrices = tuple[float, float, float, int | None]


def _group_prices(group: ModelGroup) -> _GroupPrices:
    inp = out = per_req = _ZERO
    max_out: int | None = None
    for dep in group.deployments:
        p = dep.price
        if p is None:
            continue
        inp, out, per_req = max(inp, p.input), max(out, p.output), max(per_req, p.per_request)
        if p.max_output_tokens:
            max_out = max(max_out or 0, p.max_output_tokens)
    return float(inp * NANOS), float(out * NANOS), float(per_req * NANOS), max_out


class Estimator:
    """Per-request reservation in nano-USD; group prices are cached by group name.

    The cache is dropped whenever the router swaps its deployments, so a model added,
    repriced or removed through `/model/*` is estimated at its new prices.
    """

    def __init__(self, default_output_tokens: int = DEFAULT_OUTPUT_TOKENS) -> None:
        self._default_output = default_output_tokens
        self._prices: dict[str, _GroupPrices] = {}
        self._generation: object = None  # the router's deployments the cache was built on

    def _prices_for(self, model: str, router: Router) -> _GroupPrices | None:
        if router.generation is not self._generation:  # deployments changed (DB models)
            self._prices = {}
            self._generation = router.generation
        cached = self._prices.get(model)
        if cached is not None:
            return cached
        try:
            group = router.resolve(model)
        except Exception:  # noqa: BLE001 - an unknown model: the pipeline answers it
            return None
        prices = _group_prices(group)
        if len(self._prices) < _CACHE_MAX:
            self._prices[model] = prices
        return prices

    def output_tokens(self, parsed: ParsedRequest, max_out: int | None) -> int:
        """The output tokens to reserve for."""
        wanted: int | None = None
        for name in _MAX_FIELDS:
            raw = parsed.body.get(name)
            if raw is not None:
                try:
                    wanted = _int_or_none.decode(raw)
                except msgspec.MsgspecError:
                    wanted = None
                if wanted is not None:
                    break
        tokens = wanted if wanted is not None and wanted > 0 else self._default_output
        return min(tokens, max_out) if max_out else tokens

    def estimate(self, parsed: ParsedRequest, router: Router) -> int:
        """The reservation for this request, in nano-USD."""
        prices = self._prices_for(parsed.model, router)
        if prices is None:
            return 0
        inp, out, per_req, max_out = prices
        if not (inp or out or per_req):
            return 0
        size = sum(len(parsed.body[f]) for f in _PROMPT_FIELDS if f in parsed.body)
        prompt = size // 4 + 1
        return round(prompt * inp + self.output_tokens(parsed, max_out) * out + per_req)
