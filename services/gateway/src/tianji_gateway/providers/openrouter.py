"""OpenRouter: one OpenAI-compatible endpoint in front of many vendors.

Quirks (LiteLLM `llms/openrouter/chat/transformation.py`, openrouter.ai/docs):
- `usage: {"include": true}` is always asked for, so answers carry OpenRouter's cost;
- for Claude, Gemini, MiniMax and GLM models a message-level `cache_control` is moved
  onto the message's last content block, where OpenRouter expects it;
- `reasoning` in answers and stream deltas is mirrored as `reasoning_content`;
- errors: `{"error": {"code": <http status>, "message", "metadata"}}`, also mid-stream;
  a 403 whose metadata carries moderation `reasons` is a content-policy violation.
- attribution headers: LiteLLM sends `HTTP-Referer` / `X-Title` from `OR_SITE_URL` /
  `OR_APP_NAME`. Hooks are sans-IO, so those are resolved at config load into the
  settings keys `or_site_url` / `or_app_name` (`env_settings`); `extra_headers` win.
  LiteLLM falls back to its own name ("https://litellm.ai", "liteLLM"); TianjiLLM does not
  claim that name, so nothing is sent when neither is set.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import msgspec
from tianji_common.errors import UpstreamError

from tianji_gateway.providers._openai_compat import CompatAdapter, jraw, jvalue
from tianji_gateway.providers.base import Op, ProviderCaps

if TYPE_CHECKING:
    from tianji_gateway.routing.deployment import Deployment

__all__ = ["OpenRouterAdapter"]

_INCLUDE_USAGE = msgspec.Raw(b'{"include":true}')
_CACHE_IN_CONTENT = ("claude", "gemini", "minimax", "glm", "z-ai")
_ATTRIBUTION = (("http-referer", "or_site_url"), ("x-title", "or_app_name"))


def _cache_into_content(message: dict[str, msgspec.Raw]) -> dict[str, msgspec.Raw]:
    """Move `cache_control` to the last content block (one breakpoint per message)."""
    cache = message.pop("cache_control", None)
    if cache is None:
        return message
    content = jvalue(message["content"]) if "content" in message else None
    control = jvalue(cache)
    if isinstance(content, list) and content:
        last = content[-1]
        if isinstance(last, dict):
            content[-1] = {**last, "cache_control": control}
        message["content"] = jraw(content)
    elif isinstance(content, str):
        message["content"] = jraw([{"type": "text", "text": content, "cache_control": control}])
    return message


def _mirror_reasoning(holder: object) -> bool:
    if not isinstance(holder, dict) or holder.get("reasoning") is None:
        return False
    if holder.get("reasoning_content") is not None:
        return False
    holder["reasoning_content"] = holder["reasoning"]
    return True


class OpenRouterAdapter(CompatAdapter):
    """openrouter.ai/api/v1."""

    name = "openrouter"
    default_api_base = "https://openrouter.ai/api/v1"
    env_key = "OPENROUTER_API_KEY"
    env_base = "OPENROUTER_API_BASE"
    env_settings = MappingProxyType(
        {"or_site_url": ("OR_SITE_URL",), "or_app_name": ("OR_APP_NAME",)}
    )
    caps = ProviderCaps(ops=frozenset({Op.CHAT, Op.EMBEDDING}))
    response_markers = (b'"reasoning"',)
    chunk_markers = (b'"reasoning"',)

    def headers(self, dep: Deployment, token: str | None = None) -> list[tuple[str, str]]:
        """OpenAI's headers plus the attribution pair, unless `extra_headers` set it."""
        out = super().headers(dep, token)
        present = {k for k, _ in dep.extra_headers}
        for header, key in _ATTRIBUTION:
            value = dep.settings.get(key)
            if header not in present and isinstance(value, str) and value:
                out.append((header, value))
        return out

    def map_chat(self, body: dict[str, msgspec.Raw], dep: Deployment) -> None:
        """Always ask for usage (with cost); place cache_control where OpenRouter reads it."""
        body.setdefault("usage", _INCLUDE_USAGE)
        super().map_chat(body, dep)

    def needs_message_pass(self, raw_messages: bytes) -> bool:
        """Only message-level `cache_control` needs moving."""
        return b'"cache_control"' in raw_messages or super().needs_message_pass(raw_messages)

    def fix_message(
        self, message: dict[str, msgspec.Raw], dep: Deployment
    ) -> dict[str, msgspec.Raw] | None:
        """For models that cache per content block, move the message's cache_control."""
        fixed = super().fix_message(message, dep)
        if fixed is None or not any(m in dep.model.lower() for m in _CACHE_IN_CONTENT):
            return fixed
        return _cache_into_content(fixed)

    def patch_response(self, obj: dict[str, Any]) -> bool:
        """`message.reasoning` is mirrored as `reasoning_content`."""
        changed = False
        for choice in obj.get("choices") or []:
            if isinstance(choice, dict):
                changed = _mirror_reasoning(choice.get("message")) or changed
        return changed

    def patch_chunk(self, obj: dict[str, Any]) -> bool:
        """`delta.reasoning` is mirrored as `reasoning_content`."""
        changed = False
        for choice in obj.get("choices") or []:
            if isinstance(choice, dict):
                changed = _mirror_reasoning(choice.get("delta")) or changed
        return changed

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> UpstreamError:
        """A moderation refusal (403 with `metadata.reasons`) is a content-policy error."""
        err = super().map_error(status, headers, body)
        if status == 403 and b'"reasons"' in body:
            message = err.message
            return self.classify(status, message, None, "content_policy_violation")
        return err
