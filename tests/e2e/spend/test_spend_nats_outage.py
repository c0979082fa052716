"""NATS down for ~10 s under load loses no spend, and blocks no request.

Real processes: a private nats-server (never the shared one: other tests use it), the
split gateway publishing to it with its disk spool, `tianji spend-worker` on a
throwaway Postgres database. Requests flow before, during and after a 10 s outage
(SIGKILL, then a restart on the same port and storage). Every request's spend must land
exactly once, with the cost the gateway reported in `x-litellm-response-cost`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.e2e.conftest import MASTER_KEY, e2e_config
from tests.support.fake_upstream import FakeUpstream
from tests.support.private_nats import PrivateNats
from tests.support.proc import TianjiProcess, start_tianji
from tests.support.spend_env import (
    WorkerProcess,
    wait_for,
)

pytestmark = pytest.mark.e2e

OUTAGE = 10.0
CLIENTS = 4


class Load:
    """CLIENTS threads sending chat requests until stopped; records id, cost, status."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.stop = threading.Event()
        self.ok: dict[str, Decimal] = {}
        self.failed: list[str] = []
        self.slowest = 0.0
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def start(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def finish(self) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(30)

    def _run(self) -> None:
        headers = {"authorization": f"Bearer {MASTER_KEY}"}
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        with httpx.Client(base_url=self.base, headers=headers, timeout=30) as client:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    r = client.post("/v1/chat/completions", json=body)
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.failed.append(repr(exc))
                    continue
                elapsed = time.monotonic() - started
                with self._lock:
                    self.slowest = max(self.slowest, elapsed)
                    if r.status_code == 200:
                        cost = Decimal(r.headers.get("x-litellm-response-cost", "0"))
                        self.ok[r.headers["x-litellm-call-id"]] = cost
                    else:
                        self.failed.append(f"{r.status_code} {r.text[:200]}")


async def test_nats_outage_under_load_loses_no_spend(
    db_url: str, private_nats: PrivateNats, upstream: FakeUpstream, tmp_path: Path
) -> None:
    worker = WorkerProcess(db_url, private_nats.url, tmp_path).start()
    gateway: TianjiProcess | None = None
    load: Load | None = None
    try:
        gateway = await asyncio.to_thread(
            start_tianji,
            ["gateway"],
            config_text=e2e_config(upstream),
            env={"NATS_URL": private_nats.url, "TIANJI_SPOOL_DIR": str(tmp_path / "gw-spool")},
        )
        load = Load(gateway.base).start()
        await asyncio.sleep(3)
        before = len(load.ok)
        private_nats.kill()
        await asyncio.sleep(OUTAGE)
        during = len(load.ok) - before
        await asyncio.to_thread(private_nats.start)
        await asyncio.sleep(3)
        load.finish()
        ids = dict(load.ok)
        assert not load.failed, load.failed[:5]
        assert before > 0 and during > 0, (before, during)  # requests flowed while NATS was down

        async def all_landed() -> bool:
            return len(await _spend_rows(db_url, list(ids))) >= len(ids)

        await wait_for(all_landed, 90, f"{len(ids)} requests' spend")
        await asyncio.sleep(1.5)  # nothing more (no duplicates) arrives late
        rows = await _spend_rows(db_url, list(ids))
    finally:
        if load is not None:
            load.finish()
        if gateway is not None:
            assert gateway.stop() == 0, gateway.logs()
        code = worker.stop()
    assert code == 0, worker.logs()

    by_request: dict[str, list[Decimal]] = {}
    for row in rows:
        by_request.setdefault(row["request_id"], []).append(Decimal(row["spend"]))
    assert set(by_request) == set(ids)
    assert all(len(v) == 1 for v in by_request.values()), "a request was written twice"
    for request_id, cost in ids.items():
        # The header carries str(float(cost)); the ledger keeps the exact Decimal.
        assert abs(by_request[request_id][0] - cost) <= Decimal("1e-15"), request_id
    total_rows = await _count_all(db_url)
    assert total_rows == len(ids), (total_rows, len(ids))


async def _spend_rows(db_url: str, ids: list[str]) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(db_url)
    try:
        return list(
            await conn.fetch(
                "SELECT request_id, spend FROM tianji_spend_log WHERE request_id = ANY($1::text[])",
                ids,
            )
        )
    finally:
        await conn.close()


async def _count_all(db_url: str) -> int:
    conn = await asyncpg.connect(db_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM tianji_spend_log"))
    finally:
        await conn.close()
