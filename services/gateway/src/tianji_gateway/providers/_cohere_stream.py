"""Cohere v2 chat streaming: SSE events in, OpenAI `chat.completion.chunk` payloads out.

Why a transformer with state: Cohere streams typed events
(https://docs.cohere.com/v2/docs/streaming, .../tool-use-streaming): `message-start`,
`content-start/delta/end`, `tool-plan-delta`, `tool-call-start/delta/end`,
`citation-start/end` and `message-end` (finish reason and usage). Tool calls arrive as a
start (id and name) followed by argument fragments keyed by the event's `index`; they
map onto OpenAI tool-call deltas with stable indices, so clients reassemble them as
they do for OpenAI. Also home of the finish-reason and usage wire types shared with
the non-streaming decoder.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import msgspec

from tianji_gateway.providers._others_openai import ChunkWriter, FunctionOut, ToolCallOut
from tianji_gateway.providers.base import Usage, error_from_status

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tianji_gateway.streaming.sse import SSEEvent

__all__ = ["CohereStream", "CohereUsage", "map_finish_reason"]

# Cohere finish reasons (v2 upper-case; the v1 ERROR_TOXIC / ERROR_LIMIT and the SDK's
# lower-case spellings too) as LiteLLM's `map_finish_reason` reports them.
_FINISH_REASONS: Mapping[str, str] = MappingProxyType(
    {
        "COMPLETE": "stop",
        "STOP_SEQUENCE": "stop",
        "MAX_TOKENS": "length",
        "ERROR_LIMIT": "length",
        "TOOL_CALL": "tool_calls",
        "ERROR_TOXIC": "content_filter",
        "CONTENT_BLOCKED": "content_filter",
        "ERROR": "stop",  # OpenAI has no "error" finish reason; LiteLLM says stop
        "TIMEOUT": "stop",
    }
)


def map_finish_reason(reason: str | None) -> str:
    """OpenAI's finish_reason for a Cohere one (unknown or absent ones end as stop)."""
    return _FINISH_REASONS.get((reason or "").upper(), "stop")


class _Tokens(msgspec.Struct):
    # The API schema types these as numbers; some answers carry floats (e.g. 5.0).
    input_tokens: float | None = None
    output_tokens: float | None = None


class CohereUsage(msgspec.Struct):
    """Cohere `usage`: `tokens` (what ran) and `billed_units` (what is charged)."""

    billed_units: _Tokens | None = None
    tokens: _Tokens | None = None

    def to_usage(self) -> Usage:
        """Token counts as LiteLLM reads them: `tokens`, else `billed_units`."""
        src = self.tokens or self.billed_units or _Tokens()
        prompt = int(src.input_tokens or 0)
        completion = int(src.output_tokens or 0)
        return Usage(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )


class _ContentDelta(msgspec.Struct):
    type: str | None = None
    text: str | None = None
    thinking: str | None = None


class _FunctionDelta(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class _ToolCallDelta(msgspec.Struct):
    id: str | None = None
    type: str | None = None
    function: _FunctionDelta | None = None


class _MessageDelta(msgspec.Struct):
    # `message-start` carries empty lists here; the deltas carry one object.
    content: _ContentDelta | list[Any] | None = None
    tool_plan: str | None = None
    tool_calls: _ToolCallDelta | list[Any] | None = None
    citations: dict[str, Any] | list[Any] | None = None


class _EventDelta(msgspec.Struct):
    message: _MessageDelta | None = None
    finish_reason: str | None = None
    usage: CohereUsage | None = None
    error: str | None = None


class _Event(msgspec.Struct):
    type: str = ""
    id: str | None = None
    index: int | None = None
    delta: _EventDelta | None = None


_event_decoder = msgspec.json.Decoder(_Event)
_DONE = b"[DONE]"


class CohereStream:
    """Per-stream state: OpenAI tool-call indices, usage, and the chunk writer."""

    __slots__ = ("_include_usage", "_out", "_tools", "_usage")

    def __init__(self, model: str, include_usage: bool, created: int) -> None:
        self._out = ChunkWriter("", model, created)
        self._include_usage = include_usage
        self._usage: Usage | None = None
        # Cohere tool-call event index -> OpenAI tool-call index.
        self._tools: dict[int, int] = {}

    def feed(self, event: SSEEvent) -> list[bytes]:
        """Translate one event; end-of-block events and unknown types emit nothing."""
        if not event.data or event.data == _DONE:
            return []
        try:
            ev = _event_decoder.decode(event.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise error_from_status(502, f"malformed cohere stream event: {exc}") from exc
        kind = ev.type or event.event or ""
        msg = ev.delta.message if ev.delta else None
        match kind:
            case "message-start":
                self._out.id = ev.id or self._out.id
                return [self._out.delta(role="assistant", content="")]
            case "content-start" | "content-delta":
                return self._content(msg)
            case "tool-plan-delta":
                plan = msg.tool_plan if msg else None
                return [self._out.delta(extras={"tool_plan": plan})] if plan else []
            case "tool-call-start" | "tool-call-delta":
                return self._tool_call(ev.index or 0, msg)
            case "citation-start":
                cites = msg.citations if msg else None
                return [self._out.delta(extras={"citations": _as_list(cites)})] if cites else []
            case "message-end":
                return self._message_end(ev.delta)
            case _:
                return []

    def finish(self) -> Usage | None:
        """The usage from `message-end`, if the stream got that far."""
        return self._usage

    def _content(self, msg: _MessageDelta | None) -> list[bytes]:
        part = msg.content if msg else None
        if not isinstance(part, _ContentDelta):
            return []
        if part.thinking:
            return [self._out.delta(reasoning_content=part.thinking)]
        if part.text:
            return [self._out.delta(content=part.text)]
        return []

    def _tool_call(self, index: int, msg: _MessageDelta | None) -> list[bytes]:
        call = msg.tool_calls if msg else None
        if not isinstance(call, _ToolCallDelta):
            return []
        fn = call.function or _FunctionDelta()
        known = self._tools.get(index)
        if known is None:  # tool-call-start: the id and the name
            known = self._tools[index] = len(self._tools)
            out = ToolCallOut(
                index=known,
                id=call.id or "",
                type="function",
                function=FunctionOut(name=fn.name or "", arguments=fn.arguments or ""),
            )
        elif fn.arguments:
            out = ToolCallOut(index=known, function=FunctionOut(arguments=fn.arguments))
        else:
            return []
        return [self._out.delta(tool_calls=[out])]

    def _message_end(self, delta: _EventDelta | None) -> list[bytes]:
        delta = delta or _EventDelta()
        if delta.usage is not None:
            self._usage = delta.usage.to_usage()
        finish = map_finish_reason(delta.finish_reason)
        if self._tools and finish == "stop" and delta.finish_reason is None:
            finish = "tool_calls"
        out = [self._out.delta(finish_reason=finish)]
        if self._include_usage:
            out.append(self._out.usage(self._usage or Usage()))
        return out


def _as_list(value: dict[str, Any] | list[Any]) -> list[Any]:
    return value if isinstance(value, list) else [value]
