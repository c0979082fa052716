"""`/organization/*`: LiteLLM's organization routes, with LiteLLM's HTTP methods.

LiteLLM serves `update` and `member_update` as PATCH and `delete` and
`member_delete` as DELETE (with a JSON body); scripts call them that way.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response, delete, get, patch, post
from tianji_common.errors import InvalidRequest

from tianji_control_plane.api._params import plain, required_param
from tianji_control_plane.api.state import ControlState, json_response
from tianji_control_plane.domain import orgs as domain
from tianji_control_plane.domain.bodies import decode_body
from tianji_control_plane.domain.user_bodies import (
    NewOrg,
    OrgMemberAdd,
    OrgMemberRef,
    OrgMemberUpdate,
    OrgsRef,
    UpdateOrg,
)
from tianji_control_plane.repo import orgs as org_repo

if TYPE_CHECKING:
    from litestar.types import ControllerRouterHandler

    from tianji_control_plane.domain.common import Ctx
    from tianji_control_plane.repo.records import OrgMemberRecord, OrgRecord, TeamRecord

__all__ = ["org_routes"]

_BUDGET_FIELDS = ("max_budget", "tpm_limit", "rpm_limit", "max_parallel_requests")


class _InfoRequest(msgspec.Struct, kw_only=True):
    """LiteLLM's deprecated `POST /organization/info` body."""

    organizations: list[str] = msgspec.field(default_factory=list)


def _org_view(org: OrgRecord) -> dict[str, Any]:
    """The org as LiteLLM shows it: its limits also under `litellm_budget_table`."""
    out = plain(org)
    budget = {name: out[name] for name in (*_BUDGET_FIELDS, "budget_duration")}
    return out | {"budget_id": None, "litellm_budget_table": budget}


def _member_view(member: OrgMemberRecord) -> dict[str, Any]:
    out = plain(member)
    out.pop("id")
    budget = {"max_budget": out.pop("max_budget")}
    return out | {"budget_id": None, "litellm_budget_table": budget}


def _full_view(
    org: OrgRecord, members: list[OrgMemberRecord], teams: list[TeamRecord]
) -> dict[str, Any]:
    return _org_view(org) | {
        "members": [_member_view(m) for m in members],
        "teams": [plain(t) for t in teams],
    }


async def _info(ctx: Ctx, organization_id: str) -> dict[str, Any]:
    org = await domain.get_org_or_404(ctx, organization_id)
    members = await org_repo.members_of(ctx.db, organization_id)
    return _full_view(org, members, await org_repo.teams_of(ctx.db, [organization_id]))


async def _list(ctx: Ctx) -> list[dict[str, Any]]:
    orgs = await org_repo.all_orgs(ctx.db)
    members: defaultdict[str, list[OrgMemberRecord]] = defaultdict(list)
    for member in await org_repo.all_members(ctx.db):
        members[member.organization_id].append(member)
    teams: defaultdict[str, list[TeamRecord]] = defaultdict(list)
    for team in await org_repo.teams_of(ctx.db, [o.organization_id for o in orgs]):
        teams[team.organization_id or ""].append(team)
    return [_full_view(o, members[o.organization_id], teams[o.organization_id]) for o in orgs]


def _member_routes(state: ControlState) -> list[ControllerRouterHandler]:
    @post("/organization/member_add", status_code=200)
    async def member_add(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), OrgMemberAdd)
        users, memberships = await domain.add_members(ctx, body)
        return json_response(
            {
                "organization_id": body.organization_id,
                "updated_users": [plain(u) for u in users],
                "updated_organization_memberships": [_member_view(m) for m in memberships],
            }
        )

    @patch("/organization/member_update", status_code=200)
    async def member_update(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), OrgMemberUpdate)
        return json_response(_member_view(await domain.update_member(ctx, body)))

    @delete("/organization/member_delete", status_code=200)
    async def member_delete(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), OrgMemberRef)
        return json_response(_member_view(await domain.delete_member(ctx, body)))

    return [member_add, member_update, member_delete]


def org_routes(state: ControlState) -> list[ControllerRouterHandler]:
    """Every `/organization/*` route of this slice, bound to `state`."""

    @post("/organization/new", status_code=200)
    async def new(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), NewOrg)
        return json_response(_org_view(await domain.new_org(ctx, body)))

    @patch("/organization/update", status_code=200)
    async def update(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), UpdateOrg)
        org = await domain.update_org(ctx, body)
        return json_response(await _info(ctx, org.organization_id))

    @delete("/organization/delete", status_code=200)
    async def delete_(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), OrgsRef)
        deleted = await domain.delete_orgs(ctx, body.organization_ids)
        return json_response([_org_view(o) for o in deleted])

    @get("/organization/info")
    async def info(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        return json_response(await _info(ctx, required_param(request, "organization_id")))

    @post("/organization/info", status_code=200)
    async def info_many(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        body = decode_body(await request.body(), _InfoRequest)
        if not body.organizations:
            raise InvalidRequest("organizations must list at least one id", param="organizations")
        return json_response([await _info(ctx, o) for o in body.organizations])

    @get("/organization/list")
    async def list_(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = await state.authorize(request)
        return json_response(await _list(ctx))

    return [new, update, delete_, info, info_many, list_, *_member_routes(state)]
