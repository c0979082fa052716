"""Fixtures of the spend e2e tests: Postgres, a fresh migrated database, a private NATS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from tianji_common.db.testing import postgres_server, temporary_database

from tests.support.private_nats import PrivateNats, nats_server_bin
from tests.support.spend_env import migrate


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """The Postgres server (DATABASE_URL, or a testcontainer), else skip with the reason."""
    with postgres_server() as url:
        if url is None:
            pytest.skip("no Postgres: set DATABASE_URL (or run a Docker engine)")
        yield url


@pytest.fixture
async def db_url(server_url: str, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A fresh, migrated database per test, named after the test module."""
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    async with temporary_database(server_url, prefix=f"tianji_{name}") as url:
        await asyncio.to_thread(migrate, url)
        yield url


@pytest.fixture
def private_nats() -> Iterator[PrivateNats]:
    """A nats-server of the test's own (never the shared one), stopped afterwards."""
    if nats_server_bin() is None:
        pytest.skip("no nats-server binary on this machine")
    server = PrivateNats().start()
    yield server
    server.close()
