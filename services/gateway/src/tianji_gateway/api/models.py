"""`/models` and `/v1/models`: the public model names, in OpenAI's list shape."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.types import ControllerRouterHandler
from tianji_common.errors import NotFound

from tianji_gateway.state import GatewayState

__all__ = ["model_routes"]

_CREATED = 1677610602  # LiteLLM reports this fixed timestamp for config models


class _Model(msgspec.Struct):
    id: str
    object: str = "model"
    created: int = _CREATED
    owned_by: str = "openai"


class _ModelList(msgspec.Struct):
    data: list[_Model]
    object: str = "list"


def model_routes(state: GatewayState) -> list[ControllerRouterHandler]:
    """List and fetch models; the caller must be authenticated."""

    @get(["/models", "/v1/models"], name="list_models")
    async def list_models(request: Request[Any, Any, Any]) -> Response[bytes]:
        state.auth.authenticate(request.headers)
        body = _ModelList(data=[_Model(id=n) for n in state.router.model_names])
        return Response(msgspec.json.encode(body), media_type="application/json")

    @get(["/models/{model_id:path}", "/v1/models/{model_id:path}"], name="get_model")
    async def get_model(request: Request[Any, Any, Any], model_id: str) -> Response[bytes]:
        state.auth.authenticate(request.headers)
        name = model_id.lstrip("/")
        if name not in state.router.model_names:
            raise NotFound(
                f"The model `{name}` does not exist", param="model", code="model_not_found"
            )
        return Response(msgspec.json.encode(_Model(id=name)), media_type="application/json")

    return [list_models, get_model]
