"""Liveness and readiness, unauthenticated as in LiteLLM (cheap: no provider calls).

Why: LiteLLM's `/health` calls every provider and costs money (PP-15); probes here
only report process state.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
from litestar import Response, get
from litestar.types import ControllerRouterHandler

__all__ = ["health_routes"]


class _Readiness(msgspec.Struct):
    status: str
    db: str
    litellm_version: str


def health_routes(
    *, ready: Callable[[], bool], db: Callable[[], str], version: str
) -> list[ControllerRouterHandler]:
    """`/health/liveliness` (LiteLLM's spelling), `/health/liveness`, `/health/readiness`."""

    @get(["/health/liveliness", "/health/liveness"], name="liveness", media_type="application/json")
    async def liveness() -> Response[bytes]:
        return Response(b'"I\'m alive!"', media_type="application/json")

    @get("/health/readiness", name="readiness")
    async def readiness() -> Response[bytes]:
        ok = ready()
        body = _Readiness("healthy" if ok else "unavailable", db(), version)
        return Response(
            msgspec.json.encode(body), status_code=200 if ok else 503, media_type="application/json"
        )

    return [liveness, readiness]
