"""Ollama answers, whole or streamed, in OpenAI's chat and text-completion shapes.

Why one module for both APIs: `/api/chat` lines carry `message` and `/api/generate`
lines carry `response`; everything else (`done`, `done_reason`, the eval counters,
`thinking`) is the same, and so is the translation (LiteLLM's
`OllamaChatCompletionResponseIterator` and `OllamaTextCompletionResponseIterator`):
tool-call arguments arrive as JSON objects and leave as strings, `thinking` (or a
`<think>` prefix in the text) becomes `reasoning_content`, and the counters become usage.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from tianji_gateway.providers._ollama_common import created_epoch, usage_of
from tianji_gateway.providers.base import Decoded, Usage, error_from_status
from tianji_gateway.streaming.sse import SSEEvent

__all__ = [
    "OllamaChatStream",
    "OllamaLine",
    "OllamaTextStream",
    "chat_answer",
    "split_think",
    "text_answer",
]


class _Function(msgspec.Struct):
    name: str = ""
    arguments: Any = None


class _ToolCall(msgspec.Struct):
    function: _Function = msgspec.field(default_factory=_Function)


class _Message(msgspec.Struct):
    role: str = "assistant"
    content: str | None = None
    thinking: str | None = None
    tool_calls: list[_ToolCall] | None = None


class OllamaLine(msgspec.Struct):
    """One `/api/chat` or `/api/generate` object (a whole answer or a stream line)."""

    model: str = ""
    created_at: str | None = None
    message: _Message | None = None
    response: str | None = None
    thinking: str | None = None
    done: bool = False
    done_reason: str | None = None
    prompt_eval_count: int | None = None
    eval_count: int | None = None
    error: str | None = None

    def text(self) -> str | None:
        """The generated text of this line."""
        return self.message.content if self.message is not None else self.response

    def reasoning(self) -> str | None:
        """The model's `thinking`, when the request enabled it."""
        return self.message.thinking if self.message is not None else self.thinking

    def calls(self) -> list[_ToolCall]:
        """Tool calls (chat only; Ollama sends each one whole)."""
        return (self.message.tool_calls or []) if self.message is not None else []


_line = msgspec.json.Decoder(OllamaLine)


class _FunctionOut(msgspec.Struct):
    name: str
    arguments: str


class _ToolCallOut(msgspec.Struct, kw_only=True):
    index: int | UnsetType = UNSET
    id: str
    type: str = "function"
    function: _FunctionOut


class _UsageOut(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class _MessageOut(msgspec.Struct, kw_only=True):
    role: str = "assistant"
    content: str | None
    reasoning_content: str | UnsetType = UNSET
    tool_calls: list[_ToolCallOut] | UnsetType = UNSET


class _ChoiceOut(msgspec.Struct, kw_only=True):
    index: int = 0
    message: _MessageOut
    finish_reason: str
    logprobs: None = None


class _CompletionOut(msgspec.Struct, kw_only=True):
    id: str
    object: str
    created: int
    model: str
    choices: list[Any]
    usage: _UsageOut | UnsetType = UNSET


class _DeltaOut(msgspec.Struct, kw_only=True):
    role: str | UnsetType = UNSET
    content: str | UnsetType = UNSET
    reasoning_content: str | UnsetType = UNSET
    tool_calls: list[_ToolCallOut] | UnsetType = UNSET


class _ChunkChoiceOut(msgspec.Struct, kw_only=True):
    index: int = 0
    delta: _DeltaOut
    logprobs: None = None
    finish_reason: str | None = None


class _TextChoiceOut(msgspec.Struct, kw_only=True):
    text: str
    index: int = 0
    logprobs: None = None
    finish_reason: str | None = None


_encode = msgspec.json.Encoder().encode
# LiteLLM's `_parse_content_for_reasoning`.
_THINK = re.compile(r"<(?:think|thinking)>(.*?)</(?:think|thinking)>(.*)", re.DOTALL)


def split_think(text: str | None) -> tuple[str | None, str | None]:
    """`<think>why</think>answer` -> `("why", "answer")`; other text is left whole."""
    if not text:
        return None, text
    match = _THINK.match(text)
    return (match.group(1), match.group(2)) if match else (None, text)


def _finish_reason(done_reason: str | None, tools: bool) -> str:
    if tools:
        return "tool_calls"
    return "length" if done_reason == "length" else "stop"


def _arguments(value: Any) -> str:
    if isinstance(value, str):
        return value
    return _encode(value if value is not None else {}).decode()


def _call_out(call: _ToolCall, index: int | UnsetType = UNSET) -> _ToolCallOut:
    return _ToolCallOut(
        index=index,
        id="call_" + uuid.uuid4().hex[:24],
        function=_FunctionOut(call.function.name, _arguments(call.function.arguments)),
    )


def _usage_out(usage: Usage) -> _UsageOut:
    return _UsageOut(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)


def _new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def chat_answer(raw: bytes) -> Decoded:
    """A whole `/api/chat` (or `/api/generate`) answer as a `chat.completion`."""
    line = _line.decode(raw)
    reasoning, content = line.reasoning(), line.text()
    if reasoning is None:
        reasoning, content = split_think(content)
    calls = [_call_out(c) for c in line.calls()]
    usage = usage_of(line.prompt_eval_count, line.eval_count)
    message = _MessageOut(
        content=content if content or not calls else None,
        reasoning_content=reasoning if reasoning is not None else UNSET,
        tool_calls=calls or UNSET,
    )
    body = _CompletionOut(
        id=_new_id("chatcmpl-"),
        object="chat.completion",
        created=created_epoch(line.created_at),
        model=line.model,
        choices=[
            _ChoiceOut(message=message, finish_reason=_finish_reason(line.done_reason, bool(calls)))
        ],
        usage=_usage_out(usage),
    )
    return Decoded(body=_encode(body), usage=usage, model=line.model or None)


def text_answer(raw: bytes) -> Decoded:
    """A whole `/api/generate` answer as a `text_completion`."""
    line = _line.decode(raw)
    usage = usage_of(line.prompt_eval_count, line.eval_count)
    choice = _TextChoiceOut(
        text=line.response or "", finish_reason=_finish_reason(line.done_reason, False)
    )
    body = _CompletionOut(
        id=_new_id("cmpl-"),
        object="text_completion",
        created=created_epoch(line.created_at),
        model=line.model,
        choices=[choice],
        usage=_usage_out(usage),
    )
    return Decoded(body=_encode(body), usage=usage, model=line.model or None)


class _StreamBase:
    """Stream id, timestamps, usage and the error check shared by both streams."""

    def __init__(self, include_usage: bool, object_: str, prefix: str) -> None:
        self._include_usage = include_usage
        self._object = object_
        self._id = _new_id(prefix)
        self._created: int | None = None
        self._usage: Usage | None = None

    def _read(self, event: SSEEvent) -> OllamaLine:
        line = _line.decode(event.data)
        if line.error is not None:
            raise error_from_status(500, line.error)
        if self._created is None:
            self._created = created_epoch(line.created_at)
        if line.done:
            self._usage = usage_of(line.prompt_eval_count, line.eval_count)
        return line

    def _chunk(self, line: OllamaLine, choices: list[Any]) -> bytes:
        return _encode(
            _CompletionOut(
                id=self._id,
                object=self._object,
                created=self._created or 0,
                model=line.model,
                choices=choices,
            )
        )

    def _usage_chunk(self, line: OllamaLine) -> list[bytes]:
        if not self._include_usage or self._usage is None:
            return []
        body = _CompletionOut(
            id=self._id,
            object=self._object,
            created=self._created or 0,
            model=line.model,
            choices=[],
            usage=_usage_out(self._usage),
        )
        return [_encode(body)]

    def finish(self) -> Usage | None:
        """The counters from the final (`done`) line."""
        return self._usage


class OllamaChatStream(_StreamBase):
    """Ollama lines -> `chat.completion.chunk`s (both APIs, for chat requests)."""

    def __init__(self, include_usage: bool) -> None:
        super().__init__(include_usage, "chat.completion.chunk", "chatcmpl-")
        self._sent_role = False
        self._tools = 0
        self._think = 0  # 0: no <think> yet, 1: inside one, 2: closed

    def feed(self, event: SSEEvent) -> list[bytes]:
        """One NDJSON line in, zero or more chunk payloads out."""
        line = self._read(event)
        delta = self._delta(line)
        finish = _finish_reason(line.done_reason, self._tools > 0) if line.done else None
        has_delta = any(v is not UNSET for v in msgspec.structs.astuple(delta))
        out: list[bytes] = []
        if has_delta or finish is not None:
            if not self._sent_role:
                delta.role = "assistant"
                self._sent_role = True
            out.append(self._chunk(line, [_ChunkChoiceOut(delta=delta, finish_reason=finish)]))
        if line.done:
            out.extend(self._usage_chunk(line))
        return out

    def _delta(self, line: OllamaLine) -> _DeltaOut:
        delta = _DeltaOut()
        thinking, text = line.reasoning(), line.text()
        if thinking:
            delta.reasoning_content = thinking
        elif text:
            self._split_tags(text, delta)
        calls = line.calls()
        if calls:
            delta.tool_calls = [_call_out(c, self._tools + i) for i, c in enumerate(calls)]
            self._tools += len(calls)
        return delta

    def _split_tags(self, text: str, delta: _DeltaOut) -> None:
        """LiteLLM's `<think>` tracking: text inside the tags is reasoning."""
        if "<think>" in text:
            text = text.replace("<think>", "")
            self._think = 1
        if "</think>" in text and self._think == 1:
            text = text.replace("</think>", "")
            self._think = 2
        if not text:
            return
        if self._think == 1:
            delta.reasoning_content = text
        else:
            delta.content = text


class OllamaTextStream(_StreamBase):
    """`/api/generate` lines -> `text_completion` chunks (for completion requests)."""

    def __init__(self, include_usage: bool) -> None:
        super().__init__(include_usage, "text_completion", "cmpl-")

    def feed(self, event: SSEEvent) -> list[bytes]:
        """One NDJSON line in, zero or more chunk payloads out."""
        line = self._read(event)
        text = line.response or ""
        if not line.done:
            return [self._chunk(line, [_TextChoiceOut(text=text)])] if text else []
        final = _TextChoiceOut(text=text, finish_reason=_finish_reason(line.done_reason, False))
        return [self._chunk(line, [final]), *self._usage_chunk(line)]
