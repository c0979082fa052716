"""`/v1/messages/count_tokens`: Anthropic's token counter, for every deployment.

Why: Claude Code and the Anthropic SDK call it before sending long prompts. For
Anthropic deployments we forward to Anthropic's own endpoint
(https://docs.anthropic.com/en/api/messages-count-tokens) and relay the answer. Other
vendors have no such endpoint and the gateway ships no tokenizer (there is none
offline: tiktoken downloads its vocabularies), so we answer an approximation:
OpenAI's rule of thumb of about 4 characters per token for the text, plus a small
per-message overhead and a flat figure per image (LiteLLM's DEFAULT_IMAGE_TOKEN_COUNT).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response, post
from litestar.types import ControllerRouterHandler
from tianji_common.errors import InvalidRequest

from tianji_gateway.policy.guard import GuardedPipeline
from tianji_gateway.providers.base import Op
from tianji_gateway.request import parse_body

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tianji_gateway.providers.base import ProviderAdapter
    from tianji_gateway.routing.deployment import Deployment
    from tianji_gateway.state import GatewayState

__all__ = ["approximate_tokens", "messages_routes"]

_CHARS_PER_TOKEN = 4
_PER_MESSAGE = 3  # role and separators, as OpenAI's chat accounting adds per message
_PER_REQUEST = 3  # the reply's priming tokens
_IMAGE_TOKENS = 250
_MEDIA = frozenset({"image", "document"})
# Structural keys whose values are not prompt text.
_SKIP_KEYS = frozenset(
    {"type", "role", "id", "tool_use_id", "media_type", "signature", "cache_control", "source"}
)


def _walk(value: Any, counts: list[int]) -> None:
    """Add text characters to counts[0] and media blocks to counts[1]."""
    if isinstance(value, str):
        counts[0] += len(value)
    elif isinstance(value, list):
        for item in value:
            _walk(item, counts)
    elif isinstance(value, dict):
        if value.get("type") in _MEDIA:
            counts[1] += 1
            return
        for key, item in value.items():
            if key not in _SKIP_KEYS:
                _walk(item, counts)


def _ceil_div(n: int, d: int) -> int:
    return -(-n // d)


def approximate_tokens(body: Mapping[str, Any]) -> int:
    """Input tokens of a Messages request, estimated without a tokenizer."""
    counts = [0, 0]
    messages = body.get("messages") or []
    _walk(body.get("system"), counts)
    _walk(messages, counts)
    tool_chars = len(msgspec.json.encode(body.get("tools") or []))  # schemas count whole
    n_messages = len(messages) if isinstance(messages, list) else 0
    return (
        _ceil_div(counts[0], _CHARS_PER_TOKEN)
        + _ceil_div(tool_chars, _CHARS_PER_TOKEN) * bool(body.get("tools"))
        + counts[1] * _IMAGE_TOKENS
        + n_messages * _PER_MESSAGE
        + _PER_REQUEST
    )


async def _forward(
    state: GatewayState, adapter: ProviderAdapter, dep: Deployment, body: dict[str, msgspec.Raw]
) -> Response[bytes]:
    """Anthropic counts its own tokens: same URL family, same auth headers."""
    body["model"] = msgspec.Raw(msgspec.json.encode(dep.model))
    url = adapter.url(dep, Op.MESSAGES, False) + "/count_tokens"
    payload = msgspec.json.encode(body)
    resp = await state.upstream.post(url, adapter.headers(dep), payload, dep.timeout)
    if resp.status >= 400:
        raise adapter.map_error(resp.status, resp.headers, resp.body)
    return Response(resp.body, media_type="application/json")


def messages_routes(
    state: GatewayState, adapters: Mapping[str, ProviderAdapter]
) -> list[ControllerRouterHandler]:
    """The count_tokens route (the Messages call itself is on the fast path)."""

    @post("/v1/messages/count_tokens", status_code=200, name="messages_count_tokens")
    async def count_tokens(request: Request[Any, Any, Any]) -> Response[bytes]:
        principal = state.auth.authenticate(request.headers)
        parsed = parse_body(await request.body())
        if isinstance(state.pipeline, GuardedPipeline):  # virtual keys: same check as chat
            state.pipeline.authorize(principal, parsed)
        dep = state.router.pick(state.router.resolve(parsed.model))
        adapter = adapters.get(dep.provider)
        if dep.provider == "anthropic" and adapter is not None:
            return await _forward(state, adapter, dep, parsed.body)
        try:
            decoded = {k: msgspec.json.decode(v) for k, v in parsed.body.items()}
        except msgspec.DecodeError:
            raise InvalidRequest("request body is not valid JSON") from None
        out = {"input_tokens": approximate_tokens(decoded)}
        return Response(msgspec.json.encode(out), media_type="application/json")

    return [count_tokens]
