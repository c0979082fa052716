"""Durations, entity deltas, which totals alert, sink configuration and retries."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from tianji_common.events import UsageRecorded

from tianji_spend_worker.alerts.config import build_sinks
from tianji_spend_worker.alerts.dispatch import AlertDispatcher
from tianji_spend_worker.alerts.model import Alert, budget_alerts, webhook_payload
from tianji_spend_worker.alerts.sinks import EmailSink, SinkError, SlackSink, WebhookSink
from tianji_spend_worker.durations import next_reset, parse_duration
from tianji_spend_worker.handlers import entity_deltas, spend_log_rows
from tianji_spend_worker.results import EntityTotal

NOW = datetime(2026, 1, 2, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("30m", 1800),
        ("30h", 108000),
        ("30d", 2592000),
        ("2w", 1209600),
        ("1mo", 2592000),
    ],
)
def test_durations_match_the_control_plane(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert next_reset(text, NOW) == NOW + timedelta(seconds=seconds)


@pytest.mark.parametrize("text", [None, "", "0d", "30", "d", "1y", "-1d", "1.5h"])
def test_invalid_or_zero_durations_stop_resetting(text: str | None) -> None:
    assert parse_duration(text) is None
    assert next_reset(text, NOW) is None


def _event(event_id: str, cost: str, **fields: object) -> UsageRecorded:
    base: dict[str, object] = {
        "event_id": event_id,
        "occurred_at": NOW.timestamp(),
        "request_id": event_id,
        "model_group": "gpt-4o",
        "cost": cost,
    }
    return UsageRecorded(**{**base, **fields})  # type: ignore[arg-type]


def test_entity_deltas_cover_every_owner_and_membership() -> None:
    rows = spend_log_rows(
        [
            _event("a", "0.1", key_hash="k", user_id="u", team_id="t", org_id="o", end_user="c"),
            _event("b", "0.2", key_hash="k", user_id="u", team_id="t", model_group="claude"),
            _event("c", "0.3", key_hash="k2"),
        ]
    )
    deltas = entity_deltas(rows)
    assert list(deltas["key"]) == ["k", "k2"]  # sorted: lock order
    assert deltas["key"]["k"].spend == Decimal("0.3")
    assert deltas["key"]["k"].models == {"gpt-4o": Decimal("0.1"), "claude": Decimal("0.2")}
    assert deltas["team_member"]["t/u"].spend == Decimal("0.3")
    assert deltas["org_member"]["o/u"].spend == Decimal("0.1")
    assert deltas["end_user"]["c"].spend == Decimal("0.1")
    assert "o" in deltas["org"] and deltas["user"]["u"].spend == Decimal("0.3")


def _total(spend: str, **fields: object) -> EntityTotal:
    return EntityTotal(kind="key", id="k", spend=Decimal(spend), **fields)  # type: ignore[arg-type]


def test_alerts_fire_from_the_threshold_on_with_a_per_period_id() -> None:
    period = NOW + timedelta(days=30)
    below = _total("0.99", soft_budget=Decimal(1), max_budget=Decimal(2))
    soft = _total("1", soft_budget=Decimal(1), max_budget=Decimal(2), budget_reset_at=period)
    both = _total("2.5", soft_budget=Decimal(1), max_budget=Decimal(2))
    assert budget_alerts([below]) == []
    (alert,) = budget_alerts([soft])
    assert alert.alert_type == "soft_budget"
    assert alert.id == f"soft_budget:key:k:1:{period.isoformat()}"
    assert [a.alert_type for a in budget_alerts([both])] == ["soft_budget", "budget_exceeded"]
    assert budget_alerts([both])[1].id == "budget_exceeded:key:k:2:none"
    member = EntityTotal(kind="team_member", id="t/u", spend=Decimal(9), max_budget=Decimal(1))
    assert budget_alerts([member]) == []  # memberships do not alert


def test_webhook_payload_has_litellms_shape() -> None:
    (alert,) = budget_alerts(
        [EntityTotal(kind="end_user", id="c1", spend=Decimal("3.5"), max_budget=Decimal(3))]
    )
    body = webhook_payload(alert)
    assert body["event"] == "budget_crossed" and body["event_group"] == "customer"
    assert body["customer_id"] == "c1" and body["spend"] == 3.5 and body["max_budget"] == 3.0
    assert "Budget exceeded" in body["event_message"]


def test_sinks_come_from_alerting_and_the_environment(caplog: pytest.LogCaptureFixture) -> None:
    env = {
        "SLACK_WEBHOOK_URL": "https://hooks.example/T/B/secret",
        "WEBHOOK_URL": "https://example/hook",
        "SMTP_HOST": "smtp.example",
        "SMTP_PORT": "2525",
        "SMTP_TLS": "False",
        "SMTP_SENDER_EMAIL": "a@example",
        "ALERT_EMAIL_TO": "b@example, c@example",
        "SMTP_USERNAME": "u",
        "SMTP_PASSWORD": "p",
    }
    sinks = build_sinks({"alerting": ["slack", "webhook", "email", "slack"]}, env)
    assert [s.name for s in sinks] == ["slack", "webhook", "email"]
    email = sinks[2]
    assert isinstance(email, EmailSink)
    assert (email.port, email.starttls, email.recipients) == (
        2525,
        False,
        ("b@example", "c@example"),
    )
    assert build_sinks({}, env) == []
    assert build_sinks({"alerting": ["slack"], "alert_types": ["llm_exceptions"]}, env) == []
    override = {"alerting": ["slack"], "alert_to_webhook_url": {"budget_alerts": ["https://o/x"]}}
    assert build_sinks(override, env) == [SlackSink("https://o/x")]
    with caplog.at_level(logging.WARNING):
        assert build_sinks({"alerting": ["webhook", "email"]}, {}) == []
    assert "WEBHOOK_URL is not set" in caplog.text


class FlakySink:
    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[str] = []
        self.calls = 0

    async def send(self, alert: Alert) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise SinkError("HTTP 503")
        self.sent.append(alert.id)


class BrokenSink:
    name = "broken"

    async def send(self, alert: Alert) -> None:
        raise RuntimeError("https://hooks.example/T/B/secret refused")  # must not be logged


def _alert(n: int) -> Alert:
    return Alert(
        id=f"a{n}", alert_type="soft_budget", kind="key", entity_id="k", spend="1", threshold="1"
    )


async def test_dispatcher_retries_each_sink_alone_and_never_logs_raw_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flaky = FlakySink(failures=2)
    dispatcher = AlertDispatcher([flaky, BrokenSink()], attempts=3, base_delay=0.01)
    dispatcher.start()
    with caplog.at_level(logging.WARNING):
        dispatcher.submit([_alert(1), _alert(2)])
        await asyncio.wait_for(dispatcher.close(timeout=5), 10)
    assert flaky.sent == ["a1", "a2"]
    assert "via broken failed (attempt 3/3): RuntimeError" in caplog.text
    assert "secret" not in caplog.text
    assert "HTTP 503" in caplog.text


async def test_webhook_sink_reports_http_failures_without_the_url() -> None:
    sink = WebhookSink("http://127.0.0.1:9/hook/secret-token", timeout=0.5)
    with pytest.raises(SinkError) as info:
        await sink.send(_alert(1))
    assert "secret-token" not in str(info.value)
    with pytest.raises(SinkError, match="not http"):
        await WebhookSink("file:///etc/passwd").send(_alert(1))


async def test_huge_commits_are_broadcast_in_parts_with_one_seq() -> None:
    from tianji_common.bus import MemoryBroker, MemoryBus
    from tianji_common.events import SpendEntry, decode_spend

    from tianji_spend_worker.consumer import SpendPublisher

    bus = MemoryBus(MemoryBroker())
    await bus.start()
    got: list[tuple[int, int]] = []

    async def listen(raw: bytes) -> None:
        update = decode_spend(raw)
        got.append((update.seq, len(update.entries)))

    await bus.subscribe("s", listen)
    entries = [SpendEntry(kind="end_user", id=f"c{i}", spend="1") for i in range(4500)]
    await SpendPublisher(bus, "s").publish(entries, seq=42)
    await SpendPublisher(bus, "s").publish([], seq=43)  # nothing changed: nothing sent
    await bus.close()
    assert got == [(42, 2000), (42, 2000), (42, 500)]
