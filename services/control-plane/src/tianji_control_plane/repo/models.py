"""`tianji_proxy_model` rows: deployments added through `/model/new`.

Why raw SQL (`run_sql`) instead of the bound piccolo tables in `repo/db.py`: these
three tables (models, credentials, access groups) are read and written only here, and
plain parameterised statements run the same on SQLite and Postgres while joining the
write's transaction (they go through the same engine). Identifiers are literals;
every value is a bound parameter.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import msgspec
from tianji_common.db.engine import run_sql

from tianji_control_plane.repo.db import json_text

if TYPE_CHECKING:
    from tianji_control_plane.repo.db import Db

__all__ = [
    "ModelRow",
    "all_models",
    "delete_model",
    "get_model",
    "insert_model",
    "json_value",
    "update_model",
]

_SELECT: Final = (
    'SELECT "model_id", "model_name", "litellm_params", "model_info", '
    '"created_at", "created_by", "updated_at", "updated_by" FROM "tianji_proxy_model"'
)
_INSERT: Final = (
    'INSERT INTO "tianji_proxy_model" ("model_id", "model_name", "litellm_params", '
    '"model_info", "created_at", "created_by", "updated_at", "updated_by") '
    "VALUES ({}, {}, {}, {}, {}, {}, {}, {})"
)


class ModelRow(msgspec.Struct, kw_only=True):
    """One stored deployment; secret `litellm_params` values are ciphertext."""

    model_id: str
    model_name: str
    litellm_params: dict[str, Any] = msgspec.field(default_factory=dict)
    model_info: dict[str, Any] = msgspec.field(default_factory=dict)
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None


def json_value(raw: object, default: Any) -> Any:
    """A JSON column as Python: text on both engines, already decoded on some drivers."""
    if raw is None:
        return default
    if isinstance(raw, str | bytes):
        return msgspec.json.decode(raw) if raw else default
    return raw


def _row(raw: Any) -> ModelRow:
    return ModelRow(
        model_id=raw["model_id"],
        model_name=raw["model_name"],
        litellm_params=json_value(raw["litellm_params"], {}),
        model_info=json_value(raw["model_info"], {}),
        created_at=raw["created_at"],
        created_by=raw["created_by"],
        updated_at=raw["updated_at"],
        updated_by=raw["updated_by"],
    )


async def insert_model(db: Db, row: ModelRow) -> None:
    """Insert a new deployment; the caller has checked the id is free."""
    await run_sql(
        db.engine,
        _INSERT,
        row.model_id,
        row.model_name,
        json_text(row.litellm_params),
        json_text(row.model_info),
        row.created_at,
        row.created_by,
        row.updated_at,
        row.updated_by,
    )


async def get_model(db: Db, model_id: str) -> ModelRow | None:
    """The deployment with this id, or None."""
    rows = await run_sql(db.engine, _SELECT + ' WHERE "model_id" = {}', model_id)
    return _row(rows[0]) if rows else None


async def all_models(db: Db) -> list[ModelRow]:
    """Every stored deployment, oldest first."""
    rows = await run_sql(db.engine, _SELECT + ' ORDER BY "created_at", "model_id"')
    return [_row(r) for r in rows]


async def update_model(db: Db, row: ModelRow) -> None:
    """Rewrite the mutable columns of an existing deployment."""
    await run_sql(
        db.engine,
        'UPDATE "tianji_proxy_model" SET "model_name" = {}, "litellm_params" = {}, '
        '"model_info" = {}, "updated_at" = {}, "updated_by" = {} WHERE "model_id" = {}',
        row.model_name,
        json_text(row.litellm_params),
        json_text(row.model_info),
        row.updated_at,
        row.updated_by,
        row.model_id,
    )


async def delete_model(db: Db, model_id: str) -> None:
    """Delete one deployment (missing is ignored)."""
    await run_sql(db.engine, 'DELETE FROM "tianji_proxy_model" WHERE "model_id" = {}', model_id)
