"""`tianji_model_access_group` rows: a name over a list of model names.

Raw SQL for the reason given in `repo/models.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import msgspec
from tianji_common.db.engine import run_sql

from tianji_control_plane.repo.db import json_text
from tianji_control_plane.repo.models import json_value

if TYPE_CHECKING:
    from tianji_control_plane.repo.db import Db

__all__ = [
    "AccessGroupRow",
    "all_access_groups",
    "delete_access_group",
    "get_access_group",
    "insert_access_group",
    "update_access_group",
]

_SELECT: Final = (
    'SELECT "access_group", "model_names", "created_at", "updated_at" '
    'FROM "tianji_model_access_group"'
)


class AccessGroupRow(msgspec.Struct, kw_only=True):
    """One access group and the model names it stands for."""

    access_group: str
    model_names: list[str] = msgspec.field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None


def _row(raw: Any) -> AccessGroupRow:
    return AccessGroupRow(
        access_group=raw["access_group"],
        model_names=list(json_value(raw["model_names"], [])),
        created_at=raw["created_at"],
        updated_at=raw["updated_at"],
    )


async def get_access_group(db: Db, name: str) -> AccessGroupRow | None:
    """The group with this name, or None."""
    rows = await run_sql(db.engine, _SELECT + ' WHERE "access_group" = {}', name)
    return _row(rows[0]) if rows else None


async def all_access_groups(db: Db) -> list[AccessGroupRow]:
    """Every group, by name."""
    rows = await run_sql(db.engine, _SELECT + ' ORDER BY "access_group"')
    return [_row(r) for r in rows]


async def insert_access_group(db: Db, row: AccessGroupRow) -> None:
    """Insert a new group; the caller has checked the name is free (a race fails loudly)."""
    await run_sql(
        db.engine,
        'INSERT INTO "tianji_model_access_group" '
        '("access_group", "model_names", "created_at", "updated_at") VALUES ({}, {}, {}, {})',
        row.access_group,
        json_text(row.model_names),
        row.created_at,
        row.updated_at,
    )


async def update_access_group(db: Db, row: AccessGroupRow) -> None:
    """Replace an existing group's model names."""
    await run_sql(
        db.engine,
        'UPDATE "tianji_model_access_group" SET "model_names" = {}, "updated_at" = {} '
        'WHERE "access_group" = {}',
        json_text(row.model_names),
        row.updated_at,
        row.access_group,
    )


async def delete_access_group(db: Db, name: str) -> None:
    """Delete one group (missing is ignored)."""
    await run_sql(
        db.engine, 'DELETE FROM "tianji_model_access_group" WHERE "access_group" = {}', name
    )
