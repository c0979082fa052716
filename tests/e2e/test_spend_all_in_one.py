"""The spend-worker inside `tianji up` (SQLite, in-process bus): entity spend and alerts.

One process: the config's `general_settings.alerting: ["webhook", "slack"]` reaches the
embedded worker; a virtual key crosses its soft budget on its second request, and
the fake receivers get exactly one alert per sink, however many requests follow
(a soft budget: requests keep flowing, every later batch sees the key over it).
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from tests.e2e.conftest import MASTER_KEY
from tests.support.alert_receivers import AlertReceivers
from tests.support.fake_upstream import FakeUpstream
from tests.support.proc import TianjiProcess, start_tianji

pytestmark = pytest.mark.e2e

ADMIN = {"authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture
def receivers() -> Iterator[AlertReceivers]:
    fake = AlertReceivers().start()
    yield fake
    fake.stop()


def _config(upstream: FakeUpstream) -> str:
    # 11 prompt and 7 completion tokens from the fake: 0.025 per request.
    return f"""
model_list:
  - model_name: priced
    litellm_params: {{model: openai/m-ok, api_base: "{upstream.base}/v1", api_key: k,
                      input_cost_per_token: 0.001, output_cost_per_token: 0.002}}
general_settings:
  master_key: {MASTER_KEY}
  alerting: ["webhook", "slack"]
"""


@pytest.fixture
def tianji_up(upstream: FakeUpstream, receivers: AlertReceivers) -> Iterator[TianjiProcess]:
    base = f"http://127.0.0.1:{receivers.http_port}"
    proc = start_tianji(
        ["up"],
        config_text=_config(upstream),
        env={"WEBHOOK_URL": f"{base}/webhook", "SLACK_WEBHOOK_URL": f"{base}/slack/T/B/tok"},
    )
    yield proc
    proc.stop()


def _key_spend(tp: TianjiProcess, key_hash: str) -> Decimal:
    with sqlite3.connect(tp.workdir / ".tianji" / "tianji.db") as conn:
        row = conn.execute(
            "SELECT spend FROM tianji_verification_token WHERE token = ?", (key_hash,)
        ).fetchone()
    return Decimal(str(row[0])) if row else Decimal(-1)


def test_key_spend_and_one_alert_per_sink_all_in_one(
    tianji_up: TianjiProcess, receivers: AlertReceivers
) -> None:
    r = httpx.post(f"{tianji_up.base}/key/generate", json={"soft_budget": 0.03}, headers=ADMIN)
    assert r.status_code == 200, r.text
    key = r.json()["key"]
    key_hash = hashlib.sha256(key.encode()).hexdigest()
    costs: list[Decimal] = []
    for _ in range(3):
        resp = httpx.post(
            f"{tianji_up.base}/v1/chat/completions",
            json={"model": "priced", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": f"Bearer {key}"},
        )
        assert resp.status_code == 200, resp.text  # a soft budget never refuses
        costs.append(Decimal(resp.headers["x-litellm-response-cost"]))
        time.sleep(0.3)  # separate batches: each one sees the key over its soft budget

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not (
        receivers.bodies("/webhook") and receivers.bodies("/slack")
    ):
        time.sleep(0.1)
    time.sleep(1.0)
    webhook = receivers.bodies("/webhook")
    assert [(b["event"], b["event_group"], b["token"]) for b in webhook] == [
        ("soft_budget_crossed", "key", key_hash)
    ]
    assert len(receivers.bodies("/slack")) == 1
    spend = _key_spend(tianji_up, key_hash)
    assert abs(spend - sum(costs)) < Decimal("1e-12"), (spend, costs)
    assert "/slack/T/B/tok" not in tianji_up.logs()
