"""Entity spend, spend broadcasts, budget resets and alert de-duplication, on both engines.

Every test runs on SQLite (the all-in-one) and Postgres (split mode); the Postgres
variant is skipped with the reason when DATABASE_URL is unset.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tianji_common.bus import MemoryBroker, MemoryBus
from tianji_common.db import close_engine, open_engine, run_sql
from tianji_common.db.migrate import migrate
from tianji_common.events import SpendUpdated, UsageRecorded, decode_spend, encode_event

from tianji_spend_worker.alerts.model import Alert
from tianji_spend_worker.consumer import SpendWriter, open_writer, run_spend_worker
from tianji_spend_worker.handlers import daily_rows, spend_log_rows

WAIT = 15.0


@dataclass
class World:
    url: str
    tag: str = field(default_factory=lambda: secrets.token_hex(4))

    @property
    def exact(self) -> bool:
        return not self.url.startswith("sqlite")

    def id(self, name: str) -> str:
        return f"{name}-{self.tag}"

    async def sql(self, sql: str, *args: object) -> list[Any]:
        engine = await open_engine(self.url, pool=False)
        try:
            return await run_sql(engine, sql, *args)
        finally:
            await close_engine(engine)

    async def spend(self, table: str, pk: str, ident: str) -> Decimal:
        rows = await self.sql(f'SELECT "spend" FROM "{table}" WHERE "{pk}" = {{}}', ident)
        assert rows, f"no {table} row {ident}"
        return Decimal(str(rows[0]["spend"]))

    def same(self, got: Decimal, want: Decimal) -> bool:
        # piccolo stores NUMERIC as REAL on SQLite: sums there are floating point.
        return got == want if self.exact else abs(got - want) < Decimal("1e-9")


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'spend.sqlite'}"
    return str(request.getfixturevalue("database_url"))


@pytest.fixture
async def world(db_url: str) -> World:
    await migrate(db_url)
    return World(db_url)


async def _seed(world: World, *, soft: str | None = None, max_budget: str | None = None) -> None:
    """A key, its user, team and org, and both memberships, with optional key budgets."""
    key, user, team, org = (world.id(n) for n in ("key", "user", "team", "org"))
    await world.sql(
        'INSERT INTO "tianji_verification_token" ("token", "soft_budget", "max_budget") '
        "VALUES ({}, {}, {})",
        key,
        None if soft is None else Decimal(soft),
        None if max_budget is None else Decimal(max_budget),
    )
    await world.sql('INSERT INTO "tianji_user" ("user_id") VALUES ({})', user)
    await world.sql('INSERT INTO "tianji_team" ("team_id") VALUES ({})', team)
    await world.sql('INSERT INTO "tianji_organization" ("organization_id") VALUES ({})', org)
    await world.sql(
        'INSERT INTO "tianji_team_membership" ("id", "team_id", "user_id") VALUES ({}, {}, {})',
        f"{team}/{user}",
        team,
        user,
    )
    await world.sql(
        'INSERT INTO "tianji_organization_membership" ("id", "organization_id", "user_id") '
        "VALUES ({}, {}, {})",
        f"{org}/{user}",
        org,
        user,
    )


def _event(world: World, cost: str, model: str = "gpt-4o", **extra: Any) -> UsageRecorded:
    fields: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": time.time(),
        "request_id": secrets.token_hex(8),
        "model_group": model,
        "model": f"{model}-2024",
        "key_hash": world.id("key"),
        "user_id": world.id("user"),
        "team_id": world.id("team"),
        "org_id": world.id("org"),
        "end_user": world.id("customer"),
        "tags": ("prod",),
        "cost": cost,
    }
    return UsageRecorded(**{**fields, **extra})


async def _writer(world: World) -> SpendWriter:
    return await open_writer(world.url)


async def test_every_entity_spend_adds_up_once(world: World) -> None:
    await _seed(world)
    events = [
        _event(world, f"0.{i:03d}1", model="gpt-4o" if i % 2 else "claude") for i in range(40)
    ]
    total = sum((Decimal(e.cost) for e in events), Decimal(0))
    by_model: dict[str, Decimal] = defaultdict(Decimal)
    for e in events:
        by_model[e.model_group] += Decimal(e.cost)
    writer = await _writer(world)
    try:
        first = await writer.write(events[:25])
        second = await writer.write(events)  # 25 redelivered, 15 new
        again = await writer.write(events)  # all redelivered
    finally:
        await writer.close()
    assert (first.new, second.new, again.new, again.totals) == (25, 15, 0, [])

    for table, pk, ident in (
        ("tianji_verification_token", "token", world.id("key")),
        ("tianji_user", "user_id", world.id("user")),
        ("tianji_team", "team_id", world.id("team")),
        ("tianji_organization", "organization_id", world.id("org")),
        ("tianji_end_user", "user_id", world.id("customer")),  # created on first spend
        ("tianji_team_membership", "id", f"{world.id('team')}/{world.id('user')}"),
        ("tianji_organization_membership", "id", f"{world.id('org')}/{world.id('user')}"),
    ):
        got = await world.spend(table, pk, ident)
        assert world.same(got, total), (table, got, total)

    # The totals a commit reports are the absolute values read back in it.
    key_total = next(t for t in second.totals if t.kind == "key")
    assert world.same(key_total.spend, total)
    assert key_total.model_spend is not None
    assert set(key_total.model_spend) == {"gpt-4o", "claude"}
    for model, spend in by_model.items():
        assert world.same(key_total.model_spend[model], spend)
    kinds = {t.kind for t in second.totals}
    assert kinds == {"key", "user", "team", "org", "end_user", "team_member", "org_member"}

    rows = await world.sql(
        'SELECT "value", "spend", "requests" FROM "tianji_daily_spend" WHERE "kind" = {} '
        'AND "value" IN ({}, {})',
        "model",
        "gpt-4o",
        "claude",
    )
    assert sum(int(r["requests"]) for r in rows) >= 40


async def test_unknown_entities_are_not_created_except_end_users(world: World) -> None:
    writer = await _writer(world)
    try:
        result = await writer.write([_event(world, "0.5")])  # nothing seeded
    finally:
        await writer.close()
    assert [t.kind for t in result.totals] == ["end_user"]
    assert (
        await world.sql('SELECT 1 FROM "tianji_team" WHERE "team_id" = {}', world.id("team")) == []
    )


async def test_each_commit_broadcasts_absolute_totals_in_order(world: World) -> None:
    await _seed(world)
    broker = MemoryBroker()
    bus = MemoryBus(broker)
    await bus.start()
    got: list[SpendUpdated] = []

    async def listen(raw: bytes) -> None:
        got.append(decode_spend(raw))

    await bus.subscribe("t.spend", listen)
    subject = f"t{world.tag}.usage"
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_spend_worker(
            bus, world.url, stop, subject=subject, durable="w", spend_subject="t.spend", batch=8
        )
    )
    events = [_event(world, "0.25") for _ in range(20)]
    for e in events:
        await bus.publish(subject, e.event_id, encode_event(e))
    try:
        async with asyncio.timeout(WAIT):
            while not got or _key_spend(got[-1], world) != Decimal("5.00"):
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT)
        await bus.close()
    seqs = [u.seq for u in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    spends = [_key_spend(u, world) for u in got]
    assert spends == sorted(spends)  # absolute totals, growing
    end_user = [e for e in got[-1].entries if e.kind == "end_user"]
    assert [e.id for e in end_user] == [world.id("customer")]


def _key_spend(update: SpendUpdated, world: World) -> Decimal | None:
    for entry in update.entries:
        if entry.kind == "key" and entry.id == world.id("key"):
            return Decimal(entry.spend).quantize(Decimal("0.01"))
    return None


async def test_budget_reset_zeroes_due_spend_once_and_sets_the_next_period(world: World) -> None:
    past = datetime.now(UTC) - timedelta(seconds=5)
    future = datetime.now(UTC) + timedelta(days=1)
    key, user, team, org = (world.id(n) for n in ("key", "user", "team", "org"))
    for table, pk, ident, due in (
        ("tianji_verification_token", "token", key, past),
        ("tianji_user", "user_id", user, past),
        ("tianji_team", "team_id", team, past),
        ("tianji_organization", "organization_id", org, future),  # not due
    ):
        await world.sql(
            f'INSERT INTO "{table}" ("{pk}", "spend", "budget_duration", "budget_reset_at") '
            "VALUES ({}, {}, {}, {})",
            ident,
            Decimal("3.5"),
            "30s",
            due,
        )
    budget = world.id("budget")
    await world.sql(
        'INSERT INTO "tianji_budget" ("budget_id", "max_budget", "budget_duration", "budget_reset_at") '
        "VALUES ({}, {}, {}, {})",
        budget,
        Decimal(10),
        "1mo",
        past,
    )
    await world.sql(
        'INSERT INTO "tianji_end_user" ("user_id", "spend", "budget_id") VALUES ({}, {}, {})',
        world.id("customer"),
        Decimal(2),
        budget,
    )
    writer = await _writer(world)
    try:
        before = datetime.now(UTC)
        first = await writer.reset_budgets(datetime.now(UTC))
        second = await writer.reset_budgets(datetime.now(UTC))
    finally:
        await writer.close()
    mine = {(k, i) for k, i in first.reset if i.endswith(world.tag)}
    assert mine == {
        ("key", key),
        ("user", user),
        ("team", team),
        ("end_user", world.id("customer")),
    }
    assert not [r for r in second.reset if r[1].endswith(world.tag)]
    assert await world.spend("tianji_verification_token", "token", key) == 0
    assert await world.spend("tianji_organization", "organization_id", org) == Decimal("3.5")
    assert await world.spend("tianji_end_user", "user_id", world.id("customer")) == 0
    rows = await world.sql(
        'SELECT "budget_reset_at" FROM "tianji_verification_token" WHERE "token" = {}', key
    )
    nxt = rows[0]["budget_reset_at"]
    nxt = nxt if isinstance(nxt, datetime) else datetime.fromisoformat(str(nxt))
    assert before + timedelta(seconds=29) <= nxt <= datetime.now(UTC) + timedelta(seconds=31)
    rows = await world.sql(
        'SELECT "budget_reset_at" FROM "tianji_budget" WHERE "budget_id" = {}', budget
    )
    nxt = rows[0]["budget_reset_at"]
    nxt = nxt if isinstance(nxt, datetime) else datetime.fromisoformat(str(nxt))
    assert nxt > datetime.now(UTC) + timedelta(days=29)


async def test_reset_loop_publishes_reset_entries(world: World) -> None:
    key = world.id("key")
    await world.sql(
        'INSERT INTO "tianji_verification_token" ("token", "spend", "budget_duration", "budget_reset_at") '
        "VALUES ({}, {}, {}, {})",
        key,
        Decimal(1),
        "1s",
        datetime.now(UTC) + timedelta(seconds=0.5),
    )
    bus = MemoryBus(MemoryBroker())
    await bus.start()
    resets: list[tuple[str, int]] = []

    async def listen(raw: bytes) -> None:
        update = decode_spend(raw)
        resets.extend((e.id, update.seq) for e in update.entries if e.reset and e.id == key)

    await bus.subscribe("t.spend", listen)
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_spend_worker(
            bus,
            world.url,
            stop,
            subject=f"t{world.tag}.u",
            durable="w",
            spend_subject="t.spend",
            reset_interval=0.2,
        )
    )
    try:
        async with asyncio.timeout(WAIT):
            while len(resets) < 2:  # "1s": it comes round again
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT)
        await bus.close()
    assert resets[1][1] > resets[0][1]
    assert await world.spend("tianji_verification_token", "token", key) == 0


async def test_one_alert_per_crossing_across_batches_workers_and_redelivery(world: World) -> None:
    await _seed(world, soft="1", max_budget="2")
    a, b = await _writer(world), await _writer(world)
    alerts: list[Alert] = []
    try:
        events = [_event(world, "0.4") for _ in range(8)]  # 0.4 .. 3.2
        for i, event in enumerate(events):
            writer = a if i % 2 else b
            alerts += (await writer.write([event])).alerts
            alerts += (await writer.write([event])).alerts  # redelivered: nothing
        alerts += (await a.write(events)).alerts
    finally:
        await a.close()
        await b.close()
    mine = sorted((x.alert_type, x.kind) for x in alerts)
    assert mine == [("budget_exceeded", "key"), ("soft_budget", "key")]
    soft = next(x for x in alerts if x.alert_type == "soft_budget")
    assert soft.entity_id == world.id("key") and Decimal(soft.spend) >= 1
    logged = await world.sql(
        'SELECT "id" FROM "tianji_alert_log" WHERE "entity_id" = {}', world.id("key")
    )
    assert len(logged) == 2


async def test_daily_rows_match_the_reference_sums(world: World) -> None:
    """Postgres sums in SQL, SQLite in Python (`daily_rows`): both give the same rows."""
    model, tag = world.id("model"), world.id("tag")
    events = [
        _event(
            world,
            f"0.{i + 1:04d}",
            model=model if i % 3 else f"{model}-b",
            tags=(tag, tag, "", f"{tag}-{i % 2}"),
            status="success" if i % 4 else "failure",
            prompt_tokens=i,
            completion_tokens=2 * i,
            total_tokens=3 * i,
        )
        for i in range(24)
    ]
    events.append(_event(world, "0.5", model="", tags=(), key_hash=None, user_id=None))
    writer = await _writer(world)
    try:
        await writer.write(events)
    finally:
        await writer.close()
    expected = {
        (r.kind, r.value, r.model): r
        for r in daily_rows(spend_log_rows(events))
        if world.tag in r.value
    }
    rows = await world.sql(
        'SELECT "kind", "value", "model", "spend", "prompt_tokens", "completion_tokens", '
        '"total_tokens", "requests", "failed_requests" FROM "tianji_daily_spend" '
        'WHERE "value" LIKE {}',
        f"%{world.tag}%",
    )
    got = {(r["kind"], r["value"], r["model"]): r for r in rows}
    assert set(got) == set(expected)
    assert {k for k, _, _ in got} == {"key", "user", "team", "org", "end_user", "tag", "model"}
    for key, want in expected.items():
        row = got[key]
        assert world.same(Decimal(str(row["spend"])), want.spend), key
        counts = tuple(int(row[c]) for c in ("prompt_tokens", "completion_tokens", "total_tokens"))
        assert counts == (want.prompt_tokens, want.completion_tokens, want.total_tokens)
        assert (int(row["requests"]), int(row["failed_requests"])) == (
            want.requests,
            want.failed_requests,
        ), key
