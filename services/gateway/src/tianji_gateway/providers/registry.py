"""Explicit provider registration by LiteLLM provider id; no directory scanning.

Why: a typo'd or unknown provider must fail loudly with its name (`unsupported
provider: <name>`), and third parties add providers through the `tianji.providers`
entry-point group rather than by dropping files in a folder.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from types import MappingProxyType

from tianji_gateway.providers.base import ProviderAdapter

__all__ = [
    "ADAPTERS",
    "GROUPS",
    "HOSTS",
    "KNOWN_LITELLM_PROVIDERS",
    "LazyAdapters",
    "load_adapters",
]

# Provider id -> the group module that registers it. Why an index and not imports:
# importing every provider module costs ~11 MB of RSS (measured), while a deployment
# list usually needs two or three; providers are imported on first use. A unit test
# checks this index against the group files, so the two cannot drift.
_PKG = "tianji_gateway.providers."
GROUPS: tuple[str, ...] = (
    "_group_core",
    "_group_openai_compat_a",
    "_group_openai_compat_b",
    "_group_google",
    "_group_aws",
    "_group_others",
)
_INDEX: Mapping[str, str] = MappingProxyType(
    {
        "openai": "_group_core",
        "anthropic": "_group_core",
        **dict.fromkeys(
            (
                "azure",
                "azure_ai",
                "databricks",
                "huggingface",
                "ollama",
                "ollama_chat",
                "hosted_vllm",
                "lm_studio",
            ),
            "_group_openai_compat_a",
        ),
        **dict.fromkeys(
            (
                "groq",
                "mistral",
                "together_ai",
                "fireworks_ai",
                "deepseek",
                "perplexity",
                "xai",
                "cerebras",
                "sambanova",
                "openrouter",
                "deepinfra",
                "nvidia_nim",
            ),
            "_group_openai_compat_b",
        ),
        "gemini": "_group_google",
        "vertex_ai": "_group_google",
        "bedrock": "_group_aws",
        **dict.fromkeys(("cohere", "cloudflare", "replicate", "jina_ai"), "_group_others"),
    }
)
# api_base host -> provider id (the union of the groups' HOSTS; checked by a test too).
HOSTS: Mapping[str, str] = MappingProxyType(
    {
        "api.openai.com": "openai",
        "api.anthropic.com": "anthropic",
        "router.huggingface.co": "huggingface",
        "api-inference.huggingface.co": "huggingface",
        "api.groq.com": "groq",
        "api.mistral.ai": "mistral",
        "api.deepseek.com": "deepseek",
        "api.perplexity.ai": "perplexity",
        "api.cerebras.ai": "cerebras",
        "api.sambanova.ai": "sambanova",
        "api.deepinfra.com": "deepinfra",
        "integrate.api.nvidia.com": "nvidia_nim",
        "api.cohere.com": "cohere",
        "api.cohere.ai": "cohere",
        "api.cloudflare.com": "cloudflare",
        "api.replicate.com": "replicate",
        "api.jina.ai": "jina_ai",
    }
)


def _adapter_class(provider: str) -> type[ProviderAdapter]:
    group = importlib.import_module(_PKG + _INDEX[provider])
    cls: type[ProviderAdapter] = group.ADAPTERS[provider]
    return cls


class _LazyClasses(Mapping[str, type[ProviderAdapter]]):
    """Provider id -> adapter class, importing the provider's module on first access."""

    def __getitem__(self, provider: str) -> type[ProviderAdapter]:
        if provider not in _INDEX:
            raise KeyError(provider)
        return _adapter_class(provider)

    def __contains__(self, provider: object) -> bool:
        return provider in _INDEX  # without importing (Mapping's default would)

    def __iter__(self) -> Iterator[str]:
        return iter(_INDEX)

    def __len__(self) -> int:
        return len(_INDEX)


ADAPTERS: Mapping[str, type[ProviderAdapter]] = _LazyClasses()


class LazyAdapters(Mapping[str, ProviderAdapter]):
    """Served provider ids, with each adapter built (and its module imported) on first use."""

    def __init__(self, extra: Mapping[str, ProviderAdapter] | None = None) -> None:
        self._made: dict[str, ProviderAdapter] = dict(extra or {})
        self._ids = (*_INDEX, *(k for k in self._made if k not in _INDEX))

    def __getitem__(self, provider: str) -> ProviderAdapter:
        made = self._made.get(provider)
        if made is None:
            if provider not in _INDEX:
                raise KeyError(provider)
            made = self._made[provider] = _adapter_class(provider)()
        return made

    def __contains__(self, provider: object) -> bool:
        return provider in self._ids  # without importing (Mapping's default would)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


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


def load_adapters() -> LazyAdapters:
    """Built-ins (imported on first use) plus `tianji.providers` entry points.

    A third-party id that clashes with a built-in one is an error.
    """
    extra: dict[str, ProviderAdapter] = {}
    for ep in entry_points(group="tianji.providers"):
        if ep.name in _INDEX or ep.name in extra:
            raise RuntimeError(f"provider {ep.name!r} is registered twice")
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, ProviderAdapter)):
            raise RuntimeError(f"entry point {ep.name!r} is not a ProviderAdapter subclass")
        extra[ep.name] = cls()
    return LazyAdapters(extra)
