"""Provider registrations for: cohere, cloudflare, replicate.

Why a file per group: each group is owned and edited on its own; `registry.py` merges
the groups and fails loudly on a duplicate id.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from tianji_gateway.providers.base import ProviderAdapter
from tianji_gateway.providers.cloudflare import CloudflareAdapter
from tianji_gateway.providers.cohere import CohereAdapter
from tianji_gateway.providers.jina_ai import JinaAIAdapter
from tianji_gateway.providers.replicate import ReplicateAdapter

__all__ = ["ADAPTERS", "HOSTS"]

ADAPTERS: Mapping[str, type[ProviderAdapter]] = MappingProxyType(
    {
        "cohere": CohereAdapter,
        "cloudflare": CloudflareAdapter,
        "replicate": ReplicateAdapter,
        "jina_ai": JinaAIAdapter,
    }
)

# api_base host -> provider id, for model strings without a provider/ prefix.
HOSTS: Mapping[str, str] = MappingProxyType(
    {
        "api.cohere.com": "cohere",
        "api.cohere.ai": "cohere",
        "api.cloudflare.com": "cloudflare",
        "api.replicate.com": "replicate",
        "api.jina.ai": "jina_ai",
    }
)
