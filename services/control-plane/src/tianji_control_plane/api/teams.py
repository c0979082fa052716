"""`/team/new|info|list|block|unblock`: enough for keys to reference a team."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.types import ControllerRouterHandler
from tianji_common.errors import InvalidRequest

from tianji_control_plane.api.state import ControlState, json_response
from tianji_control_plane.domain import teams as domain
from tianji_control_plane.domain.bodies import NewTeam, TeamRef, decode_body
from tianji_control_plane.repo.keys import list_keys
from tianji_control_plane.repo.teams import all_teams

__all__ = ["team_routes"]

_INFO_KEYS = 1000  # keys shown in /team/info


def team_routes(state: ControlState) -> list[ControllerRouterHandler]:
    """The team routes of this slice, bound to `state`."""

    @post("/team/new", status_code=200)
    async def new(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), NewTeam)
        return json_response(await domain.new_team(ctx, body))

    @get("/team/info")
    async def info(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        team_id = request.query_params.get("team_id")
        if not team_id:
            raise InvalidRequest("missing query parameter: team_id", param="team_id", status=422)
        team = await domain.get_team_or_404(ctx, team_id)
        keys, _ = await list_keys(ctx.db, page=1, size=_INFO_KEYS, filters={"team_id": team_id})
        return json_response(
            {
                "team_id": team_id,
                "team_info": team,
                "keys": [msgspec.to_builtins(k) for k in keys],
                "team_memberships": [],
            }
        )

    @get("/team/list")
    async def list_(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        return json_response(await all_teams(ctx.db))

    async def _block(request: Request[Any, Any, Any], *, blocked: bool) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), TeamRef)
        return json_response(await domain.set_team_blocked(ctx, body.team_id, blocked=blocked))

    @post("/team/block", status_code=200)
    async def block(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await _block(request, blocked=True)

    @post("/team/unblock", status_code=200)
    async def unblock(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await _block(request, blocked=False)

    return [new, info, list_, block, unblock]
