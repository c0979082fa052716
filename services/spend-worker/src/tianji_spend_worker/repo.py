"""The Postgres spend writer: one transaction per batch, idempotent per `event_id`.

Why asyncpg directly, not piccolo: throughput. A batch is one binary COPY into a
staging table and a fixed handful of statements, whatever its size; Postgres computes
every sum (`pg_sql.py` says why). Spend is only ever added in SQL
(`spend = spend + d.inc`), never read, changed and written back; `RETURNING` reads the
new absolute totals back inside the same transaction, under the row locks the UPDATE
took.

Lock order: tables in one fixed order (key, user, team, org, end user, team member,
org member), ids sorted within each statement, so two workers (or two loops, or a
worker and a budget reset) queue on each other's rows instead of deadlocking. A
deadlock that still happens rolls the batch back whole; it is run again.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

import asyncpg
import msgspec
from tianji_common.db.tables import Budget, EndUser, OrganizationMembership, TeamMembership

from tianji_spend_worker import pg_sql as sql
from tianji_spend_worker.alerts.model import budget_alerts
from tianji_spend_worker.durations import next_reset
from tianji_spend_worker.handlers import SPEND_LOG_COLUMNS, spend_log_rows
from tianji_spend_worker.results import BatchResult, EntityTotal, ResetResult

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from tianji_common.events import UsageRecorded

    from tianji_spend_worker.alerts.model import Alert
    from tianji_spend_worker.handlers import SpendLogRow

__all__ = ["PostgresSpendWriter"]

_model_spend = msgspec.json.Decoder(dict[str, Decimal])
_DEADLOCK_RETRIES: Final = 3
_BUDGET: Final = Budget._meta.tablename
_UPDATES: Final = {e.kind: sql.update_entities(e) for e in (*sql.ENTITIES, *sql.MEMBERS)}
_LINKED: Final = (  # budget rows reset the spend of what links to them
    ("end_user", sql.reset_linked(EndUser._meta.tablename, "user_id")),
    ("team_member", sql.reset_linked(TeamMembership._meta.tablename, "id")),
    ("org_member", sql.reset_linked(OrganizationMembership._meta.tablename, "id")),
)


class _WriterConnection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg is untyped
    """No reset round trip on release: the writer keeps no session state to clear.

    (No cursors, LISTEN, advisory locks or SET; the staging tables empty at commit.)
    """

    def get_reset_query(self) -> str:
        return ""


async def _init_connection(conn: Any) -> None:
    await conn.execute(sql.CREATE_STAGING)


class PostgresSpendWriter:
    """Writes batches and budget resets through a small asyncpg pool."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str, *, max_size: int = 2) -> PostgresSpendWriter:
        """One connection per concurrent batch, plus one for budget resets."""
        pool = await asyncpg.create_pool(
            url,
            min_size=1,
            max_size=max_size,
            init=_init_connection,
            connection_class=_WriterConnection,
        )
        return cls(pool)

    async def close(self) -> None:
        """Close the pool."""
        await self._pool.close()

    async def write(self, events: Iterable[UsageRecorded]) -> BatchResult:
        """Write a batch atomically; only events new to the ledger move any total."""
        rows = spend_log_rows(events)
        if not rows:
            return BatchResult()
        for attempt in range(1, _DEADLOCK_RETRIES + 1):
            try:
                return await self._write(rows)
            except asyncpg.exceptions.DeadlockDetectedError:
                # The transaction rolled back whole; running it again is safe.
                if attempt == _DEADLOCK_RETRIES:
                    raise
        raise AssertionError("unreachable")

    async def _write(self, rows: list[SpendLogRow]) -> BatchResult:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.copy_records_to_table(sql.TMP_LOG, records=rows, columns=SPEND_LOG_COLUMNS)
            new = int((await conn.execute(sql.INSERT_NEW)).rsplit(" ", 1)[-1])
            if not new:
                return BatchResult()
            await conn.execute(sql.UPSERT_DAILY)
            totals: list[EntityTotal] = []
            for entity in sql.ENTITIES:
                totals += [_total(entity.kind, r) for r in await conn.fetch(_UPDATES[entity.kind])]
            totals += await _add_end_users(conn)
            for entity in sql.MEMBERS:
                totals += [_total(entity.kind, r) for r in await conn.fetch(_UPDATES[entity.kind])]
            alerts = await _log_alerts(conn, budget_alerts(totals))
            seq = int(await conn.fetchval(sql.SEQ))
        return BatchResult(new=new, totals=totals, alerts=alerts, seq=seq)

    async def reset_budgets(self, now: datetime) -> ResetResult:
        """Zero every spend whose budget period ended; set the next period's end.

        Rows are taken with `FOR UPDATE SKIP LOCKED` and then moved to a future
        `budget_reset_at`, so two workers never reset the same period twice.
        """
        reset: list[tuple[str, str]] = []
        async with self._pool.acquire() as conn, conn.transaction():
            for entity in sql.ENTITIES:
                ids = await _reset_table(conn, entity.table, entity.pk, now, zero=True)
                reset += [(entity.kind, i) for i in ids]
            budgets = await _reset_table(conn, _BUDGET, "budget_id", now, zero=False)
            if budgets:
                for kind, statement in _LINKED:
                    reset += sorted((kind, r["id"]) for r in await conn.fetch(statement, budgets))
            seq = int(await conn.fetchval(sql.SEQ))
        return ResetResult(reset=reset, seq=seq)


def _total(kind: str, row: Any) -> EntityTotal:
    if len(row) == 2:  # memberships: spend only
        return EntityTotal(kind=kind, id=row["id"], spend=row["spend"])
    return EntityTotal(
        kind=kind,
        id=row["id"],
        spend=row["spend"],
        model_spend=_decode_models(row["model_spend"]),
        max_budget=row["max_budget"],
        soft_budget=row["soft_budget"],
        budget_reset_at=row["budget_reset_at"],
    )


def _decode_models(raw: str | None) -> dict[str, Decimal]:
    if not raw:
        return {}
    try:
        return _model_spend.decode(raw)
    except msgspec.DecodeError:
        return {}


async def _add_end_users(conn: Any) -> list[EntityTotal]:
    """End users' budgets live in their budget row (`budget_id`)."""
    rows = await conn.fetch(sql.UPSERT_END_USERS)
    budget_ids = sorted({r["budget_id"] for r in rows if r["budget_id"]})
    budgets = {}
    if budget_ids:
        budgets = {b["budget_id"]: b for b in await conn.fetch(sql.BUDGETS, budget_ids)}
    totals = []
    for row in rows:
        budget = budgets.get(row["budget_id"])
        totals.append(
            EntityTotal(
                kind="end_user",
                id=row["id"],
                spend=row["spend"],
                max_budget=budget["max_budget"] if budget else None,
                soft_budget=budget["soft_budget"] if budget else None,
                budget_reset_at=budget["budget_reset_at"] if budget else None,
            )
        )
    return totals


async def _log_alerts(conn: Any, candidates: list[Alert]) -> list[Alert]:
    """Keep the alerts whose log row is new: one crossing, one alert, across workers."""
    if not candidates:
        return []
    columns = [
        [a.id for a in candidates],
        [a.alert_type for a in candidates],
        [a.kind for a in candidates],
        [a.entity_id for a in candidates],
    ]
    fresh = {r["id"] for r in await conn.fetch(sql.INSERT_ALERTS, *columns)}
    return [a for a in candidates if a.id in fresh]


async def _reset_table(conn: Any, table: str, pk: str, now: datetime, *, zero: bool) -> list[str]:
    due = await conn.fetch(sql.reset_due(table, pk), now)
    if not due:
        return []
    ids = [r["id"] for r in due]
    nexts = [next_reset(r["duration"], now) for r in due]
    await conn.execute(sql.reset_rows(table, pk, zero=zero), ids, nexts)
    return ids
