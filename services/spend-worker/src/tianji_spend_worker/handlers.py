"""Pure functions: usage events in, rows to write out.

Why pure: the spend arithmetic is where money is counted; it is tested without a
database, and the database side (`repo.py`) only moves these rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Final, NamedTuple

import msgspec
from tianji_common.events import UsageRecorded, decode_usage

__all__ = [
    "DAILY_COLUMNS",
    "DAILY_KEY",
    "SPEND_LOG_COLUMNS",
    "DailyRow",
    "InvalidEvent",
    "SpendLogRow",
    "daily_rows",
    "decode_event",
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
    for event in events:
        if event.event_id not in rows:
            rows[event.event_id] = spend_log_row(event)
    return list(rows.values())


def spend_log_row(event: UsageRecorded) -> SpendLogRow:
    """Map a usage event onto LiteLLM-style spend-log columns."""
    end = datetime.fromtimestamp(event.occurred_at, UTC)
    started = event.started_at or event.occurred_at - event.latency_ms / 1000
    return SpendLogRow(
        request_id=event.request_id,
        event_id=event.event_id,
        call_type=event.call_type,
        api_key=event.key_hash,
        model=event.model,
        model_group=event.model_group,
        model_id=event.deployment_id,
        api_base=event.api_base,
        user=event.user_id,
        team_id=event.team_id,
        organization_id=event.org_id,
        end_user=event.end_user,
        request_tags=_json.encode(list(event.tags)).decode(),
        spend=_cost(event),
        prompt_tokens=event.prompt_tokens,
        completion_tokens=event.completion_tokens,
        total_tokens=event.total_tokens,
        cached_tokens=event.cached_tokens,
        start_time=datetime.fromtimestamp(started, UTC),
        end_time=end,
        status=event.status,
        http_status=event.http_status,
    )


def daily_rows(rows: Iterable[SpendLogRow]) -> list[DailyRow]:
    """Sum rows per (UTC day, dimension, value, model), in key order.

    Key order: concurrent workers then upsert in the same order and cannot deadlock.
    The model is the public `model_group` (what clients ask for), else the model.
    """
    totals: dict[tuple[date, str, str, str], DailyRow] = {}
    for row in rows:
        model = row.model_group or row.model
        for kind, value in _dimensions(row):
            key = (row.end_time.date(), kind, value, model)
            totals[key] = _add(totals.get(key), key, row)
    return [totals[key] for key in sorted(totals)]


def _dimensions(row: SpendLogRow) -> list[tuple[str, str]]:
    """Every (kind, value) a row counts towards; absent owners are skipped."""
    owners = (
        ("key", row.api_key),
        ("team", row.team_id),
        ("org", row.organization_id),
        ("user", row.user),
        ("end_user", row.end_user),
    )
    found = [(kind, value) for kind, value in owners if value]
    tags: list[str] = msgspec.json.decode(row.request_tags, type=list[str])
    found += [("tag", tag) for tag in dict.fromkeys(tags) if tag]
    return found


def _add(total: DailyRow | None, key: tuple[date, str, str, str], row: SpendLogRow) -> DailyRow:
    failed = int(row.status != "success")
    if total is None:
        return DailyRow(
            *key,
            spend=row.spend,
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            total_tokens=row.total_tokens,
            requests=1,
            failed_requests=failed,
        )
    return total._replace(
        spend=total.spend + row.spend,
        prompt_tokens=total.prompt_tokens + row.prompt_tokens,
        completion_tokens=total.completion_tokens + row.completion_tokens,
        total_tokens=total.total_tokens + row.total_tokens,
        requests=total.requests + 1,
        failed_requests=total.failed_requests + failed,
    )


def _cost(event: UsageRecorded) -> Decimal:
    try:
        cost = Decimal(event.cost)
    except InvalidOperation as exc:
        raise InvalidEvent(f"cost is not a decimal: {event.cost!r}") from exc
    if not cost.is_finite():
        raise InvalidEvent(f"cost is not finite: {event.cost!r}")
    return cost
