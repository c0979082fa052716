"""The management audit log: one row per change, inside the change's transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tianji_control_plane.repo.db import from_row, json_text
from tianji_control_plane.repo.records import AuditEntry

if TYPE_CHECKING:
    from tianji_control_plane.repo.db import Db

__all__ = ["add_audit", "audit_for"]


async def add_audit(
    db: Db,
    *,
    changed_by: str,
    action: str,
    table_name: str,
    object_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """Record one change; call inside the change's transaction so both land or neither."""
    row = db.audit(
        id=uuid.uuid4().hex,
        changed_by=changed_by,
        action=action,
        table_name=table_name,
        object_id=object_id,
        before_value=None if before is None else json_text(before),
        updated_values=None if after is None else json_text(after),
        at=datetime.now(UTC),
    )
    await db.audit.insert(row).run()


async def audit_for(db: Db, object_id: str) -> list[AuditEntry]:
    """Every audit row about `object_id`, oldest first."""
    query = db.audit.select().where(db.audit.object_id == object_id).order_by(db.audit.at)
    return [from_row(row, AuditEntry) for row in await query.run()]
