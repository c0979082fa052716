"""Apply pending migrations programmatically: `await migrate(url)`.

Why: `tianji migrate` (a Helm pre-upgrade Job, a compose one-shot) and the embedded
all-in-one must migrate without a `piccolo` subprocess or a `piccolo_conf.py` on the
path (PP-6: no replica migrates at startup). The migration files are piccolo's own
format, so `piccolo migrations new tianji --auto` keeps writing them.

How: all pending migrations run in ONE transaction, on Postgres behind an advisory
lock and on SQLite in a `BEGIN IMMEDIATE`, so two concurrent runners apply each
migration once and a failure leaves the schema as it was. Applied migrations are
recorded in piccolo's own `piccolo_migration` table, so the piccolo CLI agrees.
piccolo's `MigrationManager` finds its engine via `engine_finder()`, which reads
the module named by `PICCOLO_CONF`; we point it at `tianji_common.db.piccolo_conf`,
whose `DB` is this call's engine (a ContextVar).
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
from collections.abc import Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

from piccolo.apps.migrations.tables import Migration
from piccolo.conf.apps import ENVIRONMENT_VARIABLE as PICCOLO_CONF_VAR
from piccolo.engine.postgres import PostgresEngine

from tianji_common.db import migrations as migrations_package
from tianji_common.db import piccolo_conf
from tianji_common.db.engine import (
    bound_table,
    close_engine,
    open_engine,
    run_sql,
    write_transaction,
)
from tianji_common.db.piccolo_app import APP_NAME

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from piccolo.apps.migrations.auto.migration_manager import MigrationManager
    from piccolo.engine.base import Engine

__all__ = ["applied_migrations", "migrate", "migration_ids"]

logger = logging.getLogger(__name__)

# Any constant works: it only has to be the same for every runner.
_ADVISORY_LOCK_KEY: Final = 0x7469616E6A69  # "tianji"


class _MigrationModule(Protocol):
    ID: str
    forwards: Callable[[], Awaitable[MigrationManager]]


async def migrate(url: str) -> None:
    """Apply every pending migration to the database at `url`; running twice is fine."""
    engine = await open_engine(url, pool=False)
    try:
        with _piccolo_finds(engine):
            await _apply_pending(engine)
    finally:
        await close_engine(engine)


async def applied_migrations(url: str) -> list[str]:
    """IDs already applied to the database at `url` (empty before the first run)."""
    engine = await open_engine(url, pool=False)
    try:
        log = bound_table(Migration, engine)
        if not await log.table_exists().run():
            return []
        return await _applied(log)
    finally:
        await close_engine(engine)


def migration_ids() -> list[str]:
    """Every migration this build ships, oldest first."""
    return [module.ID for module in _migration_modules()]


async def _apply_pending(engine: Engine[Any]) -> None:
    log = bound_table(Migration, engine)
    async with _exclusive_transaction(engine):
        create = log.create_table(if_not_exists=True)
        await create.run()  # type: ignore[no-untyped-call]  # piccolo's DDL.run is unannotated
        done = set(await _applied(log))
        for module in _migration_modules():
            if module.ID in done:
                continue
            manager = await module.forwards()
            # Its own engine.transaction() nests into ours (piccolo's allow_nested).
            await manager.run()
            await log.insert(log(name=module.ID, app_name=APP_NAME)).run()


async def _applied(log: type[Migration]) -> list[str]:
    return await log.get_migrations_which_ran(app_name=APP_NAME)


@asynccontextmanager
async def _exclusive_transaction(engine: Engine[Any]) -> AsyncIterator[None]:
    async with write_transaction(engine):
        if isinstance(engine, PostgresEngine):
            await run_sql(engine, "SELECT pg_advisory_xact_lock({})", _ADVISORY_LOCK_KEY)
        yield


def _migration_modules() -> list[_MigrationModule]:
    """Import the migration files as package modules (piccolo's CLI edits sys.path)."""
    prefix = migrations_package.__name__ + "."
    names = [info.name for info in pkgutil.iter_modules(migrations_package.__path__, prefix)]
    modules = [cast("_MigrationModule", importlib.import_module(name)) for name in names]
    return sorted(modules, key=lambda module: module.ID)


@contextmanager
def _piccolo_finds(engine: Engine[Any]) -> Iterator[None]:
    """Make piccolo's `engine_finder()` return `engine` in this task.

    PICCOLO_CONF stays pointed at our conf afterwards: restoring it would pull it
    from under a concurrent `migrate()`, and our conf, outside a `use_engine`
    block, resolves DATABASE_URL just as a hand-written piccolo_conf.py would.
    """
    previous = os.environ.get(PICCOLO_CONF_VAR)
    if previous != piccolo_conf.MODULE:
        if previous:
            logger.warning("PICCOLO_CONF=%s replaced by %s", previous, piccolo_conf.MODULE)
        os.environ[PICCOLO_CONF_VAR] = piccolo_conf.MODULE
    with piccolo_conf.use_engine(engine):
        yield
