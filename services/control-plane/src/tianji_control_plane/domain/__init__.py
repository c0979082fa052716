"""Management operations: async functions with explicit arguments, one transaction each."""

from __future__ import annotations

__all__: list[str] = []
