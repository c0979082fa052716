"""Team rows: insert, read, list, update."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from tianji_control_plane.repo._values import column_values, update_values
from tianji_control_plane.repo.db import from_row
from tianji_control_plane.repo.records import TeamRecord

if TYPE_CHECKING:
    from tianji_control_plane.repo.db import Db

__all__ = ["all_teams", "get_team", "insert_team", "update_team"]


async def insert_team(db: Db, record: TeamRecord) -> TeamRecord:
    """Insert a new team row; the caller has checked the id is free."""
    values = column_values(msgspec.structs.asdict(record))
    await db.teams.insert(db.teams(**values)).run()
    stored = await get_team(db, record.team_id)
    assert stored is not None  # just inserted, in this transaction
    return stored


async def get_team(db: Db, team_id: str) -> TeamRecord | None:
    """The team with this id, or None."""
    row = await db.teams.select().where(db.teams.team_id == team_id).first().run()
    return None if row is None else from_row(row, TeamRecord)


async def all_teams(db: Db) -> list[TeamRecord]:
    """Every team, oldest first."""
    rows = await db.teams.select().order_by(db.teams.created_at, db.teams.team_id).run()
    return [from_row(row, TeamRecord) for row in rows]


async def update_team(db: Db, team_id: str, values: dict[str, Any]) -> TeamRecord | None:
    """Set the given columns; None if the team does not exist."""
    if values:
        await db.teams.update(update_values(values)).where(db.teams.team_id == team_id).run()
    return await get_team(db, team_id)
