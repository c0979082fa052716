"""Gemini `GenerateContentResponse` and error bodies to OpenAI shapes.

Why: one translation for AI Studio and Vertex, non-streaming and streaming (each SSE
event is itself a GenerateContentResponse). LiteLLM's `VertexGeminiConfig`
(`_process_candidates`, `_calculate_usage`, `get_finish_reason_mapping`) is the
compatibility target: thought parts are `reasoning_content`, function calls get
`call_*` ids carrying their thought_signature, usage counts thoughts as completion.
"""

from __future__ import annotations

import uuid
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import msgspec
from tianji_common.errors import ContentPolicyViolation

from tianji_gateway.providers._gemini_messages import SIGNATURE_SEPARATOR
from tianji_gateway.providers.base import Usage, error_from_status

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tianji_common.errors import UpstreamError

__all__ = [
    "FLAGGED",
    "Candidate",
    "GenerateContentResponse",
    "Part",
    "UsageMetadata",
    "blocked_prompt",
    "completion_body",
    "decode_response",
    "google_error",
    "map_finish",
    "message_fields",
    "new_id",
    "tool_call",
]

Obj = dict[str, Any]

# https://ai.google.dev/api/generate-content#FinishReason, mapped as LiteLLM's
# `get_finish_reason_mapping` does; unknown reasons end as "stop".
_FINISH: Mapping[str, str] = MappingProxyType(
    {
        "FINISH_REASON_UNSPECIFIED": "stop",
        "STOP": "stop",
        "MAX_TOKENS": "length",
        "SAFETY": "content_filter",
        "RECITATION": "content_filter",
        "LANGUAGE": "content_filter",
        "OTHER": "content_filter",
        "BLOCKLIST": "content_filter",
        "PROHIBITED_CONTENT": "content_filter",
        "SPII": "content_filter",
        "IMAGE_SAFETY": "content_filter",
        "MALFORMED_FUNCTION_CALL": "stop",
    }
)
# Finish reasons LiteLLM treats as a flagged answer: content withheld, content_filter.
FLAGGED = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
)
# Google names these conditions only in the message text (status INVALID_ARGUMENT), so
# this is the one place we read it: a distinct class lets the router fall back by cause.
_CONTEXT_MARKERS = (
    "exceeds the maximum number of tokens",
    "input token count",
    "maximum context length",
    "context window",
    "prompt is too long",
)
_POLICY_MARKERS = ("response was blocked", "prompt was blocked", "prohibited content")


# --- vendor wire types ---------------------------------------------------------------


class _Blob(msgspec.Struct, rename="camel"):
    mime_type: str = ""
    data: str = ""


class _FunctionCall(msgspec.Struct):
    name: str = ""
    args: msgspec.Raw = msgspec.Raw()


class Part(msgspec.Struct, rename="camel"):
    """One response part; unknown part kinds decode with every field absent."""

    text: str | None = None
    thought: bool = False
    thought_signature: str | None = None
    function_call: _FunctionCall | None = None
    inline_data: _Blob | None = None


class _Content(msgspec.Struct):
    role: str = ""
    parts: list[Part] = []


class Candidate(msgspec.Struct, rename="camel"):
    """One answer; `index` is absent for the first candidate."""

    content: _Content | None = None
    finish_reason: str | None = None
    index: int | None = None


class ModalityTokenCount(msgspec.Struct, rename="camel"):
    """One modality's share of a count (`{"modality": "AUDIO", "tokenCount": 12}`)."""

    modality: str = ""
    token_count: int = 0


def _modality(details: list[ModalityTokenCount], modality: str) -> int:
    return sum(d.token_count for d in details if d.modality == modality)


class UsageMetadata(msgspec.Struct, rename="camel"):
    """Token counts; streams repeat them cumulatively."""

    prompt_token_count: int = 0
    candidates_token_count: int = 0
    total_token_count: int = 0
    thoughts_token_count: int = 0
    cached_content_token_count: int = 0
    prompt_tokens_details: list[ModalityTokenCount] = []
    candidates_tokens_details: list[ModalityTokenCount] = []

    def completion_tokens(self) -> int:
        """Candidates plus thoughts unless Google already counted thoughts in (LiteLLM)."""
        inclusive = self.prompt_token_count + self.candidates_token_count == self.total_token_count
        if inclusive or not self.thoughts_token_count:
            return self.candidates_token_count
        return self.candidates_token_count + self.thoughts_token_count

    def to_openai(self) -> Obj:
        """OpenAI `usage` with cached and reasoning details."""
        prompt, completion = self.prompt_token_count, self.completion_tokens()
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": self.total_token_count or prompt + completion,
            "prompt_tokens_details": {"cached_tokens": self.cached_content_token_count},
            "completion_tokens_details": {"reasoning_tokens": self.thoughts_token_count},
        }

    def to_usage(self) -> Usage:
        """The gateway's flattened usage record."""
        prompt, completion = self.prompt_token_count, self.completion_tokens()
        return Usage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=self.total_token_count or prompt + completion,
            cached_tokens=self.cached_content_token_count,
            reasoning_tokens=self.thoughts_token_count,
            audio_input_tokens=_modality(self.prompt_tokens_details, "AUDIO"),
            image_input_tokens=_modality(self.prompt_tokens_details, "IMAGE"),
            audio_output_tokens=_modality(self.candidates_tokens_details, "AUDIO"),
            image_output_tokens=_modality(self.candidates_tokens_details, "IMAGE"),
        )


class _PromptFeedback(msgspec.Struct, rename="camel"):
    block_reason: str | None = None
    block_reason_message: str | None = None


class _ErrorDetail(msgspec.Struct):
    code: int | None = None
    message: str = ""
    status: str = ""


class _ErrorEnvelope(msgspec.Struct):
    error: _ErrorDetail | None = None


class GenerateContentResponse(msgspec.Struct, rename="camel"):
    """A whole answer, or one SSE event of a stream (which may carry an error)."""

    candidates: list[Candidate] = []
    usage_metadata: UsageMetadata | None = None
    prompt_feedback: _PromptFeedback | None = None
    response_id: str | None = None
    model_version: str | None = None
    error: _ErrorDetail | None = None


_response_decoder = msgspec.json.Decoder(GenerateContentResponse)
_error_decoder = msgspec.json.Decoder(_ErrorEnvelope | list[_ErrorEnvelope])
_encoder = msgspec.json.Encoder()


def decode_response(raw: bytes) -> GenerateContentResponse:
    """Decode one response or stream event; garbage is a 502."""
    try:
        return _response_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise error_from_status(502, f"malformed gemini response: {exc}") from exc


def new_id() -> str:
    """A chat completion id when Google sent no response_id."""
    return "chatcmpl-" + uuid.uuid4().hex


def map_finish(reason: str | None, has_tool_calls: bool) -> str:
    """OpenAI's finish_reason; a turn that called functions ends as tool_calls."""
    if has_tool_calls:
        return "tool_calls"
    return _FINISH.get(reason or "", "stop")


def tool_call(part: Part, index: int) -> Obj:
    """An OpenAI tool call (with `index`, for stream deltas) for a function_call part."""
    fn = part.function_call or _FunctionCall()
    call_id = "call_" + uuid.uuid4().hex[:28]
    if part.thought_signature:
        call_id += SIGNATURE_SEPARATOR + part.thought_signature
    arguments = bytes(fn.args).decode() if len(fn.args) else "{}"
    return {
        "index": index,
        "id": call_id,
        "type": "function",
        "function": {"name": fn.name, "arguments": arguments},
    }


def message_fields(parts: list[Part], first_index: int = 0) -> Obj:
    """content / reasoning_content / tool_calls / images found in a candidate's parts."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[Obj] = []
    images: list[Obj] = []
    for part in parts:
        if part.function_call is not None:
            calls.append(tool_call(part, first_index + len(calls)))
        elif part.text is not None:
            (thoughts if part.thought else texts).append(part.text)
        elif part.inline_data is not None and part.inline_data.mime_type.startswith("image/"):
            url = f"data:{part.inline_data.mime_type};base64,{part.inline_data.data}"
            images.append(
                {"type": "image_url", "image_url": {"url": url, "detail": "auto"}, "index": 0}
            )
    out: Obj = {}
    if texts:
        out["content"] = "".join(texts)
    if thoughts:
        out["reasoning_content"] = "".join(thoughts)
    if calls:
        out["tool_calls"] = calls
    if images:
        out["images"] = images
    return out


def blocked_prompt(resp: GenerateContentResponse) -> ContentPolicyViolation | None:
    """Our error for `prompt_feedback.block_reason` (the prompt itself was refused)."""
    feedback = resp.prompt_feedback
    if feedback is None or not feedback.block_reason:
        return None
    detail = f": {feedback.block_reason_message}" if feedback.block_reason_message else ""
    return ContentPolicyViolation(
        f"gemini blocked the prompt ({feedback.block_reason}){detail}",
        code="content_policy_violation",
    )


def completion_body(resp: GenerateContentResponse, model: str, created: int) -> bytes:
    """An OpenAI `chat.completion` for a whole Gemini answer."""
    blocked = blocked_prompt(resp)
    if blocked is not None:
        raise blocked
    usage = resp.usage_metadata or UsageMetadata()
    body = {
        "id": resp.response_id or new_id(),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": _choices(resp.candidates),
        "usage": usage.to_openai(),
    }
    return _encoder.encode(body)


def _choices(candidates: list[Candidate]) -> list[Obj]:
    if candidates and candidates[0].finish_reason in FLAGGED:
        # LiteLLM's _handle_content_policy_violation: the flagged text is withheld.
        withheld = {"role": "assistant", "content": None}
        return [{"index": 0, "message": withheld, "finish_reason": "content_filter"}]
    out = []
    for position, cand in enumerate(candidates):
        fields = message_fields(cand.content.parts if cand.content else [])
        for call in fields.get("tool_calls", []):
            del call["index"]  # stream deltas carry an index, message tool calls do not
        message: Obj = {"role": "assistant", "content": None, **fields}
        finish = map_finish(cand.finish_reason, "tool_calls" in fields)
        index = cand.index if cand.index is not None else position
        out.append({"index": index, "message": message, "finish_reason": finish})
    return out


def google_error(status: int | None, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """Map `{"error": {code, message, status}}` (or a list of them) to our classes."""
    detail = _parse_error(body)
    status = status or detail.code or 500
    message = detail.message or f"google returned HTTP {status}"
    lowered = message.lower()
    code = None
    if any(marker in lowered for marker in _CONTEXT_MARKERS):
        code = "context_length_exceeded"
    elif any(marker in lowered for marker in _POLICY_MARKERS):
        code = "content_policy_violation"
    if detail.status == "RESOURCE_EXHAUSTED":
        status = 429
    err = error_from_status(status, message, code=code)
    retry_after = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if retry_after and status == 429:
        err.headers["retry-after"] = retry_after
    return err


def _parse_error(body: bytes) -> _ErrorDetail:
    try:
        parsed = _error_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _ErrorDetail(message=body[:500].decode("utf-8", "replace").strip())
    envelope = parsed[0] if isinstance(parsed, list) and parsed else parsed
    if isinstance(envelope, _ErrorEnvelope) and envelope.error is not None:
        return envelope.error
    return _ErrorDetail()
