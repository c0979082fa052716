"""Bedrock errors, from HTTP answers and from event-stream exception frames, mapped once.

Why one table for both: ConverseStream reports the same faults either as an HTTP
status with `x-amzn-ErrorType`, or mid-stream as an exception frame whose
`:exception-type` names them in camelCase
(https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html#API_runtime_ConverseStream_Errors).
Routing keys on the error class, so throttling becomes `UpstreamRateLimited` and
"input too long" becomes `ContextWindowExceeded`.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

import msgspec

from tianji_gateway.providers.base import error_from_status

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tianji_common.errors import UpstreamError

__all__ = ["bedrock_error", "error_kind", "http_error", "stream_exception"]

# HTTP status of each Bedrock runtime error type (lowercased, "exception" kept), per
# the API reference's Errors sections; used for stream frames, which carry no status.
_TYPE_STATUS: Mapping[str, int] = MappingProxyType(
    {
        "validationexception": 400,
        "servicequotaexceededexception": 400,
        "accessdeniedexception": 403,
        "unrecognizedclientexception": 403,
        "invalidsignatureexception": 403,
        "expiredtokenexception": 403,
        "resourcenotfoundexception": 404,
        "modeltimeoutexception": 408,
        "modelerrorexception": 424,
        "modelstreamerrorexception": 424,
        "throttlingexception": 429,
        "modelnotreadyexception": 429,
        "internalserverexception": 500,
        "serviceunavailableexception": 503,
    }
)
# Bedrock names these conditions only in the message (there is no error code), so this
# is the one place we read it. Phrases as Bedrock and the models behind it word them.
_CONTEXT_MARKERS = (
    "input is too long",
    "too many input tokens",
    "prompt is too long",
    "exceed context limit",
    "exceeds the context window",
    "context window",
    "maximum context length",
)
_POLICY_MARKERS = ("content filtering policy", "usage policy", "content policy")
# Throttling says "Too many tokens, please wait" too: the type decides, not the text.
_THROTTLING = frozenset({"throttlingexception", "modelnotreadyexception"})


class _ErrorBody(msgspec.Struct):
    message: str | None = None
    Message: str | None = None  # some AWS front ends capitalise it


_error_decoder = msgspec.json.Decoder(_ErrorBody)


def error_kind(value: str) -> str:
    """`ThrottlingException:http://internal.amazon.com/...` -> `throttlingexception`."""
    return value.split(":", 1)[0].strip().lower()


def _message(body: bytes) -> str:
    try:
        parsed = _error_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return body[:500].decode("utf-8", "replace").strip()
    return parsed.message or parsed.Message or ""


def bedrock_error(status: int | None, kind: str, message: str) -> UpstreamError:
    """Our error for a Bedrock error type and message; keeps the vendor's type name."""
    key = error_kind(kind)
    status = status or _TYPE_STATUS.get(key, 500)
    text = message or f"bedrock returned HTTP {status}"
    type_ = kind.split(":", 1)[0] or None
    if key in _THROTTLING:
        return error_from_status(429, text, type_=type_)
    lowered = message.lower()
    code = None
    if any(marker in lowered for marker in _CONTEXT_MARKERS):
        code = "context_length_exceeded"
    elif any(marker in lowered for marker in _POLICY_MARKERS):
        code = "content_policy_violation"
    return error_from_status(status, text, type_=type_, code=code)


def http_error(status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
    """An HTTP error answer: `{"message": ...}` plus the `x-amzn-ErrorType` header."""
    kind = next((v for k, v in headers.items() if k.lower() == "x-amzn-errortype"), "")
    err = bedrock_error(status, kind, _message(body))
    retry_after = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if retry_after and err.http_status == 429:
        err.headers["retry-after"] = retry_after
    return err


def stream_exception(kind: str, payload: bytes, message: str | None = None) -> UpstreamError:
    """An exception frame inside a 200 stream (`:exception-type` + `{"message"}`)."""
    return bedrock_error(None, kind, message if message is not None else _message(payload))
