"""Converse answers in, OpenAI `chat.completion` out; the types the stream shares.

Why: the non-streaming decoder and the stream transformer share the stop-reason table,
the usage arithmetic (LiteLLM's `_transform_usage`: cache reads and writes count as
prompt tokens) and the OpenAI output types. Shapes follow
https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html#API_runtime_Converse_ResponseSyntax.
"""

from __future__ import annotations

import time
import uuid
from types import MappingProxyType
from typing import TYPE_CHECKING

import msgspec
from msgspec import UNSET, UnsetType

from tianji_gateway.providers._bedrock_request import JSON_TOOL_NAME
from tianji_gateway.providers.base import Decoded, Usage, error_from_status

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "ConverseUsage",
    "FunctionOut",
    "ThinkingBlockOut",
    "ToolCallOut",
    "UsageOut",
    "completion_id",
    "decode_converse",
    "encoder",
    "map_stop_reason",
]

# https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html#API_runtime_Converse_ResponseSyntax
# stopReason values, mapped as LiteLLM's `map_finish_reason` does.
_STOP_REASONS: Mapping[str, str] = MappingProxyType(
    {
        "end_turn": "stop",
        "stop_sequence": "stop",
        "max_tokens": "length",
        "model_context_window_exceeded": "length",
        "tool_use": "tool_calls",
        "guardrail_intervened": "content_filter",
        "content_filtered": "content_filter",
    }
)

encoder = msgspec.json.Encoder()


def map_stop_reason(reason: str | None) -> str:
    """OpenAI's finish_reason for a Converse stopReason (unknown ones end as stop)."""
    return _STOP_REASONS.get(reason or "", "stop")


def completion_id() -> str:
    """Converse answers carry no id; OpenAI clients expect one per completion."""
    return "chatcmpl-" + uuid.uuid4().hex


# --- vendor wire types (decode side) -------------------------------------------------


class ConverseUsage(msgspec.Struct, rename="camel"):
    """Converse `usage` (also the stream's `metadata.usage`)."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int | None = None
    cache_read_input_tokens: int = 0
    cache_write_input_tokens: int = 0

    def to_openai(self) -> UsageOut:
        """LiteLLM's arithmetic: cache reads and writes are part of the prompt."""
        read, write = self.cache_read_input_tokens, self.cache_write_input_tokens
        prompt = self.input_tokens + read + write
        completion = self.output_tokens
        total = self.total_tokens if self.total_tokens is not None else prompt + completion
        return UsageOut(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=total,
            prompt_tokens_details=_PromptDetails(cached_tokens=read),
            cache_creation_input_tokens=write,
            cache_read_input_tokens=read,
        )


class _ReasoningText(msgspec.Struct):
    text: str = ""
    signature: str | None = None


class _Reasoning(msgspec.Struct, rename="camel"):
    reasoning_text: _ReasoningText | None = None
    redacted_content: str | None = None


class _ToolUse(msgspec.Struct, rename="camel"):
    tool_use_id: str = ""
    name: str = ""
    input: msgspec.Raw = msgspec.Raw(b"{}")


class _Block(msgspec.Struct, rename="camel"):
    text: str | None = None
    tool_use: _ToolUse | None = None
    reasoning_content: _Reasoning | None = None


class _Message(msgspec.Struct):
    role: str = "assistant"
    content: list[_Block] = []


class _Output(msgspec.Struct):
    message: _Message | None = None


class _ConverseResponse(msgspec.Struct, rename="camel"):
    output: _Output = msgspec.field(default_factory=_Output)
    stop_reason: str | None = None
    usage: ConverseUsage = msgspec.field(default_factory=ConverseUsage)
    trace: msgspec.Raw | None = None


_response_decoder = msgspec.json.Decoder(_ConverseResponse)


# --- OpenAI output types (encode side) -----------------------------------------------


class _PromptDetails(msgspec.Struct, kw_only=True):
    cached_tokens: int


class UsageOut(msgspec.Struct, kw_only=True):
    """OpenAI `usage` plus the cache fields LiteLLM adds for Bedrock."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: _PromptDetails
    cache_creation_input_tokens: int
    cache_read_input_tokens: int

    def to_usage(self) -> Usage:
        """The gateway's flattened usage record."""
        return Usage(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            total_tokens=self.total_tokens,
            cached_tokens=self.cache_read_input_tokens,
            cache_creation_tokens=self.cache_creation_input_tokens,
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
    """LiteLLM's `thinking_blocks` entry: thinking (+signature), or redacted data."""

    type: str
    thinking: str | UnsetType = UNSET
    signature: str | UnsetType = UNSET
    data: str | UnsetType = UNSET


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
    trace: msgspec.Raw | UnsetType = UNSET  # guardrail trace, when the caller asked for it


def decode_converse(raw: bytes, model: str) -> Decoded:
    """An OpenAI `chat.completion` built from a Converse response."""
    try:
        resp = _response_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise error_from_status(502, f"malformed bedrock response: {exc}") from exc
    message, finish = _message_out(resp)
    usage = resp.usage.to_openai()
    completion = _Completion(
        id=completion_id(),
        created=int(time.time()),
        model=model,
        choices=[_Choice(message=message, finish_reason=finish)],
        usage=usage,
    )
    if resp.trace is not None:
        completion.trace = resp.trace
    return Decoded(body=encoder.encode(completion), usage=usage.to_usage(), model=model)


def _message_out(resp: _ConverseResponse) -> tuple[_MessageOut, str]:
    """Text joined, toolUse as tool_calls, reasoningContent as reasoning_content + blocks."""
    texts: list[str] = []
    calls: list[ToolCallOut] = []
    thinking: list[ThinkingBlockOut] = []
    blocks = resp.output.message.content if resp.output.message else []
    for block in blocks:
        if block.text is not None:
            texts.append(block.text)
        if block.tool_use is not None:
            use = block.tool_use
            fn = FunctionOut(name=use.name, arguments=bytes(use.input).decode() or "{}")
            calls.append(ToolCallOut(id=use.tool_use_id, type="function", function=fn))
        if block.reasoning_content is not None:
            thinking.append(_thinking_out(block.reasoning_content))
    finish = map_stop_reason(resp.stop_reason)
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


def _thinking_out(block: _Reasoning) -> ThinkingBlockOut:
    if block.reasoning_text is None:
        return ThinkingBlockOut(type="redacted_thinking", data=block.redacted_content or "")
    out = ThinkingBlockOut(type="thinking", thinking=block.reasoning_text.text)
    if block.reasoning_text.signature is not None:
        out.signature = block.reasoning_text.signature
    return out
