"""Provider registrations for: bedrock.

Why a file per group: each group is owned and edited on its own; `registry.py` merges
the groups and fails loudly on a duplicate id.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from tianji_gateway.providers.base import ProviderAdapter
from tianji_gateway.providers.bedrock import BedrockAdapter

__all__ = ["ADAPTERS", "HOSTS"]

ADAPTERS: Mapping[str, type[ProviderAdapter]] = MappingProxyType({"bedrock": BedrockAdapter})

# api_base host -> provider id, for model strings without a provider/ prefix. Empty on
# purpose: LiteLLM infers providers from hosts only for OpenAI-compatible endpoints, and
# Bedrock runtime hosts are regional (bedrock-runtime.<region>.amazonaws.com).
HOSTS: Mapping[str, str] = MappingProxyType({})
