"""Anthropic Messages wire types, OpenAI output types, and the stream transformer.

Why: the non-streaming decoder and the SSE transformer share the finish-reason table,
the usage arithmetic and the vendor error mapping; keeping them here keeps
`anthropic.py` to the request dialect. Event shapes follow
https://docs.anthropic.com/en/api/messages-streaming, error types
https://docs.anthropic.com/en/api/errors.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

import msgspec
from msgspec import UNSET, UnsetType

from tianji_gateway.providers.base import Usage, error_from_status

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tianji_common.errors import UpstreamError

    from tianji_gateway.streaming.sse import SSEEvent

__all__ = [
    "JSON_TOOL_NAME",
    "AnthropicMessage",
    "AnthropicStream",
    "AnthropicUsage",
    "ContentBlock",
    "FunctionOut",
    "ThinkingBlockOut",
    "ToolCallOut",
    "UsageOut",
    "VendorError",
    "encoder",
    "map_finish_reason",
    "vendor_error",
]

# LiteLLM's RESPONSE_FORMAT_TOOL_NAME: `response_format` rides on a forced tool call.
JSON_TOOL_NAME = "json_tool_call"

# https://docs.anthropic.com/en/api/messages#response-stop-reason, mapped as LiteLLM's
# `map_finish_reason` does.
_FINISH_REASONS: Mapping[str, str] = MappingProxyType(
    {
        "end_turn": "stop",
        "stop_sequence": "stop",
        "pause_turn": "stop",
        "max_tokens": "length",
        "model_context_window_exceeded": "length",
        "tool_use": "tool_calls",
        "refusal": "content_filter",
    }
)

# https://docs.anthropic.com/en/api/errors: the status each error type is sent with;
# used for errors that arrive inside a 200 stream, where there is no status.
_TYPE_STATUS: Mapping[str, int] = MappingProxyType(
    {
        "invalid_request_error": 400,
        "authentication_error": 401,
        "billing_error": 402,
        "permission_error": 403,
        "not_found_error": 404,
        "request_too_large": 413,
        "rate_limit_error": 429,
        "api_error": 500,
        "timeout_error": 504,
        "overloaded_error": 529,
    }
)

# Anthropic names these conditions only in the message text (no error code), so this
# is the one place we read it: a distinct code lets the router fall back by cause.
_CONTEXT_MARKERS = ("prompt is too long", "exceed context limit", "context window")
_POLICY_MARKERS = ("content filtering policy", "usage policy", "content policy")


def map_finish_reason(stop_reason: str | None) -> str:
    """OpenAI's finish_reason for an Anthropic stop_reason (unknown ones end as stop)."""
    return _FINISH_REASONS.get(stop_reason or "", "stop")


# --- vendor wire types (decode side) -------------------------------------------------


class _OutputDetails(msgspec.Struct):
    thinking_tokens: int | None = None


class AnthropicUsage(msgspec.Struct):
    """Anthropic `usage`; message_delta repeats it cumulatively, with nulls allowed."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    output_tokens_details: _OutputDetails | None = None

    def merged(self, newer: AnthropicUsage) -> AnthropicUsage:
        """Counts from `newer` win where it has them (message_delta is cumulative)."""
        return AnthropicUsage(
            input_tokens=_pick(newer.input_tokens, self.input_tokens),
            output_tokens=_pick(newer.output_tokens, self.output_tokens),
            cache_creation_input_tokens=_pick(
                newer.cache_creation_input_tokens, self.cache_creation_input_tokens
            ),
            cache_read_input_tokens=_pick(
                newer.cache_read_input_tokens, self.cache_read_input_tokens
            ),
            output_tokens_details=newer.output_tokens_details or self.output_tokens_details,
        )

    def to_openai(self) -> UsageOut:
        """OpenAI usage as LiteLLM reports it: cache reads and writes count as prompt."""
        read = self.cache_read_input_tokens or 0
        created = self.cache_creation_input_tokens or 0
        prompt = (self.input_tokens or 0) + read + created
        completion = self.output_tokens or 0
        thinking = (
            self.output_tokens_details.thinking_tokens if self.output_tokens_details else None
        )
        return UsageOut(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=prompt + completion,
            prompt_tokens_details=_PromptDetails(cached_tokens=read, cache_creation_tokens=created),
            completion_tokens_details=(
                UNSET if thinking is None else _CompletionDetails(reasoning_tokens=thinking)
            ),
            cache_creation_input_tokens=created,
            cache_read_input_tokens=read,
        )


def _pick(new: int | None, old: int | None) -> int | None:
    return old if new is None else new


class ContentBlock(msgspec.Struct):
    """One response content block; unknown block types decode and are skipped."""

    type: str
    text: str | None = None
    id: str | None = None
    name: str | None = None
    # Raw, so tool arguments reach the client as the vendor's JSON text; msgspec allows
    # no `Raw | None` union, so "absent" is the empty Raw.
    input: msgspec.Raw = msgspec.Raw()
    thinking: str | None = None
    signature: str | None = None
    data: str | None = None


class _ErrorDetails(msgspec.Struct):
    error_code: str | None = None


class VendorError(msgspec.Struct):
    """The inner object of `{"type": "error", "error": {...}}`."""

    type: str = ""
    message: str = ""
    details: _ErrorDetails | None = None


class AnthropicMessage(msgspec.Struct):
    """A Messages API response (also the skeleton inside `message_start`)."""

    type: str = "message"
    id: str = ""
    model: str = ""
    content: list[ContentBlock] = []
    stop_reason: str | None = None
    usage: AnthropicUsage = msgspec.field(default_factory=AnthropicUsage)
    error: VendorError | None = None


class _DeltaIn(msgspec.Struct):
    type: str | None = None
    text: str | None = None
    partial_json: str | None = None
    thinking: str | None = None
    signature: str | None = None
    stop_reason: str | None = None


class _StreamEvent(msgspec.Struct):
    type: str = ""
    message: AnthropicMessage | None = None
    index: int = 0
    content_block: ContentBlock | None = None
    delta: _DeltaIn | None = None
    usage: AnthropicUsage | None = None
    error: VendorError | None = None


_event_decoder = msgspec.json.Decoder(_StreamEvent)


def vendor_error(status: int | None, err: VendorError) -> UpstreamError:
    """Our error for an Anthropic error object; keeps the vendor's type."""
    code = None
    lowered = err.message.lower()
    if any(marker in lowered for marker in _CONTEXT_MARKERS):
        code = "context_length_exceeded"
    elif any(marker in lowered for marker in _POLICY_MARKERS):
        code = "content_policy_violation"
    status = status or _TYPE_STATUS.get(err.type, 500)
    message = err.message or f"anthropic returned HTTP {status}"
    out = error_from_status(status, message, type_=err.type or None, code=code)
    if err.details is not None and err.details.error_code == "enforced_spend_limit_reached":
        out.retryable = False  # a monthly spend cap: retrying cannot help
    return out


# --- OpenAI output types (encode side) -----------------------------------------------


class _PromptDetails(msgspec.Struct, kw_only=True):
    cached_tokens: int
    cache_creation_tokens: int


class _CompletionDetails(msgspec.Struct, kw_only=True):
    reasoning_tokens: int


class UsageOut(msgspec.Struct, kw_only=True):
    """OpenAI `usage` plus the cache fields LiteLLM adds for Anthropic."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: _PromptDetails
    completion_tokens_details: _CompletionDetails | UnsetType = UNSET
    cache_creation_input_tokens: int
    cache_read_input_tokens: int

    def to_usage(self) -> Usage:
        """The gateway's flattened usage record."""
        details = self.completion_tokens_details
        return Usage(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            total_tokens=self.total_tokens,
            cached_tokens=self.cache_read_input_tokens,
            cache_creation_tokens=self.cache_creation_input_tokens,
            reasoning_tokens=0 if isinstance(details, UnsetType) else details.reasoning_tokens,
        )


class FunctionOut(msgspec.Struct, kw_only=True):
    """`function` of a tool call; streamed argument deltas carry no name."""

    name: str | UnsetType = UNSET
    arguments: str


class ToolCallOut(msgspec.Struct, kw_only=True):
    """A tool call (message) or tool-call delta (chunk, with `index`)."""

    index: int | UnsetType = UNSET
    id: str | UnsetType = UNSET
    type: str | UnsetType = UNSET
    function: FunctionOut


class ThinkingBlockOut(msgspec.Struct, kw_only=True):
    """LiteLLM's `thinking_blocks` entry: thinking+signature, or redacted data."""

    type: str
    thinking: str | UnsetType = UNSET
    signature: str | UnsetType = UNSET
    data: str | UnsetType = UNSET


class _Delta(msgspec.Struct, kw_only=True):
    role: str | UnsetType = UNSET
    content: str | UnsetType = UNSET
    reasoning_content: str | UnsetType = UNSET
    thinking_blocks: list[ThinkingBlockOut] | UnsetType = UNSET
    tool_calls: list[ToolCallOut] | UnsetType = UNSET


class _ChunkChoice(msgspec.Struct, kw_only=True):
    index: int = 0
    delta: _Delta
    finish_reason: str | None = None


class _Chunk(msgspec.Struct, kw_only=True):
    id: str
    object: str = "chat.completion.chunk"
    created: int
    model: str
    choices: list[_ChunkChoice]
    usage: UsageOut | UnsetType = UNSET


encoder = msgspec.json.Encoder()


# --- the stream transformer ----------------------------------------------------------


class AnthropicStream:
    """Anthropic SSE events in, OpenAI `chat.completion.chunk` payloads out."""

    __slots__ = (
        "_created",
        "_id",
        "_include_usage",
        "_json_blocks",
        "_model",
        "_started",
        "_tools",
        "_usage",
    )

    def __init__(self, model: str, include_usage: bool, created: int) -> None:
        self._include_usage = include_usage
        self._created = created
        self._id = ""
        self._model = model
        self._started = False
        self._usage = AnthropicUsage()
        # Anthropic content-block index -> OpenAI tool-call index (tool calls only).
        self._tools: dict[int, int] = {}
        # Blocks of the `response_format` tool, streamed to the client as content.
        self._json_blocks: set[int] = set()

    def feed(self, event: SSEEvent) -> list[bytes]:
        """Translate one event; `ping`, `content_block_stop` and unknown types emit nothing."""
        if not event.data:
            return []
        try:
            ev = _event_decoder.decode(event.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise error_from_status(502, f"malformed anthropic stream event: {exc}") from exc
        match ev.type:
            case "message_start":
                return self._message_start(ev)
            case "content_block_start":
                return self._block_start(ev)
            case "content_block_delta":
                return self._block_delta(ev)
            case "message_delta":
                return self._message_delta(ev)
            case "message_stop":
                return [self._usage_chunk()] if self._include_usage else []
            case "error":
                raise vendor_error(None, ev.error or VendorError())
            case _:
                return []

    def finish(self) -> Usage | None:
        """Usage counted so far, even if the stream was cut before message_stop."""
        return self._usage.to_openai().to_usage() if self._started else None

    def _chunk(self, delta: _Delta, finish_reason: str | None = None) -> bytes:
        choice = _ChunkChoice(delta=delta, finish_reason=finish_reason)
        chunk = _Chunk(id=self._id, created=self._created, model=self._model, choices=[choice])
        return encoder.encode(chunk)

    def _usage_chunk(self) -> bytes:
        chunk = _Chunk(
            id=self._id,
            created=self._created,
            model=self._model,
            choices=[],
            usage=self._usage.to_openai(),
        )
        return encoder.encode(chunk)

    def _message_start(self, ev: _StreamEvent) -> list[bytes]:
        msg = ev.message or AnthropicMessage()
        self._started = True
        self._id = msg.id or self._id
        self._model = msg.model or self._model
        self._usage = self._usage.merged(msg.usage)
        return [self._chunk(_Delta(role="assistant", content=""))]

    def _block_start(self, ev: _StreamEvent) -> list[bytes]:
        block = ev.content_block
        if block is None:
            return []
        if block.type == "tool_use":
            return self._tool_start(ev.index, block)
        if block.type == "redacted_thinking" and block.data is not None:
            redacted = ThinkingBlockOut(type="redacted_thinking", data=block.data)
            return [self._chunk(_Delta(thinking_blocks=[redacted]))]
        if block.type == "text" and block.text:
            return [self._chunk(_Delta(content=block.text))]
        return []

    def _tool_start(self, index: int, block: ContentBlock) -> list[bytes]:
        if block.name == JSON_TOOL_NAME:
            self._json_blocks.add(index)
            return []
        tool_index = len(self._tools)
        self._tools[index] = tool_index
        call = ToolCallOut(
            index=tool_index,
            id=block.id or "",
            type="function",
            function=FunctionOut(name=block.name or "", arguments=""),
        )
        return [self._chunk(_Delta(tool_calls=[call]))]

    def _block_delta(self, ev: _StreamEvent) -> list[bytes]:
        d = ev.delta
        if d is None:
            return []
        if d.type == "text_delta" and d.text:
            return [self._chunk(_Delta(content=d.text))]
        if d.type == "input_json_delta" and d.partial_json:
            return self._json_delta(ev.index, d.partial_json)
        if d.type == "thinking_delta" and d.thinking:
            block = ThinkingBlockOut(type="thinking", thinking=d.thinking, signature="")
            delta = _Delta(reasoning_content=d.thinking, thinking_blocks=[block])
            return [self._chunk(delta)]
        if d.type == "signature_delta" and d.signature:
            block = ThinkingBlockOut(type="thinking", thinking="", signature=d.signature)
            return [self._chunk(_Delta(thinking_blocks=[block]))]
        return []

    def _json_delta(self, index: int, partial: str) -> list[bytes]:
        if index in self._json_blocks:
            return [self._chunk(_Delta(content=partial))]
        tool_index = self._tools.get(index)
        if tool_index is None:
            return []  # server-tool input (e.g. web_search): not the client's tool call
        call = ToolCallOut(index=tool_index, function=FunctionOut(arguments=partial))
        return [self._chunk(_Delta(tool_calls=[call]))]

    def _message_delta(self, ev: _StreamEvent) -> list[bytes]:
        if ev.usage is not None:
            self._usage = self._usage.merged(ev.usage)
        reason = ev.delta.stop_reason if ev.delta else None
        if reason is None:
            return []
        finish = map_finish_reason(reason)
        if self._json_blocks and reason == "tool_use":
            finish = "stop"  # the forced response_format tool is content, not a call
        return [self._chunk(_Delta(), finish)]
