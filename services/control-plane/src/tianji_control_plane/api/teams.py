"""`/team/*`: LiteLLM's team routes, paths and payloads as LiteLLM has them.

Every route is a POST or GET as in LiteLLM (`/team/update` and `/team/delete` are
POSTs there, unlike the organization routes).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, get, post

from tianji_control_plane.api._params import plain, required_param
from tianji_control_plane.api.state import ControlState, json_response
from tianji_control_plane.domain import teams as domain
from tianji_control_plane.domain.bodies import TeamRef, decode_body
from tianji_control_plane.domain.team_bodies import (
    NewTeam,
    TeamMemberAdd,
    TeamMemberRef,
    TeamMemberUpdate,
    TeamModels,
    TeamsRef,
    UpdateTeam,
)
from tianji_control_plane.repo import memberships as member_repo
from tianji_control_plane.repo.budgets import get_budgets
from tianji_control_plane.repo.keys import list_keys
from tianji_control_plane.repo.teams import TeamFilter, list_teams

if TYPE_CHECKING:
    from litestar.types import ControllerRouterHandler

    from tianji_control_plane.domain.common import Ctx
    from tianji_control_plane.repo.db import Db
    from tianji_control_plane.repo.memberships import TeamMembershipRecord
    from tianji_control_plane.repo.records import KeyRecord

__all__ = ["team_routes"]

_ALL_KEYS = 1 << 30


async def _membership_views(
    db: Db, memberships: list[TeamMembershipRecord]
) -> list[dict[str, Any]]:
    """LiteLLM's `LiteLLM_TeamMembership`: the row plus its budget row, if any."""
    ids = [m.budget_id for m in memberships if m.budget_id]
    budgets = {b.budget_id: plain(b) for b in await get_budgets(db, ids)}
    views = []
    for membership in memberships:
        view = plain(membership)
        view.pop("id")
        view["litellm_budget_table"] = budgets.get(membership.budget_id or "")
        views.append(view)
    return views


async def _keys_of(db: Db, team_id: str) -> list[KeyRecord]:
    keys, _ = await list_keys(db, page=1, size=_ALL_KEYS, filters={"team_id": team_id})
    return keys


async def _info(ctx: Ctx, team_id: str) -> dict[str, Any]:
    team = await domain.get_team_or_404(ctx, team_id)
    memberships = await member_repo.memberships_of(ctx.db, [team_id])
    return {
        "team_id": team_id,
        "team_info": team,
        "keys": await _keys_of(ctx.db, team_id),
        "team_memberships": await _membership_views(ctx.db, memberships),
    }


async def _list(ctx: Ctx, where: TeamFilter) -> list[dict[str, Any]]:
    """LiteLLM's `TeamListResponseObject`s: each team with its memberships and keys."""
    teams = await list_teams(ctx.db, where)
    ids = [t.team_id for t in teams]
    by_team: defaultdict[str, list[TeamMembershipRecord]] = defaultdict(list)
    for membership in await member_repo.memberships_of(ctx.db, ids, where.user_id):
        by_team[membership.team_id].append(membership)
    return [
        plain(team)
        | {
            "team_memberships": await _membership_views(ctx.db, by_team[team.team_id]),
            "keys": [plain(k) for k in await _keys_of(ctx.db, team.team_id)],
        }
        for team in teams
    ]


def _member_routes(state: ControlState) -> list[ControllerRouterHandler]:
    @post("/team/member_add", status_code=200)
    async def member_add(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), TeamMemberAdd)
        team, users, memberships = await domain.add_members(ctx, body)
        return json_response(
            plain(team)
            | {
                "updated_users": [plain(u) for u in users],
                "updated_team_memberships": await _membership_views(ctx.db, memberships),
            }
        )

    @post("/team/member_delete", status_code=200)
    async def member_delete(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), TeamMemberRef)
        return json_response(await domain.delete_member(ctx, body))

    @post("/team/member_update", status_code=200)
    async def member_update(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), TeamMemberUpdate)
        return json_response(await domain.update_member(ctx, body))

    async def _models(request: Request[Any, Any, Any], *, add: bool) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), TeamModels)
        return json_response(await domain.change_models(ctx, body, add=add))

    @post("/team/model/add", status_code=200)
    async def model_add(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await _models(request, add=True)

    @post("/team/model/delete", status_code=200)
    async def model_delete(request: Request[Any, Any, Any]) -> Response[bytes]:
        return await _models(request, add=False)

    return [member_add, member_delete, member_update, model_add, model_delete]


def team_routes(state: ControlState) -> list[ControllerRouterHandler]:
    """Every `/team/*` route of this slice, bound to `state`."""

    @post("/team/new", status_code=200)
    async def new(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), NewTeam)
        return json_response(await domain.new_team(ctx, body))

    @post("/team/update", status_code=200)
    async def update(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), UpdateTeam)
        team = await domain.update_team(ctx, body)
        return json_response({"team_id": team.team_id, "data": team})

    @post("/team/delete", status_code=200)
    async def delete_(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), TeamsRef)
        return json_response({"deleted_teams": await domain.delete_teams(ctx, body.team_ids)})

    @get("/team/info")
    async def info(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        return json_response(await _info(ctx, required_param(request, "team_id")))

    @get("/team/list")
    async def list_(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        params = request.query_params
        where = TeamFilter(
            user_id=params.get("user_id") or None,
            organization_id=params.get("organization_id") or None,
        )
        return json_response(await _list(ctx, where))

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

    return [new, update, delete_, info, list_, block, unblock, *_member_routes(state)]
