"""Reads of the spend ledger (`tianji_spend_log`) and the daily totals (`tianji_daily_spend`).

Why raw SQL through `run_sql`: the spend API groups by UTC day and by request tag,
which piccolo's query builder cannot express. The two engine-specific pieces (the day
of a timestamp, and expanding the JSON tag list) live in `_Dialect`; everything else is
plain SQL both engines run. Every value is a bound parameter; only identifiers and
expressions from this module's own whitelists are spliced into the text.

On SQLite, piccolo stores a timestamp as `str(datetime)` in UTC
(`2026-11-26 09:30:00.5+00:00`), so its first ten characters are the UTC day and a
range compares as text against parameters piccolo formats the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime  # at runtime: msgspec resolves Struct annotations
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

import msgspec
from piccolo.engine.sqlite import SQLiteEngine
from tianji_common.db.engine import placeholders, run_sql
from tianji_common.db.tables import DailySpend, SpendLog

if TYPE_CHECKING:
    from collections.abc import Sequence

    from piccolo.engine.base import Engine

    from tianji_control_plane.repo.db import Db

__all__ = [
    "Aggregate",
    "KeyName",
    "LedgerFilter",
    "LedgerRow",
    "TagTotal",
    "aggregate",
    "aggregate_page",
    "count_groups",
    "count_rows",
    "key_names",
    "keys_with_alias",
    "ledger_rows",
    "org_aliases",
    "tag_totals",
    "team_aliases",
]

_LOG: Final = SpendLog._meta.tablename
_DAILY: Final = DailySpend._meta.tablename
_LEDGER_COLUMNS: Final = (
    "request_id",
    "call_type",
    "api_key",
    "model",
    "model_group",
    "model_id",
    "api_base",
    "user",
    "team_id",
    "organization_id",
    "end_user",
    "request_tags",
    "spend",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_tokens",
    "start_time",
    "end_time",
    "status",
    "http_status",
)
# The dimensions a caller may group by: name -> SQL (`day` and `tag` come from _Dialect).
_TEXT_KEYS: Final = {
    name: f's."{name}"'
    for name in (
        "api_key",
        "user",
        "team_id",
        "organization_id",
        "end_user",
        "model",
        "model_group",
    )
}
_TAG_TOTALS: Final = (
    'SELECT "value" AS tag, SUM("spend") AS spend, SUM("requests") AS requests '  # noqa: S608  # identifiers are ours
    f'FROM "{_DAILY}" WHERE "kind" = {{}}'
)
_METRICS: Final = (
    'SUM(s."spend") AS spend, SUM(s."prompt_tokens") AS prompt_tokens, '
    'SUM(s."completion_tokens") AS completion_tokens, SUM(s."total_tokens") AS total_tokens, '
    'SUM(s."cached_tokens") AS cached_tokens, COUNT(*) AS requests, '
    "SUM(CASE WHEN s.\"status\" = 'success' THEN 0 ELSE 1 END) AS failed_requests"
)


class LedgerRow(msgspec.Struct, kw_only=True):
    """One ledger row, as stored (the API renames the columns LiteLLM's way)."""

    request_id: str
    call_type: str
    api_key: str | None
    model: str
    model_group: str
    model_id: str
    api_base: str
    user: str | None
    team_id: str | None
    organization_id: str | None
    end_user: str | None
    request_tags: list[str]
    spend: float
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_tokens: int
    start_time: datetime
    end_time: datetime
    status: str
    http_status: int


class Aggregate(msgspec.Struct, frozen=True, kw_only=True):
    """Sums over one group of ledger rows; `keys` follow the requested dimensions."""

    keys: tuple[str, ...]
    spend: float
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_tokens: int
    requests: int
    failed_requests: int


class TagTotal(msgspec.Struct, frozen=True, kw_only=True):
    """A tag's spend and request count over a date range (from the daily totals)."""

    tag: str
    spend: float
    requests: int


class KeyName(msgspec.Struct, frozen=True, kw_only=True):
    """What the keys table says about a key hash (for labelling spend rows)."""

    key_alias: str | None
    key_name: str
    team_id: str | None


@dataclass(frozen=True, slots=True)
class LedgerFilter:
    """Conditions on the ledger; `since` inclusive, `until` exclusive (UTC instants).

    `ids` keeps the rows whose `dimension` (a key name of `aggregate`) is one of them,
    an empty list matching nothing; `exclude` drops the rows whose dimension is one.
    """

    since: datetime | None = None
    until: datetime | None = None
    api_key: str | None = None
    request_id: str | None = None
    user: str | None = None
    team_id: str | None = None
    end_user: str | None = None
    status: str | None = None
    min_spend: float | None = None
    max_spend: float | None = None
    model: str | None = None
    api_keys: list[str] | None = None
    dimension: str | None = None
    ids: list[str] | None = None
    exclude: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Dialect:
    """The SQL that differs between SQLite and Postgres."""

    sqlite: bool

    def day(self, column: str) -> str:
        """The UTC day of a timestamp column (`YYYY-MM-DD` text, or a date on Postgres)."""
        if self.sqlite:
            return f"substr({column}, 1, 10)"
        return f"({column} AT TIME ZONE 'UTC')::date"

    def tags_join(self) -> str:
        """One row per element of `request_tags`, its text as `t.value`."""
        if self.sqlite:
            return ', json_each(s."request_tags") AS t'
        return ' CROSS JOIN LATERAL json_array_elements_text(s."request_tags") AS t(value)'


def _dialect(engine: Engine[Any]) -> _Dialect:
    return _Dialect(sqlite=isinstance(engine, SQLiteEngine))


def _key_sql(dialect: _Dialect, name: str) -> str:
    if name == "day":
        return dialect.day('s."start_time"')
    if name == "tag":
        return "t.value"
    return _TEXT_KEYS[name]


def _where(dialect: _Dialect, flt: LedgerFilter) -> tuple[str, list[object]]:
    conds: list[str] = []
    args: list[object] = []
    for sql, value in (
        ('s."start_time" >= {}', flt.since),
        ('s."start_time" < {}', flt.until),
        ('s."api_key" = {}', flt.api_key),
        ('s."request_id" = {}', flt.request_id),
        ('s."user" = {}', flt.user),
        ('s."team_id" = {}', flt.team_id),
        ('s."end_user" = {}', flt.end_user),
        ('s."status" = {}', flt.status),
        ('s."spend" >= {}', _decimal(flt.min_spend)),
        ('s."spend" <= {}', _decimal(flt.max_spend)),
    ):
        if value is not None:
            conds.append(sql)
            args.append(value)
    if flt.api_keys is not None:
        keys = flt.api_keys
        conds.append(f's."api_key" IN ({placeholders(len(keys))})' if keys else "1 = 0")
        args += keys
    if flt.model is not None:
        conds.append('(s."model" = {} OR s."model_group" = {})')
        args += [flt.model, flt.model]
    if flt.dimension is not None and flt.ids is not None:
        column = _key_sql(dialect, flt.dimension)
        conds.append(f"{column} IN ({placeholders(len(flt.ids))})" if flt.ids else "1 = 0")
        args += flt.ids
    if flt.dimension is not None and flt.exclude:
        column = _key_sql(dialect, flt.dimension)
        marks = placeholders(len(flt.exclude))
        conds.append(f"({column} IS NULL OR {column} NOT IN ({marks}))")
        args += flt.exclude
    return (" WHERE " + " AND ".join(conds)) if conds else "", args


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(value))


def _uses_tags(flt: LedgerFilter, keys: Sequence[str]) -> bool:
    return "tag" in keys or flt.dimension == "tag"


def _number(value: object) -> float:
    return float(value) if isinstance(value, Decimal | int | float) else 0.0


async def ledger_rows(
    db: Db, flt: LedgerFilter, *, limit: int | None = None, offset: int = 0
) -> list[LedgerRow]:
    """Matching ledger rows, newest first (LiteLLM orders `/spend/logs` by `startTime desc`)."""
    dialect = _dialect(db.engine)
    where, args = _where(dialect, flt)
    cols = ", ".join(f's."{c}"' for c in _LEDGER_COLUMNS)
    sql = f'SELECT {cols} FROM "{_LOG}" s{where} ORDER BY s."start_time" DESC, s."id" DESC'  # noqa: S608  # identifiers are ours
    if limit is not None:
        sql += " LIMIT {} OFFSET {}"
        args += [limit, offset]
    return [_ledger_row(row) for row in await run_sql(db.engine, sql, *args)]


async def count_rows(db: Db, flt: LedgerFilter) -> int:
    """How many ledger rows match `flt`."""
    where, args = _where(_dialect(db.engine), flt)
    rows = await run_sql(db.engine, f'SELECT COUNT(*) AS n FROM "{_LOG}" s{where}', *args)  # noqa: S608  # identifiers are ours
    return int(rows[0]["n"]) if rows else 0


def _ledger_row(row: Any) -> LedgerRow:
    values = {name: row[name] for name in _LEDGER_COLUMNS}
    tags = values["request_tags"]
    values["request_tags"] = msgspec.json.decode(tags) if isinstance(tags, str | bytes) else tags
    values["spend"] = _number(values["spend"])
    return msgspec.convert(values, LedgerRow)


def _grouped_sql(
    dialect: _Dialect, keys: Sequence[str], flt: LedgerFilter
) -> tuple[str, list[object]]:
    exprs = [_key_sql(dialect, name) for name in keys]
    select = "".join(f"{expr} AS k{i}, " for i, expr in enumerate(exprs))
    join = dialect.tags_join() if _uses_tags(flt, keys) else ""
    where, args = _where(dialect, flt)
    sql = f'SELECT {select}{_METRICS} FROM "{_LOG}" s{join}{where}'  # noqa: S608  # identifiers are ours
    if exprs:
        sql += " GROUP BY " + ", ".join(str(i + 1) for i in range(len(exprs)))
    return sql, args


def _ordered(keys: Sequence[str], *, by_spend: bool) -> str:
    """ORDER BY for the grouped rows: keys (day newest first, missing values first)."""
    order = [f"k{i} DESC" if n == "day" else f"k{i} NULLS FIRST" for i, n in enumerate(keys)]
    order = ["spend DESC", *order] if by_spend else order
    return f" ORDER BY {', '.join(order)}" if order else ""


async def aggregate(
    db: Db,
    keys: Sequence[str],
    flt: LedgerFilter,
    *,
    by_spend: bool = False,
    limit: int | None = None,
) -> list[Aggregate]:
    """Ledger sums grouped by `keys` (any of day, tag, api_key, user, team_id, ...).

    Ordered by the keys (day newest first), or by spend, highest first; a missing
    dimension value reads as "".
    """
    inner, args = _grouped_sql(_dialect(db.engine), keys, flt)
    # Grouping in a subquery, ordering outside: Postgres then hashes the groups instead
    # of sorting every ledger row (it cannot estimate the group count of a day).
    sql = f"SELECT * FROM ({inner}) g{_ordered(keys, by_spend=by_spend)}"  # noqa: S608  # built above
    if limit is not None:
        sql += " LIMIT {}"
        args.append(limit)
    rows = await run_sql(db.engine, sql, *args)
    return [_aggregate(row, len(keys)) for row in rows]


async def aggregate_page(
    db: Db, keys: Sequence[str], flt: LedgerFilter, *, limit: int, offset: int
) -> tuple[list[Aggregate], int]:
    """One page of `aggregate`'s rows and the number of groups, in one pass when it can."""
    inner, args = _grouped_sql(_dialect(db.engine), keys, flt)
    sql = (
        f"SELECT g.*, COUNT(*) OVER () AS total_groups FROM ({inner}) g"  # noqa: S608  # built above
        f"{_ordered(keys, by_spend=False)} LIMIT {{}} OFFSET {{}}"
    )
    rows = await run_sql(db.engine, sql, *args, limit, offset)
    if rows:
        return [_aggregate(row, len(keys)) for row in rows], int(rows[0]["total_groups"])
    return [], await count_groups(db, keys, flt)


async def count_groups(db: Db, keys: Sequence[str], flt: LedgerFilter) -> int:
    """How many groups `aggregate` would return without a limit (for pagination)."""
    sql, args = _grouped_sql(_dialect(db.engine), keys, flt)
    rows = await run_sql(db.engine, f"SELECT COUNT(*) AS n FROM ({sql}) g", *args)  # noqa: S608  # built above
    return int(rows[0]["n"]) if rows else 0


def _aggregate(row: Any, width: int) -> Aggregate:
    return Aggregate(
        keys=tuple("" if row[f"k{i}"] is None else str(row[f"k{i}"]) for i in range(width)),
        spend=_number(row["spend"]),
        prompt_tokens=int(row["prompt_tokens"] or 0),
        completion_tokens=int(row["completion_tokens"] or 0),
        total_tokens=int(row["total_tokens"] or 0),
        cached_tokens=int(row["cached_tokens"] or 0),
        requests=int(row["requests"] or 0),
        failed_requests=int(row["failed_requests"] or 0),
    )


async def tag_totals(
    db: Db, start: date | None = None, end: date | None = None, tags: list[str] | None = None
) -> list[TagTotal]:
    """Spend and requests per tag from the daily totals, highest spend first.

    Both dates are inclusive; None leaves that side open. `tags` None means every tag.
    """
    sql = _TAG_TOTALS
    args: list[object] = ["tag"]
    for cond, day in ((' AND "date" >= {}', start), (' AND "date" <= {}', end)):
        if day is not None:
            sql += cond
            args.append(day)
    if tags is not None:
        sql += f' AND "value" IN ({placeholders(len(tags))})' if tags else " AND 1 = 0"
        args += tags
    sql += ' GROUP BY "value" ORDER BY spend DESC, tag'
    rows = await run_sql(db.engine, sql, *args)
    return [
        TagTotal(tag=row["tag"], spend=_number(row["spend"]), requests=int(row["requests"] or 0))
        for row in rows
    ]


async def key_names(db: Db, hashes: Sequence[str]) -> dict[str, KeyName]:
    """Alias, display name and team of each known key hash."""
    wanted = sorted({h for h in hashes if h})
    if not wanted:
        return {}
    keys = db.keys
    rows = await keys.select(keys.token, keys.key_alias, keys.key_name, keys.team_id).where(
        keys.token.is_in(wanted)
    )
    return {
        row["token"]: KeyName(
            key_alias=row["key_alias"], key_name=row["key_name"], team_id=row["team_id"]
        )
        for row in rows
    }


async def keys_with_alias(db: Db, fragment: str) -> list[str]:
    """Hashes of the keys whose alias contains `fragment` (case-sensitive, as LiteLLM).

    Filtered here rather than with LIKE: SQLite has no default LIKE escape character,
    and `%` or `_` in an alias must match literally.
    """
    keys = db.keys
    rows = await keys.select(keys.token, keys.key_alias).where(keys.key_alias.is_not_null())
    return sorted(row["token"] for row in rows if fragment in row["key_alias"])


async def team_aliases(db: Db, team_ids: Sequence[str]) -> dict[str, str | None]:
    """team_id -> team_alias for the teams that exist."""
    wanted = sorted({t for t in team_ids if t})
    if not wanted:
        return {}
    teams = db.teams
    rows = await teams.select(teams.team_id, teams.team_alias).where(teams.team_id.is_in(wanted))
    return {row["team_id"]: row["team_alias"] for row in rows}


async def org_aliases(db: Db, org_ids: Sequence[str]) -> dict[str, str | None]:
    """organization_id -> organization_alias for the orgs that exist."""
    wanted = sorted({o for o in org_ids if o})
    if not wanted:
        return {}
    orgs = db.orgs
    rows = await orgs.select(orgs.organization_id, orgs.organization_alias).where(
        orgs.organization_id.is_in(wanted)
    )
    return {row["organization_id"]: row["organization_alias"] for row in rows}
