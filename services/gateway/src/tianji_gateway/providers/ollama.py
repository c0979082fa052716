"""Ollama's generate API, `/api/generate` (LiteLLM's `ollama/`).

Why a prompt and not messages: LiteLLM sends `ollama/` chat requests to
`/api/generate` with the conversation rendered by its `ollama_pt` template
(`### User:` / `### System:` / `### Assistant:` sections, images collected into
`images`), so existing `ollama/` configs see the same prompts here. Tools are not
served on this route (`ollama_chat/` sends them natively); text completions pass
their `prompt` straight through.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import msgspec
from tianji_common.errors import InvalidRequest

from tianji_gateway.providers._compat_a_common import as_dict
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
from tianji_gateway.providers._ollama_stream import (
    OllamaChatStream,
    OllamaTextStream,
    chat_answer,
    text_answer,
)
from tianji_gateway.providers.base import Decoded, Op, ProviderAdapter, ProviderCaps
from tianji_gateway.providers.ollama_chat import OLLAMA_CHAT_UNSUPPORTED, image_data

if TYPE_CHECKING:
    from tianji_common.errors import UpstreamError

    from tianji_gateway.providers.base import ChunkTransformer, StreamParser
    from tianji_gateway.routing.deployment import Deployment

__all__ = ["OllamaAdapter", "ollama_prompt"]

Block = dict[str, Any]

# OllamaConfig.get_supported_openai_params is smaller than the chat API's: no tools,
# no reasoning_effort; the completions-only `echo` / `best_of` have no equivalent.
_UNSUPPORTED = OLLAMA_CHAT_UNSUPPORTED | {
    "tools",
    "tool_choice",
    "functions",
    "reasoning_effort",
    "echo",
    "best_of",
}
# `/api/generate` fields that are not `options`.
_GENERATE_FIELDS = frozenset({"suffix", "system", "template", "raw", "context"})
_USER_ROLES = frozenset({"user", "tool", "function"})


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("text")
        )
    return ""


def _user_turns(messages: list[Block], i: int, images: list[str]) -> tuple[str, int]:
    text = ""
    while i < len(messages) and messages[i].get("role") in _USER_ROLES:
        content = messages[i].get("content")
        if isinstance(content, list):
            for part in content:
                if not isinstance(part, dict):
                    continue
                if part.get("type") == "image_url" and (data := image_data(part)):
                    images.append(data)
                elif part.get("type") == "text":
                    text += str(part.get("text") or "")
        elif isinstance(content, str):
            text += content
        i += 1
    return text, i


def _history_call(call: Block) -> Block:
    fn = as_dict(call.get("function"))
    args = fn.get("arguments") or "{}"
    try:
        parsed = json.loads(args) if isinstance(args, str) else args
    except ValueError:
        parsed = args
    return {
        "id": call.get("id"),
        "type": "function",
        "function": {"name": fn.get("name"), "arguments": parsed},
    }


def _assistant_turns(messages: list[Block], i: int) -> tuple[str, int]:
    text = ""
    while i < len(messages) and messages[i].get("role") == "assistant":
        text += _text(messages[i].get("content"))
        calls = [
            _history_call(c) for c in messages[i].get("tool_calls") or [] if isinstance(c, dict)
        ]
        if calls:
            text += f"Tool Calls: {json.dumps(calls, indent=2)}"
        i += 1
    return text, i


def ollama_prompt(messages: list[Block]) -> tuple[str, list[str]]:
    """LiteLLM's `ollama_pt`: consecutive turns merged into `### Role:` sections."""
    prompt, i = "", 0
    images: list[str] = []
    while i < len(messages):
        start = i
        user, i = _user_turns(messages, i, images)
        if user:
            prompt += f"### User:\n{user}\n\n"
        system = ""
        while i < len(messages) and messages[i].get("role") == "system":
            system += _text(messages[i].get("content"))
            i += 1
        if system:
            prompt += f"### System:\n{system}\n\n"
        assistant, i = _assistant_turns(messages, i)
        if assistant:
            prompt += f"### Assistant:\n{assistant}\n\n"
        if i == start:
            raise InvalidRequest(
                f"invalid message role {messages[i].get('role')!r} for ollama",
                param="messages",
            )
    return prompt, images


def _completion_prompt(raw: msgspec.Raw | None) -> str:
    prompt = msgspec.json.decode(raw) if raw is not None else ""
    if isinstance(prompt, list):
        return "".join(p for p in prompt if isinstance(p, str))
    return prompt if isinstance(prompt, str) else ""


class OllamaAdapter(ProviderAdapter):
    """`ollama/<model>`: a local (or remote) Ollama's `/api/generate`."""

    name = "ollama"
    default_api_base = DEFAULT_BASE
    env_key = "OLLAMA_API_KEY"
    env_base = "OLLAMA_API_BASE"
    passthrough = False
    caps = ProviderCaps(
        stream_usage=False,
        unsupported_params=frozenset(_UNSUPPORTED),
        ops=frozenset({Op.CHAT, Op.COMPLETION, Op.EMBEDDING}),
    )

    def url(self, dep: Deployment, op: Op, stream: bool) -> str:
        """`/api/generate`, or `/api/embed` for embeddings."""
        return ollama_url(dep, "/api/embed" if op is Op.EMBEDDING else "/api/generate")

    def headers(self, dep: Deployment, token: str | None = None) -> list[tuple[str, str]]:
        """JSON, plus a bearer key when one is configured."""
        return ollama_headers(dep)

    def stream_parser(self, dep: Deployment) -> StreamParser:
        """Ollama streams NDJSON."""
        return NDJSONParser()

    def encode_request(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op, stream: bool
    ) -> bytes:
        """The `/api/generate` (or `/api/embed`) body."""
        if op is Op.EMBEDDING:
            return encode_embeddings(body, dep)
        images: list[str] = []
        if op is Op.CHAT:
            messages = msgspec.json.decode(body["messages"]) if "messages" in body else []
            listed = (
                [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []
            )
            prompt, images = ollama_prompt(listed)
        else:
            prompt = _completion_prompt(body.get("prompt"))
        top, options = split_params(body, dep.model, _GENERATE_FIELDS)
        out: Block = {"model": dep.model, "prompt": prompt, "options": options, "stream": stream}
        out.update(top)
        if images:
            out["images"] = images
        return msgspec.json.encode(out)

    def decode_response(self, raw: bytes, dep: Deployment, op: Op) -> Decoded:
        """A chat completion, a text completion or an embedding list."""
        if op is Op.EMBEDDING:
            return decode_embeddings(raw, dep)
        return chat_answer(raw) if op is Op.CHAT else text_answer(raw)

    def new_stream(self, dep: Deployment, op: Op, include_usage: bool) -> ChunkTransformer:
        """NDJSON lines -> chat chunks, or text-completion chunks."""
        if op is Op.COMPLETION:
            return OllamaTextStream(include_usage)
        return OllamaChatStream(include_usage)

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> UpstreamError:
        """`{"error": "..."}` with a meaningful status."""
        return ollama_error(status, headers, body)
