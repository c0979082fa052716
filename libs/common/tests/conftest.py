"""Fixtures for real services: a JetStream server and a fresh Postgres database.

URLs come from NATS_URL and DATABASE_URL; without them a testcontainer is started
if a Docker engine answers, else the test is skipped with the reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    """A NATS server with JetStream; tests use their own stream names on it."""
    from tianji_common.bus.testing import nats_server

    with nats_server() as url:
        if url is None:
            pytest.skip("NATS_URL is not set and no Docker engine answers")
        yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The Postgres server to create throwaway databases on."""
    from tianji_common.db.testing import postgres_server

    with postgres_server() as url:
        if url is None:
            pytest.skip("DATABASE_URL is not set to Postgres and no Docker engine answers")
        yield url


@pytest.fixture(scope="module")
async def database_url(postgres_url: str) -> AsyncIterator[str]:
    """A fresh, empty Postgres database for this test module, dropped afterwards."""
    from tianji_common.db.testing import temporary_database

    async with temporary_database(postgres_url) as url:
        yield url
