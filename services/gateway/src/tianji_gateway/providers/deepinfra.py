"""DeepInfra: OpenAI-compatible chat, completions and embeddings at /v1/openai.

Quirks (LiteLLM `llms/deepinfra/chat/transformation.py`, deepinfra.com/docs):
- `tool_choice` may only be "auto" or "none"; any other value is dropped with
  `drop_params`, else answered with 400, as LiteLLM does;
- `max_completion_tokens` is sent as `max_tokens`;
- `mistralai/Mistral-7B-Instruct-v0.1` rejects `temperature: 0`; it gets 0.0001.
- errors come FastAPI-shaped (`{"detail": ...}`), read by the shared parser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from tianji_common.errors import InvalidRequest

from tianji_gateway.providers._openai_compat import MAX_TOKENS, CompatAdapter, jraw, jvalue
from tianji_gateway.providers.base import Op, ProviderCaps

if TYPE_CHECKING:
    from tianji_gateway.routing.deployment import Deployment

__all__ = ["DeepInfraAdapter"]

_TOOL_CHOICES = ("auto", "none")
_NO_ZERO_TEMPERATURE = "mistralai/Mistral-7B-Instruct-v0.1"
_MIN_TEMPERATURE = 0.0001  # LiteLLM's MIN_NON_ZERO_TEMPERATURE


class DeepInfraAdapter(CompatAdapter):
    """api.deepinfra.com/v1/openai."""

    name = "deepinfra"
    default_api_base = "https://api.deepinfra.com/v1/openai"
    env_key = "DEEPINFRA_API_KEY"
    env_base = "DEEPINFRA_API_BASE"
    caps = ProviderCaps(ops=frozenset({Op.CHAT, Op.COMPLETION, Op.EMBEDDING}))
    renames = MAX_TOKENS

    def map_chat(self, body: dict[str, msgspec.Raw], dep: Deployment) -> None:
        """tool_choice beyond auto/none, and the zero-temperature model."""
        choice = body.get("tool_choice")
        if choice is not None and jvalue(choice) not in _TOOL_CHOICES:
            if not dep.drop_params:
                raise InvalidRequest(
                    f"deepinfra does not support tool_choice={bytes(choice).decode()}. "
                    "Set drop_params: true to drop it.",
                    param="tool_choice",
                    code="unsupported_parameter",
                )
            del body["tool_choice"]
        temperature = body.get("temperature")
        zero = temperature is not None and jvalue(temperature) == 0
        if zero and dep.model == _NO_ZERO_TEMPERATURE:
            body["temperature"] = jraw(_MIN_TEMPERATURE)
        super().map_chat(body, dep)
