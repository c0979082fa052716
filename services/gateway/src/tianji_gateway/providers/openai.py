"""OpenAI: the base adapter is OpenAI's dialect, so this module only names it.

Why a module of its own: every provider gets one (spec clarification 1); OpenAI-specific
quirks (organization header, `api_base` for OpenAI-compatible servers) live in the base.
"""

from __future__ import annotations

from tianji_gateway.providers.base import Op, ProviderAdapter, ProviderCaps

__all__ = ["OpenAIAdapter"]


class OpenAIAdapter(ProviderAdapter):
    """api.openai.com, or any OpenAI-compatible server via `api_base`."""

    name = "openai"
    default_api_base = "https://api.openai.com/v1"
    env_key = "OPENAI_API_KEY"
    env_base = "OPENAI_API_BASE"
    caps = ProviderCaps(
        ops=frozenset(
            {
                Op.CHAT,
                Op.COMPLETION,
                Op.EMBEDDING,
                Op.IMAGE_GENERATION,
                Op.AUDIO_SPEECH,
                Op.AUDIO_TRANSCRIPTION,
            }
        )
    )
