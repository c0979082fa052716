"""Loading the price table and finding a deployment's entry in it.

Why cached per process: the shipped table is immutable package data; decoding it once
(at startup, when deployments are built) keeps it off the request path entirely.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import msgspec

from tianji_common.pricing._schema import PriceEntry, PriceFile, provider_family

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["PRICING_FILE_ENV", "PriceTable", "load_prices"]

PRICING_FILE_ENV = "TIANJI_PRICING_FILE"

_decoder = msgspec.json.Decoder(PriceFile)


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Model key (LiteLLM's naming: `gpt-4o`, `azure/gpt-4o`, ...) to its prices."""

    models: Mapping[str, PriceEntry]

    def lookup(self, model: str, provider: str, base_model: str | None = None) -> PriceEntry | None:
        """LiteLLM's order: explicit `base_model`, then `provider/model`, then bare `model`.

        A bare key must belong to the same provider family, as LiteLLM's
        `_check_provider_match` demands: `groq` serving `llama3-8b` is not priced as
        another vendor's model of that name. Azure deployment names are not guessable;
        set `base_model` for them.
        """
        found = self.lookup_key(model, provider, base_model)
        return found[1] if found is not None else None

    def lookup_key(
        self, model: str, provider: str, base_model: str | None = None
    ) -> tuple[str, PriceEntry] | None:
        """`lookup`, with the table key the entry was found under."""
        family = provider_family(provider)
        if base_model:
            found = self._first((base_model, f"{provider}/{base_model}", f"{family}/{base_model}"))
            if found is not None:
                return found
        found = self._first((f"{provider}/{model}", f"{family}/{model}"))
        if found is not None:
            return found
        bare = self.models.get(model)
        if bare is not None and bare.provider in (provider, family):
            return model, bare
        return None

    def image_variants(self, key: str) -> dict[str, Decimal]:
        """Per-image prices of `key`'s size and quality entries, by `quality/WxH` and `WxH`.

        LiteLLM keys them `[provider/][quality/]W-x-H/model` (`hd/1024-x-1792/dall-e-3`),
        priced per image or per pixel. Read once when a deployment is built.
        """
        prefix, _, name = key.rpartition("/")
        pattern = re.compile(
            rf"{re.escape(prefix + '/') if prefix else ''}(?:([a-z]+)/)?(\d+)-x-(\d+)/"
            + re.escape(name)
        )
        out: dict[str, Decimal] = {}
        suffix = "/" + name
        for k, e in self.models.items():
            if not k.endswith(suffix) or (m := pattern.fullmatch(k)) is None:
                continue
            quality, width, height = m.group(1), int(m.group(2)), int(m.group(3))
            price = e.per_image_input or e.per_image_output
            if price is None and e.per_pixel is not None:
                price = e.per_pixel * width * height
            if price is not None:
                out[f"{quality}/{width}x{height}" if quality else f"{width}x{height}"] = price
        return out

    def _first(self, keys: tuple[str, ...]) -> tuple[str, PriceEntry] | None:
        return next(((k, self.models[k]) for k in keys if k in self.models), None)


def _read_file(path: Path) -> PriceFile:
    data = path.read_bytes()
    if path.suffix in (".yaml", ".yml"):
        return msgspec.yaml.decode(data, type=PriceFile)
    return _decoder.decode(data)


@functools.cache
def load_prices(override_file: str | None = None) -> PriceTable:
    """The shipped table, with `override_file` (our schema, JSON or YAML) merged over it.

    Entries of the override file replace whole entries of the shipped table. The result
    is cached per process and per path; pass `env.get(PRICING_FILE_ENV)`.
    """
    shipped = _decoder.decode(
        resources.files("tianji_common.pricing").joinpath("prices.json").read_bytes()
    )
    models = dict(shipped.models)
    if override_file:
        models.update(_read_file(Path(override_file)).models)
    return PriceTable(MappingProxyType(models))
