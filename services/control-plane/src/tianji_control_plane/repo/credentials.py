"""`tianji_credential` rows: named provider credentials, values stored as ciphertext.

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
    "CredentialRow",
    "all_credentials",
    "delete_credential",
    "get_credential",
    "insert_credential",
    "update_credential",
]

_SELECT: Final = (
    'SELECT "credential_name", "credential_values", "credential_info", '
    '"created_at", "created_by", "updated_at", "updated_by" FROM "tianji_credential"'
)
_INSERT: Final = (
    'INSERT INTO "tianji_credential" ("credential_name", "credential_values", '
    '"credential_info", "created_at", "created_by", "updated_at", "updated_by") '
    "VALUES ({}, {}, {}, {}, {}, {}, {})"
)


class CredentialRow(msgspec.Struct, kw_only=True):
    """One credential; `credential_values` is the ciphertext of a JSON object."""

    credential_name: str
    credential_values: str = ""
    credential_info: dict[str, Any] = msgspec.field(default_factory=dict)
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None


def _row(raw: Any) -> CredentialRow:
    return CredentialRow(
        credential_name=raw["credential_name"],
        credential_values=raw["credential_values"] or "",
        credential_info=json_value(raw["credential_info"], {}),
        created_at=raw["created_at"],
        created_by=raw["created_by"],
        updated_at=raw["updated_at"],
        updated_by=raw["updated_by"],
    )


async def insert_credential(db: Db, row: CredentialRow) -> None:
    """Insert a new credential; the caller has checked the name is free."""
    await run_sql(
        db.engine,
        _INSERT,
        row.credential_name,
        row.credential_values,
        json_text(row.credential_info),
        row.created_at,
        row.created_by,
        row.updated_at,
        row.updated_by,
    )


async def get_credential(db: Db, name: str) -> CredentialRow | None:
    """The credential with this name, or None."""
    rows = await run_sql(db.engine, _SELECT + ' WHERE "credential_name" = {}', name)
    return _row(rows[0]) if rows else None


async def all_credentials(db: Db) -> list[CredentialRow]:
    """Every credential, oldest first."""
    rows = await run_sql(db.engine, _SELECT + ' ORDER BY "created_at", "credential_name"')
    return [_row(r) for r in rows]


async def update_credential(db: Db, old_name: str, row: CredentialRow) -> None:
    """Rewrite a credential, renaming it when `row.credential_name` differs."""
    await run_sql(
        db.engine,
        'UPDATE "tianji_credential" SET "credential_name" = {}, "credential_values" = {}, '
        '"credential_info" = {}, "updated_at" = {}, "updated_by" = {} '
        'WHERE "credential_name" = {}',
        row.credential_name,
        row.credential_values,
        json_text(row.credential_info),
        row.updated_at,
        row.updated_by,
        old_name,
    )


async def delete_credential(db: Db, name: str) -> None:
    """Delete one credential (missing is ignored)."""
    await run_sql(db.engine, 'DELETE FROM "tianji_credential" WHERE "credential_name" = {}', name)
