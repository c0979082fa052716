"""Fixtures: a migrated database on each engine, and the control plane on top of it.

Postgres comes from DATABASE_URL (or a testcontainer); without either, the Postgres
half of each parametrized test is skipped with the reason (CI exports the URL).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from tianji_common.bus import MemoryBroker, MemoryBus
from tianji_common.http import compose_app
from tianji_common.nats_names import POLICY_CHANGED_SUBJECT
from tianji_common.policy import PolicyChanged, decode_change

MASTER_KEY = "sk-test-master-0123456789abcdef"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    from tianji_common.db.testing import postgres_server

    with postgres_server() as url:
        if url is None:
            pytest.skip("DATABASE_URL is not set to Postgres and no Docker engine answers")
        yield url


@pytest.fixture(scope="module")
async def postgres_database(postgres_url: str) -> AsyncIterator[str]:
    from tianji_common.db.testing import temporary_database

    async with temporary_database(postgres_url, prefix="tianji_cp") as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def raw_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    # Sync on purpose: an async fixture cannot getfixturevalue() another async one.
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("cp") / "tianji.sqlite"
        return f"sqlite:///{path}"
    return str(request.getfixturevalue("postgres_database"))


@pytest.fixture(scope="module")
async def db_url(raw_url: str) -> str:
    from tianji_common.db.migrate import migrate

    await migrate(raw_url)
    return raw_url


@dataclass
class Events:
    """Policy-change events broadcast by the control plane, decoded."""

    seen: list[PolicyChanged] = field(default_factory=list)

    async def __call__(self, data: bytes) -> None:
        self.seen.append(decode_change(data))


@dataclass
class ControlPlaneKit:
    client: AsyncTestClient[Any]
    events: Events
    admin: dict[str, str]


@pytest.fixture(scope="module")
async def cp(db_url: str) -> AsyncIterator[ControlPlaneKit]:
    from tianji_control_plane.app import build_control_plane

    bus = MemoryBus(MemoryBroker())
    events = Events()
    await bus.subscribe(POLICY_CHANGED_SUBJECT, events)
    control = build_control_plane(db_url, master_key=MASTER_KEY, bus=bus)
    app = compose_app([control.component], max_body=1 << 20, version="test")
    async with AsyncTestClient(app=app) as client:  # type: ignore[arg-type]  # compose_app returns a Litestar app typed as ASGIApp
        yield ControlPlaneKit(client, events, {"authorization": f"Bearer {MASTER_KEY}"})
    await bus.close()
