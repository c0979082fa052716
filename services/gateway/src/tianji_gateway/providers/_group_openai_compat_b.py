"""Provider registrations: the plain OpenAI-compatible vendors (groq, mistral, together_ai,
fireworks_ai, deepseek, perplexity, xai, cerebras, sambanova, openrouter, deepinfra, nvidia_nim).

Why a file per group: each group is owned and edited on its own; `registry.py` merges
the groups and fails loudly on a duplicate id.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from tianji_gateway.providers.base import ProviderAdapter

__all__ = ["ADAPTERS", "HOSTS"]

ADAPTERS: Mapping[str, type[ProviderAdapter]] = MappingProxyType({})

# api_base host -> provider id, for model strings without a provider/ prefix.
HOSTS: Mapping[str, str] = MappingProxyType({})
