"""xAI (Grok): OpenAI-compatible chat with reasoning models.

Quirks (LiteLLM `llms/xai/chat/transformation.py`):
- `stop` is rejected by grok-3-mini, grok-4 and grok-code-fast; `frequency_penalty` by
  grok-4 and grok-code-fast (dropped or rejected per model);
- `max_completion_tokens` is sent as `max_tokens`, tool functions lose `strict`, `name`
  is kept on user messages only, and `web_search_options` is dropped (Live Search on
  chat completions is retired; BerriAI/litellm#9720);
- answers with tool calls may say `finish_reason: ""`; it becomes "tool_calls";
- usage counts reasoning beside `completion_tokens` while `total_tokens` includes it;
  reasoning is folded into `completion_tokens` (OpenAI's invariant total = prompt +
  completion), in whole answers and in the stream's usage chunk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from tianji_gateway.providers._openai_compat import MAX_TOKENS, CompatAdapter, role_of
from tianji_gateway.providers.base import Op, ProviderCaps

if TYPE_CHECKING:
    from tianji_gateway.routing.deployment import Deployment

__all__ = ["XAIAdapter", "fold_reasoning"]

_NO_STOP = ("grok-3-mini", "grok-4", "grok-code-fast")
_NO_FREQUENCY_PENALTY = ("grok-4", "grok-code-fast")


def fold_reasoning(usage: object) -> bool:
    """Fold reasoning tokens into `completion_tokens` when xAI counted them apart."""
    if not isinstance(usage, dict):
        return False
    details = usage.get("completion_tokens_details")
    reasoning = int(details.get("reasoning_tokens") or 0) if isinstance(details, dict) else 0
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    total = int(usage.get("total_tokens") or 0)
    if reasoning <= 0 or total != prompt + completion + reasoning:
        return False  # already OpenAI-shaped, or an accounting we do not recognise
    usage["completion_tokens"] = completion + reasoning
    return True


def _fix_finish_reason(choice: object) -> bool:
    if not isinstance(choice, dict) or choice.get("finish_reason") != "":
        return False
    message = choice.get("message")
    if isinstance(message, dict) and message.get("tool_calls"):
        choice["finish_reason"] = "tool_calls"
        return True
    return False


class XAIAdapter(CompatAdapter):
    """api.x.ai."""

    name = "xai"
    default_api_base = "https://api.x.ai/v1"
    env_key = "XAI_API_KEY"
    env_base = "XAI_API_BASE"
    caps = ProviderCaps(ops=frozenset({Op.CHAT}))
    renames = MAX_TOKENS
    strip_tool_strict = True
    response_markers = (b'"finish_reason":""', b'"finish_reason": ""', b'"reasoning_tokens"')
    chunk_markers = (b'"reasoning_tokens"',)

    def unsupported(self, dep: Deployment) -> frozenset[str]:
        """Parameters the Grok model at hand rejects."""
        out = set()
        if any(m in dep.model for m in _NO_STOP):
            out.add("stop")
        if any(m in dep.model for m in _NO_FREQUENCY_PENALTY):
            out.add("frequency_penalty")
        return frozenset(out)

    def map_chat(self, body: dict[str, msgspec.Raw], dep: Deployment) -> None:
        """`web_search_options` is dropped, as LiteLLM does, with no error."""
        body.pop("web_search_options", None)
        super().map_chat(body, dep)

    def needs_message_pass(self, raw_messages: bytes) -> bool:
        """Only messages naming a participant need the `name` clean-up."""
        return b'"name"' in raw_messages or super().needs_message_pass(raw_messages)

    def fix_message(
        self, message: dict[str, msgspec.Raw], dep: Deployment
    ) -> dict[str, msgspec.Raw] | None:
        """xAI takes `name` on user messages only (LiteLLM `strip_name_from_messages`)."""
        fixed = super().fix_message(message, dep)
        if fixed is not None and "name" in fixed and role_of(fixed) != "user":
            del fixed["name"]
        return fixed

    def patch_response(self, obj: dict[str, Any]) -> bool:
        """Empty finish_reason with tool calls, and reasoning outside completion."""
        changed = False
        for choice in obj.get("choices") or []:
            changed = _fix_finish_reason(choice) or changed
        return fold_reasoning(obj.get("usage")) or changed

    def patch_chunk(self, obj: dict[str, Any]) -> bool:
        """The stream's usage chunk gets the same reasoning fold."""
        return fold_reasoning(obj.get("usage"))
