"""A spend-worker killed with SIGKILL mid-batch and restarted loses and doubles nothing.

Real processes: a private nats-server (JetStream), `tianji spend-worker` on a throwaway
Postgres database. N events go to JetStream with `Nats-Msg-Id` (plus republished copies
under new ids, which the worker itself must drop); the worker is SIGKILLed while it
writes, restarted, and every total must then be exact.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.private_nats import PrivateNats
from tests.support.spend_env import (
    WorkerProcess,
    count_rows,
    fetchval,
    make_event,
    publish,
    total,
    wait_for,
)

pytestmark = pytest.mark.e2e

N = 4000
TEAMS = ("team-a", "team-b")


async def _seed(db_url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        for team in TEAMS:
            await conn.execute("INSERT INTO tianji_team (team_id) VALUES ($1)", team)
            await conn.execute(
                "INSERT INTO tianji_verification_token (token) VALUES ($1)", f"k-{team}"
            )
    finally:
        await conn.close()


async def test_sigkill_mid_batch_loses_and_doubles_nothing(
    db_url: str, private_nats: PrivateNats, tmp_path: Path
) -> None:
    await _seed(db_url)
    events = [
        make_event(
            f"0.{(i * 7919) % 10**6:06d}",
            key_hash=f"k-{TEAMS[i % 2]}",
            team_id=TEAMS[i % 2],
            end_user=f"cust-{i % 7}",
            tags=("e2e",),
        )
        for i in range(N)
    ]
    await publish(private_nats.url, events)
    await publish(private_nats.url, events[:500], suffix="-again")  # new ids: worker dedupes

    worker = WorkerProcess(
        db_url,
        private_nats.url,
        tmp_path,
        extra_env={"SPEND_BATCH": "40", "SPEND_CONCURRENCY": "2"},
    ).start()
    try:
        await wait_for(lambda: _between(db_url, N // 5, N - 1), 60, "the first batches")
        worker.kill()  # SIGKILL: no drain, batches in flight, acks unsent
        killed_at = await count_rows(db_url)
        assert 0 < killed_at < N, f"kill missed the middle of the run ({killed_at} of {N})"

        worker.start()
        await wait_for(lambda: _at_least(db_url, N), 90, f"all {N} events")
        await asyncio.sleep(1.5)  # redeliveries, if any, land now
    finally:
        code = worker.stop()
    assert code == 0, worker.logs()

    assert await count_rows(db_url) == N
    assert await fetchval(db_url, "SELECT count(DISTINCT event_id) FROM tianji_spend_log") == N
    assert await fetchval(db_url, "SELECT sum(spend) FROM tianji_spend_log") == total(events)
    for team in TEAMS:
        mine = [e for e in events if e.team_id == team]
        want = total(mine)
        assert await _spend(db_url, "tianji_team", "team_id", team) == want
        assert await _spend(db_url, "tianji_verification_token", "token", f"k-{team}") == want
        daily = await fetchval(
            db_url,
            "SELECT sum(spend) FROM tianji_daily_spend WHERE kind = 'team' AND value = $1",
            team,
        )
        assert daily == want
        requests = await fetchval(
            db_url,
            "SELECT sum(requests) FROM tianji_daily_spend WHERE kind = 'team' AND value = $1",
            team,
        )
        assert requests == len(mine)
    end_users = await fetchval(
        db_url, "SELECT sum(spend) FROM tianji_end_user WHERE user_id LIKE 'cust-%'"
    )
    assert end_users == total(events)


async def _between(db_url: str, low: int, high: int) -> bool:
    return low <= await count_rows(db_url) <= high


async def _at_least(db_url: str, n: int) -> bool:
    return await count_rows(db_url) >= n


async def _spend(db_url: str, table: str, pk: str, ident: str) -> Decimal:
    value = await fetchval(db_url, f"SELECT spend FROM {table} WHERE {pk} = $1", ident)
    assert value is not None, (table, ident)
    return Decimal(value)
