"""Organization and organization-membership rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from tianji_control_plane.repo._values import column_values, update_values
from tianji_control_plane.repo.db import from_row
from tianji_control_plane.repo.records import OrgMemberRecord, OrgRecord, TeamRecord

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tianji_control_plane.repo.db import Db

__all__ = [
    "all_members",
    "all_orgs",
    "delete_member",
    "delete_members_of_users",
    "delete_orgs",
    "get_member",
    "get_org",
    "get_orgs",
    "insert_org",
    "member_id",
    "members_of",
    "teams_of",
    "update_org",
    "upsert_member",
]


def member_id(organization_id: str, user_id: str) -> str:
    """The membership's primary key: LiteLLM's (user_id, organization_id) pair as text."""
    return f"{organization_id}/{user_id}"


async def insert_org(db: Db, record: OrgRecord) -> OrgRecord:
    """Insert a new org row; the caller has checked the id is free."""
    values = column_values(msgspec.structs.asdict(record))
    await db.orgs.insert(db.orgs(**values)).run()
    stored = await get_org(db, record.organization_id)
    assert stored is not None  # just inserted, in this transaction
    return stored


async def get_org(db: Db, organization_id: str) -> OrgRecord | None:
    """The org with this id, or None."""
    query = db.orgs.select().where(db.orgs.organization_id == organization_id)
    row = await query.first().run()
    return None if row is None else from_row(row, OrgRecord)


async def get_orgs(db: Db, organization_ids: Sequence[str]) -> list[OrgRecord]:
    """The orgs among `organization_ids` that exist."""
    if not organization_ids:
        return []
    ids = list(organization_ids)
    rows = await db.orgs.select().where(db.orgs.organization_id.is_in(ids)).run()
    return [from_row(row, OrgRecord) for row in rows]


async def all_orgs(db: Db) -> list[OrgRecord]:
    """Every org, oldest first."""
    query = db.orgs.select().order_by(db.orgs.created_at, db.orgs.organization_id)
    return [from_row(row, OrgRecord) for row in await query.run()]


async def update_org(db: Db, organization_id: str, values: dict[str, Any]) -> OrgRecord | None:
    """Set the given columns; None if the org does not exist."""
    if values:
        where = db.orgs.organization_id == organization_id
        await db.orgs.update(update_values(values)).where(where).run()
    return await get_org(db, organization_id)


async def delete_orgs(db: Db, organization_ids: Sequence[str]) -> None:
    """Delete these orgs and their memberships."""
    if organization_ids:
        ids = list(organization_ids)
        await db.org_members.delete().where(db.org_members.organization_id.is_in(ids)).run()
        await db.orgs.delete().where(db.orgs.organization_id.is_in(ids)).run()


async def teams_of(db: Db, organization_ids: Sequence[str]) -> list[TeamRecord]:
    """Teams that belong to any of these orgs, oldest first."""
    if not organization_ids:
        return []
    query = db.teams.select().where(db.teams.organization_id.is_in(list(organization_ids)))
    rows = await query.order_by(db.teams.created_at, db.teams.team_id).run()
    return [from_row(row, TeamRecord) for row in rows]


async def members_of(db: Db, organization_id: str) -> list[OrgMemberRecord]:
    """The org's memberships, oldest first."""
    query = db.org_members.select().where(db.org_members.organization_id == organization_id)
    rows = await query.order_by(db.org_members.created_at, db.org_members.user_id).run()
    return [from_row(row, OrgMemberRecord) for row in rows]


async def get_member(db: Db, organization_id: str, user_id: str) -> OrgMemberRecord | None:
    """One membership, or None."""
    key = member_id(organization_id, user_id)
    row = await db.org_members.select().where(db.org_members.id == key).first().run()
    return None if row is None else from_row(row, OrgMemberRecord)


async def upsert_member(db: Db, record: OrgMemberRecord) -> OrgMemberRecord:
    """Insert the membership, or update its role and budget when it exists."""
    fields = msgspec.structs.asdict(record)
    if await get_member(db, record.organization_id, record.user_id) is None:
        await db.org_members.insert(db.org_members(**column_values(fields))).run()
    else:
        changed = {k: fields[k] for k in ("user_role", "max_budget", "updated_at")}
        where = db.org_members.id == record.id
        await db.org_members.update(update_values(changed)).where(where).run()
    stored = await get_member(db, record.organization_id, record.user_id)
    assert stored is not None  # written in this transaction
    return stored


async def delete_member(db: Db, organization_id: str, user_id: str) -> None:
    """Remove one membership (missing is ignored)."""
    key = member_id(organization_id, user_id)
    await db.org_members.delete().where(db.org_members.id == key).run()


async def delete_members_of_users(db: Db, user_ids: Sequence[str]) -> None:
    """Remove every membership of these users (user deletion)."""
    if user_ids:
        where = db.org_members.user_id.is_in(list(user_ids))
        await db.org_members.delete().where(where).run()


async def all_members(db: Db) -> list[OrgMemberRecord]:
    """Every membership, oldest first (org listing)."""
    query = db.org_members.select().order_by(db.org_members.created_at, db.org_members.user_id)
    return [from_row(row, OrgMemberRecord) for row in await query.run()]
