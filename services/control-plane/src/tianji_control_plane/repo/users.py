"""User rows: insert, read, page, update, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from piccolo.query.functions.string import Lower

from tianji_control_plane.repo._values import column_values, update_values
from tianji_control_plane.repo.db import from_row
from tianji_control_plane.repo.records import UserRecord

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tianji_control_plane.repo.db import Db

__all__ = [
    "UserFilter",
    "all_users",
    "delete_users",
    "get_user",
    "get_user_by_email",
    "get_users",
    "insert_user",
    "key_counts",
    "list_users",
    "update_user",
]


async def insert_user(db: Db, record: UserRecord) -> UserRecord:
    """Insert a new user row; the caller has checked the id is free."""
    values = column_values(msgspec.structs.asdict(record))
    await db.users.insert(db.users(**values)).run()
    stored = await get_user(db, record.user_id)
    assert stored is not None  # just inserted, in this transaction
    return stored


async def get_user(db: Db, user_id: str) -> UserRecord | None:
    """The user with this id, or None."""
    row = await db.users.select().where(db.users.user_id == user_id).first().run()
    return None if row is None else from_row(row, UserRecord)


async def get_user_by_email(db: Db, email: str) -> UserRecord | None:
    """The oldest user with this email, any case (LiteLLM compares emails that way)."""
    query = db.users.select().where(Lower(db.users.user_email) == email.lower())
    row = await query.order_by(db.users.created_at).first().run()
    return None if row is None else from_row(row, UserRecord)


async def get_users(db: Db, user_ids: Sequence[str]) -> list[UserRecord]:
    """The users among `user_ids` that exist, in no particular order."""
    if not user_ids:
        return []
    rows = await db.users.select().where(db.users.user_id.is_in(list(user_ids))).run()
    return [from_row(row, UserRecord) for row in rows]


class UserFilter(msgspec.Struct, kw_only=True, frozen=True):
    """`/user/list` filters and order, as LiteLLM takes them (newest first by default)."""

    role: str | None = None
    user_ids: tuple[str, ...] = ()
    email_contains: str | None = None
    sort_by: str = "created_at"
    ascending: bool = False


async def list_users(
    db: Db, *, page: int, size: int, where: UserFilter
) -> tuple[list[UserRecord], int]:
    """One page of users matching `where`, and the total."""
    query = db.users.select()
    count = db.users.count()
    conditions: list[Any] = []
    if where.role is not None:
        conditions.append(db.users.user_role == where.role)
    if where.user_ids:
        conditions.append(db.users.user_id.is_in(list(where.user_ids)))
    if where.email_contains:
        conditions.append(_contains_any_case(db, where.email_contains))
    for condition in conditions:
        query = query.where(condition)
        count = count.where(condition)
    column = db.users._meta.get_column_by_name(where.sort_by)
    order = query.order_by(column, db.users.user_id, ascending=where.ascending)
    rows = await order.limit(size).offset((page - 1) * size).run()
    return [from_row(row, UserRecord) for row in rows], int(await count.run())


def _contains_any_case(db: Db, text: str) -> Any:
    """`user_email ILIKE %text%`; SQLite has no ILIKE, and its LIKE ignores ASCII case."""
    pattern = f"%{text}%"
    if db.engine.engine_type == "sqlite":
        return db.users.user_email.like(pattern)
    return db.users.user_email.ilike(pattern)


async def key_counts(db: Db, user_ids: Sequence[str]) -> dict[str, int]:
    """How many keys each of these users owns (LiteLLM's `key_count`)."""
    if not user_ids:
        return {}
    query = db.keys.select(db.keys.user_id).where(db.keys.user_id.is_in(list(user_ids)))
    counts = dict.fromkeys(user_ids, 0)
    for row in await query.run():
        counts[row["user_id"]] += 1
    return counts


async def update_user(db: Db, user_id: str, values: dict[str, Any]) -> UserRecord | None:
    """Set the given columns; None if the user does not exist."""
    if values:
        await db.users.update(update_values(values)).where(db.users.user_id == user_id).run()
    return await get_user(db, user_id)


async def delete_users(db: Db, user_ids: Sequence[str]) -> None:
    """Delete these users (missing ones are ignored)."""
    if user_ids:
        await db.users.delete().where(db.users.user_id.is_in(list(user_ids))).run()


async def all_users(db: Db) -> list[UserRecord]:
    """Every user (snapshot building)."""
    return [from_row(row, UserRecord) for row in await db.users.select().run()]
