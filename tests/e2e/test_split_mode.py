"""Split deployment as production runs it: migrate, gateway on NATS, spend-worker on Postgres.

The same code as `tianji up`, with the other adapters: JetStream instead of the
in-process bus, Postgres instead of SQLite. Skips (with the reason) when Postgres or
NATS is not available; CI exports both, and fails any skip.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import openai
import pytest
from tianji_common.db.testing import postgres_server, temporary_database

from tests.e2e.conftest import MASTER_KEY, e2e_config
from tests.support.fake_upstream import FakeUpstream
from tests.support.proc import TianjiProcess, start_tianji, tianji_bin

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with postgres_server() as url:
        if url is None:
            pytest.skip("no Postgres: set DATABASE_URL (or run a Docker engine)")
        yield url


@pytest.fixture(scope="module")
def nats_url() -> str:
    url = os.environ.get("NATS_URL")
    if not url:
        pytest.skip("no NATS: set NATS_URL to a JetStream-enabled server")
    return url


@pytest.fixture(scope="module")
async def db_url(server_url: str) -> AsyncIterator[str]:
    async with temporary_database(server_url, prefix="tianji_split") as url:
        yield url


def _run_migrate(db_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": db_url}
    out = subprocess.run(
        [tianji_bin(), "migrate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    # Safe to re-run (a Helm pre-upgrade Job runs it on every release).
    again = subprocess.run(
        [tianji_bin(), "migrate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr


async def _spend_rows(db_url: str, ids: list[str]) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(db_url)
    try:
        return await conn.fetch(
            "SELECT request_id, status, total_tokens FROM tianji_spend_log "
            "WHERE request_id = ANY($1::text[])",
            ids,
        )
    finally:
        await conn.close()


async def test_split_services_account_every_request_once(
    db_url: str, nats_url: str, upstream: FakeUpstream, tmp_path: Path
) -> None:
    await asyncio.to_thread(_run_migrate, db_url)
    worker_log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [tianji_bin(), "spend-worker"],
        env={
            **os.environ,
            "DATABASE_URL": db_url,
            "NATS_URL": nats_url,
            "TIANJI_SPOOL_DIR": str(tmp_path / "worker-spool"),
        },
        stdout=worker_log,
        stderr=subprocess.STDOUT,
    )
    gateway: TianjiProcess | None = None
    control: TianjiProcess | None = None
    try:
        gateway = await asyncio.to_thread(
            start_tianji,
            ["gateway"],
            config_text=e2e_config(upstream),
            env={"NATS_URL": nats_url, "TIANJI_SPOOL_DIR": str(tmp_path / "gw-spool")},
        )
        control = await asyncio.to_thread(
            start_tianji,
            ["control-plane"],
            env={"DATABASE_URL": db_url, "TIANJI_MASTER_KEY": MASTER_KEY},
        )
        ids = await asyncio.to_thread(_traffic, gateway)
        deadline = time.monotonic() + 20
        rows: list[asyncpg.Record] = []
        while time.monotonic() < deadline:
            rows = await _spend_rows(db_url, ids)
            if len(rows) >= len(ids):
                break
            await asyncio.sleep(0.2)
        assert sorted(r["request_id"] for r in rows) == sorted(ids)  # each exactly once
        assert sorted(r["total_tokens"] for r in rows) == [15, 18, 18]
        # The control plane is up on the same database; unbuilt management routes say so.
        r = httpx.post(
            f"{control.base}/tag/new",
            json={},
            headers={"authorization": f"Bearer {MASTER_KEY}"},
        )
        assert r.status_code == 501
        assert "Management: tags" in r.json()["error"]["message"]
    finally:
        for proc in (gateway, control):
            if proc is not None:
                assert proc.stop() == 0, proc.logs()
        worker.terminate()
        assert worker.wait(30) == 0, (tmp_path / "worker.log").read_text()


def _traffic(gateway: TianjiProcess) -> list[str]:
    c = openai.OpenAI(base_url=f"{gateway.base}/v1", api_key=MASTER_KEY, max_retries=0)
    ids = []
    for _ in range(2):
        raw = c.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        ids.append(raw.headers["x-litellm-call-id"])
    with c.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
    ) as s:
        ids.append(s.headers["x-litellm-call-id"])
        for _ in s.iter_lines():
            pass
    return ids


def test_control_plane_without_a_master_key_refuses_to_start(tmp_path: Path) -> None:
    """Deny by default: no master key would leave every management route open."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TIANJI_MASTER_KEY", "LITELLM_MASTER_KEY", "NATS_URL")
    }
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'never.db'}"
    out = subprocess.run(
        [tianji_bin(), "control-plane", "--host", "127.0.0.1", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode != 0
    assert "no master key is set" in out.stderr
