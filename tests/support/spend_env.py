"""What the spend-worker end-to-end tests share: a migrated database, the worker as a
real process, JetStream publishing with `Nats-Msg-Id`, and exact-sum queries."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import nats
from nats.js.api import StorageType, StreamConfig
from tianji_common.events import UsageRecorded, encode_event
from tianji_common.nats_names import USAGE_STREAM, USAGE_STREAM_SUBJECTS, USAGE_SUBJECT

from tests.support.proc import tianji_bin

__all__ = [
    "WorkerProcess",
    "count_rows",
    "fetchval",
    "make_event",
    "migrate",
    "publish",
    "total",
    "wait_for",
]


def migrate(db_url: str) -> None:
    out = subprocess.run(
        [tianji_bin(), "migrate"],
        env={**os.environ, "DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr


@dataclass
class WorkerProcess:
    """`tianji spend-worker` as a real OS process, its log in `workdir`."""

    db_url: str
    nats_url: str
    workdir: Path
    extra_env: dict[str, str] | None = None
    args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    runs: int = 0

    def start(self) -> WorkerProcess:
        self.runs += 1
        env = {
            **os.environ,
            "DATABASE_URL": self.db_url,
            "NATS_URL": self.nats_url,
            "TIANJI_SPOOL_DIR": str(self.workdir / f"spool{self.runs}"),
            **(self.extra_env or {}),
        }
        log = (self.workdir / f"worker{self.runs}.log").open("wb")
        self.proc = subprocess.Popen(
            [tianji_bin(), "spend-worker", *self.args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.workdir.glob("worker*.log"))
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return 0 if self.proc is None else int(self.proc.returncode)
        self.proc.terminate()
        try:
            return int(self.proc.wait(30))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9


def make_event(cost: str, **fields: Any) -> UsageRecorded:
    base: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": time.time(),
        "request_id": secrets.token_hex(8),
        "model_group": "gpt-4o",
        "model": "gpt-4o-2024-08-06",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "cost": cost,
    }
    return UsageRecorded(**{**base, **fields})


async def publish(nats_url: str, events: Iterable[UsageRecorded], suffix: str = "") -> None:
    """Publish to the USAGE stream with `Nats-Msg-Id` (a suffix makes a new message id)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        try:
            await js.stream_info(USAGE_STREAM)
        except nats.js.errors.NotFoundError:
            await js.add_stream(
                StreamConfig(
                    name=USAGE_STREAM,
                    subjects=[USAGE_STREAM_SUBJECTS],
                    storage=StorageType.FILE,
                    duplicate_window=120.0,
                )
            )
        items = list(events)
        for start in range(0, len(items), 500):
            await asyncio.gather(
                *(
                    js.publish(
                        USAGE_SUBJECT,
                        encode_event(e),
                        headers={"Nats-Msg-Id": e.event_id + suffix},
                    )
                    for e in items[start : start + 500]
                )
            )
    finally:
        await nc.close()


async def fetchval(db_url: str, sql: str, *args: object) -> Any:
    conn = await asyncpg.connect(db_url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def count_rows(db_url: str) -> int:
    return int(await fetchval(db_url, "SELECT count(*) FROM tianji_spend_log"))


async def wait_for(check: Any, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll an async predicate until it holds, or fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def total(events: Iterable[UsageRecorded]) -> Decimal:
    return sum((Decimal(e.cost) for e in events), Decimal(0))
