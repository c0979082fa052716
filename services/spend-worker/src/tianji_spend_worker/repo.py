"""The spend-worker's writes: one transaction per batch, idempotent per `event_id`.

Why raw SQL: piccolo's ORM cannot say `ON CONFLICT ... DO NOTHING RETURNING` or
`DO UPDATE SET spend = spend + excluded.spend`; SQLite (3.35+) and Postgres both can,
with the same text. It still runs through the piccolo engine, so it joins the batch's
transaction. Spend is only ever added in SQL, never read, changed and written back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from tianji_common.db.engine import placeholders, run_sql, write_transaction
from tianji_common.db.tables import DailySpend, SpendLog

from tianji_spend_worker.handlers import (
    DAILY_COLUMNS,
    DAILY_KEY,
    SPEND_LOG_COLUMNS,
    daily_rows,
    spend_log_rows,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from piccolo.engine.base import Engine
    from tianji_common.events import UsageRecorded

    from tianji_spend_worker.handlers import DailyRow, SpendLogRow

__all__ = ["write_usage"]

# Both engines allow 32766 bound parameters per statement; stay well below.
_MAX_PARAMS: Final = 30_000
_DAILY_SUMS: Final = tuple(c for c in DAILY_COLUMNS if c not in DAILY_KEY)


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def _values(rows: Sequence[tuple[object, ...]]) -> str:
    row = f"({placeholders(len(rows[0]))})"
    return ", ".join(row for _ in rows)


# Identifiers below come from our own table definitions, never from input, and every
# value is a bound parameter: the f-strings only build the statement's shape.
def _log_insert(rows: Sequence[SpendLogRow]) -> str:
    head = f'INSERT INTO "{SpendLog._meta.tablename}" ({_quoted(SPEND_LOG_COLUMNS)})'
    tail = 'ON CONFLICT ("event_id") DO NOTHING RETURNING "event_id"'
    return f"{head} VALUES {_values(rows)} {tail}"


def _daily_upsert(rows: Sequence[DailyRow]) -> str:
    table = DailySpend._meta.tablename
    head = f'INSERT INTO "{table}" ({_quoted(DAILY_COLUMNS)})'
    sums = ", ".join(f'"{c}" = "{table}"."{c}" + excluded."{c}"' for c in _DAILY_SUMS)
    tail = f"ON CONFLICT ({_quoted(DAILY_KEY)}) DO UPDATE SET {sums}"
    return f"{head} VALUES {_values(rows)} {tail}"


def _chunks(rows: Sequence[Any], width: int) -> Iterable[Sequence[Any]]:
    size = max(_MAX_PARAMS // width, 1)
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


async def write_usage(engine: Engine[Any], events: Iterable[UsageRecorded]) -> int:
    """Write a batch atomically; return how many events were new.

    Spend-log rows are inserted with `ON CONFLICT (event_id) DO NOTHING`, and only
    the rows that really went in are added to the daily totals, so a redelivered
    event changes nothing.
    """
    rows = spend_log_rows(events)
    if not rows:
        return 0
    async with write_transaction(engine):
        new_ids = await _insert_logs(engine, rows)
        new_rows = [row for row in rows if row.event_id in new_ids]
        await _add_daily(engine, daily_rows(new_rows))
    return len(new_rows)


async def _insert_logs(engine: Engine[Any], rows: list[SpendLogRow]) -> set[str]:
    inserted: set[str] = set()
    for chunk in _chunks(rows, len(SPEND_LOG_COLUMNS)):
        args = [value for row in chunk for value in row]
        returned = await run_sql(engine, _log_insert(chunk), *args)
        inserted.update(str(record["event_id"]) for record in returned)
    return inserted


async def _add_daily(engine: Engine[Any], rows: list[DailyRow]) -> None:
    for chunk in _chunks(rows, len(DAILY_COLUMNS)):
        args = [value for row in chunk for value in row]
        await run_sql(engine, _daily_upsert(chunk), *args)
