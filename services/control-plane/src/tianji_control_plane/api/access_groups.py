"""`/access_group/*`: LiteLLM's model access group routes, paths and payloads as LiteLLM's.

Each is also served under `/model_access_group/*` (the name of LiteLLM's module,
`model_access_group_management_endpoints.py`, which issue 3 used); the paths LiteLLM
itself serves are the `/access_group/*` ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Response, delete, get, post, put
from litestar.params import FromPath

from tianji_control_plane.api.state import ControlState, json_response
from tianji_control_plane.domain import access_groups as domain
from tianji_control_plane.domain.access_groups import GroupBody, deployment_count
from tianji_control_plane.domain.bodies import decode_body
from tianji_control_plane.domain.models import all_deployments
from tianji_control_plane.repo.access_groups import all_access_groups

if TYPE_CHECKING:
    from collections.abc import Sequence

    from litestar.types import ControllerRouterHandler

    from tianji_control_plane.domain.models import Deployment
    from tianji_control_plane.repo.access_groups import AccessGroupRow

__all__ = ["access_group_routes"]


def _info(row: AccessGroupRow, deps: Sequence[Deployment]) -> dict[str, Any]:
    """LiteLLM's `AccessGroupInfo` (group budgets are not modelled: none, nothing spent)."""
    return {
        "access_group": row.access_group,
        "model_names": sorted(row.model_names),
        "deployment_count": deployment_count(row.model_names, deps),
        "spend": 0.0,
        "budget": None,
    }


def _changed(row: AccessGroupRow, body: GroupBody, deps: Sequence[Deployment]) -> dict[str, Any]:
    """LiteLLM's `NewModelGroupResponse`."""
    return {
        "access_group": row.access_group,
        "model_names": row.model_names,
        "model_ids": body.model_ids,
        "models_updated": deployment_count(row.model_names, deps),
    }


def access_group_routes(
    state: ControlState, config: Sequence[Deployment]
) -> list[ControllerRouterHandler]:
    """Every `/access_group/*` route, bound to `state` and the config's deployments."""

    @post(["/access_group/new", "/model_access_group/new"], status_code=200)
    async def new(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), GroupBody)
        deps = await all_deployments(ctx.db, config)
        row = await domain.create_group(ctx, body, deps)
        return json_response(_changed(row, body, deps))

    @get(["/access_group/list", "/model_access_group/list"])
    async def list_(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        deps = await all_deployments(ctx.db, config)
        rows = await all_access_groups(ctx.db)
        return json_response({"access_groups": [_info(r, deps) for r in rows]})

    @get(["/access_group/{access_group:str}/info", "/model_access_group/{access_group:str}/info"])
    async def info(request: Request[Any, Any, Any], access_group: FromPath[str]) -> Response[bytes]:
        ctx = await state.authorize(request)
        row = await domain.get_group_or_404(ctx.db, access_group)
        return json_response(_info(row, await all_deployments(ctx.db, config)))

    @put(
        [
            "/access_group/{access_group:str}/update",
            "/model_access_group/{access_group:str}/update",
        ],
        status_code=200,
    )
    async def update(
        request: Request[Any, Any, Any], access_group: FromPath[str]
    ) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), GroupBody)
        deps = await all_deployments(ctx.db, config)
        row = await domain.update_group(ctx, access_group, body, deps)
        return json_response(_changed(row, body, deps))

    @delete(
        [
            "/access_group/{access_group:str}/delete",
            "/model_access_group/{access_group:str}/delete",
        ],
        status_code=200,
    )
    async def remove(
        request: Request[Any, Any, Any], access_group: FromPath[str]
    ) -> Response[bytes]:
        ctx = await state.authorize(request)
        row = await domain.delete_group(ctx, access_group)
        deps = await all_deployments(ctx.db, config)
        return json_response(
            {
                "access_group": access_group,
                "models_updated": deployment_count(row.model_names, deps),
                "message": f"Access group '{access_group}' deleted successfully",
            }
        )

    return [new, list_, info, update, remove]
