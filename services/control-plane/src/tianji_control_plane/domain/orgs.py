"""Organizations and their members (LiteLLM's `/organization/*`).

Deleting an org that still has teams is refused (400). This differs from LiteLLM on
purpose: LiteLLM's `delete_organization` deletes the org's teams, memberships and
keys with it, which loses keys silently. Delete or move the teams first.

Members are users; `member_add` creates a user that does not exist yet, as LiteLLM's
`add_member_to_organization` does.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import msgspec
from msgspec import UNSET
from tianji_common.errors import InvalidRequest, NotFound

from tianji_control_plane.domain.common import Ctx, write
from tianji_control_plane.domain.users import check_budget_duration, check_email
from tianji_control_plane.repo import orgs as org_repo
from tianji_control_plane.repo import users as user_repo
from tianji_control_plane.repo.records import OrgMemberRecord, OrgRecord, UserRecord

if TYPE_CHECKING:
    from tianji_control_plane.domain.common import Changes
    from tianji_control_plane.domain.user_bodies import (
        NewOrg,
        OrgMember,
        OrgMemberAdd,
        OrgMemberRef,
        OrgMemberUpdate,
        UpdateOrg,
    )

__all__ = [
    "add_members",
    "delete_member",
    "delete_orgs",
    "get_org_or_404",
    "new_org",
    "update_member",
    "update_org",
]

_TABLE: Final = "tianji_organization"
_MEMBER_TABLE: Final = "tianji_organization_membership"
_USER_TABLE: Final = "tianji_user"


def _not_found(organization_id: str) -> NotFound:
    return NotFound(
        f"Organization not found for organization_id={organization_id}", param="organization_id"
    )


async def new_org(ctx: Ctx, req: NewOrg) -> OrgRecord:
    """Create an org (id generated unless given)."""
    if not req.organization_alias.strip():
        raise InvalidRequest("organization_alias must not be empty", param="organization_alias")
    now = datetime.now(UTC)
    fields = msgspec.structs.asdict(req)
    fields["organization_id"] = req.organization_id or str(uuid.uuid4())
    record = OrgRecord(
        **fields,
        budget_reset_at=check_budget_duration(req.budget_duration),
        created_at=now,
        created_by=ctx.actor,
        updated_at=now,
        updated_by=ctx.actor,
    )
    async with write(ctx) as changes:
        if await org_repo.get_org(ctx.db, record.organization_id) is not None:
            raise InvalidRequest(
                f"Organization id = {record.organization_id} already exists.",
                param="organization_id",
            )
        stored = await org_repo.insert_org(ctx.db, record)
        await ctx.audit("created", _TABLE, stored.organization_id, None, stored)
        changes.orgs[stored.organization_id] = stored
    return stored


async def get_org_or_404(ctx: Ctx, organization_id: str) -> OrgRecord:
    """The org, or 404."""
    record = await org_repo.get_org(ctx.db, organization_id)
    if record is None:
        raise _not_found(organization_id)
    return record


def _update_values(req: UpdateOrg, actor: str) -> dict[str, Any]:
    values = {
        name: value
        for name, value in msgspec.structs.asdict(req).items()
        if value is not UNSET and name != "organization_id"
    }
    if "organization_alias" in values and not values["organization_alias"].strip():
        raise InvalidRequest("organization_alias must not be empty", param="organization_alias")
    for name, empty in (("models", []), ("metadata", {})):
        if name in values and values[name] is None:
            values[name] = empty
    if "budget_duration" in values:
        values["budget_reset_at"] = check_budget_duration(values["budget_duration"])
    return values | {"updated_at": datetime.now(UTC), "updated_by": actor}


async def update_org(ctx: Ctx, req: UpdateOrg) -> OrgRecord:
    """Change the fields present in the body (PATCH)."""
    values = _update_values(req, ctx.actor)
    async with write(ctx) as changes:
        before = await get_org_or_404(ctx, req.organization_id)
        after = await org_repo.update_org(ctx.db, req.organization_id, values)
        assert after is not None  # read in this transaction
        await ctx.audit("updated", _TABLE, req.organization_id, before, after)
        changes.orgs[after.organization_id] = after
    return after


async def delete_orgs(ctx: Ctx, organization_ids: list[str]) -> list[OrgRecord]:
    """Delete every org listed, or none: 404 if one is missing, 400 if one has teams."""
    if not organization_ids:
        raise InvalidRequest(
            "organization_ids must list at least one organization", param="organization_ids"
        )
    async with write(ctx) as changes:
        found = {o.organization_id: o for o in await org_repo.get_orgs(ctx.db, organization_ids)}
        missing = [o for o in organization_ids if o not in found]
        if missing:
            raise NotFound(f"Organizations not found: {missing}", param="organization_ids")
        teams = await org_repo.teams_of(ctx.db, list(found))
        if teams:
            raise InvalidRequest(
                "Cannot delete an organization that still has teams: "
                f"{sorted({t.team_id for t in teams})}. Delete or move them first.",
                param="organization_ids",
            )
        for org in found.values():
            await ctx.audit("deleted", _TABLE, org.organization_id, org, None)
            changes.orgs[org.organization_id] = None
        await org_repo.delete_orgs(ctx.db, list(found))
    return [found[o] for o in organization_ids]


async def _user_for(ctx: Ctx, changes: Changes, member: OrgMember) -> UserRecord:
    """The member's user, created as an internal user when it does not exist yet."""
    if member.user_id is None and member.user_email is None:
        raise InvalidRequest("Either user_id or user_email must be provided", param="member")
    check_email(member.user_email)
    if member.user_id is not None:
        user = await user_repo.get_user(ctx.db, member.user_id)
    else:
        assert member.user_email is not None  # checked above
        user = await user_repo.get_user_by_email(ctx.db, member.user_email)
    if user is not None:
        return user
    now = datetime.now(UTC)
    record = UserRecord(
        user_id=member.user_id or str(uuid.uuid4()),
        user_email=member.user_email,
        user_role="internal_user",
        created_at=now,
        updated_at=now,
    )
    stored = await user_repo.insert_user(ctx.db, record)
    await ctx.audit("created", _USER_TABLE, stored.user_id, None, stored)
    changes.users[stored.user_id] = stored
    return stored


def _membership(
    organization_id: str, user_id: str, role: str, budget: float | None
) -> OrgMemberRecord:
    now = datetime.now(UTC)
    return OrgMemberRecord(
        id=org_repo.member_id(organization_id, user_id),
        organization_id=organization_id,
        user_id=user_id,
        user_role=role,
        max_budget=budget,
        created_at=now,
        updated_at=now,
    )


async def add_members(
    ctx: Ctx, req: OrgMemberAdd
) -> tuple[list[UserRecord], list[OrgMemberRecord]]:
    """Add (or re-role) each member; all of them or none."""
    members = req.member if isinstance(req.member, list) else [req.member]
    if not members:
        raise InvalidRequest("member must list at least one member", param="member")
    users: list[UserRecord] = []
    memberships: list[OrgMemberRecord] = []
    async with write(ctx) as changes:
        await get_org_or_404(ctx, req.organization_id)
        for member in members:
            user = await _user_for(ctx, changes, member)
            before = await org_repo.get_member(ctx.db, req.organization_id, user.user_id)
            record = _membership(
                req.organization_id, user.user_id, member.role, req.max_budget_in_organization
            )
            stored = await org_repo.upsert_member(ctx.db, record)
            await ctx.audit(
                "updated" if before else "created", _MEMBER_TABLE, stored.id, before, stored
            )
            users.append(user)
            memberships.append(stored)
    return users, memberships


async def _member_or_404(ctx: Ctx, ref: OrgMemberRef | OrgMemberUpdate) -> OrgMemberRecord:
    await get_org_or_404(ctx, ref.organization_id)
    user_id = ref.user_id
    if user_id is None and ref.user_email is not None:
        user = await user_repo.get_user_by_email(ctx.db, ref.user_email)
        user_id = None if user is None else user.user_id
    elif user_id is None:
        raise InvalidRequest("Either user_id or user_email must be provided", param="user_id")
    found = (
        None if user_id is None else await org_repo.get_member(ctx.db, ref.organization_id, user_id)
    )
    if found is None:
        who = ref.user_id or ref.user_email
        raise NotFound(
            f"User {who} is not a member of organization_id={ref.organization_id}",
            param="user_id" if ref.user_id else "user_email",
        )
    return found


async def update_member(ctx: Ctx, req: OrgMemberUpdate) -> OrgMemberRecord:
    """Change a member's role and/or budget in the org."""
    async with write(ctx):
        before = await _member_or_404(ctx, req)
        budget = before.max_budget
        if req.max_budget_in_organization is not None:
            budget = req.max_budget_in_organization
        record = _membership(
            before.organization_id, before.user_id, req.role or before.user_role, budget
        )
        after = await org_repo.upsert_member(ctx.db, record)
        await ctx.audit("updated", _MEMBER_TABLE, after.id, before, after)
    return after


async def delete_member(ctx: Ctx, req: OrgMemberRef) -> OrgMemberRecord:
    """Remove a member from the org (the user stays)."""
    async with write(ctx):
        before = await _member_or_404(ctx, req)
        await org_repo.delete_member(ctx.db, before.organization_id, before.user_id)
        await ctx.audit("deleted", _MEMBER_TABLE, before.id, before, None)
    return before
