"""Budget resets end to end, and the spend broadcasts gateways follow.

Real processes: a private nats-server, `tianji spend-worker` (reset pass every 0.3 s)
on a throwaway Postgres database. A key whose budget period ends is reset to zero once,
its next period starts `budget_duration` later, a `SpendUpdated` with `reset` goes out
on `tianji.spend.updated.v1`; later spend is broadcast as absolute totals with a higher
`seq`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import nats
import pytest
from tianji_common.events import SpendUpdated, decode_spend
from tianji_common.nats_names import SPEND_UPDATED_SUBJECT

from tests.support.private_nats import PrivateNats
from tests.support.spend_env import (
    WorkerProcess,
    make_event,
    publish,
    wait_for,
)

pytestmark = pytest.mark.e2e


async def _key(db_url: str) -> tuple[Decimal, datetime | None]:
    conn = await asyncpg.connect(db_url)
    try:
        row = await conn.fetchrow(
            "SELECT spend, budget_reset_at FROM tianji_verification_token WHERE token = 'k-reset'"
        )
    finally:
        await conn.close()
    assert row is not None
    return Decimal(row["spend"]), row["budget_reset_at"]


async def test_budget_period_end_resets_spend_once_and_broadcasts(
    db_url: str, private_nats: PrivateNats, tmp_path: Path
) -> None:
    due = datetime.now(UTC) + timedelta(seconds=2)
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(
            "INSERT INTO tianji_verification_token (token, spend, max_budget, budget_duration, "
            "budget_reset_at) VALUES ('k-reset', 5, 10, '30s', $1)",
            due,
        )
    finally:
        await conn.close()
    updates: list[SpendUpdated] = []
    nc = await nats.connect(private_nats.url)

    async def on_update(msg: nats.aio.msg.Msg) -> None:
        updates.append(decode_spend(msg.data))

    await nc.subscribe(SPEND_UPDATED_SUBJECT, cb=on_update)
    await nc.flush()
    worker = WorkerProcess(
        db_url, private_nats.url, tmp_path, extra_env={"SPEND_RESET_INTERVAL": "0.3"}
    ).start()
    try:
        assert (await _key(db_url))[0] == 5  # not due yet: untouched

        async def reset_seen() -> bool:
            return any(e.reset and e.id == "k-reset" for u in updates for e in u.entries)

        await wait_for(reset_seen, 30, "the reset broadcast")
        spend, next_reset = await _key(db_url)
        assert spend == 0
        assert next_reset is not None
        assert (
            due + timedelta(seconds=29) <= next_reset <= datetime.now(UTC) + timedelta(seconds=31)
        )
        await asyncio.sleep(1)  # more passes: the period is not over, nothing more resets
        resets = [u for u in updates if any(e.reset for e in u.entries)]
        assert len(resets) == 1

        await publish(private_nats.url, [make_event("0.75", key_hash="k-reset") for _ in range(2)])

        async def spend_seen() -> bool:
            return any(
                e.id == "k-reset" and Decimal(e.spend) == Decimal("1.5")
                for u in updates
                for e in u.entries
            )

        await wait_for(spend_seen, 30, "the new spend broadcast")
    finally:
        code = worker.stop()
        await nc.close()
    assert code == 0, worker.logs()
    assert (await _key(db_url))[0] == Decimal("1.5")
    last = next(u for u in reversed(updates) if any(e.id == "k-reset" for e in u.entries))
    assert last.seq > resets[0].seq
    entry = next(e for e in last.entries if e.id == "k-reset")
    assert entry.kind == "key" and not entry.reset
    assert Decimal(entry.model_spend["gpt-4o"]) == Decimal("1.5")
