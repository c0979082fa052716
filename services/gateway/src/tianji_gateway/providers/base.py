"""The provider seam: an adapter behaves as OpenAI chat unless a subclass overrides.

Why: every hook is sans-IO (no network, no environment, no globals) so each is a pure
function under test, and all upstream I/O goes through one `UpstreamClient`. The hooks
mirror LiteLLM's `BaseConfig` but are typed and small (STYLE section 3).

Bodies travel as `dict[str, msgspec.Raw]`: the client's JSON values are spliced back
untouched, so parameters we do not know are forwarded as they came.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar, Protocol

import msgspec
from tianji_common.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    InvalidRequest,
    UpstreamError,
    UpstreamRateLimited,
)

from tianji_gateway.providers._media import speech_content_type, transcription_content_type
from tianji_gateway.request_multipart import encode_form
from tianji_gateway.streaming.sse import SSEParser

if TYPE_CHECKING:
    from tianji_gateway.routing.deployment import Deployment
    from tianji_gateway.streaming.sse import SSEEvent

__all__ = [
    "GENERATION_OPS",
    "ChunkTransformer",
    "Decoded",
    "Op",
    "ProviderAdapter",
    "ProviderCaps",
    "StreamParser",
    "Token",
    "UpstreamCall",
    "Usage",
    "error_from_status",
]


class Op(enum.StrEnum):
    """The upstream operation a request maps to."""

    CHAT = "chat"
    COMPLETION = "completion"
    EMBEDDING = "embedding"
    MESSAGES = "messages"  # Anthropic Messages API from the client
    RERANK = "rerank"  # Cohere-shaped /v1/rerank
    IMAGE_GENERATION = "image_generation"
    AUDIO_SPEECH = "audio_speech"  # JSON in, audio bytes out
    AUDIO_TRANSCRIPTION = "audio_transcription"  # multipart in, JSON out


# Ops whose bodies carry chat/completion parameters (messages or a prompt).
GENERATION_OPS: frozenset[Op] = frozenset({Op.CHAT, Op.COMPLETION})


class Usage(msgspec.Struct, kw_only=True):
    """Token counts as OpenAI reports them, with the detail fields flattened."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    # Prompt tokens written to the vendor's cache (Anthropic prices them apart).
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0
    # Parts of `prompt_tokens` / `completion_tokens` priced apart (OpenAI's
    # `*_tokens_details.audio_tokens` / `image_tokens`, Gemini's modality counts).
    audio_input_tokens: int = 0
    audio_output_tokens: int = 0
    image_input_tokens: int = 0
    image_output_tokens: int = 0
    # Images generated (`/images/generations`: the answer's `data` length).
    images: int = 0


@dataclass(frozen=True, slots=True)
class ProviderCaps:
    """Vendor quirks as data; each flag names the vendor behaviour it stands for."""

    # OpenAI-compatible upstreams accept `stream_options.include_usage`
    # (https://platform.openai.com/docs/api-reference/chat/create#stream_options).
    stream_usage: bool = True
    # Parameters the vendor rejects; dropped with drop_params, else a 400.
    unsupported_params: frozenset[str] = frozenset()
    ops: frozenset[Op] = frozenset({Op.CHAT, Op.COMPLETION, Op.EMBEDDING})


@dataclass(frozen=True, slots=True)
class Decoded:
    """A non-streaming answer in OpenAI's shape, with its usage read out."""

    body: bytes
    usage: Usage
    model: str | None = None
    content_type: str = "application/json"  # audio/speech answers are binary


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    """One HTTP request an adapter asks the pipeline to make (sans-IO)."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class Token:
    """A bearer token from a token endpoint, cached by the pipeline until `expires_at`."""

    value: str
    expires_at: float  # time.time() seconds


class StreamParser(Protocol):
    """Bytes in, events out; SSE by default, binary frames for Bedrock."""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Events completed by this chunk."""
        ...

    def flush(self) -> list[SSEEvent]:
        """Events left at end of stream."""
        ...


class ChunkTransformer(Protocol):
    """Per-stream state: vendor events in, OpenAI chunk payloads out."""

    def feed(self, event: SSEEvent) -> list[bytes]:
        """Turn one upstream event into zero or more `data:` payloads for the client."""
        ...

    def finish(self) -> Usage | None:
        """Usage seen on the stream, if any (called once, after the last event)."""
        ...


_OPENAI_STATUS_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout",
    409: "conflict",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def error_from_status(
    status: int, message: str, *, type_: str | None = None, code: str | None = None
) -> UpstreamError:
    """Map an upstream status (and OpenAI-style code) to our error classes.

    408/409/429/5xx are retryable. `context_length_exceeded` and
    `content_policy_violation` codes get their own classes, which routing keys on.
    """
    kind = type_ or _OPENAI_STATUS_TYPES.get(status, "api_error")
    if code == "context_length_exceeded":
        return ContextWindowExceeded(message, status=status, type_=kind, code=code)
    if code == "content_policy_violation" or code == "content_filter":
        return ContentPolicyViolation(
            message, status=status, type_=kind, code="content_policy_violation"
        )
    if status == 429:
        return UpstreamRateLimited(message, status=status, type_=kind, code=code)
    retryable = status in (408, 409) or status >= 500
    return UpstreamError(message, status=status, retryable=retryable, type_=kind, code=code)


class _OpenAIErrorDetail(msgspec.Struct):
    message: str | None = None
    type: str | None = None
    code: str | int | None = None
    param: str | None = None


class _OpenAIErrorBody(msgspec.Struct):
    error: _OpenAIErrorDetail | str | None = None


_error_decoder = msgspec.json.Decoder(_OpenAIErrorBody)


class ProviderAdapter:
    """OpenAI chat/completions/embeddings; subclasses override what differs."""

    name: ClassVar[str] = "openai"
    default_api_base: ClassVar[str] = "https://api.openai.com/v1"
    env_key: ClassVar[str | None] = "OPENAI_API_KEY"
    env_base: ClassVar[str | None] = "OPENAI_API_BASE"
    # Further variables LiteLLM reads for the key, in order (e.g. CO_API_KEY for cohere).
    env_key_fallbacks: ClassVar[tuple[str, ...]] = ()
    # `settings` keys filled from the environment at config load, when the config does
    # not set them (e.g. aws_region_name from AWS_REGION_NAME / AWS_REGION): hooks stay
    # sans-IO and read only `dep.settings`.
    env_settings: ClassVar[Mapping[str, tuple[str, ...]]] = MappingProxyType({})
    # LiteLLM's env var for `api_version` (AZURE_API_VERSION), resolved at config load.
    env_version: ClassVar[str | None] = None
    caps: ClassVar[ProviderCaps] = ProviderCaps()
    # True when the upstream speaks OpenAI's wire format, so bodies are relayed as-is.
    passthrough: ClassVar[bool] = True
    # Seconds between `follow_up` polls (Replicate-style prediction APIs).
    poll_interval: ClassVar[float] = 0.5

    _paths: ClassVar[dict[Op, str]] = {
        Op.CHAT: "/chat/completions",
        Op.COMPLETION: "/completions",
        Op.EMBEDDING: "/embeddings",
        Op.MESSAGES: "/messages",
        Op.RERANK: "/rerank",
        Op.IMAGE_GENERATION: "/images/generations",
        Op.AUDIO_SPEECH: "/audio/speech",
        Op.AUDIO_TRANSCRIPTION: "/audio/transcriptions",
    }

    def url(self, dep: Deployment, op: Op, stream: bool) -> str:
        """The upstream URL: `api_base` (or the vendor default) plus the op path."""
        base = (dep.api_base or self.default_api_base).rstrip("/")
        return base + self._paths[op]

    def token_request(self, dep: Deployment, now: float) -> UpstreamCall | None:
        """The token-endpoint call for OAuth-style auth (Vertex, Entra ID), or None.

        The pipeline runs it, caches the `Token` per deployment until shortly before it
        expires, and passes its value to `headers`. Sans-IO: build the request only.
        """
        return None

    def parse_token(self, status: int, body: bytes, now: float) -> Token:
        """Read the token endpoint's answer (only called if `token_request` gave one)."""
        raise UpstreamError(f"{self.name} has no token endpoint", status=500)

    def headers(self, dep: Deployment, token: str | None = None) -> list[tuple[str, str]]:
        """Auth and vendor headers; `extra_headers` from config come last and win."""
        out = [("content-type", "application/json")]
        bearer = token or dep.api_key
        if bearer:
            out.append(("authorization", "Bearer " + bearer))
        if dep.organization:
            out.append(("openai-organization", dep.organization))
        out.extend(dep.extra_headers)
        return out

    def sign(
        self, dep: Deployment, url: str, headers: list[tuple[str, str]], body: bytes, now: float
    ) -> list[tuple[str, str]]:
        """Last step before sending: request signing (AWS SigV4). Default: unchanged."""
        return headers

    def stream_parser(self, dep: Deployment) -> StreamParser:
        """How the upstream frames a stream; SSE unless the vendor differs."""
        return SSEParser()

    def follow_up(
        self, dep: Deployment, op: Op, stream: bool, status: int, body: bytes
    ) -> UpstreamCall | None:
        """Another call to make after this answer (polling, a stream URL), or None.

        Replicate-style APIs answer "created" and expect polling; the pipeline calls
        this after each non-streaming answer, bounded in count and by the deployment
        timeout. For `stream=True` a returned call is opened as the stream.
        """
        return None

    def map_params(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op = Op.CHAT
    ) -> dict[str, msgspec.Raw]:
        """Drop or reject what the vendor does not take (`drop_params` decides).

        `caps.unsupported_params` are chat/completion parameters, so they are checked
        only for those ops; `additional_drop_params` applies to every op.
        """
        unsupported = self.caps.unsupported_params if op in GENERATION_OPS else frozenset()
        drop = dep.additional_drop_params
        if not unsupported and not drop:
            return body
        for name in [k for k in body if k in unsupported or k in drop]:
            if name in drop or dep.drop_params:
                del body[name]
            else:
                raise InvalidRequest(
                    f"{self.name} does not support parameter {name!r}. "
                    "Set drop_params: true to drop it.",
                    param=name,
                    code="unsupported_parameter",
                )
        return body

    def encode_request(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op, stream: bool
    ) -> bytes:
        """The upstream body; OpenAI-compatible vendors take the client's body as-is."""
        if op is Op.AUDIO_TRANSCRIPTION:
            return encode_form(body)
        return msgspec.json.encode(body)

    def decode_response(self, raw: bytes, dep: Deployment, op: Op) -> Decoded:
        """Read usage from an OpenAI-shaped body and relay the bytes unchanged.

        Speech answers are audio and transcriptions may be text (srt, vtt): both are
        relayed as they came, with their content type; their usage is unknown (zero).
        """
        if op is Op.AUDIO_SPEECH:
            return Decoded(body=raw, usage=Usage(), content_type=speech_content_type(raw))
        if op is Op.AUDIO_TRANSCRIPTION:
            kind = transcription_content_type(raw)
            if kind != "application/json":
                return Decoded(body=raw, usage=Usage(), content_type=kind)
        if op is Op.IMAGE_GENERATION:
            images = _images_view.decode(raw)
            n = len(images.data)
            usage = images.usage.normalize(n) if images.usage else Usage(images=n)
            return Decoded(body=raw, usage=usage, model=images.model)
        view = _response_view.decode(raw)
        usage = view.usage.normalize() if view.usage else Usage()
        return Decoded(body=raw, usage=usage, model=view.model)

    def new_stream(self, dep: Deployment, op: Op, include_usage: bool) -> ChunkTransformer:
        """A relay for OpenAI chunks that strips the usage chunk if not asked for."""
        return OpenAIChunkRelay(include_usage)

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> UpstreamError:
        """Parse OpenAI's `{"error": {...}}` body; fall back to the status alone."""
        message, type_, code = _parse_openai_error(body)
        err = error_from_status(
            status, message or f"upstream returned HTTP {status}", type_=type_, code=code
        )
        retry_after = headers.get("retry-after")
        if retry_after and status == 429:
            err.headers["retry-after"] = retry_after
        return err


def _parse_openai_error(body: bytes) -> tuple[str | None, str | None, str | None]:
    try:
        parsed = _error_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        text = body[:500].decode("utf-8", "replace").strip()
        return (text or None), None, None
    err = parsed.error
    if isinstance(err, str):
        return err, None, None
    if err is None:
        return None, None, None
    code = None if err.code is None else str(err.code)
    return err.message, err.type, code


class _PromptDetails(msgspec.Struct):
    cached_tokens: int | None = None
    audio_tokens: int | None = None
    image_tokens: int | None = None


class _CompletionDetails(msgspec.Struct):
    reasoning_tokens: int | None = None
    audio_tokens: int | None = None
    image_tokens: int | None = None


class _OpenAIUsage(msgspec.Struct):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    prompt_tokens_details: _PromptDetails | None = None
    completion_tokens_details: _CompletionDetails | None = None
    # Images (gpt-image-1) and transcriptions (gpt-4o-transcribe) name them this way.
    input_tokens: int | None = None
    output_tokens: int | None = None
    # Transcriptions spell it `input_token_details`.
    input_tokens_details: _PromptDetails | None = None
    input_token_details: _PromptDetails | None = None
    output_tokens_details: _CompletionDetails | None = None

    def normalize(self, images: int | None = None) -> Usage:
        """Flatten; `images` is set for image generations (their output is image tokens)."""
        prompt = self.prompt_tokens or self.input_tokens or 0
        completion = self.completion_tokens or self.output_tokens or 0
        ptd = self.prompt_tokens_details or self.input_tokens_details or self.input_token_details
        ctd = self.completion_tokens_details or self.output_tokens_details
        image_out = (ctd.image_tokens or 0) if ctd else 0
        if images is not None and ctd is None:
            image_out = completion  # gpt-image-1 reports output tokens without details
        return Usage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=self.total_tokens or prompt + completion,
            cached_tokens=(ptd.cached_tokens or 0) if ptd else 0,
            reasoning_tokens=(ctd.reasoning_tokens or 0) if ctd else 0,
            audio_input_tokens=(ptd.audio_tokens or 0) if ptd else 0,
            audio_output_tokens=(ctd.audio_tokens or 0) if ctd else 0,
            image_input_tokens=(ptd.image_tokens or 0) if ptd else 0,
            image_output_tokens=image_out,
            images=images or 0,
        )


class _ResponseView(msgspec.Struct):
    model: str | None = None
    usage: _OpenAIUsage | None = None


class _Skip(msgspec.Struct):
    """Any JSON object, its fields skipped (only the count of images matters)."""


class _ImagesView(msgspec.Struct):
    model: str | None = None
    data: list[_Skip] = []
    usage: _OpenAIUsage | None = None


class _ChoiceView(msgspec.Struct):
    finish_reason: str | None = None


class _ChunkView(msgspec.Struct):
    choices: list[_ChoiceView] = []
    usage: _OpenAIUsage | None = None
    # msgspec cannot put Raw in a union with None: an empty Raw means "no error".
    error: msgspec.Raw = msgspec.Raw(b"")


_response_view = msgspec.json.Decoder(_ResponseView)
_images_view = msgspec.json.Decoder(_ImagesView)
_chunk_view = msgspec.json.Decoder(_ChunkView)
_DONE = b"[DONE]"


class OpenAIChunkRelay:
    """Forward each OpenAI chunk's bytes unchanged; decode only a tiny view of it."""

    __slots__ = ("_include_usage", "_usage")

    def __init__(self, include_usage: bool) -> None:
        self._include_usage = include_usage
        self._usage: Usage | None = None

    def feed(self, event: SSEEvent) -> list[bytes]:
        """Relay one chunk; the `[DONE]` sentinel is the caller's to send."""
        data = event.data
        if data == _DONE or not data:
            return []
        try:
            view = _chunk_view.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return [data]
        if view.error:
            raise error_from_status(500, _error_message(view.error))
        if view.usage is not None:
            self._usage = view.usage.normalize()
            if not view.choices and not self._include_usage:
                return []
        return [data]

    def finish(self) -> Usage | None:
        """The usage chunk's numbers, if the upstream sent one."""
        return self._usage


def _error_message(raw: msgspec.Raw) -> str:
    try:
        detail = msgspec.json.decode(raw, type=_OpenAIErrorDetail)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return bytes(raw).decode("utf-8", "replace")
    return detail.message or "upstream stream error"
