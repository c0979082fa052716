"""Fireworks AI: OpenAI-compatible chat, completions and embeddings.

Quirks (LiteLLM `llms/fireworks_ai/chat/transformation.py`, `common_utils.py`):
- model ids are resource names: a bare `llama-v3p1-8b-instruct` is sent as
  `accounts/fireworks/models/llama-v3p1-8b-instruct` (`-fast` names as routers);
- `tool_choice: "required"` is spelled "any" (BerriAI/litellm#4416), `max_completion_tokens`
  is sent as `max_tokens`, and tool functions lose `strict`;
- messages may not carry `cache_control`, `provider_specific_fields`, `thinking_blocks` or
  `reasoning_content` (Fireworks' ChatMessage schema has `additionalProperties: false`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from tianji_gateway.providers._openai_compat import (
    MAX_TOKENS,
    REQUIRED_IS_ANY,
    CompatAdapter,
    jraw,
    jvalue,
)
from tianji_gateway.providers.base import GENERATION_OPS, Op, ProviderCaps

if TYPE_CHECKING:
    from tianji_gateway.routing.deployment import Deployment

__all__ = ["FireworksAIAdapter", "resource_name"]


def resource_name(model: str) -> str:
    """Fireworks' full model resource name, as LiteLLM's `resolve_fireworks_resource_name`."""
    if model.startswith(("accounts/", "FW-")) or "#" in model:
        return model
    if model.startswith(("routers/", "models/")):
        return f"accounts/fireworks/{model}"
    if model.endswith("-fast"):
        return f"accounts/fireworks/routers/{model}"
    return f"accounts/fireworks/models/{model}"


class FireworksAIAdapter(CompatAdapter):
    """api.fireworks.ai/inference/v1."""

    name = "fireworks_ai"
    default_api_base = "https://api.fireworks.ai/inference/v1"
    # LiteLLM's lookup order (`FireworksAIMixin._get_api_key`).
    env_key = "FIREWORKS_API_KEY"
    env_key_fallbacks = ("FIREWORKS_AI_API_KEY", "FIREWORKSAI_API_KEY", "FIREWORKS_AI_TOKEN")
    env_base = "FIREWORKS_API_BASE"
    caps = ProviderCaps(ops=frozenset({Op.CHAT, Op.COMPLETION, Op.EMBEDDING}))
    renames = MAX_TOKENS
    tool_choices = REQUIRED_IS_ANY
    strip_tool_strict = True
    message_drop_keys = frozenset(
        {"cache_control", "provider_specific_fields", "thinking_blocks", "reasoning_content"}
    )

    def map_params(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op = Op.CHAT
    ) -> dict[str, msgspec.Raw]:
        """Chat and completion models are addressed by their resource name."""
        body = super().map_params(body, dep, op)
        if op in GENERATION_OPS:
            body["model"] = jraw(resource_name(dep.model))
        return body

    def fix_message(
        self, message: dict[str, msgspec.Raw], dep: Deployment
    ) -> dict[str, msgspec.Raw] | None:
        """`cache_control` is also removed from inside content parts."""
        fixed = super().fix_message(message, dep)
        content = fixed.get("content") if fixed else None
        if fixed is None or content is None or b'"cache_control"' not in bytes(content):
            return fixed
        parts = jvalue(content)
        if isinstance(parts, list):
            for part in parts:
                if isinstance(part, dict):
                    part.pop("cache_control", None)
            fixed["content"] = jraw(parts)
        return fixed
