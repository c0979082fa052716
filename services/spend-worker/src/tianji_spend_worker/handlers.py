"""Pure functions: usage events in, rows to write out.

Why pure: the spend arithmetic is where money is counted; it is tested without a
database, and the database side (`repo.py`) only moves these rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, NamedTuple

import msgspec
from tianji_common.events import UsageRecorded, decode_usage

__all__ = [
    "DAILY_COLUMNS",
    "DAILY_KEY",
    "ENTITY_KINDS",
    "SPEND_LOG_COLUMNS",
    "DailyRow",
    "EntityDelta",
    "InvalidEvent",
    "SpendLogRow",
    "daily_rows",
    "decode_event",
    "entity_deltas",
    "spend_log_row",
    "spend_log_rows",
]

_json = msgspec.json.Encoder()


class InvalidEvent(ValueError):
    """A payload that no retry can fix: it goes to the dead-letter subject."""


class SpendLogRow(NamedTuple):
    """One `tianji_spend_log` row; field names are the column names."""

    request_id: str
    event_id: str
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
    request_tags: str  # JSON array
    spend: Decimal
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_tokens: int
    start_time: datetime
    end_time: datetime
    status: str
    http_status: int


class DailyRow(NamedTuple):
    """One increment of a `tianji_daily_spend` row; field names are the column names."""

    date: date
    kind: str
    value: str
    model: str
    spend: Decimal
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    requests: int
    failed_requests: int


@dataclass(slots=True)
class EntityDelta:
    """What one batch adds to one entity: total spend, and spend per model."""

    spend: Decimal = Decimal(0)
    models: dict[str, Decimal] = field(default_factory=dict)


# Every entity whose `spend` column a usage event moves (SpendEntry.kind values).
ENTITY_KINDS: Final = ("key", "user", "team", "org", "end_user", "team_member", "org_member")

SPEND_LOG_COLUMNS: Final = SpendLogRow._fields
DAILY_COLUMNS: Final = DailyRow._fields
DAILY_KEY: Final = DAILY_COLUMNS[:4]


def decode_event(raw: bytes) -> UsageRecorded:
    """Decode and validate one payload, or raise `InvalidEvent`."""
    try:
        event = decode_usage(raw)
    except msgspec.MsgspecError as exc:
        raise InvalidEvent(f"undecodable usage event: {exc}") from exc
    if not event.event_id:
        raise InvalidEvent("usage event without event_id")
    _cost(event)
    return event


def spend_log_rows(events: Iterable[UsageRecorded]) -> list[SpendLogRow]:
    """One row per distinct `event_id`, first occurrence wins (a batch may repeat one)."""
    rows: dict[str, SpendLogRow] = {}
    tags: dict[tuple[str, ...], str] = {}  # most events share a few tag sets
    for event in events:
        if event.event_id not in rows:
            rows[event.event_id] = spend_log_row(event, tags)
    return list(rows.values())


def spend_log_row(
    event: UsageRecorded, tags: dict[tuple[str, ...], str] | None = None
) -> SpendLogRow:
    """Map a usage event onto LiteLLM-style spend-log columns (positional: hot loop)."""
    started = event.started_at or event.occurred_at - event.latency_ms / 1000
    cache = {} if tags is None else tags
    tags_json = cache.get(event.tags)
    if tags_json is None:
        tags_json = cache[event.tags] = _json.encode(list(event.tags)).decode()
    return SpendLogRow(
        event.request_id,
        event.event_id,
        event.call_type,
        event.key_hash,  # api_key
        event.model,
        event.model_group,
        event.deployment_id,  # model_id
        event.api_base,
        event.user_id,  # user
        event.team_id,
        event.org_id,  # organization_id
        event.end_user,
        tags_json,  # request_tags
        _cost(event),  # spend
        event.prompt_tokens,
        event.completion_tokens,
        event.total_tokens,
        event.cached_tokens,
        datetime.fromtimestamp(started, UTC),  # start_time
        datetime.fromtimestamp(event.occurred_at, UTC),  # end_time
        event.status,
        event.http_status,
    )


def daily_rows(rows: Iterable[SpendLogRow]) -> list[DailyRow]:
    """Sum rows per (UTC day, dimension, value, model), in key order.

    Key order: concurrent workers then upsert in the same order and cannot deadlock.
    The model is the public `model_group` (what clients ask for), else the model.
    Sums accumulate in plain lists (this is the worker's hottest Python loop).
    """
    sums: dict[tuple[date, str, str, str], list[Any]] = {}
    tags_cache: dict[str, list[str]] = {}
    for row in rows:
        model = row.model_group or row.model
        day = row.end_time.date()
        failed = int(row.status != "success")
        for kind, value in _dimensions(row, tags_cache):
            key = (day, kind, value, model)
            acc = sums.get(key)
            if acc is None:
                sums[key] = [
                    row.spend,
                    row.prompt_tokens,
                    row.completion_tokens,
                    row.total_tokens,
                    1,
                    failed,
                ]
            else:
                acc[0] += row.spend
                acc[1] += row.prompt_tokens
                acc[2] += row.completion_tokens
                acc[3] += row.total_tokens
                acc[4] += 1
                acc[5] += failed
    return [DailyRow(*key, *sums[key]) for key in sorted(sums)]


def entity_deltas(rows: Iterable[SpendLogRow]) -> dict[str, dict[str, EntityDelta]]:
    """Sum new rows per entity kind and id, ids sorted.

    Sorted: concurrent workers then lock entity rows in the same order. Memberships are
    `"{team_id}/{user_id}"` and `"{org_id}/{user_id}"`, the membership tables' ids.
    """
    out: dict[str, dict[str, EntityDelta]] = {kind: {} for kind in ENTITY_KINDS}
    for row in rows:
        model = row.model_group or row.model
        spend = row.spend
        for kind, ident in _entities(row):
            found = out[kind]
            delta = found.get(ident)
            if delta is None:
                delta = found[ident] = EntityDelta()
            delta.spend += spend
            if model:
                models = delta.models
                models[model] = models[model] + spend if model in models else spend
    return {kind: dict(sorted(found.items())) for kind, found in out.items()}


def _entities(row: SpendLogRow) -> list[tuple[str, str]]:
    owners = [
        ("key", row.api_key),
        ("user", row.user),
        ("team", row.team_id),
        ("org", row.organization_id),
        ("end_user", row.end_user),
    ]
    if row.team_id and row.user:
        owners.append(("team_member", f"{row.team_id}/{row.user}"))
    if row.organization_id and row.user:
        owners.append(("org_member", f"{row.organization_id}/{row.user}"))
    return [(kind, value) for kind, value in owners if value]


def _dimensions(row: SpendLogRow, tags_cache: dict[str, list[str]]) -> list[tuple[str, str]]:
    """Every (kind, value) a row counts towards; absent owners are skipped.

    `("model", model)` gives per-model daily totals that include requests made
    without a virtual key (the master key), which no other dimension holds.
    """
    owners = (
        ("key", row.api_key),
        ("team", row.team_id),
        ("org", row.organization_id),
        ("user", row.user),
        ("end_user", row.end_user),
        ("model", row.model_group or row.model),
    )
    found = [(kind, value) for kind, value in owners if value]
    tags = tags_cache.get(row.request_tags)
    if tags is None:
        decoded: list[str] = msgspec.json.decode(row.request_tags, type=list[str])
        tags = tags_cache[row.request_tags] = [t for t in dict.fromkeys(decoded) if t]
    found += [("tag", tag) for tag in tags]
    return found


def _cost(event: UsageRecorded) -> Decimal:
    try:
        cost = Decimal(event.cost)
    except InvalidOperation as exc:
        raise InvalidEvent(f"cost is not a decimal: {event.cost!r}") from exc
    if not cost.is_finite():
        raise InvalidEvent(f"cost is not finite: {event.cost!r}")
    return cost
