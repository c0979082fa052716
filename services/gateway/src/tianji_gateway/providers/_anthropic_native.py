"""Anthropic Messages in, Anthropic Messages out: the native `/v1/messages` relay.

Why: Anthropic SDK clients and Claude Code talk Messages; for an Anthropic deployment
the body and every event go through unchanged (only `model` is replaced), and we read
just enough of each event to account usage. Events keep their names (`event:` lines).
"""

from __future__ import annotations

import msgspec

from tianji_gateway.providers.base import Usage, error_from_status
from tianji_gateway.streaming.sse import SSEEvent, frame

__all__ = ["NativeMessagesRelay", "native_usage"]


class _Usage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None


class _Message(msgspec.Struct):
    usage: _Usage | None = None


class _ErrorDetail(msgspec.Struct):
    type: str = "api_error"
    message: str = "upstream stream error"


class _Event(msgspec.Struct):
    type: str = ""
    message: _Message | None = None
    usage: _Usage | None = None
    error: _ErrorDetail | None = None


_event_view = msgspec.json.Decoder(_Event)
_message_view = msgspec.json.Decoder(_Message)


def _merge(into: _Usage, new: _Usage) -> None:
    """Later figures replace earlier ones (message_delta carries cumulative counts)."""
    for field in _Usage.__struct_fields__:
        value = getattr(new, field)
        if value is not None:
            setattr(into, field, value)


def _to_usage(u: _Usage) -> Usage:
    read = u.cache_read_input_tokens or 0
    write = u.cache_creation_input_tokens or 0
    prompt = (u.input_tokens or 0) + read + write
    completion = u.output_tokens or 0
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        cached_tokens=read,
        cache_creation_tokens=write,
    )


def native_usage(raw: bytes) -> Usage:
    """Usage of a non-streaming Messages response (zeros if it has none)."""
    try:
        msg = _message_view.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return Usage()
    return _to_usage(msg.usage) if msg.usage else Usage()


class NativeMessagesRelay:
    """Forwards each event's bytes as a complete frame; tracks usage on the side."""

    framed = True
    __slots__ = ("_usage",)

    def __init__(self) -> None:
        self._usage = _Usage()

    def feed(self, event: SSEEvent) -> list[bytes]:
        """Relay one event, named as the vendor named it."""
        if not event.data:
            return []
        try:
            view = _event_view.decode(event.data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return [frame(event.data, event.event)]
        if view.type == "error" and view.error is not None:
            raise error_from_status(500, view.error.message, type_=view.error.type)
        if view.message is not None and view.message.usage is not None:
            _merge(self._usage, view.message.usage)
        if view.usage is not None:
            _merge(self._usage, view.usage)
        return [frame(event.data, event.event or view.type or None)]

    def finish(self) -> Usage | None:
        """Usage from message_start and the last message_delta."""
        return _to_usage(self._usage)
