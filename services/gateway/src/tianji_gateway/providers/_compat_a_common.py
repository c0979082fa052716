"""Helpers shared by the quirky OpenAI-compatible adapters (azure, databricks, vllm, ...).

Why one module: URL joining, message-content flattening and error-body parsing are the
same small rules in LiteLLM's `_add_path_to_api_base`, `convert_content_list_to_str`
and `exception_mapping_utils`; each adapter keeps only its own quirks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec
from tianji_common.errors import InvalidRequest

from tianji_gateway.providers.base import error_from_status

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from tianji_common.errors import UpstreamError

    from tianji_gateway.routing.deployment import Deployment

__all__ = [
    "CONTEXT_MARKERS",
    "VendorErrorInfo",
    "add_path",
    "add_query",
    "as_dict",
    "as_list",
    "flatten_text",
    "get_json",
    "parse_vendor_error",
    "raw_has",
    "require_api_base",
    "set_json",
    "transform_messages",
    "vendor_error",
]

Block = dict[str, Any]

# Phrases OpenAI-compatible servers use when the prompt does not fit; LiteLLM's
# exception mapping keys on the same text because these servers send no error code.
CONTEXT_MARKERS = (
    "maximum context length",
    "context length exceeded",
    "context_length_exceeded",
    "context window",
    "too many tokens",
)
_KNOWN_CODES = frozenset({"context_length_exceeded", "content_policy_violation", "content_filter"})


def require_api_base(dep: Deployment, provider: str) -> str:
    """The deployment's `api_base`; these providers have no default host."""
    if not dep.api_base:
        raise InvalidRequest(
            f"{provider} requires api_base in litellm_params (or its environment variable)",
            param="api_base",
            code="missing_api_base",
        )
    return dep.api_base


def add_path(api_base: str, ending: str) -> str:
    """Append `ending` to the URL path without repeating segments it already ends with.

    LiteLLM's `_add_path_to_api_base`: `https://h/models` + `/models/chat/completions`
    gives `https://h/models/chat/completions`; the query string is kept.
    """
    parts = urlsplit(api_base)
    base = [s for s in parts.path.split("/") if s]
    end = [s for s in ending.split("/") if s]
    joined = base + end
    for i in range(len(base)):
        if base[i:] == end[: len(base) - i]:
            joined = base[:i] + end
            break
    return urlunsplit((parts.scheme, parts.netloc, "/" + "/".join(joined), parts.query, ""))


def add_query(url: str, key: str, value: str | None) -> str:
    """Add `key=value` unless the URL already carries `key` (or there is no value)."""
    if not value:
        return url
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if any(k == key for k, _ in pairs):
        return url
    pairs.append((key, value))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(pairs), parts.fragment))


def as_dict(value: object) -> Block:
    """`value` if it is a JSON object, else an empty one (for untrusted bodies)."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    """`value` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def get_json(body: dict[str, msgspec.Raw], key: str) -> Any:
    """One body value decoded (None when absent or not JSON)."""
    raw = body.get(key)
    if raw is None:
        return None
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None


def raw_has(body: dict[str, msgspec.Raw], key: str, needle: bytes) -> bool:
    """Whether a raw body value contains `needle`: a cheap test before decoding it."""
    raw = body.get(key)
    return raw is not None and needle in bytes(raw)


def set_json(body: dict[str, msgspec.Raw], key: str, value: object) -> None:
    """Store a value back as raw JSON."""
    body[key] = msgspec.Raw(msgspec.json.encode(value))


def flatten_text(content: object, sep: str = "") -> str | None:
    """Text-only content parts joined into one string; None if there are other parts.

    LiteLLM's `convert_content_list_to_str` for vendors that reject content lists;
    a list holding an image or audio part is left for the caller to send as it is.
    """
    if not isinstance(content, list):
        return None
    texts: list[str] = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "text":
            return None
        texts.append(str(part.get("text") or ""))
    return sep.join(texts)


def transform_messages(body: dict[str, msgspec.Raw], fn: Callable[[list[Block]], bool]) -> None:
    """Decode `messages`, let `fn` edit them in place, re-encode only if it changed any."""
    messages = get_json(body, "messages")
    if isinstance(messages, list) and fn([m for m in messages if isinstance(m, dict)]):
        set_json(body, "messages", messages)


class VendorErrorInfo(msgspec.Struct, frozen=True):
    """The fields of an error body, whichever shape the vendor used."""

    message: str | None = None
    type: str | None = None
    code: str | None = None
    inner_code: str | None = None


def _text(value: object) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


def _inner_code(err: Block) -> str | None:
    inner = err.get("innererror") or err.get("inner_error")
    return _text(inner.get("code")) if isinstance(inner, dict) else None


def parse_vendor_error(body: bytes) -> VendorErrorInfo:
    """Read `{"error": {...}}`, `{"error": "..."}`, `{"message": ...}` or `{"detail": ...}`.

    OpenAI and Azure nest the error; Ollama and LM Studio send a string; vLLM (before
    0.6) and Databricks put `message` (and `error_code`) at the top level; FastAPI
    servers answer `detail`. Anything else is kept as text.
    """
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        text = body[:500].decode("utf-8", "replace").strip()
        return VendorErrorInfo(message=text or None)
    if not isinstance(data, dict):
        return VendorErrorInfo(message=_text(data))
    err = data.get("error")
    if isinstance(err, dict):
        return VendorErrorInfo(
            message=_text(err.get("message")),
            type=_text(err.get("type")),
            code=_text(err.get("code")),
            inner_code=_inner_code(err),
        )
    if isinstance(err, str):
        return VendorErrorInfo(message=err, type=_text(data.get("type")))
    message = _text(data.get("message")) or _text(data.get("detail"))
    code = _text(data.get("error_code")) or _text(data.get("code"))
    return VendorErrorInfo(message=message, type=_text(data.get("type")), code=code)


def vendor_error(
    provider: str,
    status: int,
    headers: dict[str, str],
    info: VendorErrorInfo,
    *,
    context_markers: Iterable[str] = CONTEXT_MARKERS,
    policy_markers: Iterable[str] = (),
) -> UpstreamError:
    """Our error class for a parsed vendor error; `retry-after` is kept on 429s.

    A vendor code we know wins; otherwise, for 4xx answers only, the message is checked
    for the vendor's context-window and content-policy phrases.
    """
    code = info.code if info.code in _KNOWN_CODES else None
    lowered = (info.message or "").lower()
    if code is None and 400 <= status < 500 and status != 429:
        if any(m in lowered for m in context_markers):
            code = "context_length_exceeded"
        elif any(m in lowered for m in policy_markers):
            code = "content_policy_violation"
    err = error_from_status(
        status,
        info.message or f"{provider} returned HTTP {status}",
        type_=info.type,
        code=code or info.code,
    )
    retry_after = {k.lower(): v for k, v in headers.items()}.get("retry-after")
    if retry_after and status == 429:
        err.headers["retry-after"] = retry_after
    return err
