"""Teams (LiteLLM's `/team/*`): the team row, its members and their memberships.

A member is kept three ways, as LiteLLM keeps it: an entry `{"user_id",
"user_email", "role"}` in the team's `members_with_roles`, the team id in the
user's `teams`, and a `tianji_team_membership` row holding the member's spend and
budget in the team. LiteLLM writes the membership row only when the member gets a
budget; we write it for every member, so per-member spend always has a row.

Deleting a team deletes its keys, memberships and member budgets, and removes it
from its members' `teams` (LiteLLM's `/team/delete`). Every change happens inside
one `write(ctx)`: a failing request leaves nothing behind.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import msgspec
from msgspec import UNSET
from tianji_common.errors import InvalidRequest, NotFound
from tianji_common.policy import BudgetPolicy

from tianji_control_plane.domain.budgets import change_budget, create_budget
from tianji_control_plane.domain.common import Ctx, write
from tianji_control_plane.domain.users import check_budget_duration, check_email
from tianji_control_plane.repo import budgets as budget_repo
from tianji_control_plane.repo import keys as key_repo
from tianji_control_plane.repo import memberships as member_repo
from tianji_control_plane.repo import teams as team_repo
from tianji_control_plane.repo import users as user_repo
from tianji_control_plane.repo.memberships import TeamMembershipRecord
from tianji_control_plane.repo.orgs import get_org
from tianji_control_plane.repo.records import TeamRecord, UserRecord

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tianji_control_plane.domain.common import Changes
    from tianji_control_plane.domain.team_bodies import (
        Member,
        NewTeam,
        TeamMemberAdd,
        TeamMemberRef,
        TeamMemberUpdate,
        TeamModels,
        UpdateTeam,
    )
    from tianji_control_plane.repo.budgets import BudgetRecord

__all__ = [
    "MemberUpdated",
    "add_members",
    "change_models",
    "delete_member",
    "delete_teams",
    "get_team_or_404",
    "new_team",
    "set_team_blocked",
    "team_member_budget",
    "team_model_budgets",
    "update_member",
    "update_team",
]

_TABLE: Final = "tianji_team"
_USER_TABLE: Final = "tianji_user"
_KEY_TABLE: Final = "tianji_verification_token"
_MEMBER_TABLE: Final = "tianji_team_membership"
_BUDGET_TABLE: Final = "tianji_budget"
_EMPTY_ON_NULL: Final = (
    ("models", list),
    ("metadata", dict),
    ("model_aliases", dict),
    ("model_max_budget", dict),
    ("team_member_permissions", list),
)


class MemberUpdated(msgspec.Struct, kw_only=True):
    """LiteLLM's `TeamMemberUpdateResponse`."""

    team_id: str
    user_id: str
    user_email: str | None = None
    max_budget_in_team: float | None = None
    tpm_limit: int | None = None
    rpm_limit: int | None = None


# -- policy views -----------------------------------------------------------------


def team_model_budgets(raw: dict[str, Any]) -> dict[str, float]:
    """model -> USD from `model_max_budget` (`{"m": 5}` or LiteLLM's `{"m": {"max_budget": 5}}`)."""
    out: dict[str, float] = {}
    for model, value in raw.items():
        amount = value.get("max_budget") if isinstance(value, dict) else value
        if isinstance(amount, int | float) and not isinstance(amount, bool):
            out[model] = float(amount)
    return out


def team_member_budget(rec: TeamRecord) -> BudgetPolicy | None:
    """The budget every member of the team gets unless given their own."""
    if rec.team_member_budget_id is None:
        return None
    return BudgetPolicy(budget_id=rec.team_member_budget_id, max_budget=rec.team_member_budget)


# -- checks -----------------------------------------------------------------------


def _not_found(team_id: str) -> NotFound:
    return NotFound(f"Team not found, passed team_id={team_id}", param="team_id")


def _check_model_budgets(raw: dict[str, Any]) -> None:
    for model, value in raw.items():
        amount = value.get("max_budget") if isinstance(value, dict) else value
        if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
            raise InvalidRequest(
                f"model_max_budget[{model!r}] must be a non-negative number of USD "
                'or {"max_budget": <number>}',
                param="model_max_budget",
            )


async def _check_org(ctx: Ctx, organization_id: str | None) -> None:
    if organization_id is not None and await get_org(ctx.db, organization_id) is None:
        raise InvalidRequest(
            f"organization_id={organization_id} does not exist", param="organization_id"
        )


async def get_team_or_404(ctx: Ctx, team_id: str) -> TeamRecord:
    """The team, or 404."""
    record = await team_repo.get_team(ctx.db, team_id)
    if record is None:
        raise _not_found(team_id)
    return record


async def _locked_team(ctx: Ctx, team_id: str) -> TeamRecord:
    """The team, or 404; no other team write runs until this transaction ends."""
    await team_repo.lock(ctx.db, "team", [team_id])
    return await get_team_or_404(ctx, team_id)


def _user_keys(members: Sequence[Member]) -> list[str]:
    return [m.user_id or f"email:{(m.user_email or '').lower()}" for m in members]


# -- shared write steps -----------------------------------------------------------


async def _set_team(
    ctx: Ctx, changes: Changes, before: TeamRecord, values: dict[str, Any], action: str
) -> TeamRecord:
    values = values | {"updated_at": datetime.now(UTC), "updated_by": ctx.actor}
    after = await team_repo.update_team(ctx.db, before.team_id, values)
    assert after is not None  # read in this transaction
    await ctx.audit(action, _TABLE, before.team_id, before, after)
    changes.teams[after.team_id] = after
    return after


async def _set_member_budget(
    ctx: Ctx, changes: Changes, team: TeamRecord, amount: float | None
) -> TeamRecord:
    """LiteLLM's `team_member_budget`: one budget row every new member defaults to."""
    if amount is None:
        if team.team_member_budget_id is None:
            return team
        return await _set_team(ctx, changes, team, {"team_member_budget_id": None}, "updated")
    budget_id = team.team_member_budget_id
    if budget_id is not None and await budget_repo.get_budget(ctx.db, budget_id) is not None:
        await change_budget(ctx, changes, budget_id, {"max_budget": amount})
        fresh = await team_repo.get_team(ctx.db, team.team_id)
        assert fresh is not None  # read in this transaction
        changes.teams[team.team_id] = fresh
        return fresh
    budget = await create_budget(ctx, changes, {"max_budget": amount}, None)
    return await _set_team(
        ctx, changes, team, {"team_member_budget_id": budget.budget_id}, "updated"
    )


async def _set_user_teams(ctx: Ctx, changes: Changes, user: UserRecord, teams: list[str]) -> None:
    values = {"teams": teams, "updated_at": datetime.now(UTC)}
    after = await user_repo.update_user(ctx.db, user.user_id, values)
    await ctx.audit("updated", _USER_TABLE, user.user_id, user, after)
    changes.users[user.user_id] = after


# -- create, update, delete -------------------------------------------------------


def _new_record(req: NewTeam, actor: str) -> TeamRecord:
    _check_model_budgets(req.model_max_budget)
    now = datetime.now(UTC)
    fields = msgspec.structs.asdict(req)
    for name in ("members_with_roles", "team_member_budget"):
        fields.pop(name)
    fields["team_id"] = req.team_id or str(uuid.uuid4())
    return TeamRecord(
        **fields,
        budget_reset_at=check_budget_duration(req.budget_duration),
        created_at=now,
        created_by=actor,
        updated_at=now,
        updated_by=actor,
    )


async def new_team(ctx: Ctx, req: NewTeam) -> TeamRecord:
    """Create a team (id generated unless given), with its members and member budget."""
    record = _new_record(req, ctx.actor)
    _check_members(req.members_with_roles)
    async with write(ctx) as changes:
        await team_repo.lock(ctx.db, "team", [record.team_id])
        await team_repo.lock(ctx.db, "user", _user_keys(req.members_with_roles))
        if await team_repo.get_team(ctx.db, record.team_id) is not None:
            raise InvalidRequest(
                f"Team id = {record.team_id} already exists. Please use a different team id.",
                param="team_id",
            )
        await _check_org(ctx, req.organization_id)
        stored = await team_repo.insert_team(ctx.db, record)
        await ctx.audit("created", _TABLE, stored.team_id, None, stored)
        changes.teams[stored.team_id] = stored
        stored = await _set_member_budget(ctx, changes, stored, req.team_member_budget)
        if req.members_with_roles:
            stored, _, _ = await _add(ctx, changes, stored, req.members_with_roles, None)
    return stored


def _update_values(req: UpdateTeam) -> dict[str, Any]:
    values = {
        name: value
        for name, value in msgspec.structs.asdict(req).items()
        if value is not UNSET and name not in ("team_id", "team_member_budget")
    }
    for name, empty in _EMPTY_ON_NULL:
        if name in values and values[name] is None:
            values[name] = empty()
    if "blocked" in values:
        values["blocked"] = bool(values["blocked"])
    if "model_max_budget" in values:
        _check_model_budgets(values["model_max_budget"])
    if "budget_duration" in values:
        values["budget_reset_at"] = check_budget_duration(values["budget_duration"])
    return values


async def update_team(ctx: Ctx, req: UpdateTeam) -> TeamRecord:
    """Change the fields present in the body (LiteLLM's `/team/update`)."""
    values = _update_values(req)
    async with write(ctx) as changes:
        before = await _locked_team(ctx, req.team_id)
        await _check_org(ctx, values.get("organization_id"))
        after = await _set_team(ctx, changes, before, values, "updated")
        if req.team_member_budget is not UNSET:
            after = await _set_member_budget(ctx, changes, after, req.team_member_budget)
    return after


async def set_team_blocked(ctx: Ctx, team_id: str, *, blocked: bool) -> TeamRecord:
    """Block or unblock a team: every key in it follows."""
    async with write(ctx) as changes:
        before = await _locked_team(ctx, team_id)
        action = "blocked" if blocked else "unblocked"
        after = await _set_team(ctx, changes, before, {"blocked": blocked}, action)
    return after


async def change_models(ctx: Ctx, req: TeamModels, *, add: bool) -> TeamRecord:
    """`/team/model/add` (no duplicates, order kept) and `/team/model/delete`."""
    async with write(ctx) as changes:
        before = await _locked_team(ctx, req.team_id)
        if add:
            models = list(dict.fromkeys([*before.models, *req.models]))
        else:
            models = [m for m in before.models if m not in req.models]
        after = await _set_team(ctx, changes, before, {"models": models}, "updated")
    return after


async def _delete_keys_of(ctx: Ctx, changes: Changes, team_id: str) -> None:
    keys, _ = await key_repo.list_keys(ctx.db, page=1, size=1 << 30, filters={"team_id": team_id})
    await key_repo.delete_keys(ctx.db, [k.token for k in keys])
    for key in keys:
        await ctx.audit("deleted", _KEY_TABLE, key.token, key, None)
        changes.keys[key.token] = None


async def _drop_memberships(
    ctx: Ctx, changes: Changes, team: TeamRecord, user_ids: Sequence[str] | None
) -> None:
    """Delete memberships (of `user_ids`, or all) and the member budgets only they use."""
    found = await member_repo.memberships_of(ctx.db, [team.team_id])
    gone = [m for m in found if user_ids is None or m.user_id in user_ids]
    own = [m.budget_id for m in gone if m.budget_id and m.budget_id != team.team_member_budget_id]
    await member_repo.delete_memberships(ctx.db, [team.team_id], [m.user_id for m in gone])
    for membership in gone:
        await ctx.audit("deleted", _MEMBER_TABLE, membership.id, membership, None)
    await _delete_budgets(ctx, changes, own)


async def _delete_budgets(ctx: Ctx, changes: Changes, budget_ids: Sequence[str]) -> None:
    for budget_id in dict.fromkeys(budget_ids):
        before = await budget_repo.get_budget(ctx.db, budget_id)
        if before is not None:
            await budget_repo.delete_budget(ctx.db, budget_id)
            await ctx.audit("deleted", _BUDGET_TABLE, budget_id, before, None)
            changes.budgets[budget_id] = None


async def _leave(ctx: Ctx, changes: Changes, team_id: str, user_ids: Sequence[str]) -> None:
    for user in await user_repo.get_users(ctx.db, user_ids):
        if team_id in user.teams:
            await _set_user_teams(ctx, changes, user, [t for t in user.teams if t != team_id])


async def delete_teams(ctx: Ctx, team_ids: list[str]) -> list[str]:
    """Delete every team listed, with its keys and memberships, or none (404)."""
    if not team_ids:
        raise InvalidRequest("team_ids must list at least one team", param="team_ids")
    async with write(ctx) as changes:
        await team_repo.lock(ctx.db, "team", team_ids)
        found = {t.team_id: t for t in await team_repo.get_teams(ctx.db, team_ids)}
        missing = [t for t in team_ids if t not in found]
        if missing:
            raise NotFound(f"Team not found, passed team_id={missing[0]}", param="team_ids")
        everyone = [m.get("user_id") for t in found.values() for m in t.members_with_roles]
        await team_repo.lock(ctx.db, "user", [str(u) for u in everyone if u])
        for team in found.values():
            await _delete_keys_of(ctx, changes, team.team_id)
            members = [m["user_id"] for m in team.members_with_roles if m.get("user_id")]
            await _leave(ctx, changes, team.team_id, members)
            await _drop_memberships(ctx, changes, team, None)
            if team.team_member_budget_id is not None:
                await _delete_budgets(ctx, changes, [team.team_member_budget_id])
            await ctx.audit("deleted", _TABLE, team.team_id, team, None)
            changes.teams[team.team_id] = None
        await team_repo.delete_teams(ctx.db, list(found))
    return list(dict.fromkeys(team_ids))


# -- members ----------------------------------------------------------------------


def _check_members(members: Sequence[Member]) -> None:
    for member in members:
        if member.user_id is None and member.user_email is None:
            raise InvalidRequest("Either user_id or user_email must be provided", param="member")
        check_email(member.user_email)


async def _user_for(ctx: Ctx, changes: Changes, member: Member, team_id: str) -> UserRecord:
    """The member's user; created as an internal user in the team when missing (LiteLLM)."""
    if member.user_id is not None:
        user = await user_repo.get_user(ctx.db, member.user_id)
    else:
        assert member.user_email is not None  # checked by _check_members
        user = await user_repo.get_user_by_email(ctx.db, member.user_email)
    if user is not None:
        return user
    now = datetime.now(UTC)
    record = UserRecord(
        user_id=member.user_id or str(uuid.uuid4()),
        user_email=member.user_email,
        user_role="internal_user",
        teams=[team_id],
        created_at=now,
        updated_at=now,
    )
    stored = await user_repo.insert_user(ctx.db, record)
    await ctx.audit("created", _USER_TABLE, stored.user_id, None, stored)
    changes.users[stored.user_id] = stored
    return stored


async def _membership(
    ctx: Ctx, team_id: str, user_id: str, budget_id: str | None
) -> TeamMembershipRecord:
    existing = await member_repo.get_membership(ctx.db, team_id, user_id)
    if existing is not None:  # a row left from an earlier membership: reuse it
        await member_repo.set_membership_budget(
            ctx.db, team_id, user_id, budget_id, datetime.now(UTC)
        )
        after = await member_repo.get_membership(ctx.db, team_id, user_id)
        assert after is not None  # read in this transaction
        await ctx.audit("updated", _MEMBER_TABLE, after.id, existing, after)
        return after
    now = datetime.now(UTC)
    record = TeamMembershipRecord(
        id=member_repo.membership_id(team_id, user_id),
        team_id=team_id,
        user_id=user_id,
        budget_id=budget_id,
        created_at=now,
        updated_at=now,
    )
    stored = await member_repo.insert_membership(ctx.db, record)
    await ctx.audit("created", _MEMBER_TABLE, stored.id, None, stored)
    return stored


async def _add(
    ctx: Ctx, changes: Changes, team: TeamRecord, members: Sequence[Member], budget: float | None
) -> tuple[TeamRecord, list[UserRecord], list[TeamMembershipRecord]]:
    entries = list(team.members_with_roles)
    present = {m.get("user_id") for m in entries}
    users: list[UserRecord] = []
    memberships: list[TeamMembershipRecord] = []
    for member in members:
        user = await _user_for(ctx, changes, member, team.team_id)
        if user.user_id in present:
            raise InvalidRequest(
                f"User={user.user_id} already in team. Existing members={entries}",
                param="member",
            )
        present.add(user.user_id)
        if team.team_id not in user.teams:
            await _set_user_teams(ctx, changes, user, [*user.teams, team.team_id])
        email = member.user_email or user.user_email
        entries.append({"user_id": user.user_id, "user_email": email, "role": member.role})
        budget_id = team.team_member_budget_id
        if budget is not None:
            budget_id = (await create_budget(ctx, changes, {"max_budget": budget}, None)).budget_id
        memberships.append(await _membership(ctx, team.team_id, user.user_id, budget_id))
        users.append(changes.users.get(user.user_id) or user)
    after = await _set_team(ctx, changes, team, {"members_with_roles": entries}, "updated")
    return after, users, memberships


async def add_members(
    ctx: Ctx, req: TeamMemberAdd
) -> tuple[TeamRecord, list[UserRecord], list[TeamMembershipRecord]]:
    """Add each member (creating missing users); all of them or none."""
    members = req.member if isinstance(req.member, list) else [req.member]
    if not members:
        raise InvalidRequest("No member/members passed in", param="member")
    _check_members(members)
    async with write(ctx) as changes:
        team = await _locked_team(ctx, req.team_id)
        await team_repo.lock(ctx.db, "user", _user_keys(members))
        result = await _add(ctx, changes, team, members, req.max_budget_in_team)
    return result


async def _member_of(ctx: Ctx, team: TeamRecord, ref: TeamMemberRef | TeamMemberUpdate) -> str:
    """The member's user id, by `user_id` or `user_email`; 404 if not in the team."""
    user_id = ref.user_id
    if user_id is None and ref.user_email is not None:
        for entry in team.members_with_roles:
            if entry.get("user_email") == ref.user_email:
                user_id = entry.get("user_id")
        if user_id is None:
            user = await user_repo.get_user_by_email(ctx.db, ref.user_email)
            user_id = None if user is None else user.user_id
    if user_id is None or all(m.get("user_id") != user_id for m in team.members_with_roles):
        param = "user_id" if ref.user_id is not None else "user_email"
        raise NotFound(f"User not found in team, passed {param}", param=param)
    return user_id


def _check_ref(ref: TeamMemberRef | TeamMemberUpdate) -> None:
    if ref.user_id is None and ref.user_email is None:
        raise InvalidRequest("Either user_id or user_email needs to be passed in", param="user_id")


async def delete_member(ctx: Ctx, req: TeamMemberRef) -> TeamRecord:
    """Remove a member from the team (the user stays, without the team)."""
    _check_ref(req)
    async with write(ctx) as changes:
        team = await _locked_team(ctx, req.team_id)
        user_id = await _member_of(ctx, team, req)
        await team_repo.lock(ctx.db, "user", [user_id])
        remaining = [m for m in team.members_with_roles if m.get("user_id") != user_id]
        after = await _set_team(ctx, changes, team, {"members_with_roles": remaining}, "updated")
        await _leave(ctx, changes, team.team_id, [user_id])
        await _drop_memberships(ctx, changes, team, [user_id])
    return after


async def _member_limits(
    ctx: Ctx, changes: Changes, team: TeamRecord, user_id: str, limits: dict[str, Any]
) -> BudgetRecord | None:
    """Apply the member's own limits: their own budget row, created when they share one."""
    membership = await member_repo.get_membership(ctx.db, team.team_id, user_id)
    own = None
    if membership is not None and membership.budget_id != team.team_member_budget_id:
        own = membership.budget_id
    if limits and own is not None:
        return await change_budget(ctx, changes, own, limits)
    if limits:
        budget = await create_budget(ctx, changes, limits, None)
        await _membership(ctx, team.team_id, user_id, budget.budget_id)
        return budget
    if membership is None:
        await _membership(ctx, team.team_id, user_id, team.team_member_budget_id)
    return None if own is None else await budget_repo.get_budget(ctx.db, own)


async def update_member(ctx: Ctx, req: TeamMemberUpdate) -> MemberUpdated:
    """Change a member's role and/or their own budget and limits in the team."""
    _check_ref(req)
    limits = {
        name: value
        for name, value in (
            ("max_budget", req.max_budget_in_team),
            ("tpm_limit", req.tpm_limit),
            ("rpm_limit", req.rpm_limit),
        )
        if value is not None
    }
    async with write(ctx) as changes:
        team = await _locked_team(ctx, req.team_id)
        user_id = await _member_of(ctx, team, req)
        budget = await _member_limits(ctx, changes, team, user_id, limits)
        entry = next(m for m in team.members_with_roles if m.get("user_id") == user_id)
        if req.role is not None and entry.get("role") != req.role:
            members = [
                m | {"role": req.role} if m.get("user_id") == user_id else m
                for m in team.members_with_roles
            ]
            await _set_team(ctx, changes, team, {"members_with_roles": members}, "updated")
    return MemberUpdated(
        team_id=team.team_id,
        user_id=user_id,
        user_email=req.user_email or entry.get("user_email"),
        max_budget_in_team=None if budget is None else budget.max_budget,
        tpm_limit=None if budget is None else budget.tpm_limit,
        rpm_limit=None if budget is None else budget.rpm_limit,
    )
