"""Control-plane wiring: the management API's home, on Postgres or SQLite.

Why so little yet: tenants, keys, budgets and snapshots arrive with the tenancy issue;
until then every LiteLLM management route answers 501 naming the feature (through the
shared route catalog), and this component owns the database connection and readiness.
"""

from __future__ import annotations

import logging

from piccolo.engine.postgres import PostgresEngine
from tianji_common.db.engine import engine_from_url
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


class _DbState:
    def __init__(self) -> None:
        self.connected = False


def build_control_plane(database_url: str) -> Component:
    """A component whose readiness follows the database connection."""
    engine = engine_from_url(database_url)
    state = _DbState()

    async def startup() -> None:
        if isinstance(engine, PostgresEngine):
            await engine.start_connection_pool(max_size=10)
        await engine.run_ddl("SELECT 1")
        state.connected = True
        log.info("control plane connected to %s", redact_url(database_url))

    async def shutdown() -> None:
        if isinstance(engine, PostgresEngine):
            await engine.close_connection_pool()

    return Component("control-plane", [], (startup,), (shutdown,), ready=lambda: state.connected)
