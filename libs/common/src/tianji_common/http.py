"""HTTP pieces every Litestar service shares: error rendering and composition.

Why here: gateway and control plane must answer errors in the same OpenAI/LiteLLM
shape, and the all-in-one composes both services' routes into one app, so each
service exposes a `Component` instead of owning the app.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, Request, Response
from litestar.exceptions import HTTPException, NotFoundException
from litestar.plugins import PluginProtocol
from litestar.plugins.core import MsgspecDIPlugin
from litestar.types import ASGIApp, ControllerRouterHandler

from tianji_common.errors import (
    GatewayError,
    InvalidRequest,
    NotFound,
    NotImplementedFeature,
    PayloadTooLarge,
    encode_error,
)
from tianji_common.routes import load_catalog

__all__ = ["Component", "compose_app", "error_response", "exception_handlers"]

log = logging.getLogger("tianji.http")

Hook = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Component:
    """A service's routes and lifecycle hooks, ready to be composed into an app."""

    name: str
    routes: Sequence[ControllerRouterHandler]
    on_startup: Sequence[Hook] = ()
    on_shutdown: Sequence[Hook] = ()
    ready: Callable[[], bool] = field(default=lambda: True)
    # Optional ASGI wrapper around the composed app (the gateway's raw fast path).
    wrap: Callable[[ASGIApp], ASGIApp] | None = None


def error_response(err: GatewayError) -> Response[bytes]:
    """Render an error as OpenAI's `{"error": {...}}` with its headers."""
    return Response(
        content=encode_error(err),
        status_code=err.http_status,
        media_type="application/json",
        headers=err.response_headers(),
    )


def _gateway_error(_: Request[Any, Any, Any], exc: GatewayError) -> Response[bytes]:
    return error_response(exc)


def _not_found(request: Request[Any, Any, Any], exc: NotFoundException) -> Response[bytes]:
    """Unknown path: 501 naming the feature if LiteLLM serves it, else 404."""
    info = load_catalog().match(request.method, request.url.path)
    if info is not None:
        return error_response(
            NotImplementedFeature(
                f"{request.method} {info.template} ({info.area}) is not implemented "
                "in TianjiLLM yet"
            )
        )
    return error_response(NotFound(f"no route for {request.method} {request.url.path}"))


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    if exc.status_code == 404:
        return _not_found(request, NotFoundException())
    if exc.status_code == 413:
        return error_response(
            PayloadTooLarge(
                "request body is larger than the configured "
                "limit (general_settings.max_request_size_mb)"
            )
        )
    if exc.status_code == 405:
        info = load_catalog().match(request.method, request.url.path)
        if info is not None and info.method == request.method:
            return _not_found(request, NotFoundException())
        return error_response(GatewayError(f"method {request.method} not allowed", status=405))
    if exc.status_code >= 500:
        log.error("internal error: %s", exc.detail)
        return error_response(GatewayError("internal server error"))
    return error_response(InvalidRequest(str(exc.detail), status=exc.status_code))


def _unhandled(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    # Log the type and where, never the request body or headers (may hold keys).
    log.error(
        "unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc
    )
    return error_response(GatewayError("internal server error"))


def exception_handlers() -> dict[type[Exception] | int, Any]:
    """The shared handler table for `Litestar(exception_handlers=...)`."""
    return {
        GatewayError: _gateway_error,
        NotFoundException: _not_found,
        HTTPException: _http_error,
        Exception: _unhandled,
    }


class _MsgspecOnlyLitestar(Litestar):
    """Litestar without its automatic pydantic/attrs plugins.

    Why: piccolo (the control plane's ORM) installs pydantic, and Litestar then imports
    it to register plugins: +13 MB of RSS in every process, measured, for models no
    route of ours uses (bodies are msgspec Structs or raw bytes). Overrides a private
    hook, so `test_http.py` asserts pydantic stays unimported; uv.lock pins Litestar.
    """

    @staticmethod
    def _get_default_plugins(plugins: list[PluginProtocol]) -> list[PluginProtocol]:
        plugins.append(MsgspecDIPlugin())
        return plugins


def compose_app(
    components: Sequence[Component],
    *,
    max_body: int,
    version: str,
    db_status: str = "Not connected",
) -> ASGIApp:
    """One Litestar app serving the components plus the health probes.

    Readiness is the AND of every component's; shutdown hooks run in reverse order, so
    the gateway drains before the components it depends on close.
    """
    from tianji_common.health import health_routes

    routes = [h for c in components for h in c.routes]

    def ready() -> bool:
        return all(c.ready() for c in components)

    routes.extend(health_routes(ready=ready, db=lambda: db_status, version=version))
    app: ASGIApp = _MsgspecOnlyLitestar(
        route_handlers=routes,
        on_startup=[h for c in components for h in c.on_startup],
        on_shutdown=[h for c in reversed(components) for h in c.on_shutdown],
        exception_handlers=exception_handlers(),
        request_max_body_size=max_body,
        openapi_config=None,
        logging_config=None,  # keep our redacting handlers (litestar would replace them)
        debug=False,
    )
    for component in components:
        if component.wrap is not None:
            app = component.wrap(app)
    return app
