"""Gemini `streamGenerateContent?alt=sse` events to OpenAI `chat.completion.chunk`s.

Why: every Gemini SSE event is a partial GenerateContentResponse; text arrives in
pieces, function calls arrive whole (one part each), `finishReason` and cumulative
`usageMetadata` come with the last event. OpenAI clients expect a role on the first
delta, tool-call deltas with an `index` and `id`, a final chunk with `finish_reason`,
and a usage chunk (`choices: []`) only when they asked for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from tianji_gateway.providers._gemini_response import (
    FLAGGED,
    Candidate,
    UsageMetadata,
    blocked_prompt,
    decode_response,
    google_error,
    map_finish,
    message_fields,
    new_id,
)

if TYPE_CHECKING:
    from tianji_gateway.providers.base import Usage
    from tianji_gateway.streaming.sse import SSEEvent

__all__ = ["GeminiStream"]

Obj = dict[str, Any]
_encoder = msgspec.json.Encoder()


class GeminiStream:
    """Per-stream state: which choices started, tool calls counted, finishes sent."""

    __slots__ = (
        "_created",
        "_finished",
        "_id",
        "_include_usage",
        "_model",
        "_started",
        "_tools",
        "_usage",
        "_usage_sent",
    )

    def __init__(self, model: str, include_usage: bool, created: int) -> None:
        self._model = model
        self._include_usage = include_usage
        self._created = created
        self._id: str | None = None
        self._started: set[int] = set()
        self._finished: set[int] = set()
        self._tools: dict[int, int] = {}  # choice index -> tool calls sent so far
        self._usage: UsageMetadata | None = None
        self._usage_sent = False

    def feed(self, event: SSEEvent) -> list[bytes]:
        """Translate one event; an `error` event raises (the pipeline reports it)."""
        if not event.data or event.data == b"[DONE]":
            return []
        resp = decode_response(event.data)
        if resp.error is not None:
            raise google_error(resp.error.code, event.data, {})
        blocked = blocked_prompt(resp)
        if blocked is not None:
            raise blocked
        if self._id is None:
            self._id = resp.response_id or new_id()
        if resp.usage_metadata is not None:
            self._usage = resp.usage_metadata
        out: list[bytes] = []
        for position, cand in enumerate(resp.candidates):
            out.extend(self._candidate(cand, position))
        if self._should_send_usage(resp.candidates):
            self._usage_sent = True
            out.append(self._encode([], usage=(self._usage or UsageMetadata()).to_openai()))
        return out

    def finish(self) -> Usage | None:
        """Usage from the last event that carried it."""
        return self._usage.to_usage() if self._usage is not None else None

    def _candidate(self, cand: Candidate, position: int) -> list[bytes]:
        index = cand.index if cand.index is not None else position
        if index in self._finished:
            return []
        flagged = cand.finish_reason in FLAGGED
        parts = cand.content.parts if cand.content and not flagged else []
        delta = message_fields(parts, self._tools.get(index, 0))
        calls = delta.get("tool_calls", [])
        self._tools[index] = self._tools.get(index, 0) + len(calls)
        out: list[bytes] = []
        if index not in self._started:
            self._started.add(index)
            delta = {"role": "assistant", "content": delta.pop("content", ""), **delta}
        if delta:
            out.append(self._encode([{"index": index, "delta": delta, "finish_reason": None}]))
        if cand.finish_reason is not None:
            self._finished.add(index)
            finish = map_finish(cand.finish_reason, self._tools[index] > 0)
            out.append(self._encode([{"index": index, "delta": {}, "finish_reason": finish}]))
        return out

    def _should_send_usage(self, candidates: list[Candidate]) -> bool:
        """Once, when every started choice has finished (Gemini's last event)."""
        if not self._include_usage or self._usage_sent or self._usage is None:
            return False
        ended = any(c.finish_reason is not None for c in candidates)
        return ended and self._started <= self._finished

    def _encode(self, choices: list[Obj], usage: Obj | None = None) -> bytes:
        chunk: Obj = {
            "id": self._id or "",
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": choices,
        }
        if usage is not None:
            chunk["usage"] = usage
        return _encoder.encode(chunk)
