"""Cerebras: OpenAI-compatible chat and completions.

Quirks (LiteLLM `llms/cerebras/chat.py`, Cerebras' OpenAI-compatibility notes):
`frequency_penalty`, `presence_penalty`, `logit_bias`, `parallel_tool_calls` and
`service_tier` answer 400 at Cerebras, so they are dropped or rejected here, and
`max_completion_tokens` is sent as `max_tokens`.
"""

from __future__ import annotations

from tianji_gateway.providers._openai_compat import MAX_TOKENS, CompatAdapter
from tianji_gateway.providers.base import Op, ProviderCaps

__all__ = ["CerebrasAdapter"]


class CerebrasAdapter(CompatAdapter):
    """api.cerebras.ai."""

    name = "cerebras"
    default_api_base = "https://api.cerebras.ai/v1"
    env_key = "CEREBRAS_API_KEY"
    env_base = "CEREBRAS_API_BASE"
    caps = ProviderCaps(
        unsupported_params=frozenset(
            {
                "frequency_penalty",
                "presence_penalty",
                "logit_bias",
                "parallel_tool_calls",
                "service_tier",
            }
        ),
        ops=frozenset({Op.CHAT, Op.COMPLETION}),
    )
    renames = MAX_TOKENS
