"""Ollama's native chat API, `/api/chat` (LiteLLM's `ollama_chat/`).

Why native and not Ollama's `/v1` shim: LiteLLM users' `ollama_chat/` configs reach
`/api/chat`, so the request shape is LiteLLM's `OllamaChatConfig.transform_request`:
sampling parameters under `options`, text parts joined into `content` with images as
base64 `images`, assistant tool-call arguments as JSON objects, `reasoning_content`
as `thinking`; `tool_choice` is never sent (it makes Ollama hang, per LiteLLM).
Answers and the NDJSON stream are translated in `_ollama_stream`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from tianji_gateway.providers._ollama_common import (
    DEFAULT_BASE,
    NDJSONParser,
    decode_embeddings,
    encode_embeddings,
    ollama_error,
    ollama_headers,
    ollama_url,
    split_params,
)
from tianji_gateway.providers._ollama_stream import OllamaChatStream, chat_answer
from tianji_gateway.providers.base import Decoded, Op, ProviderAdapter, ProviderCaps

if TYPE_CHECKING:
    from tianji_common.errors import UpstreamError

    from tianji_gateway.providers.base import ChunkTransformer, StreamParser
    from tianji_gateway.routing.deployment import Deployment

__all__ = ["OLLAMA_CHAT_UNSUPPORTED", "OllamaChatAdapter", "image_data", "ollama_messages"]

Block = dict[str, Any]

# OpenAI chat parameters outside OllamaChatConfig.get_supported_openai_params.
OLLAMA_CHAT_UNSUPPORTED = frozenset(
    {
        "presence_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "n",
        "parallel_tool_calls",
        "function_call",
        "modalities",
        "audio",
        "prediction",
        "service_tier",
        "store",
        "web_search_options",
        "user",
    }
)


def image_data(part: Block) -> str | None:
    """An `image_url` part as Ollama wants it: the base64 payload of a data URL.

    Remote URLs are passed on as they are: fetching them would be I/O in a hook.
    """
    ref = part.get("image_url")
    url = ref.get("url") if isinstance(ref, dict) else ref
    if not isinstance(url, str):
        return None
    if url.startswith("data:"):
        return url.partition(",")[2]
    return url


def _arguments(raw: object) -> object:
    if not isinstance(raw, str):
        return raw if raw is not None else {}
    try:
        return msgspec.json.decode(raw) if raw else {}
    except msgspec.DecodeError:
        return raw


def _content(message: Block, out: Block) -> None:
    content = message.get("content")
    if not isinstance(content, list):
        out["content"] = content if isinstance(content, str) else ""
        return
    texts: list[str] = []
    images: list[str] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            texts.append(str(part.get("text") or ""))
        elif part.get("type") == "image_url" and (data := image_data(part)):
            images.append(data)
    out["content"] = "".join(texts)
    if images:
        out["images"] = images


def _tool_calls(message: Block, names: dict[str, str]) -> list[Block]:
    calls: list[Block] = []
    for call in message.get("tool_calls") or []:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict):
            continue
        name = str(fn.get("name") or "")
        if call.get("id"):
            names[str(call["id"])] = name
        calls.append({"function": {"name": name, "arguments": _arguments(fn.get("arguments"))}})
    return calls


def ollama_messages(messages: list[Any]) -> list[Block]:
    """OpenAI chat messages as `/api/chat` messages."""
    names: dict[str, str] = {}  # tool_call_id -> function name, for `tool_name`
    out: list[Block] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        converted: Block = {"role": message.get("role")}
        _content(message, converted)
        if isinstance(message.get("reasoning_content"), str):
            converted["thinking"] = message["reasoning_content"]
        calls = _tool_calls(message, names)
        if calls:
            converted["tool_calls"] = calls
        if message.get("role") == "tool" and message.get("tool_call_id") in names:
            converted["tool_name"] = names[message["tool_call_id"]]
        out.append(converted)
    return out


def _tools(body: dict[str, msgspec.Raw]) -> list[Any] | None:
    if "tools" in body:
        tools = msgspec.json.decode(body["tools"])
        return tools if isinstance(tools, list) else None
    if "functions" in body:  # legacy functions, sent as function tools
        functions = msgspec.json.decode(body["functions"])
        if isinstance(functions, list):
            return [{"type": "function", "function": f} for f in functions]
    return None


class OllamaChatAdapter(ProviderAdapter):
    """`ollama_chat/<model>`: a local (or remote) Ollama's `/api/chat`."""

    name = "ollama_chat"
    default_api_base = DEFAULT_BASE
    env_key = "OLLAMA_API_KEY"
    env_base = "OLLAMA_API_BASE"
    passthrough = False
    caps = ProviderCaps(
        stream_usage=False,  # the final line always carries the counters
        unsupported_params=OLLAMA_CHAT_UNSUPPORTED,
        ops=frozenset({Op.CHAT, Op.EMBEDDING}),
    )

    def url(self, dep: Deployment, op: Op, stream: bool) -> str:
        """`/api/chat`, or `/api/embed` for embeddings."""
        return ollama_url(dep, "/api/embed" if op is Op.EMBEDDING else "/api/chat")

    def headers(self, dep: Deployment, token: str | None = None) -> list[tuple[str, str]]:
        """JSON, plus a bearer key when one is configured."""
        return ollama_headers(dep)

    def stream_parser(self, dep: Deployment) -> StreamParser:
        """Ollama streams NDJSON."""
        return NDJSONParser()

    def encode_request(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op, stream: bool
    ) -> bytes:
        """The `/api/chat` (or `/api/embed`) body."""
        if op is Op.EMBEDDING:
            return encode_embeddings(body, dep)
        top, options = split_params(body, dep.model)
        messages = msgspec.json.decode(body["messages"]) if "messages" in body else []
        out: Block = {
            "model": dep.model,
            "messages": ollama_messages(messages if isinstance(messages, list) else []),
            "options": options,
            "stream": stream,
            **top,
        }
        tools = _tools(body)
        if tools is not None:
            out["tools"] = tools
        return msgspec.json.encode(out)

    def decode_response(self, raw: bytes, dep: Deployment, op: Op) -> Decoded:
        """An Ollama answer as OpenAI's chat completion or embedding list."""
        if op is Op.EMBEDDING:
            return decode_embeddings(raw, dep)
        return chat_answer(raw)

    def new_stream(self, dep: Deployment, op: Op, include_usage: bool) -> ChunkTransformer:
        """NDJSON lines -> chat chunks."""
        return OllamaChatStream(include_usage)

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> UpstreamError:
        """`{"error": "..."}` with a meaningful status."""
        return ollama_error(status, headers, body)
