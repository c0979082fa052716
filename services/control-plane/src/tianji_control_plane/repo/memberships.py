"""Team-membership rows (`tianji_team_membership`, LiteLLM's `LiteLLM_TeamMembership`)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import msgspec

from tianji_control_plane.repo._values import column_values, update_values
from tianji_control_plane.repo.db import from_row

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tianji_control_plane.repo.db import Db

__all__ = [
    "TeamMembershipRecord",
    "delete_memberships",
    "delete_memberships_of_users",
    "get_membership",
    "insert_membership",
    "membership_id",
    "memberships_of",
    "set_membership_budget",
]


class TeamMembershipRecord(msgspec.Struct, kw_only=True):
    """A `tianji_team_membership` row: a member's spend and budget inside one team."""

    id: str
    team_id: str
    user_id: str
    spend: float = 0.0
    budget_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


def membership_id(team_id: str, user_id: str) -> str:
    """The row's primary key: LiteLLM's (user_id, team_id) pair as text."""
    return f"{team_id}/{user_id}"


async def insert_membership(db: Db, record: TeamMembershipRecord) -> TeamMembershipRecord:
    """Insert one membership; the caller has checked it does not exist."""
    values = column_values(msgspec.structs.asdict(record))
    await db.team_members.insert(db.team_members(**values)).run()
    stored = await get_membership(db, record.team_id, record.user_id)
    assert stored is not None  # just inserted, in this transaction
    return stored


async def get_membership(db: Db, team_id: str, user_id: str) -> TeamMembershipRecord | None:
    """One membership, or None."""
    key = membership_id(team_id, user_id)
    row = await db.team_members.select().where(db.team_members.id == key).first().run()
    return None if row is None else from_row(row, TeamMembershipRecord)


async def memberships_of(
    db: Db, team_ids: Sequence[str], user_id: str | None = None
) -> list[TeamMembershipRecord]:
    """The memberships of these teams (of one user, if given), oldest first."""
    if not team_ids:
        return []
    table = db.team_members
    query = table.select().where(table.team_id.is_in(list(team_ids)))
    if user_id is not None:
        query = query.where(table.user_id == user_id)
    rows = await query.order_by(table.created_at, table.user_id).run()
    return [from_row(row, TeamMembershipRecord) for row in rows]


async def set_membership_budget(
    db: Db, team_id: str, user_id: str, budget_id: str | None, at: datetime
) -> TeamMembershipRecord | None:
    """Point a membership at a budget row (or none); None if it does not exist."""
    values = update_values({"budget_id": budget_id, "updated_at": at})
    key = membership_id(team_id, user_id)
    await db.team_members.update(values).where(db.team_members.id == key).run()
    return await get_membership(db, team_id, user_id)


async def delete_memberships(
    db: Db, team_ids: Sequence[str], user_ids: Sequence[str] | None = None
) -> None:
    """Delete the memberships of these teams (only these users', if given)."""
    if not team_ids or (user_ids is not None and not user_ids):
        return
    table = db.team_members
    query = table.delete().where(table.team_id.is_in(list(team_ids)))
    if user_ids is not None:
        query = query.where(table.user_id.is_in(list(user_ids)))
    await query.run()


async def delete_memberships_of_users(db: Db, user_ids: Sequence[str]) -> None:
    """Remove every team membership of these users (for user deletion)."""
    if user_ids:
        where = db.team_members.user_id.is_in(list(user_ids))
        await db.team_members.delete().where(where).run()
