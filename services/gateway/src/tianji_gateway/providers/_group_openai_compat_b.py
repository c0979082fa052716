"""Provider registrations: the plain OpenAI-compatible vendors (groq, mistral, together_ai,
fireworks_ai, deepseek, perplexity, xai, cerebras, sambanova, openrouter, deepinfra, nvidia_nim).

Why a file per group: each group is owned and edited on its own; `registry.py` merges
the groups and fails loudly on a duplicate id.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from tianji_gateway.providers.base import ProviderAdapter
from tianji_gateway.providers.cerebras import CerebrasAdapter
from tianji_gateway.providers.deepinfra import DeepInfraAdapter
from tianji_gateway.providers.deepseek import DeepSeekAdapter
from tianji_gateway.providers.fireworks_ai import FireworksAIAdapter
from tianji_gateway.providers.groq import GroqAdapter
from tianji_gateway.providers.mistral import MistralAdapter
from tianji_gateway.providers.nvidia_nim import NvidiaNimAdapter
from tianji_gateway.providers.openrouter import OpenRouterAdapter
from tianji_gateway.providers.perplexity import PerplexityAdapter
from tianji_gateway.providers.sambanova import SambaNovaAdapter
from tianji_gateway.providers.together_ai import TogetherAIAdapter
from tianji_gateway.providers.xai import XAIAdapter

__all__ = ["ADAPTERS", "HOSTS"]

ADAPTERS: Mapping[str, type[ProviderAdapter]] = MappingProxyType(
    {
        cls.name: cls
        for cls in (
            GroqAdapter,
            MistralAdapter,
            TogetherAIAdapter,
            FireworksAIAdapter,
            DeepSeekAdapter,
            PerplexityAdapter,
            XAIAdapter,
            CerebrasAdapter,
            SambaNovaAdapter,
            OpenRouterAdapter,
            DeepInfraAdapter,
            NvidiaNimAdapter,
        )
    }
)

# api_base host -> provider id, for model strings without a provider/ prefix: the hosts
# LiteLLM's `get_llm_provider` recognises in `openai_compatible_endpoints`.
HOSTS: Mapping[str, str] = MappingProxyType(
    {
        "api.groq.com": "groq",
        "api.mistral.ai": "mistral",
        "api.deepseek.com": "deepseek",
        "api.perplexity.ai": "perplexity",
        "api.cerebras.ai": "cerebras",
        "api.sambanova.ai": "sambanova",
        "api.deepinfra.com": "deepinfra",
        "integrate.api.nvidia.com": "nvidia_nim",
    }
)
