"""The policy version counter (one row), bumped inside every management write."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from tianji_common.db.engine import run_sql

if TYPE_CHECKING:
    from tianji_control_plane.repo.db import Db

__all__ = ["bump_version", "current_version"]

# Literal SQL (the table is `PolicyVersion`, "tianji_policy_version"); no input in it.
# One statement on both engines (SQLite 3.35+): the row lock it takes is held until
# commit, so versions are handed out in commit order.
_BUMP: Final = (
    'INSERT INTO "tianji_policy_version" ("id", "version") VALUES (1, 1) '
    'ON CONFLICT ("id") DO UPDATE SET "version" = "tianji_policy_version"."version" + 1 '
    'RETURNING "version"'
)
_READ: Final = 'SELECT "version" FROM "tianji_policy_version" WHERE "id" = 1'


async def bump_version(db: Db) -> int:
    """The next version; call inside the write's transaction."""
    rows = await run_sql(db.engine, _BUMP)
    return int(rows[0]["version"])


async def current_version(db: Db) -> int:
    """The committed version (0 before the first change)."""
    rows = await run_sql(db.engine, _READ)
    return int(rows[0]["version"]) if rows else 0
