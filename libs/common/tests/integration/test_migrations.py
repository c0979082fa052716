"""One migration history applies on SQLite and Postgres, and applying twice is a no-op."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tianji_common.db import DailySpend, SpendLog, bound_table, close_engine, open_engine
from tianji_common.db.migrate import applied_migrations, migrate, migration_ids
from tianji_common.db.testing import temporary_database


@pytest.fixture
async def fresh_postgres_url(postgres_url: str) -> AsyncIterator[str]:
    """A database of its own per test: these tests start from an empty schema."""
    async with temporary_database(postgres_url) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    # Sync on purpose: an async fixture cannot getfixturevalue() another async one.
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tianji.sqlite'}"
    return str(request.getfixturevalue("fresh_postgres_url"))


async def _tables_exist(url: str) -> bool:
    engine = await open_engine(url, pool=False)
    try:
        for table in (SpendLog, DailySpend):
            if not await bound_table(table, engine).table_exists().run():
                return False
        return True
    finally:
        await close_engine(engine)


async def test_migrate_twice_creates_the_tables_once(url: str) -> None:
    assert migration_ids()  # the history ships with the package
    assert await applied_migrations(url) == []

    await migrate(url)
    await migrate(url)

    assert await _tables_exist(url)
    assert await applied_migrations(url) == migration_ids()


async def test_concurrent_runners_apply_each_migration_once(url: str) -> None:
    await asyncio.gather(migrate(url), migrate(url), migrate(url))

    assert await _tables_exist(url)
    assert await applied_migrations(url) == migration_ids()


async def test_daily_spend_key_is_unique(url: str) -> None:
    await migrate(url)
    engine = await open_engine(url, pool=False)
    try:
        daily = bound_table(DailySpend, engine)
        row = {"kind": "team", "value": "t1", "model": "m"}
        await daily.insert(daily(**row)).run()
        with pytest.raises(Exception, match=r"(?i)unique"):
            await daily.insert(daily(**row)).run()
    finally:
        await close_engine(engine)
