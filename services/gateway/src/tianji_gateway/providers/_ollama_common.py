"""Shared by `ollama` (/api/generate) and `ollama_chat` (/api/chat): framing, params, usage.

Why here: both native Ollama APIs stream newline-delimited JSON (not SSE), take
sampling parameters under `options` (LiteLLM's `OllamaConfig` / `OllamaChatConfig`
mappings: `max_tokens` -> `num_predict`, `frequency_penalty` -> `repeat_penalty`,
`response_format` -> `format`), report usage as `prompt_eval_count` / `eval_count`,
and embed through `/api/embed` (https://github.com/ollama/ollama/blob/main/docs/api.md).
"""

from __future__ import annotations

import datetime as dt
import time
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import msgspec

from tianji_gateway.providers._compat_a_common import parse_vendor_error, vendor_error
from tianji_gateway.providers.base import Decoded, Usage
from tianji_gateway.streaming.sse import SSEEvent

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tianji_common.errors import UpstreamError

    from tianji_gateway.routing.deployment import Deployment

__all__ = [
    "DEFAULT_BASE",
    "NDJSONParser",
    "created_epoch",
    "decode_embeddings",
    "encode_embeddings",
    "ollama_error",
    "ollama_headers",
    "ollama_url",
    "split_params",
    "think_value",
    "usage_of",
]

DEFAULT_BASE = "http://localhost:11434"
_API_PATHS = ("/api/generate", "/api/chat", "/api/embed", "/api/embeddings")
# OpenAI parameter -> Ollama `options` key.
_OPTIONS: Mapping[str, str] = MappingProxyType(
    {
        "max_tokens": "num_predict",
        "max_completion_tokens": "num_predict",
        "temperature": "temperature",
        "top_p": "top_p",
        "seed": "seed",
        "frequency_penalty": "repeat_penalty",
        "stop": "stop",
    }
)
_TOP_LEVEL = frozenset({"keep_alive", "format", "think"})
# Handled by the adapters themselves, or meaningful to the proxy only.
_SKIP = frozenset(
    {
        "model",
        "messages",
        "prompt",
        "stream",
        "stream_options",
        "response_format",
        "reasoning_effort",
        "tools",
        "tool_choice",
        "functions",
        "metadata",
        "images",
    }
)


class NDJSONParser:
    """Ollama's stream framing: one JSON object per line, as `SSEEvent(data=line)`."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Complete lines in this chunk; the unfinished tail waits for the next."""
        lines = (self._buf + chunk).split(b"\n")
        self._buf = lines.pop()
        return [SSEEvent(line.strip()) for line in lines if line.strip()]

    def flush(self) -> list[SSEEvent]:
        """A last line without a newline."""
        rest, self._buf = self._buf.strip(), b""
        return [SSEEvent(rest)] if rest else []


def ollama_url(dep: Deployment, path: str) -> str:
    """`{api_base}{path}`; an `api_base` already naming an Ollama route is trimmed first."""
    base = (dep.api_base or DEFAULT_BASE).rstrip("/")
    for known in _API_PATHS:
        if base.endswith(known):
            base = base[: -len(known)]
            break
    return base + path


def ollama_headers(dep: Deployment) -> list[tuple[str, str]]:
    """Local Ollama needs no auth; a key (ollama.com, a proxy) goes as a bearer token."""
    out = [("content-type", "application/json")]
    if dep.api_key:
        out.append(("authorization", "Bearer " + dep.api_key))
    out.extend(dep.extra_headers)
    return out


def _decode(raw: msgspec.Raw) -> Any:
    return msgspec.json.decode(raw)


def _format(response_format: Any) -> Any:
    if not isinstance(response_format, dict):
        return None
    if response_format.get("type") == "json_object":
        return "json"
    if response_format.get("type") == "json_schema":
        schema = response_format.get("json_schema")
        return schema.get("schema") if isinstance(schema, dict) else None
    return None


def think_value(model: str, effort: Any) -> Any:
    """`reasoning_effort` -> Ollama's `think` (gpt-oss takes the level, others a bool)."""
    if effort is None:
        return None
    if model.startswith("gpt-oss"):
        return effort
    return effort in ("low", "medium", "high")


def split_params(
    body: dict[str, msgspec.Raw], model: str, top_level: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request's top-level Ollama fields and its `options`.

    Parameters Ollama does not know by an OpenAI name go to `options` as they are
    (`num_ctx`, `top_k`, `mirostat`, ...), as LiteLLM passes provider-specific params;
    `top_level` names the API's own extra fields (`/api/generate`'s `suffix`, ...).
    """
    top: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for key, raw in body.items():
        if key in _SKIP:
            continue
        value = _decode(raw)
        if key in _OPTIONS:
            if key == "stop" and isinstance(value, str):
                value = [value]
            options[_OPTIONS[key]] = value
        elif key in _TOP_LEVEL or key in top_level:
            top[key] = value
        elif key == "options" and isinstance(value, dict):
            options.update(value)
        else:
            options[key] = value
    if "response_format" in body and "format" not in top:
        fmt = _format(_decode(body["response_format"]))
        if fmt is not None:
            top["format"] = fmt
    if "reasoning_effort" in body and "think" not in top:
        think = think_value(model, _decode(body["reasoning_effort"]))
        if think is not None:
            top["think"] = think
    return top, options


def created_epoch(created_at: str | None) -> int:
    """Ollama's RFC 3339 `created_at` (nanosecond precision) as epoch seconds."""
    if created_at:
        head, _, rest = created_at.replace("Z", "+00:00").partition(".")
        try:  # the fraction is dropped: Python parses at most microseconds
            when = dt.datetime.fromisoformat(head + rest.lstrip("0123456789"))
        except ValueError:
            pass
        else:
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            return int(when.timestamp())
    return int(time.time())


def usage_of(prompt: int | None, completion: int | None) -> Usage:
    """OpenAI-style usage from Ollama's counters."""
    p, c = prompt or 0, completion or 0
    return Usage(prompt_tokens=p, completion_tokens=c, total_tokens=p + c)


class _EmbedAnswer(msgspec.Struct):
    model: str | None = None
    embeddings: list[msgspec.Raw] = []
    prompt_eval_count: int | None = None


class _EmbeddingOut(msgspec.Struct):
    index: int
    embedding: msgspec.Raw
    object: str = "embedding"


class _EmbedUsageOut(msgspec.Struct):
    prompt_tokens: int
    total_tokens: int


class _EmbedListOut(msgspec.Struct):
    data: list[_EmbeddingOut]
    model: str | None
    usage: _EmbedUsageOut
    object: str = "list"


_EMBED_KEYS = ("input", "dimensions", "truncate", "keep_alive", "options")


def encode_embeddings(body: dict[str, msgspec.Raw], dep: Deployment) -> bytes:
    """`/api/embed`'s body: model and input, plus the knobs it knows."""
    out: dict[str, msgspec.Raw] = {"model": msgspec.Raw(msgspec.json.encode(dep.model))}
    out.update({k: body[k] for k in _EMBED_KEYS if k in body})
    return msgspec.json.encode(out)


def decode_embeddings(raw: bytes, dep: Deployment) -> Decoded:
    """`{"embeddings": [[...]]}` as OpenAI's embedding list; vectors are not re-parsed."""
    answer = msgspec.json.decode(raw, type=_EmbedAnswer)
    tokens = answer.prompt_eval_count or 0
    body = _EmbedListOut(
        data=[_EmbeddingOut(i, e) for i, e in enumerate(answer.embeddings)],
        model=answer.model or dep.model,
        usage=_EmbedUsageOut(tokens, tokens),
    )
    usage = Usage(prompt_tokens=tokens, total_tokens=tokens)
    return Decoded(body=msgspec.json.encode(body), usage=usage, model=answer.model)


def ollama_error(status: int, headers: dict[str, str], body: bytes) -> UpstreamError:
    """Ollama answers `{"error": "..."}` with the HTTP status telling the kind."""
    return vendor_error("ollama", status, headers, parse_vendor_error(body))
