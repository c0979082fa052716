"""OpenAI-compatible LLM routes, with and without `/v1`, plus the Azure/engines forms.

Why handlers this thin: they adapt Litestar to `Pipeline` and nothing else, taking the
raw `Request` so no validation layer re-encodes the body (unknown params survive).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.response import Stream
from litestar.types import ControllerRouterHandler
from tianji_common.errors import ServiceUnavailable

from tianji_gateway.pipeline import Complete
from tianji_gateway.providers.base import Op
from tianji_gateway.request import parse_body
from tianji_gateway.state import GatewayState

__all__ = ["llm_routes"]

_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def _paths(op_path: str) -> list[str]:
    return [
        f"/{op_path}",
        f"/v1/{op_path}",
        f"/engines/{{model:str}}/{op_path}",
        f"/openai/deployments/{{model:str}}/{op_path}",
    ]


def llm_routes(state: GatewayState) -> list[ControllerRouterHandler]:
    """Build the handlers bound to this process's state."""
    pipeline, auth, life, settings = state.pipeline, state.auth, state.lifecycle, state.settings

    async def serve(request: Request[Any, Any, Any], op: Op, model: str | None) -> Response[Any]:
        if life.draining:
            raise ServiceUnavailable("server is shutting down", headers={"retry-after": "1"})
        principal = auth.authenticate(request.headers)
        raw = await request.body()
        forced = (
            settings.completion_model
            if op is Op.CHAT
            else (settings.embedding_model if op is Op.EMBEDDING else None)
        )
        parsed = parse_body(raw, model_override=forced or model)
        life.enter()
        try:
            result = await pipeline.run(op, principal, parsed)
        except BaseException:
            life.leave()
            raise
        if isinstance(result, Complete):
            life.leave()
            return Response(
                result.body,
                status_code=result.status,
                headers=result.headers,
                media_type="application/json",
            )
        headers = {**result.headers, **_SSE_HEADERS}
        return Stream(
            life.guard_stream(result.body), headers=headers, media_type="text/event-stream"
        )

    @post(_paths("chat/completions"), status_code=200, name="chat_completions")
    async def chat(request: Request[Any, Any, Any], model: str | None = None) -> Response[Any]:
        return await serve(request, Op.CHAT, model)

    @post(_paths("completions"), status_code=200, name="completions")
    async def completions(
        request: Request[Any, Any, Any], model: str | None = None
    ) -> Response[Any]:
        return await serve(request, Op.COMPLETION, model)

    @post(_paths("embeddings"), status_code=200, name="embeddings")
    async def embeddings(
        request: Request[Any, Any, Any], model: str | None = None
    ) -> Response[Any]:
        return await serve(request, Op.EMBEDDING, model)

    @post("/v1/messages", status_code=200, name="anthropic_messages")
    async def messages(request: Request[Any, Any, Any]) -> Response[Any]:
        return await serve(request, Op.MESSAGES, None)

    return [chat, completions, embeddings, messages]
