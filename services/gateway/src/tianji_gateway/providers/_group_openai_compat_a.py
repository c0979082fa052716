"""Provider registrations: the quirky OpenAI-compatible vendors (azure, azure_ai, databricks,
huggingface, ollama, ollama_chat, hosted_vllm, lm_studio).

Why a file per group: each group is owned and edited on its own; `registry.py` merges
the groups and fails loudly on a duplicate id.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from tianji_gateway.providers.azure import AzureAdapter
from tianji_gateway.providers.azure_ai import AzureAIAdapter
from tianji_gateway.providers.base import ProviderAdapter
from tianji_gateway.providers.databricks import DatabricksAdapter
from tianji_gateway.providers.hosted_vllm import HostedVLLMAdapter
from tianji_gateway.providers.huggingface import HuggingFaceAdapter
from tianji_gateway.providers.lm_studio import LMStudioAdapter
from tianji_gateway.providers.ollama import OllamaAdapter
from tianji_gateway.providers.ollama_chat import OllamaChatAdapter

__all__ = ["ADAPTERS", "HOSTS"]

ADAPTERS: Mapping[str, type[ProviderAdapter]] = MappingProxyType(
    {
        "azure": AzureAdapter,
        "azure_ai": AzureAIAdapter,
        "databricks": DatabricksAdapter,
        "huggingface": HuggingFaceAdapter,
        "ollama": OllamaAdapter,
        "ollama_chat": OllamaChatAdapter,
        "hosted_vllm": HostedVLLMAdapter,
        "lm_studio": LMStudioAdapter,
    }
)

# api_base host -> provider id, for model strings without a provider/ prefix. Azure
# hosts are per resource (`<name>.openai.azure.com`) and local servers share
# `localhost`, so only Hugging Face's fixed hosts can be told from the host alone.
HOSTS: Mapping[str, str] = MappingProxyType(
    {"router.huggingface.co": "huggingface", "api-inference.huggingface.co": "huggingface"}
)
