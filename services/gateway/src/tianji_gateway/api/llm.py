"""OpenAI-compatible LLM routes, with and without `/v1`, plus the Azure/engines forms.

Why handlers this thin: `make_serve` adapts a request (headers, raw body) to
`Pipeline` and nothing else, so no validation layer re-encodes the body (unknown
params survive). The same function backs the Litestar handlers below and the raw-ASGI
fast path (`tianji_gateway.fastpath`) that serves the hottest exact paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Request, Response, post
from litestar.response import Stream
from litestar.types import ControllerRouterHandler
from tianji_common.errors import ServiceUnavailable

from tianji_gateway.fastpath import Serve
from tianji_gateway.pipeline import Complete, Streaming
from tianji_gateway.providers.base import Op
from tianji_gateway.request import parse_body
from tianji_gateway.state import GatewayState

__all__ = ["llm_routes", "make_serve"]

_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def make_serve(state: GatewayState) -> Serve:
    """One request through auth, parsing and the pipeline, counted as in flight."""
    pipeline, auth, life, settings = state.pipeline, state.auth, state.lifecycle, state.settings

    async def serve(
        op: Op, headers: Mapping[str, str], raw: bytes, model: str | None
    ) -> Complete | Streaming:
        if life.draining:
            raise ServiceUnavailable("server is shutting down", headers={"retry-after": "1"})
        principal = auth.authenticate(headers)
        forced = (
            settings.completion_model
            if op is Op.CHAT
            else settings.embedding_model
            if op is Op.EMBEDDING
            else None
        )
        parsed = parse_body(
            raw, model_override=forced or model, content_type=headers.get("content-type")
        )
        life.enter()
        try:
            result = await pipeline.run(op, principal, parsed)
        except BaseException:
            life.leave()
            raise
        if isinstance(result, Complete):
            life.leave()
            return result
        return Streaming(result.headers, life.guard_stream(result.body))

    return serve


def _paths(op_path: str) -> list[str]:
    # The exact paths (/v1/chat/completions, ...) are served by the raw-ASGI fast path.
    return [
        f"/engines/{{model:str}}/{op_path}",
        f"/openai/deployments/{{model:str}}/{op_path}",
    ]


def llm_routes(serve: Serve) -> list[ControllerRouterHandler]:
    """Litestar handlers for the path-parameter forms (Azure deployments, engines)."""

    async def handle(request: Request[Any, Any, Any], op: Op, model: str | None) -> Response[Any]:
        result = await serve(op, request.headers, await request.body(), model)
        if isinstance(result, Complete):
            return Response(
                result.body,
                status_code=result.status,
                headers=result.headers,
                media_type=result.headers.get("content-type", "application/json"),
            )
        return Stream(
            result.body, headers={**result.headers, **_SSE_HEADERS}, media_type="text/event-stream"
        )

    @post(_paths("chat/completions"), status_code=200, name="chat_completions")
    async def chat(request: Request[Any, Any, Any], model: str | None = None) -> Response[Any]:
        return await handle(request, Op.CHAT, model)

    @post(_paths("completions"), status_code=200, name="completions")
    async def completions(
        request: Request[Any, Any, Any], model: str | None = None
    ) -> Response[Any]:
        return await handle(request, Op.COMPLETION, model)

    @post(_paths("embeddings"), status_code=200, name="embeddings")
    async def embeddings(
        request: Request[Any, Any, Any], model: str | None = None
    ) -> Response[Any]:
        return await handle(request, Op.EMBEDDING, model)

    @post(
        "/openai/deployments/{model:str}/images/generations", status_code=200, name="azure_images"
    )
    async def images(request: Request[Any, Any, Any], model: str) -> Response[Any]:
        return await handle(request, Op.IMAGE_GENERATION, model)

    @post(
        "/openai/deployments/{model:str}/audio/transcriptions",
        status_code=200,
        name="azure_transcriptions",
    )
    async def transcriptions(request: Request[Any, Any, Any], model: str) -> Response[Any]:
        return await handle(request, Op.AUDIO_TRANSCRIPTION, model)

    return [chat, completions, embeddings, images, transcriptions]
