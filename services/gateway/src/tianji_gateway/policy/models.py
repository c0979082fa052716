"""`/models` and `/v1/models` for virtual keys: only the models the caller may use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response, get
from tianji_common.errors import NotFound

from tianji_gateway.policy.guard import visible_models

if TYPE_CHECKING:
    from litestar.types import ControllerRouterHandler

    from tianji_gateway.policy.store import PolicyStore
    from tianji_gateway.state import GatewayState

__all__ = ["policy_model_routes"]

_CREATED = 1677610602  # LiteLLM reports this fixed timestamp for config models


class _Model(msgspec.Struct):
    id: str
    object: str = "model"
    created: int = _CREATED
    owned_by: str = "openai"


class _ModelList(msgspec.Struct):
    data: list[_Model]
    object: str = "list"


def policy_model_routes(state: GatewayState, store: PolicyStore) -> list[ControllerRouterHandler]:
    """The model routes of `api/models.py`, filtered by the caller's allowed models."""

    def names(request: Request[Any, Any, Any]) -> list[str]:
        principal = state.auth.authenticate(request.headers)
        return visible_models(store, principal, state.router.model_names)

    @get(["/models", "/v1/models"], name="list_models")
    async def list_models(request: Request[Any, Any, Any]) -> Response[bytes]:
        body = _ModelList(data=[_Model(id=n) for n in names(request)])
        return Response(msgspec.json.encode(body), media_type="application/json")

    @get(["/models/{model_id:path}", "/v1/models/{model_id:path}"], name="get_model")
    async def get_model(request: Request[Any, Any, Any], model_id: str) -> Response[bytes]:
        name = model_id.lstrip("/")
        if name not in names(request):
            raise NotFound(
                f"The model `{name}` does not exist", param="model", code="model_not_found"
            )
        return Response(msgspec.json.encode(_Model(id=name)), media_type="application/json")

    return [list_models, get_model]
