"""A raw-ASGI fast path for the hottest LLM routes, in front of the Litestar app.

Why: measured with `benchmarks/run.py` on this project's 2-core machine, Litestar's
per-request machinery (router, middleware stack, Request/Response objects) was the
largest avoidable CPU cost on the chat path; see the figures in `docs/benchmarks.md`.
The card's Litestar still serves every other route, the lifespan and the error
handling; this module only serves exact-path POSTs to chat/completions, completions,
embeddings and /v1/messages, through the same `serve` function the Litestar handlers
use, so behaviour is identical (tests run the same suites against both).

Streams follow Litestar's `Stream` semantics: a disconnect listener races the body
pump, and a client that goes away cancels the relay (its `finally` records usage).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from tianji_common.errors import GatewayError, PayloadTooLarge, encode_error

from tianji_gateway.pipeline import Complete, Streaming
from tianji_gateway.providers.base import Op

__all__ = ["FastPath", "Serve"]

log = logging.getLogger("tianji.gateway.fastpath")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Serve = Callable[[Op, Mapping[str, str], bytes, str | None], Awaitable[Complete | Streaming]]

_ROUTES: dict[str, Op] = {
    "/chat/completions": Op.CHAT,
    "/v1/chat/completions": Op.CHAT,
    "/completions": Op.COMPLETION,
    "/v1/completions": Op.COMPLETION,
    "/embeddings": Op.EMBEDDING,
    "/v1/embeddings": Op.EMBEDDING,
    "/v1/messages": Op.MESSAGES,
    "/rerank": Op.RERANK,
    "/v1/rerank": Op.RERANK,
    "/v2/rerank": Op.RERANK,
    "/images/generations": Op.IMAGE_GENERATION,
    "/v1/images/generations": Op.IMAGE_GENERATION,
    "/audio/speech": Op.AUDIO_SPEECH,
    "/v1/audio/speech": Op.AUDIO_SPEECH,
    "/audio/transcriptions": Op.AUDIO_TRANSCRIPTION,
    "/v1/audio/transcriptions": Op.AUDIO_TRANSCRIPTION,
}
_JSON = (b"content-type", b"application/json")
_SSE = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class _ClientGone(Exception):
    """The client disconnected while we were reading its body."""


def _encode_headers(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


class FastPath:
    """Serve the hot routes directly; hand everything else to the wrapped app."""

    def __init__(self, app: ASGIApp, serve: Serve, *, max_body: int) -> None:
        self._app = app
        self._serve = serve
        self._max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] == "http" and scope["method"] == "POST":
            op = _ROUTES.get(scope["path"])
            if op is not None:
                await self._handle(op, scope, receive, send)
                return
        await self._app(scope, receive, send)

    async def _handle(self, op: Op, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = await self._read_body(headers, receive)
            result = await self._serve(op, headers, body, None)
        except _ClientGone:
            return
        except GatewayError as exc:
            await _send_error(send, exc)
            return
        except Exception:
            log.exception("unhandled error on POST %s", scope["path"])
            await _send_error(send, GatewayError("internal server error"))
            return
        if isinstance(result, Complete):
            headers_out = _encode_headers(result.headers)
            if "content-type" not in result.headers:  # audio and text answers name theirs
                headers_out.insert(0, _JSON)
            await send(
                {"type": "http.response.start", "status": result.status, "headers": headers_out}
            )
            await send({"type": "http.response.body", "body": result.body})
            return
        await _stream(send, receive, result)

    async def _read_body(self, headers: dict[str, str], receive: Receive) -> bytes:
        announced = headers.get("content-length")
        if announced is not None and announced.isdigit() and int(announced) > self._max_body:
            raise _too_large()
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > self._max_body:
                    raise _too_large()
                parts.append(chunk)
            if not message.get("more_body", False):
                return parts[0] if len(parts) == 1 else b"".join(parts)


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        "request body is larger than the configured limit (general_settings.max_request_size_mb)"
    )


async def _send_error(send: Send, exc: GatewayError) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": exc.http_status,
            "headers": [_JSON, *_encode_headers(exc.response_headers())],
        }
    )
    await send({"type": "http.response.body", "body": encode_error(exc)})


async def _stream(send: Send, receive: Receive, result: Streaming) -> None:
    body: AsyncIterator[bytes] = result.body
    pump = asyncio.ensure_future(_pump(send, result))
    gone = asyncio.ensure_future(_wait_disconnect(receive))
    try:
        await asyncio.wait({pump, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not pump.done():
            pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump
        await body.aclose()  # type: ignore[attr-defined]  # async generators have aclose


async def _pump(send: Send, result: Streaming) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*_SSE, *_encode_headers(result.headers)],
        }
    )
    async for chunk in result.body:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
