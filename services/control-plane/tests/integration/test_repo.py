"""`repo/` on SQLite and Postgres: round trips, JSON and money columns, versions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from tianji_common.db.engine import close_engine, open_engine

from tianji_control_plane.repo import keys as key_repo
from tianji_control_plane.repo import teams as team_repo
from tianji_control_plane.repo.db import Db
from tianji_control_plane.repo.records import KeyRecord, TeamRecord
from tianji_control_plane.repo.version import bump_version, current_version


@pytest.fixture(scope="module")
async def db(db_url: str) -> AsyncIterator[Db]:
    engine = await open_engine(db_url, pool=False)
    yield Db.bind(engine)
    await close_engine(engine)


def _key(token: str, **extra: object) -> KeyRecord:
    now = datetime.now(UTC)
    return KeyRecord(token=token, created_at=now, updated_at=now, **extra)  # type: ignore[arg-type]


async def test_key_round_trip_keeps_types(db: Db) -> None:
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    rec = _key(
        "r1" * 32,
        models=["a", "b"],
        aliases={"x": "a"},
        metadata={"n": 1, "tags": ["t"]},
        max_budget=10.25,
        tpm_limit=5,
        blocked=True,
        expires=expires,
    )
    async with db.transaction():
        stored = await key_repo.insert_key(db, rec)
    assert stored.models == ["a", "b"]
    assert stored.aliases == {"x": "a"}
    assert stored.metadata == {"n": 1, "tags": ["t"]}
    assert stored.max_budget == 10.25
    assert stored.blocked is True
    assert stored.expires == expires
    assert stored.spend == 0.0


async def test_update_replace_and_delete(db: Db) -> None:
    await key_repo.insert_key(db, _key("u1" * 32))
    updated = await key_repo.update_key(db, "u1" * 32, {"models": ["z"], "key_alias": "al"})
    assert updated is not None and updated.models == ["z"] and updated.key_alias == "al"
    assert await key_repo.update_key(db, "missing", {"models": []}) is None
    moved = await key_repo.replace_token(db, "u1" * 32, "u2" * 32, {"key_name": "sk-...abcd"})
    assert moved is not None and moved.models == ["z"] and moved.key_name == "sk-...abcd"
    assert await key_repo.get_key(db, "u1" * 32) is None
    await key_repo.delete_keys(db, ["u2" * 32])
    assert await key_repo.get_key(db, "u2" * 32) is None


async def test_a_failed_transaction_leaves_nothing(db: Db) -> None:
    async def insert_then_fail() -> None:
        async with db.transaction():
            await key_repo.insert_key(db, _key("f1" * 32))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await insert_then_fail()
    assert await key_repo.get_key(db, "f1" * 32) is None


async def test_team_round_trip(db: Db) -> None:
    now = datetime.now(UTC)
    rec = TeamRecord(
        team_id="team-r",
        models=["m"],
        members_with_roles=[{"user_id": "u", "role": "admin"}],
        created_at=now,
        updated_at=now,
    )
    stored = await team_repo.insert_team(db, rec)
    assert stored.members_with_roles == [{"user_id": "u", "role": "admin"}]
    blocked = await team_repo.update_team(db, "team-r", {"blocked": True})
    assert blocked is not None and blocked.blocked is True
    assert "team-r" in [t.team_id for t in await team_repo.all_teams(db)]


async def test_versions_count_up_and_roll_back(db: Db) -> None:
    start = await current_version(db)
    async with db.transaction():
        assert await bump_version(db) == start + 1

    async def bump_then_fail() -> None:
        async with db.transaction():
            await bump_version(db)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await bump_then_fail()
    assert await current_version(db) == start + 1
