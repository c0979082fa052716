"""Provider registrations for: gemini, vertex_ai.

Why a file per group: each group is owned and edited on its own; `registry.py` merges
the groups and fails loudly on a duplicate id.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from tianji_gateway.providers.base import ProviderAdapter
from tianji_gateway.providers.gemini import GeminiAdapter
from tianji_gateway.providers.vertex_ai import VertexAIAdapter

__all__ = ["ADAPTERS", "HOSTS"]

ADAPTERS: Mapping[str, type[ProviderAdapter]] = MappingProxyType(
    {"gemini": GeminiAdapter, "vertex_ai": VertexAIAdapter}
)

# api_base host -> provider id, for model strings without a provider/ prefix. Empty on
# purpose: LiteLLM infers neither provider from a host (Google's host also serves an
# OpenAI-compatible API, which a native adapter must not be picked for).
HOSTS: Mapping[str, str] = MappingProxyType({})
