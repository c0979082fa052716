"""Split mode: one control plane, two gateway replicas over NATS, one Postgres.

A key created, then blocked, through the management API is accepted, then refused, by
both replicas; the refusal reaches both within one second (issue 3).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from tianji_common.db.testing import postgres_server, temporary_database

from tests.e2e.conftest import MASTER_KEY, e2e_config
from tests.e2e.test_virtual_keys import chat_status, generate_key, set_blocked, within
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
    async with temporary_database(server_url, prefix="tianji_vkeys") as url:
        env = {**os.environ, "DATABASE_URL": url}
        out = await asyncio.to_thread(
            subprocess.run,
            [tianji_bin(), "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        yield url


def _start_all(
    db_url: str, nats_url: str, upstream: FakeUpstream, tmp: Path, started: list[TianjiProcess]
) -> tuple[TianjiProcess, list[TianjiProcess]]:
    control = start_tianji(
        ["control-plane"],
        env={
            "DATABASE_URL": db_url,
            "NATS_URL": nats_url,
            "TIANJI_MASTER_KEY": MASTER_KEY,
            "TIANJI_SPOOL_DIR": str(tmp / "cp-spool"),
        },
    )
    started.append(control)
    gateways = []
    for n in range(2):
        gateway = start_tianji(
            ["gateway"],
            config_text=e2e_config(upstream),
            env={
                "NATS_URL": nats_url,
                "TIANJI_SPOOL_DIR": str(tmp / f"gw{n}-spool"),
                "TIANJI_CONTROL_PLANE_URL": control.base,
            },
        )
        started.append(gateway)
        gateways.append(gateway)
    return control, gateways


async def test_block_reaches_both_replicas_within_a_second(
    db_url: str, nats_url: str, upstream: FakeUpstream, tmp_path: Path
) -> None:
    started: list[TianjiProcess] = []
    try:
        control, gateways = await asyncio.to_thread(
            _start_all, db_url, nats_url, upstream, tmp_path, started
        )
        await asyncio.to_thread(_scenario, control, gateways)
    finally:
        for proc in reversed(started):
            assert proc.stop() == 0, proc.logs()


def _scenario(control: TianjiProcess, gateways: list[TianjiProcess]) -> None:
    key = generate_key(control.base, models=["gpt-4o-mini"])
    for gateway in gateways:
        within(1.0, lambda g=gateway: chat_status(g.base, key) == 200)  # type: ignore[misc]
        assert chat_status(gateway.base, key, model="claude") == 403

    set_blocked(control.base, key, blocked=True)
    for gateway in gateways:
        took = within(1.0, lambda g=gateway: chat_status(g.base, key) == 401)  # type: ignore[misc]
        assert took < 1.0

    set_blocked(control.base, key, blocked=False)
    for gateway in gateways:
        within(1.0, lambda g=gateway: chat_status(g.base, key) == 200)  # type: ignore[misc]
