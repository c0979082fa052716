"""Build a piccolo engine from a URL and bind tables to it at runtime.

Why: piccolo finds its engine through a `piccolo_conf.py` module by default. Our
services get a `DATABASE_URL` at runtime instead, so the engine is built from the
URL and bound explicitly. Two ways, both piccolo's own mechanism (`Table._meta.db`,
which `Table.__init_subclass__(db=...)` sets and `_meta.refresh_db()` rewrites):

* `bind_tables(engine)`: sets `_meta.db` on every table, once, at startup. For a
  process that talks to exactly one database (every service).
* `bound_table(Table, engine)`: returns a subclass created with `db=engine`, so
  two engines can live in one process (tests, the migration runner). piccolo
  copies inherited columns in `__init_subclass__`, so the parent is untouched.

Raw SQL that the ORM cannot express portably runs through `run_sql`, which goes
through the engine and so joins the task's current `engine.transaction()`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, TypeVar, cast

from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.querystring import QueryString
from piccolo.table import Table, create_table_class

from tianji_common.db.tables import TABLES

if TYPE_CHECKING:
    from collections.abc import Iterable
    from contextlib import AbstractAsyncContextManager

    from piccolo.engine.base import Engine

__all__ = [
    "bind_tables",
    "bound_table",
    "close_engine",
    "engine_from_url",
    "open_engine",
    "placeholders",
    "run_sql",
    "write_transaction",
]

_T = TypeVar("_T", bound=Table)
_POSTGRES_SCHEMES = ("postgresql", "postgres")


def engine_from_url(url: str) -> Engine[Any]:
    """`postgresql://…` → PostgresEngine, `sqlite:///path` → SQLiteEngine.

    SQLite URLs follow SQLAlchemy's form: `sqlite:///rel.db`, `sqlite:////abs.db`.
    piccolo's engine constructor checks the server version synchronously, so call
    this from a thread in async code (`open_engine` does).
    """
    scheme, sep, rest = url.partition("://")
    if sep and scheme in _POSTGRES_SCHEMES:
        return PostgresEngine(config={"dsn": url})
    if sep and scheme == "sqlite" and rest.startswith("/") and len(rest) > 1:
        path = rest[1:]
        if path == ":memory:":
            # piccolo opens a connection per query: each would see an empty database.
            raise ValueError("sqlite in-memory databases are not supported; use a file")
        return SQLiteEngine(path=path)
    raise ValueError(f"unsupported database URL scheme: {scheme!r}")


async def open_engine(url: str, *, pool: bool = True, max_size: int = 10) -> Engine[Any]:
    """Build the engine off the event loop and, on Postgres, start its pool."""
    engine = await asyncio.to_thread(engine_from_url, url)
    if pool and isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=1, max_size=max_size)
    return engine


async def close_engine(engine: Engine[Any]) -> None:
    """Close the pool, if one was started."""
    if isinstance(engine, PostgresEngine) and engine.pool is not None:
        await engine.close_connection_pool()


def bind_tables(engine: Engine[Any], tables: Iterable[type[Table]] = TABLES) -> None:
    """Point every table at `engine` for the whole process (call once at startup)."""
    for table in tables:
        table._meta.db = engine


def bound_table(table: type[_T], engine: Engine[Any]) -> type[_T]:
    """A subclass of `table` bound to `engine`, leaving `table` itself untouched.

    piccolo registers every Table class it sees, so bind once per engine (at
    startup, or per migration run), not per query.
    """
    meta = table._meta
    bound = create_table_class(
        class_name=table.__name__,
        bases=(table,),
        class_kwargs={"tablename": meta.tablename, "schema": meta.schema, "db": engine},
    )
    return cast("type[_T]", bound)


async def run_sql(engine: Engine[Any], template: str, *args: object) -> list[Any]:
    """Run one SQL statement; `{}` marks each argument (piccolo's QueryString).

    Rows come back as asyncpg `Record`s on Postgres and dicts on SQLite: both
    support `row["column"]`.
    """
    rows = await engine.run_querystring(QueryString(template, *args))
    return cast("list[Any]", rows or [])


def placeholders(count: int) -> str:
    """`{}, {}, …` for a QueryString template."""
    return ", ".join("{}" for _ in range(count))


def write_transaction(engine: Engine[Any]) -> AbstractAsyncContextManager[Any]:
    """A transaction that will write: on SQLite `BEGIN IMMEDIATE`.

    Why: a deferred SQLite transaction that reads, then writes, fails with "database
    is locked" when another writer got in between; IMMEDIATE takes the write lock up
    front (piccolo's own advice in `SQLiteTransaction`).
    """
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    return cast("AbstractAsyncContextManager[Any]", engine.transaction())
