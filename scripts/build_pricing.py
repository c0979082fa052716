"""Build `tianji_common/pricing/prices.json` from LiteLLM's public price map.

How the shipped table was made:

    .venv/bin/python scripts/build_pricing.py \
        --source ../shared/data/model_prices_and_context_window.json

LiteLLM's `model_prices_and_context_window.json` (BerriAI/litellm) is read as a source
of price facts and never copied: we keep only models of providers TianjiLLM serves
(`tianji_gateway.providers.registry.ADAPTERS`, with LiteLLM's provider variants such as
`vertex_ai-language-models` or `bedrock_converse` folded onto our ids), only the fields
of our schema (`tianji_common.pricing.PriceEntry`), and prices as exact decimal strings.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
from tianji_common.pricing import LITELLM_PRICE_FIELDS, PriceEntry, PriceFile, provider_family

__all__ = ["convert", "main"]

DEFAULT_OUT = (
    Path(__file__).resolve().parents[1] / "libs/common/src/tianji_common/pricing/prices.json"
)


def _served() -> frozenset[str]:
    # Imported late: the table is derived data of the gateway's registry, a build-time input.
    from tianji_gateway.providers.registry import ADAPTERS

    return frozenset(ADAPTERS)


def _price(value: Any) -> Decimal | None:
    """A LiteLLM float as the decimal it was written as (`2.5e-06` -> `0.0000025`)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return Decimal(repr(value))


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _entry(spec: Mapping[str, Any], provider: str) -> PriceEntry:
    prices: dict[str, Decimal] = {}
    for ours, theirs in LITELLM_PRICE_FIELDS.items():
        found = next((p for n in theirs if (p := _price(spec.get(n))) is not None), None)
        if found is not None:
            prices[ours] = found
    mode = spec.get("mode")
    return PriceEntry(
        provider=provider,
        mode=mode if isinstance(mode, str) and mode != "none" else None,
        max_input_tokens=_int(spec.get("max_input_tokens")),
        max_output_tokens=_int(spec.get("max_output_tokens")),
        **prices,
    )


def convert(litellm_map: Mapping[str, Any], served: Iterable[str], source: str = "") -> PriceFile:
    """Our table from LiteLLM's map: served providers only, our fields only."""
    wanted = frozenset(served)
    models: dict[str, PriceEntry] = {}
    for key in sorted(litellm_map):
        spec = litellm_map[key]
        if key == "sample_spec" or not isinstance(spec, Mapping):
            continue
        provider = provider_family(str(spec.get("litellm_provider", "")))
        if provider in wanted:
            models[key] = _entry(spec, provider)
    return PriceFile(models=models, source=source)


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()


def _plain(entry: PriceEntry) -> dict[str, Any]:
    """The entry with prices in positional notation (`0.00000015`, not `1.5E-7`)."""
    out: dict[str, Any] = msgspec.to_builtins(entry)
    for name in LITELLM_PRICE_FIELDS:
        if name in out:
            out[name] = format(Decimal(out[name]), "f")
    return out


def main(argv: list[str] | None = None) -> int:
    """Read `--source`, write `--out`."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, required=True, help="LiteLLM price map JSON")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--providers", help="comma-separated provider ids (default: the registry)")
    args = ap.parse_args(argv)
    raw = args.source.read_bytes()
    served = args.providers.split(",") if args.providers else _served()
    digest = hashlib.sha256(raw).hexdigest()
    origin = f"litellm model_prices_and_context_window.json sha256:{digest}"
    table = convert(msgspec.json.decode(raw), served, origin)
    # One model per line: diffs of a price update stay readable.
    lines = [f"  {_json(k)}: {_json(_plain(v))}" for k, v in table.models.items()]
    head = _json({"version": table.version, "source": table.source})
    text = head[:-1] + ',"models":{\n' + ",\n".join(lines) + "\n}}\n"
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {len(table.models)} models to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
