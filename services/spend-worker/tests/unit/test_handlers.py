"""The pure event-to-rows functions: where the money is counted."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tianji_common.db.tables import DailySpend, SpendLog
from tianji_common.events import UsageRecorded, encode_event

from tianji_spend_worker.handlers import (
    DAILY_COLUMNS,
    SPEND_LOG_COLUMNS,
    InvalidEvent,
    daily_rows,
    decode_event,
    spend_log_row,
    spend_log_rows,
)
from tianji_spend_worker.settings import SettingsError, from_env

NOON = datetime(2026, 1, 2, 12, tzinfo=UTC).timestamp()


def _event(event_id: str = "e1", **fields: object) -> UsageRecorded:
    base: dict[str, object] = {
        "event_id": event_id,
        "occurred_at": NOON,
        "request_id": "r1",
        "model_group": "gpt-4o",
        "model": "gpt-4o-2024-08-06",
        "cost": "0.25",
    }
    return UsageRecorded(**{**base, **fields})  # type: ignore[arg-type]


def test_row_columns_are_the_table_columns() -> None:
    table_columns = {c._meta.db_column_name for c in SpendLog._meta.columns} - {"id"}
    assert set(SPEND_LOG_COLUMNS) == table_columns
    daily_columns = {c._meta.db_column_name for c in DailySpend._meta.columns} - {"id"}
    assert set(DAILY_COLUMNS) == daily_columns


def test_spend_log_row_maps_litellm_columns() -> None:
    event = _event(key_hash="h", team_id="t", user_id="u", tags=("a", "b"), latency_ms=500.0)
    row = spend_log_row(event)
    assert (row.api_key, row.team_id, row.user, row.request_tags) == ("h", "t", "u", '["a","b"]')
    assert row.spend == Decimal("0.25")
    assert row.end_time == datetime(2026, 1, 2, 12, tzinfo=UTC)
    assert (row.end_time - row.start_time).total_seconds() == pytest.approx(0.5)


def test_a_batch_repeating_an_event_yields_one_row() -> None:
    rows = spend_log_rows([_event("a"), _event("b"), _event("a", cost="9")])
    assert [(r.event_id, r.spend) for r in rows] == [("a", Decimal("0.25")), ("b", Decimal("0.25"))]


def test_daily_rows_count_every_dimension_and_failures() -> None:
    events = [
        _event("a", team_id="t", key_hash="k", tags=("x", "x")),
        _event("b", team_id="t", status="failure", http_status=500, cost="0"),
    ]
    daily = {(r.kind, r.value): r for r in daily_rows(spend_log_rows(events))}
    assert set(daily) == {("team", "t"), ("key", "k"), ("tag", "x"), ("model", "gpt-4o")}
    team = daily[("team", "t")]
    assert (team.spend, team.requests, team.failed_requests) == (Decimal("0.25"), 2, 1)
    assert daily[("tag", "x")].requests == 1  # a repeated tag counts once
    assert team.model == "gpt-4o" and str(team.date) == "2026-01-02"


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["t1", "t2", "t3"]),
            st.decimals(min_value=0, max_value=1000, places=9, allow_nan=False),
        ),
        max_size=40,
    )
)
def test_daily_team_spend_is_the_exact_sum_of_costs(costs: list[tuple[str, Decimal]]) -> None:
    events = [_event(f"e{i}", team_id=team, cost=str(cost)) for i, (team, cost) in enumerate(costs)]
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for team, cost in costs:
        expected[team] += cost
    daily = {r.value: r.spend for r in daily_rows(spend_log_rows(events)) if r.kind == "team"}
    assert daily == dict(expected)


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"{}", encode_event(_event(cost="NaN")), encode_event(_event(cost="x"))],
)
def test_payloads_no_retry_can_fix_are_invalid(raw: bytes) -> None:
    with pytest.raises(InvalidEvent):
        decode_event(raw)


def test_decode_event_roundtrip() -> None:
    event = _event(team_id="t")
    assert decode_event(encode_event(event)) == event


def test_settings_need_database_and_nats() -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL and NATS_URL"):
        from_env({})
    settings = from_env({"DATABASE_URL": "sqlite:///x.db", "NATS_URL": "nats://n:4222"})
    assert (
        settings.batch == 2048
        and settings.concurrency == 2
        and str(settings.spool_path) == "/var/lib/tianji/spool"
    )
    with pytest.raises(SettingsError, match="SPEND_BATCH"):
        from_env({"DATABASE_URL": "d", "NATS_URL": "n", "SPEND_BATCH": "0"})
