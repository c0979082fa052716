"""Explicit provider registration by LiteLLM provider id; no directory scanning.

Why: a typo'd or unknown provider must fail loudly with its name (`unsupported
provider: <name>`), and third parties add providers through the `tianji.providers`
entry-point group rather than by dropping files in a folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from types import MappingProxyType

from tianji_gateway.providers import (
    _group_aws,
    _group_core,
    _group_google,
    _group_openai_compat_a,
    _group_openai_compat_b,
    _group_others,
)
from tianji_gateway.providers.base import ProviderAdapter

__all__ = ["ADAPTERS", "HOSTS", "KNOWN_LITELLM_PROVIDERS", "load_adapters"]

_GROUPS = (
    _group_core,
    _group_openai_compat_a,
    _group_openai_compat_b,
    _group_google,
    _group_aws,
    _group_others,
)


def _merge(tables: list[Mapping[str, object]], what: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for table in tables:
        for key, value in table.items():
            if key in out:
                raise RuntimeError(f"{what} {key!r} is registered twice")
            out[key] = value
    return out


ADAPTERS: Mapping[str, type[ProviderAdapter]] = MappingProxyType(
    _merge([g.ADAPTERS for g in _GROUPS], "provider")  # type: ignore[arg-type]  # values are adapter classes
)
HOSTS: Mapping[str, str] = MappingProxyType(
    _merge([g.HOSTS for g in _GROUPS], "api_base host")  # type: ignore[arg-type]  # values are ids
)

# Provider ids LiteLLM accepts as a `provider/` prefix: used to tell a provider prefix
# from a model name that merely contains a slash (e.g. `meta-llama/Llama-3` on an
# OpenAI-compatible server is not a provider).
KNOWN_LITELLM_PROVIDERS: frozenset[str] = frozenset(
    [
        "openai",
        "text-completion-openai",
        "azure",
        "azure_ai",
        "azure_text",
        "anthropic",
        "anthropic_text",
        "bedrock",
        "bedrock_converse",
        "sagemaker",
        "vertex_ai",
        "vertex_ai_beta",
        "gemini",
        "palm",
        "cohere",
        "cohere_chat",
        "mistral",
        "codestral",
        "groq",
        "together_ai",
        "fireworks_ai",
        "deepseek",
        "perplexity",
        "xai",
        "cerebras",
        "sambanova",
        "databricks",
        "huggingface",
        "openrouter",
        "deepinfra",
        "nvidia_nim",
        "hosted_vllm",
        "vllm",
        "lm_studio",
        "ollama",
        "ollama_chat",
        "cloudflare",
        "replicate",
        "ai21",
        "ai21_chat",
        "nlp_cloud",
        "aleph_alpha",
        "petals",
        "baseten",
        "predibase",
        "watsonx",
        "watsonx_text",
        "triton",
        "friendliai",
        "anyscale",
        "voyage",
        "jina_ai",
        "infinity",
        "litellm_proxy",
        "custom_openai",
        "openai_like",
        "text-completion-codestral",
        "dashscope",
        "moonshot",
        "github",
        "github_copilot",
        "nebius",
        "novita",
        "featherless_ai",
        "nscale",
        "snowflake",
        "volcengine",
        "lambda_ai",
        "hyperbolic",
        "oci",
        "llamafile",
        "datarobot",
    ]
)


def load_adapters() -> dict[str, ProviderAdapter]:
    """Built-ins plus `tianji.providers` entry points; a duplicate id is an error."""
    adapters: dict[str, ProviderAdapter] = {k: cls() for k, cls in ADAPTERS.items()}
    for ep in entry_points(group="tianji.providers"):
        if ep.name in adapters:
            raise RuntimeError(f"provider {ep.name!r} is registered twice")
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, ProviderAdapter)):
            raise RuntimeError(f"entry point {ep.name!r} is not a ProviderAdapter subclass")
        adapters[ep.name] = cls()
    return adapters
