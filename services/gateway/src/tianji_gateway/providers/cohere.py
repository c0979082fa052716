"""The native Cohere adapter: OpenAI chat in, Cohere v2 chat out; embed and rerank too.

Why: Cohere's v2 Chat API (https://docs.cohere.com/v2/reference/chat) is close to
OpenAI's but not the same: `p`/`k` for `top_p`/`top_k`, `stop_sequences`, upper-case
`tool_choice`, a `json_object` response format carrying the schema, content as a list
of typed blocks and its own usage and finish reasons. LiteLLM's `CohereV2ChatConfig` is
the compatibility target: a custom `api_base` is the WHOLE chat URL there (and the
whole embed URL), while rerank appends `/v2/rerank`. Streaming lives in
`_cohere_stream.py`, embeddings and rerank in `_cohere_embed.py`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import msgspec
from msgspec import UNSET
from tianji_common.errors import InvalidRequest

from tianji_gateway.providers._cohere_embed import decode_embed, decode_rerank, encode_embed
from tianji_gateway.providers._cohere_stream import CohereStream, CohereUsage, map_finish_reason
from tianji_gateway.providers._others_openai import (
    FunctionOut,
    MessageOut,
    ToolCallOut,
    classify_error,
    completion_bytes,
    decode_param,
    encoder,
    is_null,
    reject_n,
)
from tianji_gateway.providers.base import Decoded, Op, ProviderAdapter, ProviderCaps, Usage

if TYPE_CHECKING:
    from tianji_common.errors import UpstreamError

    from tianji_gateway.providers.base import ChunkTransformer
    from tianji_gateway.routing.deployment import Deployment

__all__ = ["CohereAdapter"]

Block = dict[str, Any]

# The op's endpoint on Cohere's API host.
_SEGMENTS: dict[Op, str] = {Op.CHAT: "chat", Op.EMBEDDING: "embed", Op.RERANK: "rerank"}

# OpenAI chat parameters v2 chat has no equivalent for (LiteLLM's supported list lacks
# them): dropped with drop_params, else a 400 naming the parameter.
_UNSUPPORTED = frozenset(
    {
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "functions",
        "function_call",
        "parallel_tool_calls",
        "modalities",
        "audio",
        "prediction",
        "web_search_options",
        "store",
        "service_tier",
        "reasoning_effort",
    }
)
# Translated here; everything else (documents, citation_options, safety_mode, k, p,
# thinking, ...) is forwarded as Cohere's own parameter, as LiteLLM does.
_CONSUMED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",  # Cohere always reports usage in message-end
        "n",
        "user",  # accounting only; the gateway records it
        "max_tokens",
        "max_completion_tokens",
        "top_p",
        "top_k",
        "stop",
        "tools",
        "tool_choice",
        "response_format",
    }
)
_RENAMED = {"top_p": "p", "top_k": "k"}
_PASSED = ("temperature", "seed", "frequency_penalty", "presence_penalty")

# Cohere names these only in the message text, e.g. "too many tokens: total number of
# tokens in the prompt cannot exceed 4081 - received 6327".
_CONTEXT_MARKERS = ("too many tokens", "context length", "context window", "prompt is too long")
_POLICY_MARKERS = ("blocked", "toxic", "usage guidelines", "safety")


class _FunctionIn(msgspec.Struct):
    name: str = ""
    arguments: str | None = None


class _ToolCallIn(msgspec.Struct):
    id: str = ""
    function: _FunctionIn = msgspec.field(default_factory=_FunctionIn)


class _MessageIn(msgspec.Struct):
    role: str
    content: str | list[Block] | None = None
    tool_calls: list[_ToolCallIn] | None = None
    tool_call_id: str | None = None
    tool_plan: str | None = None


class _ContentIn(msgspec.Struct):
    type: str = "text"
    text: str | None = None
    thinking: str | None = None


class _ToolCallResp(msgspec.Struct):
    id: str = ""
    type: str = "function"
    function: _FunctionIn = msgspec.field(default_factory=_FunctionIn)


class _ResponseMessage(msgspec.Struct):
    content: list[_ContentIn] | None = None
    tool_calls: list[_ToolCallResp] | None = None
    tool_plan: str | None = None
    citations: list[Block] | None = None


class _ChatResponse(msgspec.Struct):
    id: str = ""
    finish_reason: str | None = None
    message: _ResponseMessage = msgspec.field(default_factory=_ResponseMessage)
    usage: CohereUsage | None = None


class _ErrorBody(msgspec.Struct):
    message: str | None = None


_response_decoder = msgspec.json.Decoder(_ChatResponse)
_error_decoder = msgspec.json.Decoder(_ErrorBody)


class CohereAdapter(ProviderAdapter):
    """Cohere v2: chat (with streaming and tools), embed and rerank."""

    name: ClassVar[str] = "cohere"
    default_api_base: ClassVar[str] = "https://api.cohere.com"
    # LiteLLM also reads CO_API_KEY when COHERE_API_KEY is unset.
    env_key: ClassVar[str | None] = "COHERE_API_KEY"
    env_base: ClassVar[str | None] = "COHERE_API_BASE"
    env_key_fallbacks: ClassVar[tuple[str, ...]] = ("CO_API_KEY",)
    caps: ClassVar[ProviderCaps] = ProviderCaps(
        stream_usage=False,
        unsupported_params=_UNSUPPORTED,
        ops=frozenset({Op.CHAT, Op.EMBEDDING, Op.RERANK}),
    )
    passthrough: ClassVar[bool] = False

    def url(self, dep: Deployment, op: Op, stream: bool) -> str:
        """`https://api.cohere.com/v2/<op>`, or `api_base` as LiteLLM reads it per op."""
        return endpoint(dep.api_base or self.default_api_base, op)

    def headers(self, dep: Deployment, token: str | None = None) -> list[tuple[str, str]]:
        """Bearer auth (https://docs.cohere.com/reference/about#authentication)."""
        out = [("content-type", "application/json"), ("accept", "application/json")]
        if dep.api_key:
            out.append(("authorization", "Bearer " + dep.api_key))
        out.extend(dep.extra_headers)
        return out

    def encode_request(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op, stream: bool
    ) -> bytes:
        """The v2 chat, embed or rerank body."""
        if op is Op.EMBEDDING:
            return encode_embed(body, dep)
        if op is Op.RERANK:
            return encoder.encode(body)  # Cohere's own shape; `model` already replaced
        return encoder.encode(chat_body(self.map_params(dict(body), dep), dep, stream))

    def decode_response(self, raw: bytes, dep: Deployment, op: Op) -> Decoded:
        """OpenAI's chat completion or embedding list; rerank relayed as it came."""
        if op is Op.EMBEDDING:
            return decode_embed(raw, dep)
        if op is Op.RERANK:
            return decode_rerank(raw, dep)
        return decode_chat(raw, dep)

    def new_stream(self, dep: Deployment, op: Op, include_usage: bool) -> ChunkTransformer:
        """Per-stream state translating Cohere's typed events into OpenAI chunks."""
        return CohereStream(dep.model, include_usage, int(time.time()))

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> UpstreamError:
        """Cohere's `{"message": ...}` body; 498 is its "invalid API token"."""
        message = _error_message(body) or f"cohere returned HTTP {status}"
        if status == 498:
            status = 401
        err = classify_error(status, message, context=_CONTEXT_MARKERS, policy=_POLICY_MARKERS)
        retry_after = headers.get("retry-after")
        if retry_after and status == 429:
            err.headers["retry-after"] = retry_after
        return err


def endpoint(api_base: str, op: Op) -> str:
    """The URL for `op` given an `api_base`, keeping LiteLLM's meaning of it.

    LiteLLM posts chat and embed to `api_base` itself and rerank to
    `api_base + /v2/rerank`. Where LiteLLM's URL could not work (a bare host, a
    `/v1` or `/v2` root, another op's endpoint) the op's v2 path is used instead.
    """
    base = api_base.rstrip("/")
    segment = _SEGMENTS[op]
    path = urlsplit(base).path
    head, _, last = path.rpartition("/")
    if last in _SEGMENTS.values() and head.rsplit("/", 1)[-1] in ("v1", "v2"):
        root = base[: len(base) - len(path)] + head.rsplit("/", 1)[0]
        return f"{root}/v2/{segment}"
    if last in ("v1", "v2"):
        return f"{base[: -len(last) - 1]}/v2/{segment}"
    if op is Op.RERANK or path in ("", "/"):
        return f"{base}/v2/{segment}"
    return base


def _error_message(body: bytes) -> str | None:
    try:
        return _error_decoder.decode(body).message
    except (msgspec.DecodeError, msgspec.ValidationError):
        text = body[:500].decode("utf-8", "replace").strip()
        return text or None


# --- request ---------------------------------------------------------------------------


def chat_body(params: dict[str, msgspec.Raw], dep: Deployment, stream: bool) -> Block:
    """The v2 chat body for an OpenAI chat request (already through `map_params`)."""
    reject_n("cohere", params, dep.drop_params)
    messages = decode_param(params, "messages", list[_MessageIn])
    if not messages:
        raise InvalidRequest("'messages' must be a non-empty list", param="messages")
    out: Block = {"model": dep.model, "messages": [_message(m) for m in messages]}
    out.update(_sampling(params))
    out.update(_tool_fields(params))
    fmt = _response_format(params)
    if fmt is not None:
        out["response_format"] = fmt
    for key, raw in params.items():
        if key not in _CONSUMED and key not in _PASSED and key not in out:
            out[key] = raw
    if stream:
        out["stream"] = True
    return out


def _sampling(params: dict[str, msgspec.Raw]) -> Block:
    """`max_tokens`, `stop_sequences`, `p`, `k` and the parameters v2 names as OpenAI."""
    out: Block = {}
    max_tokens = decode_param(params, "max_completion_tokens", int)
    if max_tokens is None:
        max_tokens = decode_param(params, "max_tokens", int)
    if max_tokens is not None:
        out["max_tokens"] = max_tokens
    for key in _PASSED:
        raw = params.get(key)
        if raw is not None and not is_null(raw):
            out[key] = raw
    for key, renamed in _RENAMED.items():
        raw = params.get(key)
        if raw is not None and not is_null(raw):
            out[renamed] = raw
    stop = decode_param(params, "stop", str | list[str])  # type: ignore[arg-type]  # a union is a valid msgspec type
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else stop
    return out


def _message(msg: _MessageIn) -> Block:
    """One OpenAI message as a v2 chat message."""
    role = msg.role
    if role in ("system", "developer"):
        return {"role": "system", "content": _text_or_parts(msg.content, role)}
    if role == "user":
        return {"role": "user", "content": _user_content(msg.content)}
    if role == "assistant":
        return _assistant(msg)
    if role == "tool":
        if not msg.tool_call_id:
            raise InvalidRequest("tool messages need a tool_call_id", param="messages")
        return {
            "role": "tool",
            "tool_call_id": msg.tool_call_id,
            "content": _text_or_parts(msg.content, role),
        }
    raise InvalidRequest(f"cohere does not support message role {role!r}", param="messages")


def _text_or_parts(content: str | list[Block] | None, role: str) -> str | list[Block]:
    if content is None or isinstance(content, str):
        return content or ""
    parts: list[Block] = []
    for part in content:
        if part.get("type") not in ("text", "document"):
            raise InvalidRequest(
                f"cohere {role} messages take text content only, got {part.get('type')!r}",
                param="messages",
            )
        parts.append(part)
    return parts


def _user_content(content: str | list[Block] | None) -> str | list[Block]:
    """Text and image parts (https://docs.cohere.com/v2/docs/image-inputs)."""
    if content is None or isinstance(content, str):
        return content or ""
    parts: list[Block] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "image_url":
            image = part.get("image_url")
            parts.append(
                {
                    "type": "image_url",
                    "image_url": {"url": image} if isinstance(image, str) else image,
                }
            )
        else:
            raise InvalidRequest(
                f"cohere does not support content part type {kind!r}", param="messages"
            )
    return parts


def _assistant(msg: _MessageIn) -> Block:
    out: Block = {"role": "assistant"}
    if msg.content:
        out["content"] = _text_or_parts(msg.content, "assistant")
    if msg.tool_plan:
        out["tool_plan"] = msg.tool_plan
    if msg.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.function.name,
                    "arguments": call.function.arguments or "{}",
                },
            }
            for call in msg.tool_calls
        ]
    if len(out) == 1:
        out["content"] = ""
    return out


def _tool_fields(params: dict[str, msgspec.Raw]) -> Block:
    """`tools` as given (v2 takes OpenAI's function format) and `tool_choice`.

    Cohere's `tool_choice` is REQUIRED or NONE; forcing one named function is REQUIRED
    with only that function offered.
    """
    tools = decode_param(params, "tools", list[Block])
    choice: Any = decode_param(params, "tool_choice", Any)
    out: Block = {}
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if not isinstance(name, str):
            raise InvalidRequest("tool_choice needs function.name", param="tool_choice")
        tools = [t for t in tools or [] if (t.get("function") or {}).get("name") == name]
        if not tools:
            raise InvalidRequest(f"tool_choice names unknown tool {name!r}", param="tool_choice")
        out["tool_choice"] = "REQUIRED"
    elif choice in ("required", "none"):
        out["tool_choice"] = choice.upper()
    elif choice not in (None, "auto"):
        raise InvalidRequest(f"unsupported tool_choice {choice!r}", param="tool_choice")
    if tools:
        out["tools"] = tools
    return out


def _response_format(params: dict[str, msgspec.Raw]) -> Block | None:
    """OpenAI `json_schema` becomes Cohere's `json_object` with the schema inline."""
    fmt = decode_param(params, "response_format", dict[str, Any])
    if not fmt:
        return None
    kind = fmt.get("type")
    if kind == "json_schema":
        spec = fmt.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return {"type": "json_object", "json_schema": schema} if schema else {"type": "json_object"}
    if kind in ("json_object", "text"):
        return {"type": kind}
    raise InvalidRequest(f"unsupported response_format type {kind!r}", param="response_format")


# --- response --------------------------------------------------------------------------


def decode_chat(raw: bytes, dep: Deployment) -> Decoded:
    """An OpenAI `chat.completion` built from a v2 chat response."""
    try:
        resp = _response_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise classify_error(
            502, f"malformed cohere response: {exc}", context=(), policy=()
        ) from exc
    msg = resp.message
    blocks = msg.content or []
    text = "".join(b.text or "" for b in blocks if b.type == "text")
    thinking = "".join(b.thinking or "" for b in blocks if b.type == "thinking")
    # With tool calls and no text, content is null (LiteLLM), as OpenAI sends it.
    message = MessageOut(content=(text or None) if msg.tool_calls else text)
    if thinking:
        message.reasoning_content = thinking
    if msg.tool_calls:
        message.tool_calls = [
            ToolCallOut(
                id=c.id,
                type="function",
                function=FunctionOut(name=c.function.name, arguments=c.function.arguments or "{}"),
            )
            for c in msg.tool_calls
        ]
    if msg.tool_plan:
        message.provider_specific_fields = {"tool_plan": msg.tool_plan}
    annotations = _annotations(msg.citations or [])
    message.annotations = annotations or UNSET
    usage = resp.usage.to_usage() if resp.usage else Usage()
    body = completion_bytes(
        id=resp.id,
        created=int(time.time()),
        model=dep.model,
        message=message,
        finish=map_finish_reason(resp.finish_reason),
        usage=usage,
    )
    return Decoded(body=body, usage=usage, model=dep.model)


def _annotations(citations: list[Block]) -> list[Block]:
    """Citations as OpenAI `url_citation` annotations, one per document source (LiteLLM)."""
    out: list[Block] = []
    for cite in citations:
        for source in cite.get("sources") or []:
            doc = source.get("document")
            if source.get("type") != "document" or not isinstance(doc, dict):
                continue
            url = source.get("url") or f"source:{source.get('id', 'unknown')}"
            out.append(
                {
                    "type": "url_citation",
                    "url_citation": {
                        "start_index": cite.get("start", 0),
                        "end_index": cite.get("end", 0),
                        "title": doc.get("title", ""),
                        "url": url,
                    },
                }
            )
    return out
