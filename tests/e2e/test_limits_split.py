"""Split mode: two gateway replicas share rate limits and budget reservations in Redis.

One control plane (Postgres, NATS) and two `tianji gateway` processes with the same
REDIS_URL. A key's rpm holds across both; 2 x 50 concurrent requests against a small
budget never overshoot it by more than what the admitted requests' costs exceed their
reservations (issue 4, item 7).
"""

from __future__ import annotations

import asyncio
import functools
import os
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import MASTER_KEY
from tests.e2e.test_limits_all_in_one import limits_config
from tests.e2e.test_split_virtual_keys import db_url, nats_url, server_url
from tests.e2e.test_virtual_keys import MESSAGES, generate_key, within
from tests.support.fake_upstream import FakeUpstream
from tests.support.limits_gateway import away_from_window_edge
from tests.support.proc import TianjiProcess, start_tianji

pytestmark = pytest.mark.e2e

__all__ = ["db_url", "nats_url", "server_url"]  # module fixtures reused from the split test

ONE = Decimal("0.025")  # one answer on `priced`
RESERVE = Decimal("0.023")  # what max_tokens 7 reserves


@pytest.fixture(scope="module")
def redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("no Redis: set REDIS_URL")
    return url


def _start(
    db: str, nats: str, redis: str, upstream: FakeUpstream, tmp: Path, started: list[TianjiProcess]
) -> tuple[TianjiProcess, list[TianjiProcess]]:
    control = start_tianji(
        ["control-plane"],
        env={
            "DATABASE_URL": db,
            "NATS_URL": nats,
            "TIANJI_MASTER_KEY": MASTER_KEY,
            "TIANJI_SPOOL_DIR": str(tmp / "cp-spool"),
        },
    )
    started.append(control)
    gateways = []
    for n in range(2):
        gateway = start_tianji(
            ["gateway"],
            config_text=limits_config(upstream),
            env={
                "NATS_URL": nats,
                "REDIS_URL": redis,
                "TIANJI_SPOOL_DIR": str(tmp / f"gw{n}-spool"),
                "TIANJI_CONTROL_PLANE_URL": control.base,
            },
        )
        started.append(gateway)
        gateways.append(gateway)
    return control, gateways


async def _chat(client: httpx.AsyncClient, base: str, key: str) -> httpx.Response:
    return await client.post(
        f"{base}/v1/chat/completions",
        json={"model": "priced", "messages": MESSAGES, "max_tokens": 7},
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    )


def _status(base: str, key: str) -> int:
    # max_tokens 7: without it a request reserves for 256 output tokens (0.521 USD).
    r = httpx.post(
        f"{base}/v1/chat/completions",
        json={"model": "priced", "messages": MESSAGES, "max_tokens": 7},
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    )
    return r.status_code


def _ok(base: str, key: str) -> bool:
    return _status(base, key) == 200


async def _scenario(control: TianjiProcess, gateways: list[TianjiProcess]) -> None:
    a, b = (g.base for g in gateways)
    rpm_key = await asyncio.to_thread(generate_key, control.base, rpm_limit=3)
    # The key reaches both replicas (snapshot or change event) before counting starts.
    for base in (a, b):
        await asyncio.to_thread(within, 5.0, functools.partial(_ok, base, MASTER_KEY))
    away_from_window_edge()
    statuses = [await asyncio.to_thread(_status, base, rpm_key) for base in (a, b, a, b)]
    assert statuses == [200, 200, 200, 429]

    budget = Decimal("0.3")
    key = await asyncio.to_thread(generate_key, control.base, max_budget=float(budget))
    async with httpx.AsyncClient() as client:
        for base in (a, b):  # known to both replicas, and each warmed
            await asyncio.to_thread(within, 5.0, functools.partial(_ok, base, key))
        responses = await asyncio.gather(*(_chat(client, base, key) for base in (a, b) * 50))
    admitted = [r for r in responses if r.status_code == 200]
    assert {r.status_code for r in responses} <= {200, 429}
    spent = 2 * ONE + sum(Decimal(r.headers["x-litellm-response-cost"]) for r in admitted)
    # The overshoot bound: what in-flight requests' costs exceed their reservations by.
    assert spent <= budget + (len(admitted) + 2) * (ONE - RESERVE)
    assert len(admitted) >= int(budget / ONE) - 4  # refusals did not come early either


async def test_limits_hold_across_two_replicas(
    db_url: str, nats_url: str, redis_url: str, upstream: FakeUpstream, tmp_path: Path
) -> None:
    started: list[TianjiProcess] = []
    try:
        control, gateways = await asyncio.to_thread(
            _start, db_url, nats_url, redis_url, upstream, tmp_path, started
        )
        await _scenario(control, gateways)
    finally:
        for proc in reversed(started):
            assert proc.stop() == 0, proc.logs()
