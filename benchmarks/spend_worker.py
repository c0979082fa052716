"""`just bench-spend`: the spend-worker's sustained events/s into Postgres, on this machine.

Why a script: the number that matters is a real `tianji spend-worker` process draining
a JetStream backlog into Postgres, acks and all. Steps:

1. a throwaway Postgres database on DATABASE_URL's server, migrated with `tianji migrate`,
   seeded with keys, users, teams, orgs and memberships (so every entity UPDATE runs);
2. a private `nats-server -js` on a free port (never the shared one: its USAGE stream
   and `spend_writer` durable belong to whoever else runs there);
3. N `UsageRecorded` events published to JetStream with `Nats-Msg-Id`, before the worker
   starts, so the worker is measured, not the publisher;
4. `tianji spend-worker` started; the ledger row count is polled; throughput is counted
   from the first committed row to the last (startup excluded, also reported);
5. exactness check: row count == N, and every key's spend == the sum of its costs.

Options: `--events` (50000), `--batch` (SPEND_BATCH, 2048), `--concurrency`
(SPEND_CONCURRENCY, 2), `--keys` (200).
Results: one JSON line on stdout, and `.bench/spend_worker.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import asyncpg
import nats
import psutil
from nats.js.api import StorageType, StreamConfig
from tianji_common.db.testing import temporary_database
from tianji_common.events import UsageRecorded, encode_event
from tianji_common.nats_names import USAGE_STREAM, USAGE_STREAM_SUBJECTS, USAGE_SUBJECT

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.private_nats import PrivateNats  # noqa: E402

TIANJI = str(Path(sys.executable).parent / "tianji")


def _events(n: int, keys: int) -> tuple[list[UsageRecorded], dict[str, Decimal]]:
    rng = random.Random(n)
    per_key: dict[str, Decimal] = defaultdict(Decimal)
    out = []
    now = time.time()
    for i in range(n):
        k = i % keys
        cost = Decimal(rng.randint(1, 10**6)) / 10**7
        key = f"bench-key-{k}"
        per_key[key] += cost
        out.append(
            UsageRecorded(
                event_id=str(uuid.uuid4()),
                occurred_at=now,
                request_id=secrets.token_hex(8),
                model_group=("gpt-4o", "claude", "gemini")[i % 3],
                model="m",
                key_hash=key,
                user_id=f"bench-user-{k % 50}",
                team_id=f"bench-team-{k % 20}",
                org_id=f"bench-org-{k % 5}",
                end_user=f"bench-customer-{i % 500}",
                tags=("bench",),
                prompt_tokens=100,
                completion_tokens=20,
                total_tokens=120,
                cost=str(cost),
            )
        )
    return out, per_key


async def _seed(url: str, keys: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.executemany(
            "INSERT INTO tianji_verification_token (token, soft_budget) VALUES ($1, 1000000)",
            [(f"bench-key-{k}",) for k in range(keys)],
        )
        await conn.executemany(
            "INSERT INTO tianji_user (user_id) VALUES ($1)",
            [(f"bench-user-{u}",) for u in range(50)],
        )
        await conn.executemany(
            "INSERT INTO tianji_team (team_id) VALUES ($1)",
            [(f"bench-team-{t}",) for t in range(20)],
        )
        await conn.executemany(
            "INSERT INTO tianji_organization (organization_id) VALUES ($1)",
            [(f"bench-org-{o}",) for o in range(5)],
        )
        await conn.executemany(
            "INSERT INTO tianji_team_membership (id, team_id, user_id) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING",
            [
                (
                    f"bench-team-{k % 20}/bench-user-{k % 50}",
                    f"bench-team-{k % 20}",
                    f"bench-user-{k % 50}",
                )
                for k in range(keys)
            ],
        )
    finally:
        await conn.close()


async def _publish(url: str, events: list[UsageRecorded]) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(
        StreamConfig(
            name=USAGE_STREAM,
            subjects=[USAGE_STREAM_SUBJECTS],
            storage=StorageType.FILE,
            duplicate_window=120.0,
        )
    )
    started = time.perf_counter()
    for start in range(0, len(events), 1000):
        chunk = events[start : start + 1000]
        await asyncio.gather(
            *(
                js.publish(USAGE_SUBJECT, encode_event(e), headers={"Nats-Msg-Id": e.event_id})
                for e in chunk
            )
        )
    elapsed = time.perf_counter() - started
    await nc.close()
    return elapsed


def _postgres_cpu() -> float:
    total = 0.0
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] == "postgres":
            try:
                cpu = proc.cpu_times()
            except psutil.Error:
                continue
            total += cpu.user + cpu.system
    return total


async def _database_backends_cpu(conn: asyncpg.Connection) -> float:
    pids = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()"
    )
    total = 0.0
    for row in pids:
        try:
            cpu = psutil.Process(row["pid"]).cpu_times()
        except psutil.Error:
            continue
        total += cpu.user + cpu.system
    return total


def _busy_cores(started: float, done: float) -> float:
    """Average busy cores over the run, from /proc/stat via psutil (all processes)."""
    return psutil.cpu_percent(interval=None) / 100 * (os.cpu_count() or 1)


async def _count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM tianji_spend_log"))


async def _measure(
    db: str, nats_url: str, n: int, batch: int, concurrency: int, workdir: Path
) -> dict[str, float]:
    env = {
        **os.environ,
        "DATABASE_URL": db,
        "NATS_URL": nats_url,
        "TIANJI_SPOOL_DIR": str(workdir / "spool"),
        "SPEND_BATCH": str(batch),
        "SPEND_CONCURRENCY": str(concurrency),
    }
    log = (workdir / "worker.log").open("wb")
    conn = await asyncpg.connect(db)
    pg_before = _postgres_cpu()
    psutil.cpu_percent(interval=None)  # starts the machine-wide busy counter
    started = time.perf_counter()
    worker = subprocess.Popen(
        [TIANJI, "spend-worker"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    first_at, first_count, count = 0.0, 0, 0
    try:
        deadline = started + 600
        while count < n and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
            count = await _count(conn)
            if count and not first_at:
                first_at, first_count = time.perf_counter(), count
        done_at = time.perf_counter()
        cpu = psutil.Process(worker.pid).cpu_times()
        worker_cpu = cpu.user + cpu.system
        pg_cpu = _postgres_cpu() - pg_before
        db_cpu = await _database_backends_cpu(conn)
    finally:
        worker.terminate()
        worker.wait(30)
        await conn.close()
    if count != n:
        raise SystemExit(f"worker wrote {count} of {n} events; see {workdir / 'worker.log'}")
    sustained = (n - first_count) / (done_at - first_at) if done_at > first_at else float("nan")
    return {
        "events": n,
        "batch": batch,
        "concurrency": concurrency,
        "seconds_total": round(done_at - started, 3),
        "events_per_s_including_startup": round(n / (done_at - started), 1),
        "events_per_s_sustained": round(sustained, 1),
        # The machine is shared: CPU time says what the worker itself costs.
        "worker_cpu_seconds": round(worker_cpu, 2),
        "events_per_worker_cpu_second": round(n / worker_cpu, 1),
        # The worker's own Postgres backends (the pool's connections), and every
        # postgres process on the machine (others' databases too): an upper bound.
        "worker_backends_cpu_seconds": round(db_cpu, 2),
        "all_postgres_cpu_seconds": round(pg_cpu, 2),
        "machine_busy_cores": round(_busy_cores(started, done_at), 2),
        "load_average_1m": os.getloadavg()[0],
    }


async def _check(db: str, per_key: dict[str, Decimal]) -> None:
    conn = await asyncpg.connect(db)
    try:
        rows = await conn.fetch("SELECT token, spend FROM tianji_verification_token")
        got = {r["token"]: r["spend"] for r in rows}
        dup = await conn.fetchval(
            "SELECT count(*) - count(DISTINCT event_id) FROM tianji_spend_log"
        )
    finally:
        await conn.close()
    assert dup == 0, "duplicate ledger rows"
    bad = [k for k, v in per_key.items() if got.get(k) != v]
    assert not bad, f"key spend differs for {len(bad)} key(s), e.g. {bad[:3]}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=2, help="SPEND_CONCURRENCY")
    args = parser.parse_args()
    server = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    events, per_key = _events(args.events, args.keys)
    private = PrivateNats().start()
    workdir = Path(tempfile.mkdtemp(prefix="tianji-bench-spend-"))
    try:
        async with temporary_database(server, prefix="tianji_bench") as db:
            subprocess.run(
                [TIANJI, "migrate"],
                env={**os.environ, "DATABASE_URL": db},
                check=True,
                capture_output=True,
            )
            await _seed(db, args.keys)
            publish_s = await _publish(private.url, events)
            result = await _measure(
                db, private.url, args.events, args.batch, args.concurrency, workdir
            )
            await _check(db, per_key)
    finally:
        private.close()
    shutil.rmtree(workdir, ignore_errors=True)  # kept (with worker.log) only on failure
    result |= {
        "publish_events_per_s": round(args.events / publish_s, 1),
        "exact": True,
        "cpus": os.cpu_count() or 0,
        "python": platform.python_version(),
    }
    out = ROOT / ".bench"
    out.mkdir(exist_ok=True)
    (out / "spend_worker.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
