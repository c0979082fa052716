"""Mistral La Plateforme: OpenAI-shaped chat and embeddings with a strict request schema.

Quirks (LiteLLM `llms/mistral/chat/transformation.py`, https://docs.mistral.ai/api/):
- the API rejects unknown fields ("Extra inputs are not permitted"), so OpenAI-only
  parameters are dropped or rejected, `stream_options` is never sent (Mistral puts usage
  in the last chunk on its own), `seed` is sent as `random_seed` and
  `max_completion_tokens` as `max_tokens`;
- `tool_choice` is "auto" | "none" | "any": "required" and the object form become "any";
- messages: `name` only on non-empty tool messages, no null fields, no empty assistant
  messages, tool calls as `{id, type, function}`, text-only part lists as a string;
- `api_base` always ends in `/v1` (LiteLLM appends it);
- answers: empty `content` becomes null, and Magistral's content blocks
  (`[{"type": "thinking", ...}, {"type": "text", ...}]`) become `content` plus
  `reasoning_content`, in whole answers and in stream deltas.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import msgspec

from tianji_gateway.providers._openai_compat import (
    MAX_TOKENS,
    REQUIRED_IS_ANY,
    CompatAdapter,
    jraw,
    jvalue,
    role_of,
)
from tianji_gateway.providers.base import Op, ProviderCaps

if TYPE_CHECKING:
    from tianji_gateway.routing.deployment import Deployment

__all__ = ["MistralAdapter"]

_Message = dict[str, msgspec.Raw]
_NULL = b"null"


def _split_blocks(blocks: list[Any]) -> tuple[str | None, str | None]:
    """Mistral content blocks -> (text or None, reasoning or None)."""
    texts: list[str] = []
    thoughts: list[str] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif block.get("type") == "thinking":
            inner = block.get("thinking") or []
            thoughts.append("".join(str(t.get("text", "")) for t in inner if isinstance(t, dict)))
    reasoning = "\n".join(t for t in thoughts if t)
    return ("".join(texts) if texts else None), (reasoning or None)


def _normalize_content(holder: dict[str, Any], empty: str | None) -> bool:
    """Blocks -> text; `empty` when there is no text block (LiteLLM: "" whole, None delta)."""
    content = holder.get("content")
    if not isinstance(content, list):
        return False
    text, reasoning = _split_blocks(content)
    holder["content"] = empty if text is None else text
    if reasoning is not None:
        holder["reasoning_content"] = reasoning
    return True


def _is_empty_assistant(message: _Message) -> bool:
    """Mistral rejects an assistant turn with nothing in it (LiteLLM drops it)."""
    for key, value in message.items():
        raw = bytes(value)
        if key == "role" or raw == _NULL or (key == "content" and raw == b'""'):
            continue
        return False
    return True


class MistralAdapter(CompatAdapter):
    """api.mistral.ai (or a Mistral-compatible `api_base`)."""

    name = "mistral"
    default_api_base = "https://api.mistral.ai/v1"
    # LiteLLM reads MISTRAL_AZURE_API_KEY first (Mistral on Azure), then MISTRAL_API_KEY;
    # the plain key comes first here so a La Plateforme key is not shadowed.
    env_key = "MISTRAL_API_KEY"
    env_key_fallbacks = ("MISTRAL_AZURE_API_KEY",)
    env_base = "MISTRAL_AZURE_API_BASE"
    caps = ProviderCaps(
        stream_usage=False,
        unsupported_params=frozenset(
            {"logit_bias", "logprobs", "top_logprobs", "user", "functions", "function_call"}
        ),
        ops=frozenset({Op.CHAT, Op.EMBEDDING}),
    )
    renames = MappingProxyType({**MAX_TOKENS, "seed": "random_seed"})
    tool_choices = REQUIRED_IS_ANY
    collapse_text_parts = True
    response_markers = (b'"content":""', b'"content": ""', b'"thinking"')
    chunk_markers = (b'"thinking"',)

    def url(self, dep: Deployment, op: Op, stream: bool) -> str:
        """`api_base` + `/v1` when missing ("Mistral always needs a /v1 at the end")."""
        base = (dep.api_base or self.default_api_base).rstrip("/")
        if not base.endswith("/v1"):
            base += "/v1"
        return base + self._paths[op]

    def map_params(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op = Op.CHAT
    ) -> dict[str, msgspec.Raw]:
        """`stream_options` is not in Mistral's schema; usage arrives without it."""
        body.pop("stream_options", None)
        return super().map_params(body, dep, op)

    def map_chat(self, body: dict[str, msgspec.Raw], dep: Deployment) -> None:
        """OpenAI's object `tool_choice` has no Mistral spelling; LiteLLM sends "any"."""
        choice = body.get("tool_choice")
        if choice is not None and bytes(choice)[:1] == b"{":
            body["tool_choice"] = jraw("any")
        super().map_chat(body, dep)

    def needs_message_pass(self, raw_messages: bytes) -> bool:
        """Names, nulls, tool calls and empty strings are what the rewrite touches."""
        return any(
            m in raw_messages for m in (b'"name"', _NULL, b'"tool_calls"', b'""')
        ) or super().needs_message_pass(raw_messages)

    def fix_message(self, message: _Message, dep: Deployment) -> _Message | None:
        """One OpenAI message in Mistral's stricter shape (None drops it)."""
        fixed = super().fix_message(message, dep)
        if fixed is None:
            return None
        role = role_of(fixed)
        name = fixed.get("name")
        if name is not None and (role != "tool" or not str(jvalue(name)).strip()):
            del fixed["name"]
        calls = fixed.get("tool_calls")
        if calls is not None and bytes(calls) != _NULL:
            fixed["tool_calls"] = jraw(
                [
                    {"id": c.get("id"), "type": "function", "function": c.get("function")}
                    for c in jvalue(calls)
                    if isinstance(c, dict)
                ]
            )
        if role == "assistant" and _is_empty_assistant(fixed):
            return None
        return {k: v for k, v in fixed.items() if bytes(v) != _NULL}

    def patch_response(self, obj: dict[str, Any]) -> bool:
        """Empty content -> null; thinking blocks -> content + reasoning_content."""
        changed = False
        for choice in obj.get("choices") or []:
            message = choice.get("message") if isinstance(choice, dict) else None
            if not isinstance(message, dict):
                continue
            if message.get("content") == "":
                message["content"] = None
                changed = True
            changed = _normalize_content(message, "") or changed
        return changed

    def patch_chunk(self, obj: dict[str, Any]) -> bool:
        """Thinking blocks in a delta -> delta text + `reasoning_content`."""
        changed = False
        for choice in obj.get("choices") or []:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict):
                changed = _normalize_content(delta, None) or changed
        return changed
