"""The spend-worker end to end: bus in, spend rows out, every event exactly once.

Runs over [sqlite + MemoryBus] and [Postgres + NATS JetStream]; the second is skipped
with the reason when DATABASE_URL or NATS_URL is unset.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tianji_common.bus import EventBus, MemoryBroker, MemoryBus, RedeliveryPolicy
from tianji_common.bus.base import Delivery, dead_letter_id
from tianji_common.db import close_engine, open_engine, run_sql
from tianji_common.db.migrate import migrate
from tianji_common.events import UsageRecorded, encode_event

from tianji_spend_worker.consumer import open_writer, run_spend_worker

WAIT = 15.0
QUIET = 0.5
TEAMS = ("team-a", "team-b", "team-c")


@dataclass
class Backend:
    name: str
    database_url: str
    make_bus: Callable[[], EventBus]
    subject: str
    dead_subject: str
    cleanup: Callable[[], Any] | None = None
    buses: list[EventBus] = field(default_factory=list)

    async def bus(self) -> EventBus:
        bus = self.make_bus()
        await bus.start()
        self.buses.append(bus)
        return bus

    @property
    def exact_daily(self) -> bool:
        # piccolo stores Decimal as REAL on SQLite: daily sums there are floating point.
        return not self.database_url.startswith("sqlite")


def _policy(dead: str) -> RedeliveryPolicy:
    return RedeliveryPolicy(max_deliver=3, base_delay=0.05, max_delay=0.2, dead_subject=dead)


@pytest.fixture(params=["sqlite+memory", "postgres+nats"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    token = secrets.token_hex(4)
    subject, dead = f"t{token}.usage.recorded.v1", f"t{token}.usage.dead.v1"
    if request.param == "sqlite+memory":
        broker = MemoryBroker()
        url = f"sqlite:///{tmp_path / 'spend.sqlite'}"
        return Backend(
            request.param, url, lambda: MemoryBus(broker, policy=_policy(dead)), subject, dead
        )

    from tianji_common.bus.nats import NatsBus
    from tianji_common.bus.testing import delete_stream

    nats_url = str(request.getfixturevalue("nats_url"))
    database_url = str(request.getfixturevalue("database_url"))
    stream, spools = f"T{token}", iter(range(100))

    def make() -> EventBus:
        return NatsBus(
            nats_url,
            tmp_path / f"spool{next(spools)}",
            stream=stream,
            stream_subjects=(f"t{token}.>",),
            policy=_policy(dead),
            fetch_timeout=0.2,
        )

    return Backend(
        request.param, database_url, make, subject, dead, lambda: delete_stream(nats_url, stream)
    )


@pytest.fixture
async def world(backend: Backend) -> AsyncIterator[Backend]:
    await migrate(backend.database_url)
    await _sql(backend, 'DELETE FROM "tianji_spend_log"')
    await _sql(backend, 'DELETE FROM "tianji_daily_spend"')
    try:
        yield backend
    finally:
        for bus in backend.buses:
            await bus.close()
        if backend.cleanup is not None:
            await backend.cleanup()


async def _sql(backend: Backend, sql: str, *args: object) -> list[Any]:
    engine = await open_engine(backend.database_url, pool=False)
    try:
        return await run_sql(engine, sql, *args)
    finally:
        await close_engine(engine)


def _event(team: str, cost: Decimal, **extra: Any) -> UsageRecorded:
    return UsageRecorded(
        event_id=str(uuid.uuid4()),
        occurred_at=time.time(),
        request_id=secrets.token_hex(8),
        model_group="gpt-4o",
        model="gpt-4o-2024-08-06",
        key_hash=f"hash-{team}",
        team_id=team,
        tags=("prod",),
        prompt_tokens=10,
        completion_tokens=5,
        total_tokens=15,
        cost=str(cost),
        **extra,
    )


def _events(n: int) -> list[UsageRecorded]:
    rng = random.Random(n)
    return [_event(TEAMS[i % 3], Decimal(rng.randint(0, 10**6)) / 10**6) for i in range(n)]


def _expected_by_team(events: list[UsageRecorded]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for event in events:
        assert event.team_id is not None
        totals[event.team_id] += Decimal(event.cost)
    return dict(totals)


async def _publish(
    bus: EventBus, subject: str, events: list[UsageRecorded], suffix: str = ""
) -> None:
    for event in events:
        # A suffix gives the bus a new message id: the worker, not the bus, must dedupe.
        await bus.publish(subject, event.event_id + suffix, encode_event(event))


async def _log_count(backend: Backend) -> int:
    rows = await _sql(backend, 'SELECT COUNT(*) AS n FROM "tianji_spend_log"')
    return int(rows[0]["n"])


async def _wait_for_rows(backend: Backend, n: int) -> None:
    async with asyncio.timeout(WAIT):
        while await _log_count(backend) < n:
            await asyncio.sleep(0.05)
    await asyncio.sleep(QUIET)  # and nothing more arrives
    assert await _log_count(backend) == n


async def _spend_by_team(backend: Backend) -> dict[str, Decimal]:
    rows = await _sql(backend, 'SELECT "team_id", "spend" FROM "tianji_spend_log"')
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        totals[row["team_id"]] += Decimal(str(row["spend"]))
    return dict(totals)


async def _daily_by_team(backend: Backend) -> dict[str, tuple[Decimal, int]]:
    rows = await _sql(
        backend,
        'SELECT "value", "spend", "requests" FROM "tianji_daily_spend" WHERE "kind" = {}',
        "team",
    )
    totals: dict[str, tuple[Decimal, int]] = {}
    for row in rows:
        spend, requests = totals.get(row["value"], (Decimal(0), 0))
        totals[row["value"]] = (spend + Decimal(str(row["spend"])), requests + int(row["requests"]))
    return totals


def _assert_daily(
    backend: Backend, daily: dict[str, tuple[Decimal, int]], events: list[UsageRecorded]
) -> None:
    expected = _expected_by_team(events)
    counts = {team: sum(e.team_id == team for e in events) for team in expected}
    assert set(daily) == set(expected)
    for team, (spend, requests) in daily.items():
        assert requests == counts[team]
        if backend.exact_daily:
            assert spend == expected[team]
        else:
            assert abs(spend - expected[team]) < Decimal("1e-9")


class Worker:
    def __init__(self, bus: EventBus, backend: Backend) -> None:
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(
            run_spend_worker(
                bus,
                backend.database_url,
                self.stop,
                subject=backend.subject,
                durable=f"w{secrets.token_hex(3)}",
                dead_subject=backend.dead_subject,
                batch=16,
            )
        )

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, WAIT)


async def test_each_event_is_written_once_and_spend_adds_up(world: Backend) -> None:
    events = _events(60)
    bus = await world.bus()
    await _publish(bus, world.subject, events)
    await _publish(bus, world.subject, events[:10])  # same bus ids: the bus drops them
    await _publish(bus, world.subject, events[:15], suffix="-again")  # the worker must

    worker = Worker(bus, world)
    await _wait_for_rows(world, 60)
    await worker.finish()

    assert await _spend_by_team(world) == _expected_by_team(events)
    _assert_daily(world, await _daily_by_team(world), events)


async def test_redelivery_changes_nothing(world: Backend) -> None:
    events = _events(30)
    bus = await world.bus()
    await _publish(bus, world.subject, events)
    worker = Worker(bus, world)
    await _wait_for_rows(world, 30)
    before = (await _spend_by_team(world), await _daily_by_team(world))

    await _publish(bus, world.subject, events, suffix="-redelivered")
    await asyncio.sleep(QUIET * 2)
    await worker.finish()
    writer = await open_writer(world.database_url)
    try:
        result = await writer.write(events)  # straight to the writer, too
        assert (result.new, result.totals) == (0, [])
    finally:
        await writer.close()

    assert await _log_count(world) == 30
    assert (await _spend_by_team(world), await _daily_by_team(world)) == before


async def test_undecodable_payload_is_dead_lettered_and_the_rest_written(world: Backend) -> None:
    events = _events(5)
    bus = await world.bus()
    await bus.publish(world.subject, "junk", b"not json at all")
    await bus.publish(
        world.subject,
        "bad-cost",
        encode_event(_event("team-a", Decimal(0))).replace(b'"cost":"0"', b'"cost":"NaN"'),
    )
    await _publish(bus, world.subject, events)

    dead: list[tuple[str, int]] = []

    async def record(batch: list[Delivery]) -> None:
        dead.extend((d.event_id, d.num_delivered) for d in batch)

    stop_dead = asyncio.Event()
    dead_task = asyncio.create_task(
        bus.consume(world.dead_subject, "deadreader", record, stop=stop_dead)
    )
    worker = Worker(bus, world)
    await _wait_for_rows(world, 5)
    async with asyncio.timeout(WAIT):
        while len(dead) < 2:
            await asyncio.sleep(0.05)
    await worker.finish()
    stop_dead.set()
    await asyncio.wait_for(dead_task, WAIT)

    assert sorted(dead) == [(dead_letter_id("bad-cost"), 1), (dead_letter_id("junk"), 1)]
    assert await _spend_by_team(world) == _expected_by_team(events)
