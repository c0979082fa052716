"""HTTP controllers: decode, call a domain function, encode (prefect's api→models split)."""

from __future__ import annotations

__all__: list[str] = []
