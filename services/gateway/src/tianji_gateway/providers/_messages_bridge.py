"""`/v1/messages` for every chat provider: Anthropic Messages on top of `Op.CHAT`.

Why a wrapper and not per-provider code: each adapter already translates OpenAI chat
to its vendor, so Messages -> OpenAI chat -> vendor (and back) reuses all of it. The
pipeline swaps in `MessagesBridge(adapter)` when a deployment's adapter lacks
`Op.MESSAGES` but serves `Op.CHAT`; every transport hook delegates with `Op.CHAT`.
LiteLLM does the same via its `anthropic_messages` -> `completion` adapter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from tianji_gateway.providers._messages_stream import MessagesStream
from tianji_gateway.providers._messages_translate import anthropic_message, to_chat_body
from tianji_gateway.providers.base import Decoded, Op, ProviderAdapter, ProviderCaps

if TYPE_CHECKING:
    import msgspec
    from tianji_common.errors import UpstreamError

    from tianji_gateway.providers.base import (
        ChunkTransformer,
        StreamParser,
        Token,
        UpstreamCall,
    )
    from tianji_gateway.routing.deployment import Deployment

__all__ = ["MessagesBridge"]


class MessagesBridge(ProviderAdapter):
    """Presents `Op.MESSAGES` on top of an adapter that serves `Op.CHAT`."""

    # Body translation is ours, so the pipeline must not treat bodies as OpenAI's.
    passthrough: ClassVar[bool] = False
    caps: ClassVar[ProviderCaps] = ProviderCaps(stream_usage=False, ops=frozenset({Op.MESSAGES}))

    def __init__(self, inner: ProviderAdapter) -> None:
        self.inner = inner
        # Instance values shadow the class defaults so logs and polling match the vendor.
        for attr in ("name", "default_api_base", "env_key", "env_base", "poll_interval"):
            setattr(self, attr, getattr(inner, attr))

    def url(self, dep: Deployment, op: Op, stream: bool) -> str:
        """The vendor's chat URL."""
        return self.inner.url(dep, Op.CHAT, stream)

    def token_request(self, dep: Deployment, now: float) -> UpstreamCall | None:
        """The vendor's token endpoint, if it has one."""
        return self.inner.token_request(dep, now)

    def parse_token(self, status: int, body: bytes, now: float) -> Token:
        """The vendor's token answer."""
        return self.inner.parse_token(status, body, now)

    def headers(self, dep: Deployment, token: str | None = None) -> list[tuple[str, str]]:
        """The vendor's auth headers."""
        return self.inner.headers(dep, token)

    def sign(
        self, dep: Deployment, url: str, headers: list[tuple[str, str]], body: bytes, now: float
    ) -> list[tuple[str, str]]:
        """The vendor's request signing."""
        return self.inner.sign(dep, url, headers, body, now)

    def stream_parser(self, dep: Deployment) -> StreamParser:
        """The vendor's stream framing."""
        return self.inner.stream_parser(dep)

    def follow_up(
        self, dep: Deployment, op: Op, stream: bool, status: int, body: bytes
    ) -> UpstreamCall | None:
        """The vendor's polling, as for chat."""
        return self.inner.follow_up(dep, Op.CHAT, stream, status, body)

    def map_params(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op = Op.CHAT
    ) -> dict[str, msgspec.Raw]:
        """Unchanged here: the vendor's rules apply to the translated body instead."""
        return body

    def map_error(self, status: int, headers: dict[str, str], body: bytes) -> UpstreamError:
        """The vendor's error mapping."""
        return self.inner.map_error(status, headers, body)

    def encode_request(
        self, body: dict[str, msgspec.Raw], dep: Deployment, op: Op, stream: bool
    ) -> bytes:
        """Anthropic body -> OpenAI chat body -> the vendor's own chat encoding."""
        chat = to_chat_body(
            body,
            native=not self.inner.passthrough,
            stream=stream,
            include_usage=self.inner.caps.stream_usage,
        )
        chat = self.inner.map_params(chat, dep)
        return self.inner.encode_request(chat, dep, Op.CHAT, stream)

    def decode_response(self, raw: bytes, dep: Deployment, op: Op) -> Decoded:
        """The vendor's chat answer, turned into an Anthropic `message`."""
        decoded = self.inner.decode_response(raw, dep, Op.CHAT)
        body = anthropic_message(decoded.body, decoded.usage, decoded.model or dep.model)
        return Decoded(body=body, usage=decoded.usage, model=decoded.model)

    def new_stream(self, dep: Deployment, op: Op, include_usage: bool) -> ChunkTransformer:
        """The vendor's chat stream (with usage, for message_delta) as Anthropic events."""
        return MessagesStream(self.inner.new_stream(dep, Op.CHAT, True), dep.model)
