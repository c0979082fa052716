"""The native Anthropic adapter: OpenAI Chat Completions in, Anthropic Messages out.

Why: Anthropic's Messages API (https://docs.anthropic.com/en/api/messages) differs from
OpenAI chat in auth, system prompts, content blocks, tool calls and required
`max_tokens`; LiteLLM's `AnthropicConfig` is the compatibility target for every choice
made here (defaults, `json_tool_call` for `response_format`, usage arithmetic).
Hooks stay sans-IO; streaming lives in `_anthropic_stream.py`.
"""

from __future__ import annotations

import re
import time
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import msgspec
from msgspec import UNSET, UnsetType
from tianji_common.errors import InvalidRequest

from tianji_gateway.providers._anthropic_native import NativeMessagesRelay, native_usage
from tianji_gateway.providers._anthropic_stream import (
    JSON_TOOL_NAME,
    AnthropicMessage,
    AnthropicStream,
    FunctionOut,
    ThinkingBlockOut,
    ToolCallOut,
    UsageOut,
    VendorError,
    encoder,
    map_finish_reason,
    vendor_error,
)
from tianji_gateway.providers.base import (
    Decoded,
    Op,
    ProviderAdapter,
    ProviderCaps,
    error_from_status,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tianji_common.errors import UpstreamError

    from tianji_gateway.providers.base import ChunkTransformer
    from tianji_gateway.routing.deployment import Deployment

__all__ = ["AnthropicAdapter"]

T = TypeVar("T")
Block = dict[str, Any]

_API_VERSION = "2023-06-01"
_MESSAGES_PATH = "/v1/messages"
# Anthropic requires max_tokens; LiteLLM's DEFAULT_ANTHROPIC_CHAT_MAX_TOKENS.
_DEFAULT_MAX_TOKENS = 4096
# LiteLLM's DEFAULT_REASONING_EFFORT_*_THINKING_BUDGET.
_THINKING_BUDGETS: Mapping[str, int] = MappingProxyType(
    {"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096}
)

# OpenAI chat parameters the Messages API has no equivalent for: dropped with
# drop_params, else a 400 naming the parameter (LiteLLM's UnsupportedParamsError).
_UNSUPPORTED = frozenset(
    {
        "frequency_penalty",
        "presence_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "seed",
        "modalities",
        "audio",
        "prediction",
        "functions",
        "function_call",
        "web_search_options",
        "store",
    }
)
# Parameters translated here; everything else is forwarded untouched.
_CONSUMED = frozenset(
    {
        "model",
        "messages",
        "stream",
        # The gateway itself adds stream_options; Anthropic always reports usage.
        "stream_options",
        "n",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "user",
        "reasoning_effort",
        "thinking",
    }
)
# OpenAI sampling parameters that clients send as null; Anthropic rejects nulls.
_NULLABLE = frozenset({"temperature", "top_p"})

# LiteLLM's `_valid_user_id`: Anthropic's metadata.user_id must not be an email or
# phone number (https://docs.anthropic.com/en/api/messages#body-metadata).
_EMAIL = re.compile(r"^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$")
_PHONE = re.compile(r"^\+?[\d\s\(\)-]{7,}$")


class _FunctionCall(msgspec.Struct):
    name: str = ""
    arguments: str | None = None


class _ToolCallIn(msgspec.Struct):
    id: str = ""
    function: _FunctionCall = msgspec.field(default_factory=_FunctionCall)


class _MessageIn(msgspec.Struct):
    role: str
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[_ToolCallIn] | None = None
    tool_call_id: str | None = None
    cache_control: dict[str, Any] | None = None
    thinking_blocks: list[dict[str, Any]] | None = None


class _ErrorEnvelope(msgspec.Struct):
    error: VendorError | None = None


class _MessageOut(msgspec.Struct, kw_only=True):
    role: str = "assistant"
    content: str | None
    tool_calls: list[ToolCallOut] | UnsetType = UNSET
    reasoning_content: str | UnsetType = UNSET
    thinking_blocks: list[ThinkingBlockOut] | UnsetType = UNSET


class _Choice(msgspec.Struct, kw_only=True):
    index: int = 0
    message: _MessageOut
    finish_reason: str


class _Completion(msgspec.Struct, kw_only=True):
    id: str
    object: str = "chat.completion"
    created: int
    model: str
    choices: list[_Choice]
    usage: UsageOut


_message_decoder = msgspec.json.Decoder(AnthropicMessage)
_error_decoder = msgspec.json.Decoder(_ErrorEnvelope)


class AnthropicAdapter(ProviderAdapter):
    """OpenAI chat translated to and from Anthropic's Messages API."""

    name: ClassVar[str] = "anthropic"
    default_api_base: ClassVar[str] = "https://api.anthropic.com"
    env_key: ClassVar[str | None] = "ANTHROPIC_API_KEY"
    env_base: ClassVar[str | None] = "ANTHROPIC_API_BASE"
    caps: ClassVar[ProviderCaps] = ProviderCaps(
        stream_usage=False,
        unsupported_params=_UNSUPPORTED,
        ops=frozenset({Op.CHAT, Op.MESSAGES}),
    )
    passthrough: ClassVar[bool] = False

    def url(self, dep: Deployment, op: Op, stream: bool) -> str:
        """`{api_base}/v1/messages`, or `api_base` itself if it already ends so (LiteLLM)."""
        base = (dep.api_base or self.default_api_base).rstrip("/")
        return base if base.endswith(_MESSAGES_PATH) else base + _MESSAGES_PATH

    def headers(self, dep: Deployment, token: str | None = None) -> list[tuple[str, str]]:
        """`x-api-key` auth (never a Bearer token) and the pinned API version."""
        out: list[tuple[str, str]] = []
        if dep.api_key:
            out.append(("x-api-key", dep.api_key))
        out.append(("anthropic-version", _API_VERSION))
        out.append(("content-type", "application/json"))
        out.extend(dep.extra_headers)
        return out

    def encode_request(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op, stream: bool
    ) -> bytes:
        """The Messages body; idempotent with `map_params`, so call order does not matter."""
        if op is Op.MESSAGES:  # native client: the body is already Anthropic's
            return encoder.encode(body)
        params = self.map_params(dict(body), dep)
        _check_n(params, dep)
        thinking = _thinking(params)
        system, messages = _translate_messages(_decode(params, "messages", list[_MessageIn]))
        out: dict[str, Any] = {"model": dep.model, "messages": messages}
        if system:
            out["system"] = system
        out["max_tokens"] = _max_tokens(params, thinking)
        if thinking is not None:
            out["thinking"] = thinking
        stop = _stop(params)
        if stop:
            out["stop_sequences"] = stop
        out.update(_tool_fields(params, thinking))
        user_id = _user_id(params)
        if user_id is not None and "metadata" not in params:
            out["metadata"] = {"user_id": user_id}
        for key, raw in params.items():
            if key not in _CONSUMED and not (key in _NULLABLE and _is_null(raw)):
                out[key] = raw
        if stream:
            out["stream"] = True
        return encoder.encode(out)

    def decode_response(self, raw: bytes, dep: Deployment, op: Op) -> Decoded:
        """An OpenAI `chat.completion` built from an Anthropic message."""
        if op is Op.MESSAGES:
            return Decoded(body=raw, usage=native_usage(raw))
        try:
            msg = _message_decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise error_from_status(502, f"malformed anthropic response: {exc}") from exc
        if msg.type == "error":
            raise vendor_error(None, msg.error or VendorError())
        model = msg.model or dep.model
        message, finish = _message_out(msg)
        usage = msg.usage.to_openai()
        completion = _Completion(
            id=msg.id,
            created=int(time.time()),
            model=model,
            choices=[_Choice(message=message, finish_reason=finish)],
            usage=usage,
        )
        return Decoded(body=encoder.encode(completion), usage=usage.to_usage(), model=model)

    def new_stream(self, dep: Deployment, op: Op, include_usage: bool) -> ChunkTransformer:
        """Per-stream state translating Anthropic SSE events into OpenAI chunks."""
        if op is Op.MESSAGES:
            return NativeMessagesRelay()
        return AnthropicStream(dep.model, include_usage, int(time.time()))

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> UpstreamError:
        """Parse `{"type": "error", "error": {type, message}}`; keep the vendor's type."""
        err = vendor_error(status, _parse_error(body))
        retry_after = _header(headers, "retry-after")
        if retry_after and status in (429, 529):
            err.headers["retry-after"] = retry_after
        return err


# --- parameters ----------------------------------------------------------------------


def _is_null(raw: msgspec.Raw) -> bool:
    return bytes(raw).strip() == b"null"


def _decode(params: dict[str, msgspec.Raw], key: str, type_: type[T]) -> T | None:
    """One parameter as `type_`; absent or null is None, a wrong shape is a 400."""
    raw = params.get(key)
    if raw is None or _is_null(raw):
        return None
    try:
        return msgspec.json.decode(raw, type=type_)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidRequest(f"invalid {key!r}: {exc}", param=key) from exc


def _check_n(params: dict[str, msgspec.Raw], dep: Deployment) -> None:
    n = _decode(params, "n", int)
    if n is not None and n > 1 and not dep.drop_params:
        raise InvalidRequest(
            "anthropic does not support parameter 'n' greater than 1. "
            "Set drop_params: true to drop it.",
            param="n",
            code="unsupported_parameter",
        )


def _thinking(params: dict[str, msgspec.Raw]) -> Block | None:
    """`thinking` passes through; else `reasoning_effort` picks LiteLLM's budget."""
    if "thinking" in params:
        return _decode(params, "thinking", dict[str, Any])
    effort = _decode(params, "reasoning_effort", str)
    if effort is None or effort == "none":
        return None
    budget = _THINKING_BUDGETS.get(effort)
    if budget is None:
        raise InvalidRequest(
            f"reasoning_effort must be low, medium or high, got {effort!r}",
            param="reasoning_effort",
        )
    return {"type": "enabled", "budget_tokens": budget}


def _thinking_on(thinking: Block | None) -> bool:
    return thinking is not None and thinking.get("type") not in (None, "disabled")


def _max_tokens(params: dict[str, msgspec.Raw], thinking: Block | None) -> int:
    """Renamed from OpenAI; when absent, LiteLLM's default (plus the thinking budget)."""
    for key in ("max_completion_tokens", "max_tokens"):
        value = _decode(params, key, int)
        if value is not None:
            return value
    budget = thinking.get("budget_tokens") if thinking else None
    # max_tokens must exceed budget_tokens; LiteLLM adds its default on top.
    return budget + _DEFAULT_MAX_TOKENS if isinstance(budget, int) else _DEFAULT_MAX_TOKENS


def _stop(params: dict[str, msgspec.Raw]) -> list[str] | None:
    stop: Any = _decode(params, "stop", Any)
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return stop or None
    if stop is None:
        return None
    raise InvalidRequest("stop must be a string or a list of strings", param="stop")


def _user_id(params: dict[str, msgspec.Raw]) -> str | None:
    user = _decode(params, "user", str)
    if not user or _EMAIL.match(user) or _PHONE.match(user):
        return None
    return user


def _tool_fields(params: dict[str, msgspec.Raw], thinking: Block | None) -> Block:
    """`tools` and `tool_choice`, with `response_format` as LiteLLM's forced tool."""
    out: Block = {}
    tools = [_tool(t) for t in _decode(params, "tools", list[dict[str, Any]]) or []]
    json_tool = _json_tool(params)
    if json_tool is not None:
        tools.append(json_tool)
    if tools:
        out["tools"] = tools
    choice = _tool_choice(params)
    # Forced tool use is not allowed with extended thinking, so LiteLLM leaves it on auto.
    if json_tool is not None and not _thinking_on(thinking):
        choice = {"type": "tool", "name": JSON_TOOL_NAME}
    if choice is not None:
        out["tool_choice"] = choice
    return out


def _tool(tool: Block) -> Block:
    """An OpenAI function tool as `{name, description, input_schema}`."""
    if tool.get("type") != "function" or "input_schema" in tool:
        return tool  # already an Anthropic tool (web_search, bash, ...), as LiteLLM passes it
    fn = tool.get("function")
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise InvalidRequest("each function tool needs function.name", param="tools")
    out: Block = {
        "name": fn["name"],
        "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
    }
    if fn.get("description") is not None:
        out["description"] = fn["description"]
    cache_control = tool.get("cache_control") or fn.get("cache_control")
    if cache_control is not None:
        out["cache_control"] = cache_control
    return out


def _json_tool(params: dict[str, msgspec.Raw]) -> Block | None:
    """LiteLLM's `_create_json_tool_call_for_response_format`."""
    fmt = _decode(params, "response_format", dict[str, Any])
    if not fmt or fmt.get("type") == "text":
        return None
    schema: Any = None
    if isinstance(fmt.get("json_schema"), dict):
        schema = fmt["json_schema"].get("schema")
    elif "response_schema" in fmt:
        schema = fmt["response_schema"]
    input_schema: Block = {"type": "object"}
    if isinstance(schema, dict):
        input_schema.update(schema)
    else:  # json_object: any object; Anthropic rejects a null `properties`
        input_schema.update({"additionalProperties": True, "properties": {}})
    return {"name": JSON_TOOL_NAME, "input_schema": input_schema}


def _tool_choice(params: dict[str, msgspec.Raw]) -> Block | None:
    choice: Any = _decode(params, "tool_choice", Any)
    parallel = _decode(params, "parallel_tool_calls", bool)
    out: Block | None
    if choice is None:
        out = None
    elif choice in ("auto", "required", "none"):
        out = {"type": {"auto": "auto", "required": "any", "none": "none"}[choice]}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        out = {"type": "tool", "name": name}
    elif isinstance(choice, dict):
        out = choice  # already Anthropic-shaped
    else:
        raise InvalidRequest(f"unsupported tool_choice {choice!r}", param="tool_choice")
    if parallel is False and choice != "none":
        out = {"type": "auto"} if out is None else out
        out["disable_parallel_tool_use"] = True
    return out


# --- messages ------------------------------------------------------------------------


def _translate_messages(messages: list[_MessageIn] | None) -> tuple[list[Block], list[Block]]:
    """System blocks, then alternating turns (same-role neighbours merged)."""
    system: list[Block] = []
    turns: list[Block] = []
    for msg in messages or []:
        if msg.role in ("system", "developer"):
            system.extend(_with_cache(_content_blocks(msg.content), msg.cache_control))
            continue
        role, blocks = _turn(msg)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _turn(msg: _MessageIn) -> tuple[str, list[Block]]:
    if msg.role == "user":
        blocks = _content_blocks(msg.content)
    elif msg.role == "assistant":
        blocks = _assistant_blocks(msg)
    elif msg.role == "tool":
        blocks = [_tool_result(msg)]
    else:
        raise InvalidRequest(f"unsupported message role {msg.role!r}", param="messages")
    role = "assistant" if msg.role == "assistant" else "user"
    return role, _with_cache(blocks, msg.cache_control)


def _with_cache(blocks: list[Block], cache_control: Block | None) -> list[Block]:
    """A message-level `cache_control` marks its last block (LiteLLM prompt caching)."""
    if cache_control is not None and blocks:
        blocks[-1]["cache_control"] = cache_control
    return blocks


def _content_blocks(content: str | list[Block] | None) -> list[Block]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return [block for part in content if (block := _part(part)) is not None]


def _part(part: Block) -> Block | None:
    kind = part.get("type")
    if kind == "text":
        if not part.get("text"):
            return None  # Anthropic rejects empty text blocks
        block: Block = {"type": "text", "text": part["text"]}
    elif kind == "image_url":
        value = part.get("image_url")
        block = _media_block(value.get("url") if isinstance(value, dict) else value)
    elif kind == "file":
        block = _file_block(part.get("file"))
    else:
        return part  # already an Anthropic block (image, document, search_result, ...)
    if part.get("cache_control") is not None:
        block["cache_control"] = part["cache_control"]
    return block


def _media_block(url: Any) -> Block:
    """A data URL becomes a base64 source (PDFs as documents); http(s) a url source."""
    if not isinstance(url, str):
        raise InvalidRequest("image_url parts need a url", param="messages")
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        if not sep or not header.endswith(";base64"):
            raise InvalidRequest("data URLs must be base64-encoded", param="messages")
        media_type = header.split(";", 1)[0]
        kind = "document" if media_type == "application/pdf" else "image"
        return {"type": kind, "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequest("image_url must be a data: URL or an http(s) URL", param="messages")


def _file_block(file: Any) -> Block:
    if isinstance(file, dict) and isinstance(file.get("file_data"), str):
        return _media_block(file["file_data"])
    if isinstance(file, dict) and isinstance(file.get("file_id"), str):
        return {"type": "document", "source": {"type": "file", "file_id": file["file_id"]}}
    raise InvalidRequest("file parts need file_data or file_id", param="messages")


def _assistant_blocks(msg: _MessageIn) -> list[Block]:
    """Thinking blocks first (Anthropic requires them back with tool use), then text, calls."""
    blocks = [{k: v for k, v in b.items() if v is not None} for b in msg.thinking_blocks or []]
    blocks.extend(_content_blocks(msg.content))
    blocks.extend(_tool_use(call) for call in msg.tool_calls or [])
    return blocks


def _tool_use(call: _ToolCallIn) -> Block:
    args = call.function.arguments
    try:
        value = msgspec.json.decode(args) if args else {}
    except msgspec.DecodeError as exc:
        raise InvalidRequest(
            f"tool call {call.id!r} has arguments that are not valid JSON", param="messages"
        ) from exc
    return {"type": "tool_use", "id": call.id, "name": call.function.name, "input": value}


def _tool_result(msg: _MessageIn) -> Block:
    if not msg.tool_call_id:
        raise InvalidRequest("tool messages need tool_call_id", param="messages")
    content = msg.content if isinstance(msg.content, str) else _content_blocks(msg.content)
    return {"type": "tool_result", "tool_use_id": msg.tool_call_id, "content": content}


# --- responses and errors ------------------------------------------------------------


def _message_out(msg: AnthropicMessage) -> tuple[_MessageOut, str]:
    """Text joined, tool_use as tool_calls, thinking as reasoning_content + blocks."""
    texts: list[str] = []
    calls: list[ToolCallOut] = []
    thinking: list[ThinkingBlockOut] = []
    for block in msg.content:
        if block.type == "text":
            texts.append(block.text or "")
        elif block.type == "tool_use":
            arguments = bytes(block.input).decode() if len(block.input) else "{}"
            fn = FunctionOut(name=block.name or "", arguments=arguments)
            calls.append(ToolCallOut(id=block.id or "", type="function", function=fn))
        elif block.type == "thinking":
            thinking.append(
                ThinkingBlockOut(
                    type="thinking", thinking=block.thinking or "", signature=block.signature or ""
                )
            )
        elif block.type == "redacted_thinking":
            thinking.append(ThinkingBlockOut(type="redacted_thinking", data=block.data or ""))
    finish = map_finish_reason(msg.stop_reason)
    if len(calls) == 1 and calls[0].function.name == JSON_TOOL_NAME:
        # response_format rode on the forced tool: its input is the answer (LiteLLM).
        texts, calls, finish = [calls[0].function.arguments], [], "stop"
    out = _MessageOut(content="".join(texts) or None)
    if calls:
        out.tool_calls = calls
    if thinking:
        out.thinking_blocks = thinking
        out.reasoning_content = "".join(b.thinking for b in thinking if isinstance(b.thinking, str))
    return out, finish


def _parse_error(body: bytes) -> VendorError:
    try:
        envelope = _error_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return VendorError(type="", message=body[:500].decode("utf-8", "replace").strip())
    return envelope.error or VendorError(type="")


def _header(headers: dict[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    return next((v for k, v in headers.items() if k.lower() == name), None)
