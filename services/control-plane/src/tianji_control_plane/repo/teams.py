"""Team rows: insert, read, list, update, delete.

Every read joins the max budget of the team's member-budget row into
`TeamRecord.team_member_budget` (not a column), so the record carries what the
gateway needs of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import msgspec
from tianji_common.db.engine import run_sql

from tianji_control_plane.repo._values import column_values, update_values
from tianji_control_plane.repo.budgets import get_budgets
from tianji_control_plane.repo.db import from_row
from tianji_control_plane.repo.records import TeamRecord

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tianji_control_plane.repo.db import Db

__all__ = [
    "NO_ORGANIZATION",
    "TeamFilter",
    "all_teams",
    "delete_teams",
    "get_team",
    "get_teams",
    "insert_team",
    "list_teams",
    "lock",
    "update_team",
]

_DERIVED: Final = ("team_member_budget",)
# Nullable JSON columns (rows imported from LiteLLM may hold NULL): read as empty.
_EMPTY: Final = {
    "model_max_budget": dict,
    "model_spend": dict,
    "model_aliases": dict,
    "team_member_permissions": list,
}
NO_ORGANIZATION: Final = "default_organization"  # LiteLLM's filter value for "no org"


class TeamFilter(msgspec.Struct, kw_only=True, frozen=True):
    """`/team/list` filters as LiteLLM takes them."""

    user_id: str | None = None
    organization_id: str | None = None


async def _records(db: Db, rows: list[dict[str, Any]]) -> list[TeamRecord]:
    for row in rows:
        for name, empty in _EMPTY.items():
            if row.get(name) is None:
                row[name] = empty()
    records = [from_row(row, TeamRecord) for row in rows]
    budget_ids = [r.team_member_budget_id for r in records if r.team_member_budget_id]
    budgets = {b.budget_id: b.max_budget for b in await get_budgets(db, budget_ids)}
    for record in records:
        if record.team_member_budget_id is not None:
            record.team_member_budget = budgets.get(record.team_member_budget_id)
    return records


def _columns(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in _DERIVED}


async def insert_team(db: Db, record: TeamRecord) -> TeamRecord:
    """Insert a new team row; the caller has checked the id is free."""
    values = column_values(_columns(msgspec.structs.asdict(record)))
    await db.teams.insert(db.teams(**values)).run()
    stored = await get_team(db, record.team_id)
    assert stored is not None  # just inserted, in this transaction
    return stored


async def get_team(db: Db, team_id: str) -> TeamRecord | None:
    """The team with this id, or None."""
    row = await db.teams.select().where(db.teams.team_id == team_id).first().run()
    return None if row is None else (await _records(db, [row]))[0]


async def get_teams(db: Db, team_ids: Sequence[str]) -> list[TeamRecord]:
    """The teams among `team_ids` that exist, in no particular order."""
    if not team_ids:
        return []
    rows = await db.teams.select().where(db.teams.team_id.is_in(list(team_ids))).run()
    return await _records(db, rows)


async def all_teams(db: Db) -> list[TeamRecord]:
    """Every team, oldest first."""
    rows = await db.teams.select().order_by(db.teams.created_at, db.teams.team_id).run()
    return await _records(db, rows)


async def list_teams(db: Db, where: TeamFilter) -> list[TeamRecord]:
    """Teams matching `where`, by alias (LiteLLM's order), then id."""
    query = db.teams.select()
    if where.organization_id == NO_ORGANIZATION:
        query = query.where(db.teams.organization_id.is_null())
    elif where.organization_id is not None:
        query = query.where(db.teams.organization_id == where.organization_id)
    teams = await _records(db, await query.order_by(db.teams.team_id).run())
    if where.user_id is not None:
        teams = [t for t in teams if any(_is(m, where.user_id) for m in t.members_with_roles)]
    return sorted(teams, key=lambda t: t.team_alias or "")


def _is(member: dict[str, Any], user_id: str) -> bool:
    return member.get("user_id") == user_id


async def update_team(db: Db, team_id: str, values: dict[str, Any]) -> TeamRecord | None:
    """Set the given columns; None if the team does not exist."""
    columns = _columns(values)
    if columns:
        await db.teams.update(update_values(columns)).where(db.teams.team_id == team_id).run()
    return await get_team(db, team_id)


async def delete_teams(db: Db, team_ids: Sequence[str]) -> None:
    """Delete these teams (missing ones are ignored)."""
    if team_ids:
        await db.teams.delete().where(db.teams.team_id.is_in(list(team_ids))).run()


async def lock(db: Db, kind: str, keys: Sequence[str]) -> None:
    """Serialize writers of these rows until the transaction ends (Postgres).

    Why: team writes read, then rewrite, `members_with_roles` and users' `teams`, and
    may create a user; two overlapping transactions would lose one change or collide
    on the new user's key. Advisory locks also cover rows that do not exist yet. Keys
    are taken in sorted order (callers lock teams before users), so no deadlock.
    SQLite needs nothing: its write transactions (`BEGIN IMMEDIATE`) never overlap.
    """
    if db.engine.engine_type != "postgres":
        return
    for key in sorted(set(keys)):
        await run_sql(
            db.engine, "SELECT pg_advisory_xact_lock(hashtextextended({}, 0))", f"{kind}:{key}"
        )
