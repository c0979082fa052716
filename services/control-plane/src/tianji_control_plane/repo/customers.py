"""End-user (customer) rows: `tianji_end_user`, LiteLLM's `LiteLLM_EndUserTable`."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from tianji_control_plane.repo._values import column_values, update_values
from tianji_control_plane.repo.db import from_row

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tianji_control_plane.repo.db import Db

__all__ = [
    "CustomerRecord",
    "all_customers",
    "customers_with_budget",
    "delete_customers",
    "get_customer",
    "get_customers",
    "insert_customer",
    "update_customer",
]


class CustomerRecord(msgspec.Struct, kw_only=True):
    """A `tianji_end_user` row."""

    user_id: str
    alias: str | None = None
    spend: float = 0.0
    allowed_model_region: str | None = None
    default_model: str | None = None
    budget_id: str | None = None
    blocked: bool = False
    metadata: dict[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


async def insert_customer(db: Db, record: CustomerRecord) -> CustomerRecord:
    """Insert a new end-user row; the caller has checked the id is free."""
    values = column_values(msgspec.structs.asdict(record))
    await db.end_users.insert(db.end_users(**values)).run()
    stored = await get_customer(db, record.user_id)
    assert stored is not None  # just inserted, in this transaction
    return stored


async def get_customer(db: Db, user_id: str) -> CustomerRecord | None:
    """The end user with this id, or None."""
    row = await db.end_users.select().where(db.end_users.user_id == user_id).first().run()
    return None if row is None else from_row(row, CustomerRecord)


async def get_customers(db: Db, user_ids: Sequence[str]) -> list[CustomerRecord]:
    """The end users among `user_ids` that exist, in no particular order."""
    if not user_ids:
        return []
    rows = await db.end_users.select().where(db.end_users.user_id.is_in(list(user_ids))).run()
    return [from_row(row, CustomerRecord) for row in rows]


async def all_customers(db: Db) -> list[CustomerRecord]:
    """Every end user, oldest first."""
    query = db.end_users.select().order_by(db.end_users.created_at, db.end_users.user_id)
    return [from_row(row, CustomerRecord) for row in await query.run()]


async def customers_with_budget(db: Db, budget_id: str) -> list[CustomerRecord]:
    """The end users linked to this budget."""
    rows = await db.end_users.select().where(db.end_users.budget_id == budget_id).run()
    return [from_row(row, CustomerRecord) for row in rows]


async def update_customer(db: Db, user_id: str, values: dict[str, Any]) -> CustomerRecord | None:
    """Set the given columns; None if the end user does not exist."""
    if values:
        where = db.end_users.user_id == user_id
        await db.end_users.update(update_values(values)).where(where).run()
    return await get_customer(db, user_id)


async def delete_customers(db: Db, user_ids: Sequence[str]) -> None:
    """Delete these end users (missing ones are ignored)."""
    if user_ids:
        await db.end_users.delete().where(db.end_users.user_id.is_in(list(user_ids))).run()
