"""ConverseStream events in, OpenAI `chat.completion.chunk` payloads out.

Why: the event-stream parser yields one `SSEEvent(data=payload, event=:event-type)` per
frame; this transformer holds the per-stream state (tool-call indexes, the JSON-mode
tool, usage) and maps the events of
https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStreamOutput.html
the way LiteLLM's `AWSEventStreamDecoder.converse_chunk_parser` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from msgspec import UNSET, UnsetType

from tianji_gateway.providers._bedrock_request import JSON_TOOL_NAME
from tianji_gateway.providers._bedrock_response import (
    ConverseUsage,
    FunctionOut,
    ThinkingBlockOut,
    ToolCallOut,
    UsageOut,
    completion_id,
    encoder,
    map_stop_reason,
)
from tianji_gateway.providers.base import error_from_status

if TYPE_CHECKING:
    from tianji_gateway.providers.base import Usage
    from tianji_gateway.streaming.sse import SSEEvent

__all__ = ["ConverseStream"]


class _ToolStart(msgspec.Struct, rename="camel"):
    tool_use_id: str = ""
    name: str = ""


class _Start(msgspec.Struct, rename="camel"):
    tool_use: _ToolStart | None = None


class _ToolDelta(msgspec.Struct):
    input: str = ""


class _ReasoningDelta(msgspec.Struct, rename="camel"):
    text: str | None = None
    signature: str | None = None
    redacted_content: str | None = None


class _Delta(msgspec.Struct, rename="camel"):
    text: str | None = None
    tool_use: _ToolDelta | None = None
    reasoning_content: _ReasoningDelta | None = None


class _Event(msgspec.Struct, rename="camel"):
    """Any ConverseStream event payload; each event type fills its own fields."""

    content_block_index: int = 0
    start: _Start | None = None
    delta: _Delta | None = None
    stop_reason: str | None = None
    usage: ConverseUsage | None = None


_event_decoder = msgspec.json.Decoder(_Event)


class _DeltaOut(msgspec.Struct, kw_only=True):
    role: str | UnsetType = UNSET
    content: str | UnsetType = UNSET
    reasoning_content: str | UnsetType = UNSET
    thinking_blocks: list[ThinkingBlockOut] | UnsetType = UNSET
    tool_calls: list[ToolCallOut] | UnsetType = UNSET


class _ChunkChoice(msgspec.Struct, kw_only=True):
    index: int = 0
    delta: _DeltaOut
    finish_reason: str | None = None


class _Chunk(msgspec.Struct, kw_only=True):
    id: str
    object: str = "chat.completion.chunk"
    created: int
    model: str
    choices: list[_ChunkChoice]
    usage: UsageOut | UnsetType = UNSET


class ConverseStream:
    """Per-stream state: tool-call indexes, the JSON-mode tool block, usage."""

    __slots__ = ("_created", "_id", "_include_usage", "_json_blocks", "_model", "_tools", "_usage")

    def __init__(self, model: str, include_usage: bool, created: int) -> None:
        self._id = completion_id()
        self._model = model
        self._created = created
        self._include_usage = include_usage
        self._usage: UsageOut | None = None
        # Converse content-block index -> OpenAI tool-call index (tool calls only).
        self._tools: dict[int, int] = {}
        # Blocks of the `response_format` tool, streamed to the client as content.
        self._json_blocks: set[int] = set()

    def feed(self, event: SSEEvent) -> list[bytes]:
        """Translate one event; contentBlockStop and unknown events emit nothing."""
        if not event.data:
            return []
        try:
            ev = _event_decoder.decode(event.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise error_from_status(502, f"malformed bedrock stream event: {exc}") from exc
        match event.event:
            case "messageStart":
                return [self._chunk(_DeltaOut(role="assistant", content=""))]
            case "contentBlockStart":
                return self._block_start(ev)
            case "contentBlockDelta":
                return self._block_delta(ev)
            case "messageStop":
                return [self._chunk(_DeltaOut(), self._finish_reason(ev.stop_reason))]
            case "metadata":
                return self._metadata(ev)
            case _:
                return []

    def finish(self) -> Usage | None:
        """Usage from the `metadata` event, if the stream got that far."""
        return self._usage.to_usage() if self._usage is not None else None

    def _chunk(self, delta: _DeltaOut, finish_reason: str | None = None) -> bytes:
        choice = _ChunkChoice(delta=delta, finish_reason=finish_reason)
        chunk = _Chunk(id=self._id, created=self._created, model=self._model, choices=[choice])
        return encoder.encode(chunk)

    def _finish_reason(self, stop_reason: str | None) -> str:
        if self._json_blocks and stop_reason == "tool_use":
            return "stop"  # the forced response_format tool is content, not a call
        return map_stop_reason(stop_reason)

    def _block_start(self, ev: _Event) -> list[bytes]:
        tool = ev.start.tool_use if ev.start else None
        if tool is None:
            return []
        if tool.name == JSON_TOOL_NAME:
            self._json_blocks.add(ev.content_block_index)
            return []
        index = len(self._tools)
        self._tools[ev.content_block_index] = index
        call = ToolCallOut(
            index=index,
            id=tool.tool_use_id,
            type="function",
            function=FunctionOut(name=tool.name, arguments=""),
        )
        return [self._chunk(_DeltaOut(tool_calls=[call]))]

    def _block_delta(self, ev: _Event) -> list[bytes]:
        d = ev.delta
        if d is None:
            return []
        if d.text:
            return [self._chunk(_DeltaOut(content=d.text))]
        if d.tool_use is not None and d.tool_use.input:
            return self._tool_delta(ev.content_block_index, d.tool_use.input)
        if d.reasoning_content is not None:
            return self._reasoning_delta(d.reasoning_content)
        return []

    def _tool_delta(self, block_index: int, partial: str) -> list[bytes]:
        if block_index in self._json_blocks:
            return [self._chunk(_DeltaOut(content=partial))]
        index = self._tools.get(block_index)
        if index is None:
            return []  # input for a tool block we never saw start
        call = ToolCallOut(index=index, function=FunctionOut(arguments=partial))
        return [self._chunk(_DeltaOut(tool_calls=[call]))]

    def _reasoning_delta(self, r: _ReasoningDelta) -> list[bytes]:
        if r.text:
            block = ThinkingBlockOut(type="thinking", thinking=r.text)
            return [self._chunk(_DeltaOut(reasoning_content=r.text, thinking_blocks=[block]))]
        if r.signature:
            block = ThinkingBlockOut(type="thinking", thinking="", signature=r.signature)
            return [self._chunk(_DeltaOut(thinking_blocks=[block]))]
        if r.redacted_content:
            block = ThinkingBlockOut(type="redacted_thinking", data=r.redacted_content)
            return [self._chunk(_DeltaOut(thinking_blocks=[block]))]
        return []

    def _metadata(self, ev: _Event) -> list[bytes]:
        if ev.usage is None:
            return []
        self._usage = ev.usage.to_openai()
        if not self._include_usage:
            return []
        chunk = _Chunk(
            id=self._id, created=self._created, model=self._model, choices=[], usage=self._usage
        )
        return [encoder.encode(chunk)]
