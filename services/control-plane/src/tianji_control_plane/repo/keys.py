"""Virtual-key rows: insert, read, list, update, delete, re-token."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from tianji_control_plane.repo._values import column_values, update_values
from tianji_control_plane.repo.db import from_row
from tianji_control_plane.repo.records import KeyRecord

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tianji_control_plane.repo.db import Db

__all__ = [
    "all_keys",
    "delete_keys",
    "get_key",
    "get_keys",
    "insert_key",
    "list_keys",
    "replace_token",
    "update_key",
]


async def insert_key(db: Db, record: KeyRecord) -> KeyRecord:
    """Insert a new key row; the caller has checked the token is free."""
    values = column_values(msgspec.structs.asdict(record))
    await db.keys.insert(db.keys(**values)).run()
    stored = await get_key(db, record.token)
    assert stored is not None  # just inserted, in this transaction
    return stored


async def get_key(db: Db, token: str) -> KeyRecord | None:
    """The key with this hash, or None."""
    row = await db.keys.select().where(db.keys.token == token).first().run()
    return None if row is None else from_row(row, KeyRecord)


async def get_keys(db: Db, tokens: Sequence[str]) -> list[KeyRecord]:
    """The keys among `tokens` that exist, in no particular order."""
    if not tokens:
        return []
    rows = await db.keys.select().where(db.keys.token.is_in(list(tokens))).run()
    return [from_row(row, KeyRecord) for row in rows]


async def list_keys(
    db: Db,
    *,
    page: int,
    size: int,
    filters: dict[str, str],
) -> tuple[list[KeyRecord], int]:
    """One page of keys (oldest first) matching `filters` (column → value), and the total."""
    query = db.keys.select()
    count = db.keys.count()
    for column, value in filters.items():
        condition = db.keys._meta.get_column_by_name(column) == value
        query = query.where(condition)
        count = count.where(condition)
    order = query.order_by(db.keys.created_at, db.keys.token)
    rows = await order.limit(size).offset((page - 1) * size).run()
    total = await count.run()
    return [from_row(row, KeyRecord) for row in rows], int(total)


async def all_keys(db: Db) -> list[KeyRecord]:
    """Every key (snapshot building)."""
    rows = await db.keys.select().run()
    return [from_row(row, KeyRecord) for row in rows]


async def update_key(db: Db, token: str, values: dict[str, Any]) -> KeyRecord | None:
    """Set the given columns; None if the key does not exist."""
    if values:
        await db.keys.update(update_values(values)).where(db.keys.token == token).run()
    return await get_key(db, token)


async def delete_keys(db: Db, tokens: Sequence[str]) -> None:
    """Delete these keys (missing ones are ignored)."""
    if tokens:
        await db.keys.delete().where(db.keys.token.is_in(list(tokens))).run()


async def replace_token(db: Db, old: str, new: str, values: dict[str, Any]) -> KeyRecord | None:
    """Move a key to a new hash (regenerate), setting `values` too; None if missing."""
    await db.keys.update(update_values({**values, "token": new})).where(db.keys.token == old).run()
    return await get_key(db, new)
