"""vLLM's OpenAI-compatible server at a user `api_base` (LiteLLM's `hosted_vllm/`).

Why its own module: LiteLLM's `HostedVLLMChatConfig` turns Anthropic-style `thinking`
into `reasoning_effort`, converts `custom` tools to function tools (vLLM takes only
those), removes `thinking_blocks` and flattens assistant content lists (turning
`tool_use` parts into `tool_calls`), and sends video `file` parts as `video_url`.
vLLM's errors say "maximum context length" without an error code.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import msgspec

from tianji_gateway.providers._compat_a_common import (
    as_dict,
    as_list,
    get_json,
    parse_vendor_error,
    require_api_base,
    set_json,
    transform_messages,
    vendor_error,
)
from tianji_gateway.providers.base import Op, ProviderAdapter, ProviderCaps

if TYPE_CHECKING:
    from tianji_common.errors import UpstreamError

    from tianji_gateway.routing.deployment import Deployment

__all__ = ["HostedVLLMAdapter", "effort_from_budget"]

Block = dict[str, Any]

_ASSISTANT_LIST = (
    re.compile(rb'"role"\s*:\s*"assistant"'),
    re.compile(rb'"content"\s*:\s*\['),
)
_VIDEO_SUFFIXES = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v")
_TOOL_PARAMS: Block = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "Raw tool input payload."}},
    "required": ["input"],
}


def effort_from_budget(budget: object) -> str:
    """LiteLLM's `reasoning_effort_from_thinking_budget` (1024/2048/4096 thresholds)."""
    tokens = budget if isinstance(budget, int) else 0
    if tokens >= 4096:
        return "high"
    if tokens >= 2048:
        return "medium"
    return "low" if tokens >= 1024 else "minimal"


def _function_tool(index: int, tool: Block) -> Block:
    custom = as_dict(tool.get("custom"))
    params = custom.get("input_schema") or tool.get("input_schema")
    fn: Block = {
        "name": str(custom.get("name") or tool.get("name") or f"custom_tool_{index}"),
        "parameters": params if isinstance(params, dict) else _TOOL_PARAMS,
    }
    description = custom.get("description") or tool.get("description")
    if isinstance(description, str):
        fn["description"] = description
    return {"type": "function", "function": fn}


def _convert_tools(tools: list[Any]) -> list[Any]:
    return [
        _function_tool(i, t) if isinstance(t, dict) and t.get("type") == "custom" else t
        for i, t in enumerate(tools)
    ]


def _tool_call(part: Block) -> Block:
    args = part.get("input", {})
    return {
        "id": part.get("id"),
        "type": "function",
        "function": {
            "name": part.get("name"),
            "arguments": args if isinstance(args, str) else _json_text(args),
        },
    }


def _json_text(value: object) -> str:
    return msgspec.json.encode(value).decode()


def _clean_assistant(message: Block) -> None:
    message.pop("thinking_blocks", None)
    content = message.get("content")
    if not isinstance(content, list):
        return
    texts: list[str] = []
    kept: list[Any] = []
    calls: list[Block] = []
    structured = False
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            texts.append(str(part.get("text") or ""))
            kept.append(part)
        elif kind == "tool_use":
            calls.append(_tool_call(part))
        else:
            kept.append(part)
            structured = True
    if calls:
        existing = as_list(message.get("tool_calls"))
        seen = {c.get("id") for c in existing if isinstance(c, dict)}
        message["tool_calls"] = existing + [c for c in calls if c["id"] not in seen]
    message["content"] = kept if structured else "\n".join(texts)


def _video_url(part: Block) -> Block | None:
    file = as_dict(part.get("file"))
    fmt, data, ident = file.get("format"), file.get("file_data"), file.get("file_id")
    is_video = (
        (isinstance(fmt, str) and fmt.startswith("video/"))
        or (isinstance(data, str) and data.startswith("data:video/"))
        or (isinstance(ident, str) and ident.lower().endswith(_VIDEO_SUFFIXES))
    )
    url = ident or data
    return {"type": "video_url", "video_url": {"url": url}} if is_video and url else None


def _prepare_messages(messages: list[Block]) -> bool:
    for message in messages:
        if message.get("role") == "assistant":
            _clean_assistant(message)
        elif message.get("role") == "user" and isinstance(message.get("content"), list):
            content = message["content"]
            for i, part in enumerate(content):
                if isinstance(part, dict) and part.get("type") == "file":
                    content[i] = _video_url(part) or part
    return True


def _needs_message_pass(body: dict[str, msgspec.Raw]) -> bool:
    raw = body.get("messages")
    if raw is None:
        return False
    data = bytes(raw)
    if b"thinking_blocks" in data or b'"file"' in data:
        return True
    return all(p.search(data) for p in _ASSISTANT_LIST)


class HostedVLLMAdapter(ProviderAdapter):
    """A self-hosted vLLM server; `api_base` is e.g. `http://host:8000/v1`."""

    name = "hosted_vllm"
    default_api_base = ""
    env_key = "HOSTED_VLLM_API_KEY"
    env_base = "HOSTED_VLLM_API_BASE"
    caps = ProviderCaps(
        ops=frozenset({Op.CHAT, Op.COMPLETION, Op.EMBEDDING, Op.AUDIO_TRANSCRIPTION})
    )

    def url(self, dep: Deployment, op: Op, stream: bool) -> str:
        """`{api_base}` plus the OpenAI path, as the OpenAI client builds it."""
        return require_api_base(dep, self.name).rstrip("/") + self._paths[op]

    def map_params(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op = Op.CHAT
    ) -> dict[str, msgspec.Raw]:
        """`thinking: {type: enabled}` becomes `reasoning_effort`; `thinking` is not sent."""
        body = super().map_params(body, dep, op)
        if "thinking" in body:
            thinking = get_json(body, "thinking")
            del body["thinking"]
            enabled = isinstance(thinking, dict) and thinking.get("type") == "enabled"
            if enabled and "reasoning_effort" not in body:
                set_json(
                    body, "reasoning_effort", effort_from_budget(thinking.get("budget_tokens"))
                )
        return body

    def encode_request(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op, stream: bool
    ) -> bytes:
        """The client's body, with tools and messages in the shapes vLLM validates."""
        if op is Op.CHAT:
            tools = get_json(body, "tools") if "tools" in body else None
            if isinstance(tools, list) and any(
                isinstance(t, dict) and t.get("type") == "custom" for t in tools
            ):
                set_json(body, "tools", _convert_tools(tools))
            if _needs_message_pass(body):
                transform_messages(body, _prepare_messages)
        return super().encode_request(body, dep, op, stream)

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> UpstreamError:
        """vLLM's `{"object": "error", "message", ...}` or `{"error": {...}}`."""
        return vendor_error(self.name, status, headers, parse_vendor_error(body))
