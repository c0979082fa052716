"""OpenAI-shaped output for the native adapters of the "others" group (Cohere, Cloudflare,
Replicate): completion and chunk Structs, a chunk writer, and parameter helpers.

Why one module: the three vendors answer in their own dialects but must all reach the
client as OpenAI `chat.completion` / `chat.completion.chunk` JSON; encoding those from
Structs (not dicts) keeps the shapes typed and the encoder fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from msgspec import UNSET, UnsetType
from tianji_common.errors import InvalidRequest

from tianji_gateway.providers.base import Usage, error_from_status

if TYPE_CHECKING:
    from tianji_common.errors import UpstreamError

__all__ = [
    "ChunkWriter",
    "Completion",
    "FunctionOut",
    "MessageOut",
    "ToolCallOut",
    "UsageOut",
    "classify_error",
    "completion_bytes",
    "decode_param",
    "encoder",
    "is_null",
    "reject_n",
]

T = TypeVar("T")

encoder = msgspec.json.Encoder()


class FunctionOut(msgspec.Struct, kw_only=True):
    """`function` of a tool call; streamed argument deltas carry no name."""

    name: str | UnsetType = UNSET
    arguments: str


class ToolCallOut(msgspec.Struct, kw_only=True):
    """A tool call (message) or a tool-call delta (chunk, with `index`)."""

    index: int | UnsetType = UNSET
    id: str | UnsetType = UNSET
    type: str | UnsetType = UNSET
    function: FunctionOut


class UsageOut(msgspec.Struct, kw_only=True):
    """OpenAI `usage`."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, usage: Usage) -> UsageOut:
        """From the gateway's flattened usage record."""
        return cls(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
        )


class MessageOut(msgspec.Struct, kw_only=True):
    """The assistant message of a non-streaming completion."""

    role: str = "assistant"
    content: str | None
    reasoning_content: str | UnsetType = UNSET
    tool_calls: list[ToolCallOut] | UnsetType = UNSET
    annotations: list[dict[str, Any]] | UnsetType = UNSET
    # Vendor extras LiteLLM also surfaces here (Cohere's tool_plan).
    provider_specific_fields: dict[str, Any] | UnsetType = UNSET


class _Choice(msgspec.Struct, kw_only=True):
    index: int = 0
    message: MessageOut
    finish_reason: str


class Completion(msgspec.Struct, kw_only=True):
    """An OpenAI `chat.completion`."""

    id: str
    object: str = "chat.completion"
    created: int
    model: str
    choices: list[_Choice]
    usage: UsageOut


def completion_bytes(
    *, id: str, created: int, model: str, message: MessageOut, finish: str, usage: Usage
) -> bytes:
    """One-choice `chat.completion` JSON."""
    body = Completion(
        id=id,
        created=created,
        model=model,
        choices=[_Choice(message=message, finish_reason=finish)],
        usage=UsageOut.of(usage),
    )
    return encoder.encode(body)


class _Delta(msgspec.Struct, kw_only=True):
    role: str | UnsetType = UNSET
    content: str | UnsetType = UNSET
    reasoning_content: str | UnsetType = UNSET
    tool_calls: list[ToolCallOut] | UnsetType = UNSET
    provider_specific_fields: dict[str, Any] | UnsetType = UNSET


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


class ChunkWriter:
    """Encodes `chat.completion.chunk` payloads sharing one id, model and timestamp."""

    __slots__ = ("created", "id", "model")

    def __init__(self, id: str, model: str, created: int) -> None:
        self.id = id
        self.model = model
        self.created = created

    def delta(
        self,
        *,
        role: str | UnsetType = UNSET,
        content: str | UnsetType = UNSET,
        reasoning_content: str | UnsetType = UNSET,
        tool_calls: list[ToolCallOut] | UnsetType = UNSET,
        extras: dict[str, Any] | UnsetType = UNSET,
        finish_reason: str | None = None,
    ) -> bytes:
        """One chunk with a single choice."""
        delta = _Delta(
            role=role,
            content=content,
            reasoning_content=reasoning_content,
            tool_calls=tool_calls,
            provider_specific_fields=extras,
        )
        choice = _ChunkChoice(delta=delta, finish_reason=finish_reason)
        return encoder.encode(
            _Chunk(id=self.id, created=self.created, model=self.model, choices=[choice])
        )

    def usage(self, usage: Usage) -> bytes:
        """The final `{"choices": [], "usage": {...}}` chunk (only when asked for)."""
        chunk = _Chunk(
            id=self.id,
            created=self.created,
            model=self.model,
            choices=[],
            usage=UsageOut.of(usage),
        )
        return encoder.encode(chunk)


# --- request parameters ---------------------------------------------------------------


def is_null(raw: msgspec.Raw) -> bool:
    """True for a JSON `null` value."""
    return bytes(raw).strip() == b"null"


def decode_param(params: dict[str, msgspec.Raw], key: str, type_: type[T]) -> T | None:
    """One parameter as `type_`; absent or null is None, a wrong shape is a 400."""
    raw = params.get(key)
    if raw is None or is_null(raw):
        return None
    try:
        return msgspec.json.decode(raw, type=type_)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidRequest(f"invalid {key!r}: {exc}", param=key) from exc


def reject_n(provider: str, params: dict[str, msgspec.Raw], drop: bool) -> None:
    """`n` > 1 cannot be served by one vendor call: a 400 unless drop_params."""
    n = decode_param(params, "n", int)
    if n is not None and n > 1 and not drop:
        raise InvalidRequest(
            f"{provider} does not support parameter 'n' greater than 1. "
            "Set drop_params: true to drop it.",
            param="n",
            code="unsupported_parameter",
        )


# --- errors ---------------------------------------------------------------------------


def classify_error(
    status: int,
    message: str,
    *,
    context: tuple[str, ...],
    policy: tuple[str, ...],
    type_: str | None = None,
) -> UpstreamError:
    """Our error class for a vendor error that names its cause only in the message.

    These vendors send no machine-readable code for "prompt too long" or "blocked by a
    safety filter", so this is the one place their text is read: routing falls back
    by cause (ContextWindowExceeded, ContentPolicyViolation), which needs the class.
    """
    lowered = message.lower()
    code = None
    if any(marker in lowered for marker in context):
        code = "context_length_exceeded"
    elif any(marker in lowered for marker in policy):
        code = "content_policy_violation"
    return error_from_status(status, message, type_=type_, code=code)
