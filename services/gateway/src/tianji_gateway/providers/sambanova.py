"""SambaNova Cloud: OpenAI-compatible chat and embeddings.

Quirks (LiteLLM `llms/sambanova/chat.py`): SambaNova takes string content only, so
text-only content-part lists are sent as strings (lists with images are left for the
vision models); `max_completion_tokens` is sent as `max_tokens`; the penalties,
`logit_bias`, log-probabilities, `n` and `seed` are outside LiteLLM's supported set
for SambaNova and are dropped or rejected. LiteLLM's analytics header
`X-Integration-Source` comes from SAMBANOVA_INTEGRATION_SOURCE (resolved at config load);
LiteLLM's fallback value "litellm" is not sent, since this is not LiteLLM.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

from tianji_gateway.providers._openai_compat import MAX_TOKENS, CompatAdapter
from tianji_gateway.providers.base import Op, ProviderCaps

if TYPE_CHECKING:
    from tianji_gateway.routing.deployment import Deployment

__all__ = ["SambaNovaAdapter"]

_SOURCE = "integration_source"


class SambaNovaAdapter(CompatAdapter):
    """api.sambanova.ai."""

    name = "sambanova"
    default_api_base = "https://api.sambanova.ai/v1"
    env_key = "SAMBANOVA_API_KEY"
    env_base = "SAMBANOVA_API_BASE"
    env_settings = MappingProxyType({_SOURCE: ("SAMBANOVA_INTEGRATION_SOURCE",)})
    caps = ProviderCaps(
        unsupported_params=frozenset(
            {
                "frequency_penalty",
                "presence_penalty",
                "logit_bias",
                "logprobs",
                "top_logprobs",
                "n",
                "seed",
            }
        ),
        ops=frozenset({Op.CHAT, Op.EMBEDDING}),
    )
    renames = MAX_TOKENS
    collapse_text_parts = True

    def headers(self, dep: Deployment, token: str | None = None) -> list[tuple[str, str]]:
        """OpenAI's headers plus `x-integration-source` when one is configured."""
        out = super().headers(dep, token)
        source = dep.settings.get(_SOURCE)
        present = any(k == "x-integration-source" for k, _ in dep.extra_headers)
        if isinstance(source, str) and source and not present:
            out.append(("x-integration-source", source))
        return out
