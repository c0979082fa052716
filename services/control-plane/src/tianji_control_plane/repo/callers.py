"""The rows that say what a caller of the management API is: memberships by user."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tianji_control_plane.repo.db import Db

__all__ = ["org_roles_of", "team_ids_of"]


async def org_roles_of(db: Db, user_id: str) -> dict[str, str]:
    """The user's role in each org they belong to (`organization_id` → `user_role`)."""
    table = db.org_members
    query = table.select(table.organization_id, table.user_role).where(table.user_id == user_id)
    return {str(row["organization_id"]): str(row["user_role"]) for row in await query.run()}


async def team_ids_of(db: Db, user_id: str) -> list[str]:
    """The teams with a membership row for the user (their spend/budget rows)."""
    table = db.team_members
    query = table.select(table.team_id).where(table.user_id == user_id)
    return [str(row["team_id"]) for row in await query.run()]
