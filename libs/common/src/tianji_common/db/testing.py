"""Throwaway databases for tests, shared by every member's test suite.

Why here: each test module (and each xdist worker) gets its own Postgres database,
as in prefect's suite, and the control-plane and spend-worker tests need the same
helper; a conftest cannot be imported across members.
"""

from __future__ import annotations

import importlib
import os
import secrets
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tianji_common.db.engine import close_engine, open_engine

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

__all__ = ["postgres_server", "temporary_database", "with_database"]

_POSTGRES_IMAGE = "postgres:16-alpine"


@contextmanager
def postgres_server(env: str = "DATABASE_URL") -> Iterator[str | None]:
    """A Postgres server URL: `$env`, else a testcontainer if Docker answers, else None.

    None means "skip": the caller says why (STYLE section 10).
    """
    url = os.environ.get(env, "")
    if url.startswith(("postgresql://", "postgres://")):
        yield url
        return
    if not _docker_answers():
        yield None
        return
    postgres = importlib.import_module("testcontainers.community.postgres")
    with postgres.PostgresContainer(_POSTGRES_IMAGE, driver=None) as container:
        yield str(container.get_connection_url())


@asynccontextmanager
async def temporary_database(server_url: str, prefix: str = "tianji_test") -> AsyncIterator[str]:
    """CREATE a fresh database on the server of `server_url`, yield its URL, DROP it."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url, name)
    finally:
        # FORCE (Postgres 13+) ends sessions a failed test left open.
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def with_database(url: str, name: str) -> str:
    """`url` with its database (path) replaced by `name`."""
    return urlsplit(url)._replace(path=f"/{name}").geturl()


async def _admin(server_url: str, ddl: str) -> None:
    engine = await open_engine(server_url, pool=False)
    try:
        # Outside a transaction: CREATE/DROP DATABASE cannot run inside one.
        await engine.run_ddl(ddl, in_pool=False)
    finally:
        await close_engine(engine)


def _docker_answers() -> bool:
    try:
        importlib.import_module("docker").from_env(timeout=2).ping()
    except Exception:  # noqa: BLE001 - any failure here just means "no Docker engine"
        return False
    return True
