"""Anthropic Messages requests to OpenAI chat bodies, OpenAI answers back to Messages.

Why: `MessagesBridge` serves `/v1/messages` from any chat provider by reusing the
provider's own chat translation; this module is the pure part of that, mirroring
LiteLLM's `LiteLLMAnthropicMessagesAdapter`
(litellm/llms/anthropic/experimental_pass_through/adapters/transformation.py).
Known differences: tool names over OpenAI's 64 characters are not truncated (the
sans-IO hooks carry no per-request state to map them back), and Anthropic server
tools other than web search are dropped rather than forwarded.
"""

from __future__ import annotations

from typing import Any

import msgspec
from tianji_common.errors import InvalidRequest

from tianji_gateway.providers.base import Usage

__all__ = [
    "anthropic_message",
    "anthropic_usage",
    "message_id",
    "reasoning_effort",
    "stop_reason",
    "to_chat_body",
    "tool_input",
]

Block = dict[str, Any]

# Keys translated below; everything else is forwarded as the client sent it.
_TRANSLATED = frozenset(
    {
        "model",
        "messages",
        "system",
        "metadata",
        "tools",
        "tool_choice",
        "thinking",
        "stop_sequences",
        "stream",
    }
)
# Anthropic-only request fields an OpenAI-shaped upstream would reject.
_ANTHROPIC_ONLY = frozenset(
    {"container", "mcp_servers", "context_management", "output_config", "output_format"}
)
# LiteLLM's DEFAULT_REASONING_EFFORT_{LOW,MEDIUM,HIGH}_THINKING_BUDGET.
_EFFORT_BUDGETS = ((4096, "high"), (2048, "medium"), (1024, "low"))
_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
_SERVER_TOOL_PREFIXES = (
    "web_search",
    "bash_",
    "text_editor_",
    "computer_",
    "code_execution_",
    "web_fetch_",
)


def _raw(value: object) -> msgspec.Raw:
    return msgspec.Raw(msgspec.json.encode(value))


def _get(body: dict[str, msgspec.Raw], key: str) -> Any:
    raw = body.get(key)
    if raw is None:
        return None
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise InvalidRequest(f"invalid value for {key!r}", param=key) from None


def _is_claude(model: str) -> bool:
    """LiteLLM's `is_anthropic_claude_model`: such models take `thinking` as-is."""
    lowered = model.lower()
    return "anthropic" in lowered or "claude" in lowered


def reasoning_effort(thinking: Any) -> str | None:
    """Anthropic `thinking` as OpenAI `reasoning_effort`, bucketed like LiteLLM."""
    if not isinstance(thinking, dict):
        return None
    kind = thinking.get("type", "disabled")
    if kind == "adaptive":
        return "medium"
    if kind != "enabled":
        return None
    budget = thinking.get("budget_tokens") or 0
    for floor, effort in _EFFORT_BUDGETS:
        if isinstance(budget, int) and budget >= floor:
            return effort
    return "minimal"


def _image_url(source: Any) -> str | None:
    """An Anthropic image/document source as an OpenAI `image_url` URL."""
    if not isinstance(source, dict):
        return None
    if source.get("type") == "base64" and source.get("data"):
        return f"data:{source.get('media_type', 'image/jpeg')};base64,{source['data']}"
    if source.get("type") == "url" and source.get("url"):
        return str(source["url"])
    return None


def _user_part(block: Block) -> Block | None:
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": block.get("text", "")}
    if kind in ("image", "document"):
        url = _image_url(block.get("source"))
        return {"type": "image_url", "image_url": {"url": url}} if url else None
    return None


def _tool_message(block: Block) -> Block:
    """A `tool_result` block as an OpenAI `tool` message (one per tool_use id)."""
    content = block.get("content", "")
    if isinstance(content, list):
        parts = [
            p
            for c in content
            if (p := _user_part(c if isinstance(c, dict) else {"type": "text", "text": c}))
        ]
        single_text = len(parts) == 1 and parts[0]["type"] == "text"
        content = parts[0]["text"] if single_text else parts
    return {"role": "tool", "tool_call_id": block.get("tool_use_id", ""), "content": content}


def _user_messages(content: Any) -> list[Block]:
    """Tool results first (they answer the previous turn), then the user's own parts."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    out: list[Block] = []
    parts: list[Block] = []
    for block in content or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "tool_result":
            out.append(_tool_message(block))
        elif (part := _user_part(block)) is not None:
            parts.append(part)
    if parts:
        out.append({"role": "user", "content": parts})
    return out


def _assistant_message(content: Any, native: bool) -> Block:
    """Text joined, tool_use as tool_calls; thinking kept only for native translators.

    OpenAI-wire upstreams reject unknown message fields (and DeepSeek rejects echoed
    `reasoning_content`), so thinking blocks go only to adapters that translate the
    body themselves, as `thinking_blocks` (LiteLLM's field).
    """
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    calls: list[Block] = []
    thinking: list[Block] = []
    for block in content or []:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(block.get("text", ""))
        elif kind == "tool_use":
            args = msgspec.json.encode(block.get("input") or {}).decode()
            function = {"name": block.get("name") or "unnamed_tool", "arguments": args}
            calls.append({"id": block.get("id", ""), "type": "function", "function": function})
        elif kind in ("thinking", "redacted_thinking"):
            thinking.append(block)
    msg: Block = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        msg["tool_calls"] = calls
    if thinking and native:
        msg["thinking_blocks"] = thinking
    return msg


def _system_message(system: Any, native: bool) -> Block | None:
    if isinstance(system, str):
        return {"role": "system", "content": system} if system else None
    blocks = [b for b in system or [] if isinstance(b, dict) and b.get("type") == "text"]
    if not blocks:
        return None
    if native:  # keeps cache_control for translators that understand it
        return {"role": "system", "content": blocks}
    return {"role": "system", "content": "\n".join(b.get("text", "") for b in blocks)}


def _messages(body: dict[str, msgspec.Raw], native: bool) -> list[Block]:
    messages = _get(body, "messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages: at least one message is required", param="messages")
    out: list[Block] = []
    system = _system_message(_get(body, "system"), native)
    if system is not None:
        out.append(system)
    for m in messages:
        if not isinstance(m, dict):
            raise InvalidRequest("messages: each message must be an object", param="messages")
        if m.get("role") == "assistant":
            out.append(_assistant_message(m.get("content"), native))
        else:
            out.extend(_user_messages(m.get("content")))
    return out


def _tools(tools: Any) -> tuple[list[Block], bool]:
    """Custom tools as OpenAI functions; also whether a web search tool was asked for."""
    out: list[Block] = []
    web_search = False
    for tool in tools or []:
        if not isinstance(tool, dict):
            continue
        kind = str(tool.get("type") or "")
        if kind.startswith(_SERVER_TOOL_PREFIXES):
            web_search = web_search or kind.startswith("web_search")
            continue
        function: Block = {"name": tool.get("name") or "unnamed_tool"}
        if "description" in tool:
            function["description"] = tool["description"]
        function["parameters"] = tool.get("input_schema") or {"type": "object"}
        out.append({"type": "function", "function": function})
    return out, web_search


def _tool_choice(choice: Any) -> object:
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "auto":
        return "auto"
    if kind == "any":
        return "required"
    if kind == "none":
        return "none"
    if kind == "tool":
        return {"type": "function", "function": {"name": choice.get("name", "")}}
    raise InvalidRequest(f"unsupported tool_choice: {choice!r}", param="tool_choice")


def _add_tools(body: dict[str, msgspec.Raw], out: dict[str, msgspec.Raw]) -> None:
    tools, web_search = _tools(_get(body, "tools"))
    if tools:
        out["tools"] = _raw(tools)
    if web_search:
        out["web_search_options"] = _raw({})
    choice = _get(body, "tool_choice")
    if choice and tools:
        out["tool_choice"] = _raw(_tool_choice(choice))
        if choice.get("disable_parallel_tool_use") is True:
            out["parallel_tool_calls"] = _raw(False)


def _add_thinking(body: dict[str, msgspec.Raw], model: str, out: dict[str, msgspec.Raw]) -> None:
    thinking = _get(body, "thinking")
    if not thinking:
        return
    if _is_claude(model):
        out["thinking"] = body["thinking"]
    elif (effort := reasoning_effort(thinking)) is not None:
        out["reasoning_effort"] = _raw(effort)


def to_chat_body(
    body: dict[str, msgspec.Raw], *, native: bool, stream: bool, include_usage: bool
) -> dict[str, msgspec.Raw]:
    """An Anthropic Messages body as an OpenAI chat body (unknown keys forwarded).

    `native` is true when the inner adapter translates the OpenAI body itself (so
    Anthropic-only details such as thinking blocks and cache_control may survive).
    """
    model = _get(body, "model") or ""
    out: dict[str, msgspec.Raw] = {"model": body["model"]} if "model" in body else {}
    out["messages"] = _raw(_messages(body, native))
    for key, value in body.items():
        if key not in _TRANSLATED and key not in _ANTHROPIC_ONLY:
            out[key] = value
    stop = _get(body, "stop_sequences")
    if stop:
        out["stop"] = _raw(stop)
    metadata = _get(body, "metadata")
    if isinstance(metadata, dict) and metadata.get("user_id"):
        out["user"] = _raw(metadata["user_id"])
    _add_tools(body, out)
    _add_thinking(body, str(model), out)
    if stream:
        out["stream"] = _raw(True)
        if include_usage:
            out["stream_options"] = _raw({"include_usage": True})
    return out


def stop_reason(finish_reason: str | None, has_tool_calls: bool) -> str:
    """OpenAI finish_reason as Anthropic stop_reason (LiteLLM's table, plus refusal)."""
    if has_tool_calls and finish_reason in (None, "stop"):
        return "tool_use"  # some vendors say "stop" after a tool call
    return _STOP_REASONS.get(finish_reason or "stop", "end_turn")


def anthropic_usage(u: Usage) -> Block:
    """Anthropic usage: input_tokens excludes cached and cache-written prompt tokens."""
    uncached = max(u.prompt_tokens - u.cached_tokens - u.cache_creation_tokens, 0)
    return {
        "input_tokens": uncached,
        "output_tokens": u.completion_tokens,
        "cache_creation_input_tokens": u.cache_creation_tokens,
        "cache_read_input_tokens": u.cached_tokens,
    }


class _Function(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class _ToolCall(msgspec.Struct):
    id: str | None = None
    function: _Function | None = None


class _Message(msgspec.Struct):
    content: str | list[Block] | None = None
    reasoning_content: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _Choice(msgspec.Struct):
    message: _Message | None = None
    finish_reason: str | None = None


class _Completion(msgspec.Struct):
    id: str = ""
    model: str | None = None
    choices: list[_Choice] = []


_completion = msgspec.json.Decoder(_Completion)


def message_id(openai_id: str | None) -> str:
    """Anthropic ids start with `msg_`; keep the upstream id after it for tracing."""
    if openai_id and openai_id.startswith("msg_"):
        return openai_id
    return "msg_" + (openai_id or "bridge")


def tool_input(arguments: str | None) -> Any:
    """Parsed tool arguments; unparsable text is kept, as LiteLLM does, under a key."""
    if not arguments:
        return {}
    try:
        parsed = msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        return {"raw_arguments": arguments}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def _content_text(content: str | list[Block] | None) -> str | None:
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
    return content


def _blocks(msg: _Message) -> list[Block]:
    out: list[Block] = []
    if msg.reasoning_content:
        out.append({"type": "thinking", "thinking": msg.reasoning_content, "signature": ""})
    text = _content_text(msg.content)
    if text:
        out.append({"type": "text", "text": text})
    for call in msg.tool_calls or []:
        fn = call.function or _Function()
        out.append(
            {
                "type": "tool_use",
                "id": call.id or "toolu_bridge",
                "name": fn.name or "",
                "input": tool_input(fn.arguments),
            }
        )
    return out


def anthropic_message(raw: bytes, usage: Usage, model: str | None) -> bytes:
    """An OpenAI chat.completion as an Anthropic `message` object."""
    try:
        completion = _completion.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        completion = _Completion()
    choice = completion.choices[0] if completion.choices else _Choice()
    msg = choice.message or _Message()
    out = {
        "id": message_id(completion.id),
        "type": "message",
        "role": "assistant",
        "model": completion.model or model or "",
        "content": _blocks(msg),
        "stop_reason": stop_reason(choice.finish_reason, bool(msg.tool_calls)),
        "stop_sequence": None,
        "usage": anthropic_usage(usage),
    }
    return msgspec.json.encode(out)
