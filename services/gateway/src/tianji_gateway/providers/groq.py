"""Groq: OpenAI-compatible chat plus Whisper-style audio, at api.groq.com/openai/v1.

Quirks (LiteLLM `llms/groq/chat/transformation.py`, Groq's OpenAI-compatibility page):
- assistant messages must not carry `null` fields (`"function_call": null` is rejected,
  BerriAI/litellm#5839), so null-valued keys are removed from assistant messages;
- `logprobs`, `logit_bias`, `top_logprobs` answer 400 at Groq: dropped or rejected here;
- `service_tier` comes back as "on_demand", which LiteLLM maps to OpenAI's "auto";
- streams may carry usage only in `x_groq.usage`, read for accounting when the
  top-level usage chunk is absent.
`response_format: json_schema` is relayed as sent: Groq serves it natively (Structured
Outputs), and the client sees JSON content either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from tianji_gateway.providers._openai_compat import CompatAdapter, role_of
from tianji_gateway.providers.base import Op, ProviderCaps, Usage

if TYPE_CHECKING:
    from tianji_gateway.routing.deployment import Deployment

__all__ = ["GroqAdapter"]

_OPENAI_TIERS = frozenset({"auto", "default", "flex"})


class _GroqUsage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class _XGroq(msgspec.Struct):
    usage: _GroqUsage | None = None


class _XGroqView(msgspec.Struct):
    x_groq: _XGroq | None = None


_x_groq_view = msgspec.json.Decoder(_XGroqView)


class GroqAdapter(CompatAdapter):
    """Groq's OpenAI-compatible endpoint."""

    name = "groq"
    default_api_base = "https://api.groq.com/openai/v1"
    env_key = "GROQ_API_KEY"
    env_base = "GROQ_API_BASE"
    caps = ProviderCaps(
        unsupported_params=frozenset({"logprobs", "logit_bias", "top_logprobs"}),
        ops=frozenset({Op.CHAT, Op.AUDIO_TRANSCRIPTION, Op.AUDIO_SPEECH}),
    )
    response_markers = (b'"service_tier"',)

    def needs_message_pass(self, raw_messages: bytes) -> bool:
        """Only bodies holding a `null` can need the assistant clean-up."""
        return b"null" in raw_messages or super().needs_message_pass(raw_messages)

    def fix_message(
        self, message: dict[str, msgspec.Raw], dep: Deployment
    ) -> dict[str, msgspec.Raw] | None:
        """Remove null-valued keys from assistant messages (LiteLLM issue 5839)."""
        fixed = super().fix_message(message, dep)
        if fixed is None or role_of(fixed) != "assistant":
            return fixed
        return {k: v for k, v in fixed.items() if bytes(v) != b"null"}

    def patch_response(self, obj: dict[str, Any]) -> bool:
        """Groq's own tiers ("on_demand") become OpenAI's "auto", as LiteLLM maps them."""
        tier = obj.get("service_tier")
        if tier is None or tier in _OPENAI_TIERS:
            return False
        obj["service_tier"] = "auto"
        return True

    def fix_usage(self, raw: bytes, usage: Usage) -> Usage:
        """Usage from `x_groq.usage` when the OpenAI-shaped usage is missing."""
        if usage.total_tokens or b'"x_groq"' not in raw:
            return usage
        view = _x_groq_view.decode(raw)
        found = view.x_groq.usage if view.x_groq else None
        if found is None:
            return usage
        total = found.total_tokens or found.prompt_tokens + found.completion_tokens
        return Usage(
            prompt_tokens=found.prompt_tokens,
            completion_tokens=found.completion_tokens,
            total_tokens=total,
        )
