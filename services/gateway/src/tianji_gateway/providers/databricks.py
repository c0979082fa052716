"""Databricks Model Serving: OpenAI-like chat at `{workspace}/serving-endpoints`.

Why its own module: LiteLLM's `DatabricksConfig` accepts only a subset of OpenAI's
parameters (the rest are dropped or rejected), renames `max_completion_tokens` to
`max_tokens`, sends text-only content lists as strings and strips `name` from
non-user messages; Claude endpoints answer with content *lists* holding `reasoning`
summaries, which become `reasoning_content` / `thinking_blocks`
(https://docs.databricks.com/machine-learning/foundation-model-apis/api-reference).
Errors come as `{"error_code": ..., "message": ...}`.
"""

from __future__ import annotations

import contextlib
import re
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import msgspec

from tianji_gateway.providers._compat_a_common import (
    flatten_text,
    get_json,
    parse_vendor_error,
    require_api_base,
    set_json,
    transform_messages,
    vendor_error,
)
from tianji_gateway.providers.base import (
    Decoded,
    Op,
    OpenAIChunkRelay,
    ProviderAdapter,
    ProviderCaps,
)
from tianji_gateway.streaming.sse import SSEEvent

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tianji_common.errors import UpstreamError

    from tianji_gateway.providers.base import ChunkTransformer, Usage
    from tianji_gateway.routing.deployment import Deployment

__all__ = ["DatabricksAdapter", "DatabricksChunkRelay"]

Block = dict[str, Any]

# OpenAI chat parameters outside DatabricksConfig.get_supported_openai_params.
_UNSUPPORTED = frozenset(
    {
        "frequency_penalty",
        "presence_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "seed",
        "parallel_tool_calls",
        "functions",
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
# AnthropicConfig._map_reasoning_effort budgets, used for Claude endpoints.
_THINKING_BUDGETS: Mapping[str, int] = MappingProxyType(
    {"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096}
)
_LIST_CONTENT = re.compile(rb'"content"\s*:\s*\[')
_EMPTY_ARGS = re.compile(rb'"arguments"\s*:\s*"\{\}"')
# AI Gateway guardrail refusals: "Request blocked by input guardrail '<name>'".
_POLICY_MARKERS = ("guardrail",)


def _prepare_messages(messages: list[Block]) -> bool:
    """Text-only lists become strings; `name` is kept on user messages only."""
    changed = False
    for message in messages:
        text = flatten_text(message.get("content"))
        if text:
            message["content"] = text
            changed = True
        if message.get("role") != "user" and "name" in message:
            del message["name"]
            changed = True
    return changed


def _split_content(holder: Block) -> None:
    """A Databricks content list -> `content` text plus reasoning fields (in place)."""
    content = holder.get("content")
    if not isinstance(content, list):
        return
    text: list[str] = []
    reasoning: list[str] = []
    blocks: list[Block] = []
    for item in content:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "text":
            text.append(str(item.get("text") or ""))
        elif item.get("type") == "reasoning":
            for summary in item.get("summary") or []:
                if not isinstance(summary, dict):
                    continue
                piece = str(summary.get("text") or "")
                reasoning.append(piece)
                blocks.append(
                    {
                        "type": "thinking",
                        "thinking": piece,
                        "signature": summary.get("signature", ""),
                    }
                )
    holder["content"] = "".join(text)
    if blocks:
        holder["reasoning_content"] = "".join(reasoning)
        holder["thinking_blocks"] = blocks


class DatabricksAdapter(ProviderAdapter):
    """Foundation Model APIs and external-model endpoints behind Model Serving."""

    name = "databricks"
    default_api_base = ""  # `{workspace}/serving-endpoints`, always the user's
    env_key = "DATABRICKS_API_KEY"
    env_base = "DATABRICKS_API_BASE"
    # Databricks reports usage on its chunks without `stream_options`, which LiteLLM
    # never sends it.
    caps = ProviderCaps(
        stream_usage=False,
        unsupported_params=_UNSUPPORTED,
        ops=frozenset({Op.CHAT, Op.EMBEDDING}),
    )

    def url(self, dep: Deployment, op: Op, stream: bool) -> str:
        """`{api_base}/chat/completions` or `/embeddings`; the endpoint is the body's model."""
        return require_api_base(dep, self.name).rstrip("/") + self._paths[op]

    def map_params(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op = Op.CHAT
    ) -> dict[str, msgspec.Raw]:
        """Drop/reject unsupported params, then Databricks' renames."""
        body.pop("stream_options", None)
        body = super().map_params(body, dep, op)
        if "max_completion_tokens" in body:
            body["max_tokens"] = body.pop("max_completion_tokens")
        if "reasoning_effort" in body and "claude" in dep.model:
            budget = _THINKING_BUDGETS.get(str(get_json(body, "reasoning_effort")))
            del body["reasoning_effort"]
            if budget is not None:
                set_json(body, "thinking", {"type": "enabled", "budget_tokens": budget})
        return body

    def encode_request(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op, stream: bool
    ) -> bytes:
        """The OpenAI body, with messages in the shape Databricks accepts."""
        if op is Op.CHAT:
            transform_messages(body, _prepare_messages)
        return super().encode_request(body, dep, op, stream)

    def decode_response(self, raw: bytes, dep: Deployment, op: Op) -> Decoded:
        """Relay as-is unless a message's content is a list (Claude reasoning)."""
        decoded = super().decode_response(raw, dep, op)
        if op is not Op.CHAT or not _LIST_CONTENT.search(raw):
            return decoded
        data = msgspec.json.decode(raw)
        for choice in data.get("choices") or []:
            if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
                _split_content(choice["message"])
        return Decoded(body=msgspec.json.encode(data), usage=decoded.usage, model=decoded.model)

    def new_stream(self, dep: Deployment, op: Op, include_usage: bool) -> ChunkTransformer:
        """OpenAI chunks, with list deltas turned into text and reasoning."""
        return DatabricksChunkRelay(include_usage)

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> UpstreamError:
        """`{"error_code", "message"}` (or OpenAI's shape from external models)."""
        return vendor_error(
            self.name,
            status,
            headers,
            parse_vendor_error(body),
            policy_markers=_POLICY_MARKERS,
        )


def _rewrite_chunk(data: bytes) -> bytes:
    chunk = msgspec.json.decode(data)
    if not isinstance(chunk, dict):
        return data
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            continue
        _split_content(delta)
        for call in delta.get("tool_calls") or []:
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict) and fn.get("arguments") == "{}":
                fn["arguments"] = ""  # LiteLLM: "{}" + later argument deltas is not JSON
    return msgspec.json.encode(chunk)


class DatabricksChunkRelay:
    """`OpenAIChunkRelay` after rewriting the rare chunks that need it."""

    __slots__ = ("_relay",)

    def __init__(self, include_usage: bool) -> None:
        self._relay = OpenAIChunkRelay(include_usage)

    def feed(self, event: SSEEvent) -> list[bytes]:
        """Relay one chunk; list content and `"{}"` tool arguments are rewritten first."""
        data = event.data
        if _LIST_CONTENT.search(data) or _EMPTY_ARGS.search(data):
            with contextlib.suppress(msgspec.DecodeError):
                event = SSEEvent(_rewrite_chunk(data), event.event, event.id)
        return self._relay.feed(event)

    def finish(self) -> Usage | None:
        """Usage seen on the chunks, if any."""
        return self._relay.finish()
