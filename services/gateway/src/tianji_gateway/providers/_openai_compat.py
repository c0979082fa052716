"""Shared machinery for the plain OpenAI-compatible vendors (groq, mistral, together_ai, ...).

Why one base: these vendors speak OpenAI's wire format with small, documented deviations
(a parameter renamed, a message key forbidden, a `tool_choice` spelling, an error body of
another shape). Each deviation is declared as data on the vendor's class (STYLE section 3,
"quirks are data") and applied here once, so a vendor module is a page of declarations
plus the few hooks that are truly its own.

Cost: bodies stay `dict[str, Raw]`. `messages` is decoded only when a byte pre-check says
a quirk can apply, and answers are re-encoded only when a marker says a fix is needed, so
the common request and the common stream chunk pass through untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
from tianji_common.errors import InvalidRequest, UpstreamError

from tianji_gateway.providers.base import (
    GENERATION_OPS,
    Decoded,
    Op,
    OpenAIChunkRelay,
    ProviderAdapter,
    ProviderCaps,
    Usage,
    error_from_status,
)
from tianji_gateway.streaming.sse import SSEEvent

if TYPE_CHECKING:
    from tianji_gateway.routing.deployment import Deployment

__all__ = [
    "MAX_TOKENS",
    "REQUIRED_IS_ANY",
    "CompatAdapter",
    "CompatRelay",
    "MessageFix",
    "drop_or_reject",
    "jraw",
    "jvalue",
    "parse_error_body",
    "rewrite_messages",
    "role_of",
    "text_of_parts",
]

_EMPTY: Mapping[str, str] = MappingProxyType({})
# The rename most of these vendors need (LiteLLM maps it for each of them).
MAX_TOKENS: Mapping[str, str] = MappingProxyType({"max_completion_tokens": "max_tokens"})
# Vendors whose forced-tool spelling is Mistral's "any".
REQUIRED_IS_ANY: Mapping[str, str] = MappingProxyType({"required": "any"})
_DONE = b"[DONE]"
_Message = dict[str, msgspec.Raw]
MessageFix = Callable[[_Message, "Deployment"], _Message | None]
_messages_decoder = msgspec.json.Decoder(list[dict[str, msgspec.Raw]])

# Vendors that only say "context window" in prose (no OpenAI `code`): the phrases
# LiteLLM's exception mapping also keys on. Matched only on 400/413/422 answers whose
# code is not already recognised; STYLE 7 prefers codes, these vendors give none.
_CONTEXT_PHRASES = (
    "context length",
    "context_length_exceeded",
    "context window",
    "too large for model",
    "prompt is too long",
    "input is too long",
    "reduce the length of the messages",
    "too many tokens",
)
_KNOWN_CODES = frozenset({"context_length_exceeded", "content_policy_violation", "content_filter"})


def jraw(value: object) -> msgspec.Raw:
    """A Python value as a JSON `Raw`, ready to splice into a body."""
    return msgspec.Raw(msgspec.json.encode(value))


def jvalue(raw: msgspec.Raw) -> Any:
    """A `Raw` JSON value decoded to Python objects."""
    return msgspec.json.decode(raw)


def role_of(message: _Message) -> str | None:
    """The message's `role`, or None when absent or not a string."""
    raw = message.get("role")
    if raw is None:
        return None
    role = jvalue(raw)
    return role if isinstance(role, str) else None


def text_of_parts(parts: object) -> str | None:
    """The joined text of a content-part list made only of text parts, else None.

    LiteLLM collapses such lists to a string for vendors without content parts
    (`convert_content_list_to_str`, joined with ""); lists holding images or files are
    left alone rather than silently losing the non-text parts.
    """
    if not isinstance(parts, list) or not parts:
        return None
    texts: list[str] = []
    for part in parts:
        if not isinstance(part, dict) or part.get("type") != "text":
            return None
        text = part.get("text")
        if not isinstance(text, str):
            return None
        texts.append(text)
    return "".join(texts)


def drop_or_reject(
    body: dict[str, msgspec.Raw], names: Iterable[str], dep: Deployment, vendor: str
) -> None:
    """Drop each present name with `drop_params`, else answer 400 naming it (as LiteLLM)."""
    for name in [k for k in names if k in body]:
        if dep.drop_params:
            del body[name]
        else:
            raise InvalidRequest(
                f"{vendor} does not support parameter {name!r}. Set drop_params: true to drop it.",
                param=name,
                code="unsupported_parameter",
            )


def rewrite_messages(body: dict[str, msgspec.Raw], fix: MessageFix, dep: Deployment) -> None:
    """Apply `fix(message, dep) -> message | None` to each message (None drops it)."""
    messages = _messages_decoder.decode(body["messages"])
    out = [m for m in (fix(m, dep) for m in messages) if m is not None]
    body["messages"] = msgspec.Raw(msgspec.json.encode(out))


def _str_or_none(value: object) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    return value if isinstance(value, str) else str(value)


def _fields(obj: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    message = obj.get("message")
    if not isinstance(message, str):
        message = None if message is None else msgspec.json.encode(message).decode()
    return message, _str_or_none(obj.get("type")), _str_or_none(obj.get("code"))


def _detail_message(obj: Mapping[str, Any]) -> str | None:
    """FastAPI (`detail`, DeepInfra, Mistral 422) and RFC 7807 (`title`, NVIDIA) bodies."""
    detail = obj.get("detail")
    if isinstance(detail, str):
        return detail
    if isinstance(detail, dict):
        inner = detail.get("error") or detail.get("message")
        return inner if isinstance(inner, str) else msgspec.json.encode(detail).decode()
    if detail is not None:
        return msgspec.json.encode(detail).decode()
    title = obj.get("title")
    return title if isinstance(title, str) else None


def parse_error_body(body: bytes) -> tuple[str | None, str | None, str | None]:
    """`(message, type, code)` from the error body shapes these vendors use.

    OpenAI's `{"error": {...}}` (most), `{"error": "text", "code": ...}` (xAI), flat
    `{"message", "type", "code"}` (Mistral, Cerebras), FastAPI `{"detail": ...}`
    (DeepInfra, Mistral validation) and RFC 7807 problem+json (NVIDIA NIM).
    """
    try:
        obj = msgspec.json.decode(body)
    except msgspec.DecodeError:
        text = body[:500].decode("utf-8", "replace").strip()
        return (text or None), None, None
    if not isinstance(obj, dict):
        return msgspec.json.encode(obj).decode()[:500], None, None
    err = obj.get("error")
    if isinstance(err, dict):
        return _fields(err)
    if isinstance(err, str):
        return err, _str_or_none(obj.get("type")), _str_or_none(obj.get("code"))
    if obj.get("message") is not None:
        return _fields(obj)
    return _detail_message(obj), None, None


class CompatAdapter(ProviderAdapter):
    """An OpenAI-compatible vendor: OpenAI's dialect plus quirks declared as data."""

    caps = ProviderCaps(ops=frozenset({Op.CHAT}))
    # Request parameters the vendor names differently; the client's name wins when both
    # are sent (LiteLLM: "max_completion_tokens should take priority").
    renames: ClassVar[Mapping[str, str]] = _EMPTY
    # `tool_choice` strings the vendor spells differently ("required" -> "any").
    tool_choices: ClassVar[Mapping[str, str]] = _EMPTY
    # Keys removed from every message (vendor schemas that forbid extra keys).
    message_drop_keys: ClassVar[frozenset[str]] = frozenset()
    # Remove `strict` from tool function definitions (vendors that reject it).
    strip_tool_strict: ClassVar[bool] = False
    # Collapse text-only content-part lists to a string (vendors without parts).
    collapse_text_parts: ClassVar[bool] = False
    # Byte markers that make a non-streaming chat answer / a stream chunk worth
    # decoding for `patch_response` / `patch_chunk`; empty means never.
    response_markers: ClassVar[tuple[bytes, ...]] = ()
    chunk_markers: ClassVar[tuple[bytes, ...]] = ()

    # --- request ---------------------------------------------------------------------

    def unsupported(self, dep: Deployment) -> frozenset[str]:
        """Parameters the vendor rejects for this deployment's model (caps by default)."""
        return self.caps.unsupported_params

    def map_params(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op = Op.CHAT
    ) -> dict[str, msgspec.Raw]:
        """Renames, then drop/reject, then chat quirks; only for generation bodies."""
        for name in dep.additional_drop_params:
            body.pop(name, None)
        if op not in GENERATION_OPS:
            return body  # embeddings, rerank, audio: the vendor's own shapes
        for old, new in self.renames.items():
            if old in body:
                body[new] = body.pop(old)
        drop_or_reject(body, self.unsupported(dep), dep, self.name)
        if op is Op.CHAT:
            self.map_chat(body, dep)
        return body

    def map_chat(self, body: dict[str, msgspec.Raw], dep: Deployment) -> None:
        """Chat-only quirks: tool_choice spelling, tool `strict`, message rewrites."""
        choice = body.get("tool_choice")
        if choice is not None and self.tool_choices:
            value = jvalue(choice)
            if isinstance(value, str) and value in self.tool_choices:
                body["tool_choice"] = jraw(self.tool_choices[value])
        tools = body.get("tools")
        if self.strip_tool_strict and tools is not None and b'"strict"' in bytes(tools):
            body["tools"] = jraw([_without_strict(t) for t in jvalue(tools) or []])
        raw_messages = body.get("messages")
        if raw_messages is not None and self.needs_message_pass(bytes(raw_messages)):
            rewrite_messages(body, self.fix_message, dep)

    def needs_message_pass(self, raw_messages: bytes) -> bool:
        """Cheap pre-check: can any message quirk apply to these bytes?"""
        if self.collapse_text_parts and b'"type"' in raw_messages:
            return True
        return any(b'"' + k.encode() + b'"' in raw_messages for k in self.message_drop_keys)

    def fix_message(self, message: _Message, dep: Deployment) -> _Message | None:
        """One message as the vendor takes it (None drops it); subclasses extend."""
        for key in self.message_drop_keys:
            message.pop(key, None)
        content = message.get("content")
        if self.collapse_text_parts and content is not None and bytes(content)[:1] == b"[":
            text = text_of_parts(jvalue(content))
            if text is not None:
                message["content"] = jraw(text)
        return message

    # --- response --------------------------------------------------------------------

    def decode_response(self, raw: bytes, dep: Deployment, op: Op) -> Decoded:
        """Patch the vendor's chat answer when a marker says so, then read usage."""
        if op is Op.CHAT and _has_marker(raw, self.response_markers):
            obj = msgspec.json.decode(raw)
            if isinstance(obj, dict) and self.patch_response(obj):
                raw = msgspec.json.encode(obj)
        decoded = super().decode_response(raw, dep, op)
        usage = self.fix_usage(raw, decoded.usage)
        if usage is decoded.usage:
            return decoded
        return Decoded(decoded.body, usage, decoded.model, decoded.content_type)

    def patch_response(self, obj: dict[str, Any]) -> bool:
        """Fix a decoded non-streaming answer in place; True when something changed."""
        return False

    def patch_chunk(self, obj: dict[str, Any]) -> bool:
        """Fix a decoded stream chunk in place; True when something changed."""
        return False

    def fix_usage(self, raw: bytes, usage: Usage) -> Usage:
        """Vendor usage fields OpenAI's shape lacks (cache hits, reasoning, ...)."""
        return usage

    def new_stream(self, dep: Deployment, op: Op, include_usage: bool) -> CompatRelay:
        """OpenAI's relay plus this vendor's chunk fixes and mid-stream errors."""
        return CompatRelay(self, include_usage)

    # --- errors ----------------------------------------------------------------------

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> UpstreamError:
        """Any of the vendors' error shapes, mapped to our classes by status and code."""
        message, type_, code = parse_error_body(body)
        err = self.classify(status, message or f"upstream returned HTTP {status}", type_, code)
        retry_after = headers.get("retry-after")
        if retry_after and status == 429:
            err.headers["retry-after"] = retry_after
        return err

    def classify(
        self, status: int, message: str, type_: str | None, code: str | None
    ) -> UpstreamError:
        """Our error class for one vendor error; prose only where no code is given."""
        if code not in _KNOWN_CODES and status in (400, 413, 422):
            low = message.lower()
            if any(p in low for p in _CONTEXT_PHRASES):
                code = "context_length_exceeded"
        return error_from_status(status, message, type_=type_, code=code)

    def stream_error(self, detail: object) -> UpstreamError:
        """A mid-stream `{"error": ...}` chunk; an HTTP-like numeric `code` is the status."""
        if not isinstance(detail, dict):
            return error_from_status(500, str(detail))
        message, type_, code = _fields(detail)
        raw_code = detail.get("code")
        status = raw_code if isinstance(raw_code, int) and 400 <= raw_code < 600 else 500
        return self.classify(status, message or "upstream stream error", type_, code)


def _has_marker(data: bytes, markers: tuple[bytes, ...]) -> bool:
    return any(m in data for m in markers)


def _without_strict(tool: object) -> object:
    if isinstance(tool, dict) and isinstance(tool.get("function"), dict):
        tool["function"].pop("strict", None)
    return tool


class CompatRelay:
    """`OpenAIChunkRelay` plus the vendor's chunk fixes, error chunks and usage extras."""

    __slots__ = ("_adapter", "_inner", "_usage_raw")

    def __init__(self, adapter: CompatAdapter, include_usage: bool) -> None:
        self._adapter = adapter
        self._inner = OpenAIChunkRelay(include_usage)
        self._usage_raw: bytes | None = None

    def feed(self, event: SSEEvent) -> list[bytes]:
        """Relay one chunk, decoding it only when a marker says a fix applies."""
        data = event.data
        if not data or data == _DONE:
            return self._inner.feed(event)
        if b'"error"' in data:
            self._raise_if_error(data)
        if _has_marker(data, self._adapter.chunk_markers):
            patched = self._patch(data)
            if patched is not None:
                data = patched
                event = SSEEvent(data, event.event, event.id)
        if b'"usage"' in data:
            self._usage_raw = data
        return self._inner.feed(event)

    def _patch(self, data: bytes) -> bytes | None:
        """The chunk re-encoded after the vendor's fix, or None to relay it as it came."""
        try:
            obj = msgspec.json.decode(data)
        except msgspec.DecodeError:
            return None  # not JSON: relayed untouched, as OpenAI's relay does
        if isinstance(obj, dict) and self._adapter.patch_chunk(obj):
            return msgspec.json.encode(obj)
        return None

    def _raise_if_error(self, data: bytes) -> None:
        try:
            obj = msgspec.json.decode(data)
        except msgspec.DecodeError:
            return
        if isinstance(obj, dict) and obj.get("error") is not None:
            raise self._adapter.stream_error(obj["error"])

    def finish(self) -> Usage | None:
        """The usage chunk's numbers, with the vendor's extras folded in."""
        usage = self._inner.finish()
        if self._usage_raw is None:
            return usage
        fixed = self._adapter.fix_usage(self._usage_raw, usage or Usage())
        return fixed if usage is not None or fixed != Usage() else None
