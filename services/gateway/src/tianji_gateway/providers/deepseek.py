"""DeepSeek: OpenAI-compatible chat and FIM completions, with thinking mode.

Quirks (LiteLLM `llms/deepseek/chat/transformation.py`, api-docs.deepseek.com):
- the default base is `https://api.deepseek.com/beta` (LiteLLM's; FIM lives there);
- `thinking` is `{"type": "enabled" | "disabled"}` only (no budget); `reasoning_effort:
  "none"` turns thinking off, any other effort turns it on and is sent along;
- with thinking on, every assistant turn must carry `reasoning_content` (DeepSeek answers
  400 otherwise): restored from `provider_specific_fields`, else a single space;
- text-only content-part lists are sent as strings; only `function` tools are accepted;
- `deepseek-reasoner` answers 400 to `logprobs` / `top_logprobs`;
- usage reports cache hits as `prompt_cache_hit_tokens`; `reasoning_content` in answers
  and stream deltas is relayed as DeepSeek sends it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from tianji_gateway.providers._openai_compat import (
    CompatAdapter,
    jraw,
    jvalue,
    rewrite_messages,
    role_of,
)
from tianji_gateway.providers.base import Op, ProviderCaps, Usage

if TYPE_CHECKING:
    from tianji_gateway.routing.deployment import Deployment

__all__ = ["DeepSeekAdapter"]

_Message = dict[str, msgspec.Raw]
_REASONER_UNSUPPORTED = frozenset({"logprobs", "top_logprobs"})


class _CacheUsage(msgspec.Struct):
    prompt_cache_hit_tokens: int = 0


class _CacheView(msgspec.Struct):
    usage: _CacheUsage | None = None


_cache_view = msgspec.json.Decoder(_CacheView)


def _map_thinking(body: dict[str, msgspec.Raw]) -> bool:
    """Normalise `thinking` / `reasoning_effort`; True when thinking is explicitly on."""
    thinking = jvalue(body.pop("thinking")) if "thinking" in body else None
    effort = jvalue(body.pop("reasoning_effort")) if "reasoning_effort" in body else None
    kind: str | None = None
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "disabled"):
        kind = thinking["type"]
    elif effort is not None:
        kind = "disabled" if effort == "none" else "enabled"
    if kind is not None:
        body["thinking"] = jraw({"type": kind})
    if kind != "disabled" and effort is not None:
        body["reasoning_effort"] = jraw(effort)
    return kind == "enabled"


def _with_reasoning(message: _Message, dep: Deployment) -> _Message:
    """An assistant turn carrying `reasoning_content`, as thinking mode requires."""
    current = message.get("reasoning_content")
    if role_of(message) != "assistant" or (current is not None and jvalue(current)):
        return message
    raw_fields = message.get("provider_specific_fields")
    fields = jvalue(raw_fields) if raw_fields is not None else None
    stored = fields.pop("reasoning_content", None) if isinstance(fields, dict) else None
    if stored:
        message["provider_specific_fields"] = jraw(fields)
    message["reasoning_content"] = jraw(stored or " ")
    return message


def _function_tools_only(body: dict[str, msgspec.Raw]) -> None:
    """Drop non-`function` tools (DeepSeek: "unknown variant ..., expected 'function'")."""
    tools = jvalue(body["tools"]) if "tools" in body else None
    if not isinstance(tools, list):
        return
    kept = [t for t in tools if isinstance(t, dict) and t.get("type") == "function"]
    if len(kept) == len(tools):
        return
    if kept:
        body["tools"] = jraw(kept)
        return
    for key in ("tools", "tool_choice", "parallel_tool_calls"):
        body.pop(key, None)


class DeepSeekAdapter(CompatAdapter):
    """api.deepseek.com."""

    name = "deepseek"
    default_api_base = "https://api.deepseek.com/beta"
    env_key = "DEEPSEEK_API_KEY"
    env_base = "DEEPSEEK_API_BASE"
    caps = ProviderCaps(ops=frozenset({Op.CHAT, Op.COMPLETION}))
    collapse_text_parts = True

    def unsupported(self, dep: Deployment) -> frozenset[str]:
        """deepseek-reasoner rejects log-probabilities."""
        return _REASONER_UNSUPPORTED if "reasoner" in dep.model else frozenset()

    def map_chat(self, body: dict[str, msgspec.Raw], dep: Deployment) -> None:
        """Thinking, tools, then messages (content parts and reasoning_content)."""
        thinking_on = _map_thinking(body)
        _function_tools_only(body)
        super().map_chat(body, dep)
        if thinking_on and b'"assistant"' in bytes(body["messages"]):
            rewrite_messages(body, _with_reasoning, dep)

    def fix_usage(self, raw: bytes, usage: Usage) -> Usage:
        """`prompt_cache_hit_tokens` when `prompt_tokens_details` did not say."""
        if usage.cached_tokens or b"prompt_cache_hit_tokens" not in raw:
            return usage
        view = _cache_view.decode(raw)
        hits = view.usage.prompt_cache_hit_tokens if view.usage else 0
        return msgspec.structs.replace(usage, cached_tokens=hits) if hits else usage
