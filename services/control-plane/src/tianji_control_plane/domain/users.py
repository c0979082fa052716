"""Internal users: create (with a first key, as LiteLLM), update, delete, read.

A user's teams are kept as `/team/member_add` keeps them (domain/teams.py): `teams`
on the user, a `{"user_id", "user_email", "role"}` entry in each team's
`members_with_roles`, and a `tianji_team_membership` row (the member's spend and
budget in the team), so a user who joined through `/user/new` and one added by
`/team/member_add` look the same. Deleting a user deletes their keys and
memberships too (LiteLLM's `/user/delete`).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import msgspec
from msgspec import UNSET
from tianji_common.errors import InvalidRequest, NotFound

from tianji_control_plane.domain.budgets import create_budget
from tianji_control_plane.domain.common import Ctx, abbreviate, hash_token, parse_duration, write
from tianji_control_plane.domain.keys import new_key
from tianji_control_plane.repo import keys as key_repo
from tianji_control_plane.repo import memberships as member_repo
from tianji_control_plane.repo import orgs as org_repo
from tianji_control_plane.repo import teams as team_repo
from tianji_control_plane.repo import users as user_repo
from tianji_control_plane.repo.memberships import TeamMembershipRecord
from tianji_control_plane.repo.records import KeyRecord, TeamRecord, UserRecord

if TYPE_CHECKING:
    from tianji_control_plane.domain.common import Changes
    from tianji_control_plane.domain.user_bodies import NewUser, UpdateUser, UserTeam

__all__ = [
    "NewUserResult",
    "check_budget_duration",
    "check_email",
    "delete_users",
    "get_user_or_404",
    "new_user",
    "update_user",
]

_TABLE: Final = "tianji_user"
_KEY_TABLE: Final = "tianji_verification_token"
_TEAM_TABLE: Final = "tianji_team"
_MEMBER_TABLE: Final = "tianji_team_membership"
_EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class NewUserResult(msgspec.Struct, kw_only=True):
    """The stored user and, unless `auto_create_key` was false, its first key."""

    user: UserRecord
    key: str | None = None
    key_record: KeyRecord | None = None


def check_email(email: str | None) -> None:
    """400 naming `user_email` unless it looks like an address."""
    if email is not None and _EMAIL.match(email) is None:
        raise InvalidRequest(f"invalid user_email {email!r}", param="user_email")


def check_budget_duration(value: str | None) -> datetime | None:
    """The first budget reset time, or 400 naming `budget_duration`."""
    if value is None:
        return None
    return datetime.now(UTC) + parse_duration(value, "budget_duration")


class _TeamRef(msgspec.Struct, frozen=True):
    """A team `/user/new` joins: its id, the role in it, the member's own budget."""

    team_id: str
    role: str = "user"
    max_budget_in_team: float | None = None


def _team_refs(req: NewUser) -> list[_TeamRef]:
    """The teams named, each once (the first mention wins)."""
    refs: dict[str, _TeamRef] = {}
    for team in req.teams:
        ref = _TeamRef(team) if isinstance(team, str) else _ref(team)
        refs.setdefault(ref.team_id, ref)
    return list(refs.values())


def _ref(team: UserTeam) -> _TeamRef:
    return _TeamRef(team.team_id, team.user_role, team.max_budget_in_team)


def _user_record(req: NewUser) -> UserRecord:
    check_email(req.user_email)
    now = datetime.now(UTC)
    fields = msgspec.structs.asdict(req)
    for name in ("user_id", "teams", "auto_create_key", "key_alias", "duration"):
        fields.pop(name)
    return UserRecord(
        **fields,
        user_id=req.user_id or str(uuid.uuid4()),
        teams=[ref.team_id for ref in _team_refs(req)],
        budget_reset_at=check_budget_duration(req.budget_duration),
        created_at=now,
        updated_at=now,
    )


def _key_record(user: UserRecord, req: NewUser, key: str, actor: str) -> KeyRecord:
    """LiteLLM's `generate_key_helper_fn(request_type="user")`: the user's models."""
    now = datetime.now(UTC)
    expires = None if req.duration is None else now + parse_duration(req.duration, "duration")
    return KeyRecord(
        token=hash_token(key),
        key_name=abbreviate(key),
        key_alias=req.key_alias,
        models=user.models,
        user_id=user.user_id,
        expires=expires,
        created_at=now,
        created_by=actor,
        updated_at=now,
        updated_by=actor,
    )


def _user_locks(record: UserRecord) -> list[str]:
    """The advisory-lock keys team writes use for this user (`teams._user_keys`)."""
    keys = [record.user_id]
    if record.user_email:
        keys.append(f"email:{record.user_email.lower()}")
    return keys


async def _membership(
    ctx: Ctx, changes: Changes, team: TeamRecord, user_id: str, ref: _TeamRef
) -> TeamMembershipRecord:
    """The membership row `/team/member_add` writes: the team's member budget, or the
    member's own one (`max_budget_in_team`); a row left from before is reused."""
    budget_id = team.team_member_budget_id
    if ref.max_budget_in_team is not None:
        values = {"max_budget": ref.max_budget_in_team}
        budget_id = (await create_budget(ctx, changes, values, None)).budget_id
    now = datetime.now(UTC)
    existing = await member_repo.get_membership(ctx.db, team.team_id, user_id)
    if existing is not None:
        after = await member_repo.set_membership_budget(
            ctx.db, team.team_id, user_id, budget_id, now
        )
        await ctx.audit("updated", _MEMBER_TABLE, existing.id, existing, after)
        assert after is not None  # read in this transaction
        return after
    record = TeamMembershipRecord(
        id=member_repo.membership_id(team.team_id, user_id),
        team_id=team.team_id,
        user_id=user_id,
        budget_id=budget_id,
        created_at=now,
        updated_at=now,
    )
    stored = await member_repo.insert_membership(ctx.db, record)
    await ctx.audit("created", _MEMBER_TABLE, stored.id, None, stored)
    return stored


async def _join_teams(ctx: Ctx, changes: Changes, user: UserRecord, refs: list[_TeamRef]) -> None:
    """Add the user to each team as `/team/member_add` would; the caller holds the locks."""
    for ref in refs:
        before = await team_repo.get_team(ctx.db, ref.team_id)
        if before is None:
            raise InvalidRequest(f"team_id={ref.team_id} does not exist", param="teams")
        members = [m for m in before.members_with_roles if m.get("user_id") != user.user_id]
        members.append({"user_id": user.user_id, "user_email": user.user_email, "role": ref.role})
        values = {
            "members_with_roles": members,
            "updated_at": datetime.now(UTC),
            "updated_by": ctx.actor,
        }
        after = await team_repo.update_team(ctx.db, ref.team_id, values)
        await ctx.audit("updated", _TEAM_TABLE, ref.team_id, before, after)
        changes.teams[ref.team_id] = after
        await _membership(ctx, changes, before, user.user_id, ref)


def _conflict(message: str, param: str) -> InvalidRequest:
    # 409 as LiteLLM answers; the OpenAI SDK retries 409 unless told not to (STYLE 7).
    return InvalidRequest(message, param=param, status=409, headers={"x-should-retry": "false"})


async def _check_free(ctx: Ctx, record: UserRecord) -> None:
    """LiteLLM refuses a taken user id, or a taken email in any case, with 409."""
    if await user_repo.get_user(ctx.db, record.user_id) is not None:
        raise _conflict(f"User with id {record.user_id} already exists", "user_id")
    email = record.user_email
    if email is not None and await user_repo.get_user_by_email(ctx.db, email) is not None:
        raise _conflict(f"User with email {email} already exists", "user_email")


async def new_user(ctx: Ctx, req: NewUser) -> NewUserResult:
    """Create a user, join its teams, and (by default) issue its first key."""
    record = _user_record(req)
    key = new_key() if req.auto_create_key else None
    key_record = None if key is None else _key_record(record, req, key, ctx.actor)
    refs = _team_refs(req)
    async with write(ctx) as changes:
        # Teams before users, as every team write takes them (`repo.teams.lock`).
        await team_repo.lock(ctx.db, "team", [ref.team_id for ref in refs])
        await team_repo.lock(ctx.db, "user", _user_locks(record))
        await _check_free(ctx, record)
        stored = await user_repo.insert_user(ctx.db, record)
        await ctx.audit("created", _TABLE, stored.user_id, None, stored)
        changes.users[stored.user_id] = stored
        await _join_teams(ctx, changes, stored, refs)
        if key_record is not None:
            key_record = await key_repo.insert_key(ctx.db, key_record)
            await ctx.audit("created", _KEY_TABLE, key_record.token, None, key_record)
            changes.keys[key_record.token] = key_record
    return NewUserResult(user=stored, key=key, key_record=key_record)


async def get_user_or_404(ctx: Ctx, user_id: str) -> UserRecord:
    """The user, or 404."""
    record = await user_repo.get_user(ctx.db, user_id)
    if record is None:
        raise NotFound(f"User {user_id} not found", param="user_id")  # LiteLLM's message
    return record


def _update_values(req: UpdateUser) -> dict[str, Any]:
    values = {
        name: value
        for name, value in msgspec.structs.asdict(req).items()
        if value is not UNSET and name != "user_id"
    }
    if values.get("user_email") is not None:
        check_email(values["user_email"])
    for name, empty in (("models", []), ("metadata", {})):
        if name in values and values[name] is None:
            values[name] = empty
    if "budget_duration" in values:
        values["budget_reset_at"] = check_budget_duration(values["budget_duration"])
    values["updated_at"] = datetime.now(UTC)
    return values


async def _target(ctx: Ctx, req: UpdateUser) -> UserRecord:
    if req.user_id is not None:
        return await get_user_or_404(ctx, req.user_id)
    if isinstance(req.user_email, str):
        found = await user_repo.get_user_by_email(ctx.db, req.user_email)
        if found is None:
            raise NotFound(
                f"User not found, passed user_email={req.user_email}", param="user_email"
            )
        return found
    raise InvalidRequest("Either user_id or user_email must be provided", param="user_id")


async def update_user(ctx: Ctx, req: UpdateUser) -> UserRecord:
    """Change the fields present in the body."""
    values = _update_values(req)
    if req.user_id is None:
        values.pop("user_email", None)  # it names the user; it is not a new value
    async with write(ctx) as changes:
        before = await _target(ctx, req)
        after = await user_repo.update_user(ctx.db, before.user_id, values)
        assert after is not None  # read in this transaction
        await ctx.audit("updated", _TABLE, before.user_id, before, after)
        changes.users[after.user_id] = after
    return after


async def _leave_teams(ctx: Ctx, changes: Changes, user: UserRecord) -> None:
    """Out of each team's `members_with_roles`; the membership rows go in `delete_users`."""
    for team_id in user.teams:
        before = await team_repo.get_team(ctx.db, team_id)
        if before is None:
            continue
        for membership in await member_repo.memberships_of(ctx.db, [team_id], user.user_id):
            await ctx.audit("deleted", _MEMBER_TABLE, membership.id, membership, None)
        members = [m for m in before.members_with_roles if m.get("user_id") != user.user_id]
        values = {"members_with_roles": members, "updated_at": datetime.now(UTC)}
        after = await team_repo.update_team(ctx.db, team_id, values)
        await ctx.audit("updated", _TEAM_TABLE, team_id, before, after)
        changes.teams[team_id] = after


async def _delete_keys_of(ctx: Ctx, changes: Changes, user_id: str) -> None:
    keys, _ = await key_repo.list_keys(ctx.db, page=1, size=1 << 30, filters={"user_id": user_id})
    await key_repo.delete_keys(ctx.db, [k.token for k in keys])
    for key in keys:
        await ctx.audit("deleted", _KEY_TABLE, key.token, key, None)
        changes.keys[key.token] = None


async def delete_users(ctx: Ctx, user_ids: list[str]) -> list[str]:
    """Delete every user listed (with their keys and memberships), or none (404)."""
    if not user_ids:
        raise InvalidRequest("user_ids must list at least one user", param="user_ids")
    async with write(ctx) as changes:
        listed = await user_repo.get_users(ctx.db, user_ids)
        await team_repo.lock(ctx.db, "team", [t for u in listed for t in u.teams])
        await team_repo.lock(ctx.db, "user", [k for u in listed for k in _user_locks(u)])
        found = {u.user_id: u for u in await user_repo.get_users(ctx.db, user_ids)}
        missing = [u for u in user_ids if u not in found]
        if missing:
            message = f"User not found, passed user_id={missing[0]}"  # LiteLLM's message
            raise NotFound(message, param="user_ids")
        for user in found.values():
            await _leave_teams(ctx, changes, user)
            await _delete_keys_of(ctx, changes, user.user_id)
            await ctx.audit("deleted", _TABLE, user.user_id, user, None)
            changes.users[user.user_id] = None
        await org_repo.delete_members_of_users(ctx.db, list(found))
        await member_repo.delete_memberships_of_users(ctx.db, list(found))
        await user_repo.delete_users(ctx.db, list(found))
    return user_ids
