"""OpenAI chat chunks in, Anthropic Messages SSE events out (for `MessagesBridge`).

Why a state machine: Anthropic streams are block-structured (message_start, then per
content block start/delta.../stop, then message_delta and message_stop), while OpenAI
chunks are flat deltas. We open a block when the delta kind changes (thinking, text,
one block per tool call) and close it before the next one, so indexes stay dense when
text switches to tool calls, as LiteLLM's `AnthropicStreamWrapper` does
(litellm/llms/anthropic/experimental_pass_through/adapters/streaming_iterator.py).

The end: OpenAI sends `finish_reason` before the usage chunk, so message_delta (which
carries usage) waits for the first usage after the finish, or for `[DONE]`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from tianji_gateway.providers._messages_translate import (
    anthropic_usage,
    message_id,
    stop_reason,
)
from tianji_gateway.providers.base import Usage
from tianji_gateway.streaming.sse import frame

if TYPE_CHECKING:
    from tianji_gateway.providers.base import ChunkTransformer
    from tianji_gateway.streaming.sse import SSEEvent

__all__ = ["MessagesStream"]

_DONE = b"[DONE]"


class _Function(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class _ToolDelta(msgspec.Struct):
    index: int = 0
    id: str | None = None
    function: _Function | None = None


class _Delta(msgspec.Struct):
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[_ToolDelta] | None = None


class _Choice(msgspec.Struct):
    delta: _Delta | None = None
    finish_reason: str | None = None


class _PromptDetails(msgspec.Struct):
    cached_tokens: int | None = None


class _Usage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_tokens_details: _PromptDetails | None = None

    def normalize(self) -> Usage:
        details = self.prompt_tokens_details
        return Usage(
            prompt_tokens=self.prompt_tokens or 0,
            completion_tokens=self.completion_tokens or 0,
            cached_tokens=(details.cached_tokens or 0) if details else 0,
        )


class _Chunk(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    choices: list[_Choice] = []
    usage: _Usage | None = None


_chunk = msgspec.json.Decoder(_Chunk)


def _event(kind: str, **fields: Any) -> bytes:
    return frame(msgspec.json.encode({"type": kind, **fields}), kind)


class MessagesStream:
    """Wraps a provider's chat ChunkTransformer; emits whole Anthropic SSE frames."""

    framed = True
    __slots__ = (
        "_block",
        "_done",
        "_finish",
        "_index",
        "_inner",
        "_kind",
        "_model",
        "_started",
        "_tool_blocks",
        "_tools_seen",
        "_usage",
    )

    def __init__(self, inner: ChunkTransformer, model: str) -> None:
        self._inner = inner
        self._model = model
        self._started = False
        self._done = False
        self._index = -1  # index of the newest block
        self._block = False  # a block is open
        self._kind: str | None = None
        self._tool_blocks: dict[int, int] = {}  # OpenAI tool_calls index -> block index
        self._tools_seen = False
        self._finish: str | None = None
        self._usage: Usage | None = None

    def feed(self, event: SSEEvent) -> list[bytes]:
        """One upstream event through the provider's transformer, then into events."""
        out: list[bytes] = []
        for payload in self._inner.feed(event):
            self._chunk(payload, out)
        if event.data.strip() == _DONE and not self._done:
            self._end(out)
        return out

    def finish(self) -> Usage | None:
        """The provider transformer's usage (what the gateway accounts)."""
        return self._inner.finish()

    def _chunk(self, payload: bytes, out: list[bytes]) -> None:
        if self._done:
            return
        try:
            chunk = _chunk.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return
        if not self._started:
            self._start(chunk, out)
        for choice in chunk.choices:
            if choice.delta is not None:
                self._delta(choice.delta, out)
            if choice.finish_reason is not None:
                self._finish = choice.finish_reason
                self._close(out)
        if chunk.usage is not None:
            self._usage = chunk.usage.normalize()
            if self._finish is not None:
                self._end(out)

    def _start(self, chunk: _Chunk, out: list[bytes]) -> None:
        self._started = True
        message: dict[str, Any] = {
            "id": message_id(chunk.id),
            "type": "message",
            "role": "assistant",
            "model": chunk.model or self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        out.append(_event("message_start", message=message))

    def _delta(self, delta: _Delta, out: list[bytes]) -> None:
        if delta.reasoning_content:
            self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
            out.append(self._block_delta(type="thinking_delta", thinking=delta.reasoning_content))
        if delta.content:
            self._open("text", {"type": "text", "text": ""}, out)
            out.append(self._block_delta(type="text_delta", text=delta.content))
        for call in delta.tool_calls or []:
            self._tool(call, out)

    def _tool(self, call: _ToolDelta, out: list[bytes]) -> None:
        fn = call.function or _Function()
        index = self._tool_blocks.get(call.index)
        if index is None:
            self._tools_seen = True
            block = {"type": "tool_use", "id": call.id or "", "name": fn.name or "", "input": {}}
            self._open(None, block, out)
            index = self._tool_blocks[call.index] = self._index
        if fn.arguments:
            delta = {"type": "input_json_delta", "partial_json": fn.arguments}
            out.append(_event("content_block_delta", index=index, delta=delta))

    def _open(self, kind: str | None, block: dict[str, Any], out: list[bytes]) -> None:
        """Start a new block unless one of this kind is open (tool blocks never reuse)."""
        if self._block and kind is not None and self._kind == kind:
            return
        self._close(out)
        self._index += 1
        self._block, self._kind = True, kind
        out.append(_event("content_block_start", index=self._index, content_block=block))

    def _block_delta(self, **delta: str) -> bytes:
        return _event("content_block_delta", index=self._index, delta=delta)

    def _close(self, out: list[bytes]) -> None:
        if self._block:
            out.append(_event("content_block_stop", index=self._index))
            self._block, self._kind = False, None

    def _end(self, out: list[bytes]) -> None:
        if not self._started:
            self._start(_Chunk(), out)
        self._close(out)
        self._done = True
        delta = {
            "stop_reason": stop_reason(self._finish, self._tools_seen),
            "stop_sequence": None,
        }
        usage = anthropic_usage(self._usage or Usage())
        out.append(_event("message_delta", delta=delta, usage=usage))
        out.append(_event("message_stop"))
