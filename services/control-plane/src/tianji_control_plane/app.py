"""Control-plane wiring: the management API's home, on Postgres or SQLite.

Why so little yet: tenants, keys, budgets and snapshots arrive with the tenancy issue;
until then every LiteLLM management route answers 501 naming the feature (through the
shared route catalog), and this component owns the database connection and readiness.
"""

from __future__ import annotations

import logging
from typing import Any

from piccolo.engine.base import Engine
from tianji_common.db.engine import close_engine, open_engine, run_sql
from tianji_common.http import Component

__all__ = ["build_control_plane", "redact_url"]

log = logging.getLogger("tianji.control_plane")


def redact_url(url: str) -> str:
    """A database URL safe to log: the password is masked."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else f"{scheme}://{user}@{host}"


class _Db:
    def __init__(self) -> None:
        self.engine: Engine[Any] | None = None


def build_control_plane(database_url: str) -> Component:
    """A component whose readiness follows the database connection."""
    db = _Db()

    async def startup() -> None:
        db.engine = await open_engine(database_url, max_size=10)
        await run_sql(db.engine, "SELECT 1")
        log.info("control plane connected to %s", redact_url(database_url))

    async def shutdown() -> None:
        if db.engine is not None:
            await close_engine(db.engine)

    return Component(
        "control-plane", [], (startup,), (shutdown,), ready=lambda: db.engine is not None
    )
