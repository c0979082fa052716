"""Budget rows (`tianji_budget`, LiteLLM's `LiteLLM_BudgetTable`) and who links them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from tianji_control_plane.repo._values import column_values, update_values
from tianji_control_plane.repo.db import from_row

if TYPE_CHECKING:
    from collections.abc import Sequence

    from piccolo.table import Table

    from tianji_control_plane.repo.db import Db

__all__ = [
    "BudgetRecord",
    "all_budgets",
    "budget_references",
    "delete_budget",
    "get_budget",
    "get_budgets",
    "insert_budget",
    "member_budget_teams",
    "update_budget",
]


class BudgetRecord(msgspec.Struct, kw_only=True):
    """A `tianji_budget` row, in LiteLLM's column order."""

    budget_id: str
    max_budget: float | None = None
    soft_budget: float | None = None
    max_parallel_requests: int | None = None
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    model_max_budget: dict[str, Any] | None = None
    budget_duration: str | None = None
    budget_reset_at: datetime | None = None
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None


async def insert_budget(db: Db, record: BudgetRecord) -> BudgetRecord:
    """Insert a new budget row; the caller has checked the id is free."""
    values = column_values(msgspec.structs.asdict(record))
    await db.budgets.insert(db.budgets(**values)).run()
    stored = await get_budget(db, record.budget_id)
    assert stored is not None  # just inserted, in this transaction
    return stored


async def get_budget(db: Db, budget_id: str) -> BudgetRecord | None:
    """The budget with this id, or None."""
    row = await db.budgets.select().where(db.budgets.budget_id == budget_id).first().run()
    return None if row is None else from_row(row, BudgetRecord)


async def get_budgets(db: Db, budget_ids: Sequence[str]) -> list[BudgetRecord]:
    """The budgets among `budget_ids` that exist, oldest first."""
    if not budget_ids:
        return []
    query = db.budgets.select().where(db.budgets.budget_id.is_in(list(budget_ids)))
    rows = await query.order_by(db.budgets.created_at, db.budgets.budget_id).run()
    return [from_row(row, BudgetRecord) for row in rows]


async def all_budgets(db: Db) -> list[BudgetRecord]:
    """Every budget, oldest first."""
    query = db.budgets.select().order_by(db.budgets.created_at, db.budgets.budget_id)
    return [from_row(row, BudgetRecord) for row in await query.run()]


async def update_budget(db: Db, budget_id: str, values: dict[str, Any]) -> BudgetRecord | None:
    """Set the given columns; None if the budget does not exist."""
    if values:
        where = db.budgets.budget_id == budget_id
        await db.budgets.update(update_values(values)).where(where).run()
    return await get_budget(db, budget_id)


async def delete_budget(db: Db, budget_id: str) -> None:
    """Delete one budget row (missing is ignored)."""
    await db.budgets.delete().where(db.budgets.budget_id == budget_id).run()


async def member_budget_teams(db: Db, budget_id: str) -> list[str]:
    """Ids of the teams whose per-member budget (`team_member_budget_id`) is this one."""
    where = db.teams.team_member_budget_id == budget_id
    rows = await db.teams.select(db.teams.team_id).where(where).run()
    return sorted(str(row["team_id"]) for row in rows)


async def budget_references(db: Db, budget_id: str) -> dict[str, list[str]]:
    """Who links this budget, by kind (only kinds with at least one row)."""
    found: dict[str, list[str]] = {}
    links: list[tuple[str, type[Table], str, str]] = [
        ("end_users", db.end_users, "budget_id", "user_id"),
        ("keys", db.keys, "budget_id", "key_name"),
        ("organizations", db.orgs, "budget_id", "organization_id"),
        ("organization_memberships", db.org_members, "budget_id", "id"),
        ("team_memberships", db.team_members, "budget_id", "id"),
        ("teams", db.teams, "team_member_budget_id", "team_id"),
    ]
    for kind, table, column, label in links:
        where = table._meta.get_column_by_name(column) == budget_id
        rows = await table.select(table._meta.get_column_by_name(label)).where(where).run()
        if rows:
            found[kind] = sorted(str(row[label]) for row in rows)
    return found
