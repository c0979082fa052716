"""Which provider serves a model string, resolved as LiteLLM does it.

Order (LiteLLM `get_llm_provider`): an explicit `custom_llm_provider`, then the
`provider/` prefix, then a known `api_base` host, then the bare model name.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

from tianji_common.errors import InvalidRequest

from tianji_gateway.providers.registry import HOSTS

__all__ = ["UnsupportedProvider", "resolve_provider"]

_OPENAI_PREFIXES = (
    "gpt-",
    "chatgpt-",
    "o1",
    "o3",
    "o4",
    "text-embedding-",
    "ft:gpt",
    "davinci",
    "babbage",
    "gpt-image",
    "dall-e",
    "whisper",
    "tts-",
)


class UnsupportedProvider(InvalidRequest):
    """400 `unsupported provider: <name>`, as the spec's edge cases ask."""

    def __init__(self, name: str, *, known: bool) -> None:
        hint = " (a LiteLLM provider TianjiLLM does not serve yet)" if known else ""
        super().__init__(
            f"unsupported provider: {name}{hint}", param="model", code="unsupported_provider"
        )
        self.provider = name


def _from_name(model: str) -> str | None:
    low = model.lower()
    if low.startswith(_OPENAI_PREFIXES):
        return "openai"
    if low.startswith("claude"):
        return "anthropic"
    return None


def resolve_provider(
    model: str,
    custom_llm_provider: str | None,
    api_base: str | None,
    *,
    served: Collection[str],
    known: Collection[str],
) -> tuple[str, str]:
    """Return `(provider, upstream_model)`; raise UnsupportedProvider otherwise."""
    prefix, sep, rest = model.partition("/")
    if custom_llm_provider:
        provider = custom_llm_provider
        upstream = rest if sep and prefix == provider else model
    elif sep and (prefix in served or prefix in known):
        provider, upstream = prefix, rest
    else:
        host = urlsplit(api_base).hostname if api_base else None
        guessed = HOSTS.get(host or "") or _from_name(model)
        if guessed is None:
            if sep:
                raise UnsupportedProvider(prefix, known=False)
            raise InvalidRequest(
                f"unsupported provider: cannot infer a provider for model {model!r}; "
                "use a provider/ prefix such as openai/" + model,
                param="model",
                code="unsupported_provider",
            )
        provider, upstream = guessed, model
    if provider not in served:
        raise UnsupportedProvider(provider, known=provider in known)
    return provider, upstream
