"""Budget alerts end to end: one crossing, one alert, per sink, across two workers.

Real processes: a private nats-server, two `tianji spend-worker --config` processes
(competing consumers on one durable) on a throwaway Postgres database, a fake
webhook/Slack endpoint and a tiny SMTP server on real sockets. The events are also
republished under new message ids, so the workers themselves must drop them. The
generic webhook answers 500 once: the alert is retried, and still sent once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.support.alert_receivers import AlertReceivers
from tests.support.private_nats import PrivateNats
from tests.support.spend_env import (
    WorkerProcess,
    make_event,
    publish,
    wait_for,
)

pytestmark = pytest.mark.e2e

SLACK_PATH = "/slack/T000/B000/s3cr3t-slack-token"
CONFIG = """
general_settings:
  alerting: ["slack", "webhook", "email"]
  alerting_threshold: 300
"""


@pytest.fixture
def receivers() -> Iterator[AlertReceivers]:
    fake = AlertReceivers(fail_first_webhook=True).start()
    yield fake
    fake.stop()


async def _seed(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(
            "INSERT INTO tianji_verification_token (token, soft_budget, max_budget) "
            "VALUES ('k-alert', 1, 2)"
        )
        await conn.execute("INSERT INTO tianji_team (team_id, max_budget) VALUES ('t-alert', 1.5)")
    finally:
        await conn.close()


async def test_each_crossing_alerts_once_per_sink(
    db_url: str, private_nats: PrivateNats, receivers: AlertReceivers, tmp_path: Path
) -> None:
    await _seed(db_url)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    env = {
        "SLACK_WEBHOOK_URL": f"http://127.0.0.1:{receivers.http_port}{SLACK_PATH}",
        "WEBHOOK_URL": f"http://127.0.0.1:{receivers.http_port}/webhook",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(receivers.smtp_port),
        "SMTP_TLS": "False",
        "SMTP_SENDER_EMAIL": "alerts@tianji.test",
        "ALERT_EMAIL_TO": "ops@tianji.test",
        "SPEND_BATCH": "4",
    }
    workers = [
        WorkerProcess(
            db_url,
            private_nats.url,
            tmp_path / f"w{i}",
            extra_env=env,
            args=("--config", str(config)),
        )
        for i in range(2)
    ]
    for worker in workers:
        worker.workdir.mkdir()
        worker.start()
    events = [make_event("0.1", key_hash="k-alert", team_id="t-alert") for _ in range(30)]
    try:
        await publish(private_nats.url, events)
        await publish(private_nats.url, events, suffix="-redelivered")

        async def three_each() -> bool:
            return (
                len(receivers.bodies("/slack")) >= 3
                and len(receivers.bodies("/webhook")) >= 3
                and len(receivers.mails) >= 3
            )

        await wait_for(three_each, 60, "3 alerts on every sink")
        await asyncio.sleep(2)  # and no more come
    finally:
        codes = [w.stop() for w in workers]
    logs = "\n".join(w.logs() for w in workers)
    assert codes == [0, 0], logs

    webhook = receivers.bodies("/webhook")
    assert sorted((b["event"], b["event_group"]) for b in webhook) == [
        ("budget_crossed", "key"),
        ("budget_crossed", "team"),
        ("soft_budget_crossed", "key"),
    ]
    assert receivers.attempts["/webhook"] == 4  # the 500 was retried, once
    key_exceeded = next(
        b for b in webhook if b["event"] == "budget_crossed" and b["event_group"] == "key"
    )
    assert key_exceeded["token"] == "k-alert" and key_exceeded["max_budget"] == 2.0
    assert key_exceeded["spend"] >= 2.0

    slack = receivers.bodies("/slack")
    assert len(slack) == 3 and all(set(b) == {"text"} for b in slack)
    assert sum("Soft budget crossed" in b["text"] for b in slack) == 1

    assert len(receivers.mails) == 3
    assert {m.sender for m in receivers.mails} == {"alerts@tianji.test"}
    assert all(m.recipients == ["ops@tianji.test"] for m in receivers.mails)
    assert all("budget" in str(m.message["Subject"]).lower() for m in receivers.mails)

    # Sink failures are logged without the URL (Slack's carries its secret in the path).
    assert "failed (attempt 1/3): HTTP 500" in logs
    assert "s3cr3t-slack-token" not in logs
