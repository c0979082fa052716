"""Rate limits and budgets shared through a real Redis by two replicas, and Redis failing.

Two `LimitsGateway`s over one Redis are two replicas: their own memory, their own
policy store, one set of counters. Redis failing is a dead port, and a TCP proxy in
front of the real Redis that is cut mid-run and brought back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest
from tests.support.fake_upstream import FakeUpstream
from tests.support.limits_gateway import (
    MASTER,
    LimitsGateway,
    Refused,
    away_from_window_edge,
    key_hash,
)
from tianji_common.policy import KeyPolicy, PolicySnapshot

from tianji_gateway.pipeline import Complete, Streaming

pytestmark = pytest.mark.redis

ONE = Decimal("0.025")  # one answer of the fake on `priced` (see test_limits_memory)
RESERVE = Decimal("0.023")  # 9 prompt tokens (estimated) + max_tokens 7


@pytest.fixture(scope="module")
def redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("no Redis: set REDIS_URL")
    return url


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


def config(upstream: FakeUpstream) -> str:
    priced = "input_cost_per_token: 0.001, output_cost_per_token: 0.002"
    return f"""
model_list:
  - model_name: priced
    litellm_params: {{model: openai/m-ok, api_base: "{upstream.base}/v1", api_key: k, {priced}}}
"""


def fresh_key() -> tuple[str, str]:
    """A key no earlier run has counters for."""
    key = f"sk-limits-{secrets.token_hex(12)}"
    return key, key_hash(key)


def replica(upstream: FakeUpstream, url: str, *policies: KeyPolicy) -> LimitsGateway:
    snapshot = PolicySnapshot(version=1, keys={p.token: p for p in policies})
    return LimitsGateway(config(upstream), snapshot, env={"REDIS_URL": url})


async def outcome(gw: LimitsGateway, key: str, **kw: object) -> int:
    try:
        result = await gw.chat(key, **kw)  # type: ignore[arg-type]  # test helper passthrough
    except Refused as err:
        return err.status
    assert isinstance(result, Complete)
    return result.status


async def test_rpm_holds_across_two_replicas(upstream: FakeUpstream, redis_url: str) -> None:
    away_from_window_edge()
    key, token = fresh_key()
    policy = KeyPolicy(token=token, rpm_limit=3)
    async with (
        replica(upstream, redis_url, policy) as a,
        replica(upstream, redis_url, policy) as b,
    ):
        statuses = [await outcome(gw, key) for gw in (a, b, a, b, a)]
        assert statuses == [200, 200, 200, 429, 429]


async def test_parallel_slots_are_shared_and_come_back(
    upstream: FakeUpstream, redis_url: str
) -> None:
    key, token = fresh_key()
    policy = KeyPolicy(token=token, max_parallel_requests=1)
    async with (
        replica(upstream, redis_url, policy) as a,
        replica(upstream, redis_url, policy) as b,
    ):
        stream = await a.chat(key, stream=True)
        assert isinstance(stream, Streaming)
        assert await outcome(b, key) == 429
        [_ async for _ in stream.body]
        # Releases are queued, not awaited (no round trip added to an answer): another
        # replica sees this one within a round trip.
        await asyncio.sleep(0.05)
        assert await outcome(b, key) == 200
        assert await outcome(a, key) == 200


async def test_budget_across_two_replicas_overshoots_at_most_in_flight(
    upstream: FakeUpstream, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    key, token = fresh_key()
    budget = Decimal("0.3")
    policy = KeyPolicy(token=token, max_budget=float(budget))
    async with (
        replica(upstream, redis_url, policy) as a,
        replica(upstream, redis_url, policy) as b,
    ):
        for gw in (a, b):  # warm: lazy imports and the upstream pool, not limits
            assert await outcome(gw, MASTER) == 200
        calls = [outcome(gw, key, max_tokens=7) for gw in (a, b) for _ in range(25)]
        statuses = await asyncio.gather(*calls)
    # Shared, not per replica: Redis answered every request (no local fallback).
    assert not [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
    admitted = statuses.count(200)
    assert set(statuses) <= {200, 429}
    spent = admitted * ONE
    assert spent <= budget + admitted * (ONE - RESERVE)
    assert admitted >= int(budget / ONE) - 1


async def test_dead_redis_falls_back_fast_and_warns_once(
    upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    key, token = fresh_key()
    caplog.set_level(logging.WARNING, logger="tianji.gateway.limits")
    async with replica(
        upstream, "redis://127.0.0.1:1/0", KeyPolicy(token=token, rpm_limit=5)
    ) as gw:
        took = []
        for _ in range(5):
            t0 = time.perf_counter()
            assert await outcome(gw, key) == 200
            took.append(time.perf_counter() - t0)
        assert await outcome(gw, key) == 429  # the local counters still limit
    assert max(took) < 0.5
    warnings = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert len(warnings) == 1


class Proxy:
    """A TCP proxy to Redis that can be cut (connections closed, port refused) and restored."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.bytes_up = 0  # client -> Redis
        self.drop_replies = False  # Redis runs the commands, the client never hears back

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    if dst is up_writer:
                        self.bytes_up += len(data)
                    elif self.drop_replies:
                        continue
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for w in self._writers:
            w.close()
        self._writers.clear()
        await self._server.wait_closed()


@pytest.fixture
async def proxy(redis_url: str) -> AsyncIterator[Proxy]:
    from redis.asyncio.connection import parse_url

    parsed = parse_url(redis_url)
    p = Proxy(str(parsed.get("host", "127.0.0.1")), int(parsed.get("port", 6379)))
    await p.start()
    yield p
    await p.cut()


async def test_redis_cut_mid_run_then_back(
    upstream: FakeUpstream, proxy: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    key, token = fresh_key()
    caplog.set_level(logging.INFO, logger="tianji.gateway.limits")
    url = f"redis://127.0.0.1:{proxy.port}/0"
    async with replica(upstream, url, KeyPolicy(token=token, rpm_limit=1000)) as gw:
        for _ in range(3):
            assert await outcome(gw, key) == 200
        await proxy.cut()
        took = []
        for _ in range(10):
            t0 = time.perf_counter()
            assert await outcome(gw, key) == 200
            took.append(time.perf_counter() - t0)
        assert max(took) < 0.5  # bounded: never hangs on the dead connection
        await proxy.start()  # the same port answers again
        await asyncio.sleep(2.1)  # the retry delay
        for _ in range(3):
            assert await outcome(gw, key) == 200
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Redis unavailable" in m for m in messages) == 1
    assert any("Redis answers again" in m for m in messages)


async def test_no_limit_means_no_redis_traffic(upstream: FakeUpstream, proxy: Proxy) -> None:
    free_key, free_token = fresh_key()
    limited_key, limited_token = fresh_key()
    url = f"redis://127.0.0.1:{proxy.port}/0"
    policies = (KeyPolicy(token=free_token), KeyPolicy(token=limited_token, rpm_limit=100))
    async with replica(upstream, url, *policies) as gw:
        before = proxy.bytes_up
        for _ in range(5):
            assert await outcome(gw, free_key) == 200
            assert await outcome(gw, MASTER) == 200
        assert proxy.bytes_up == before  # the fast path: not one Redis command
        assert await outcome(gw, limited_key) == 200
        assert proxy.bytes_up > before


async def test_an_acquire_whose_reply_is_lost_is_given_back(
    upstream: FakeUpstream, proxy: Proxy, redis_url: str
) -> None:
    key, token = fresh_key()
    policy = KeyPolicy(token=token, max_parallel_requests=1)
    via_proxy = f"redis://127.0.0.1:{proxy.port}/0"
    async with replica(upstream, via_proxy, policy) as a, replica(upstream, redis_url, policy) as b:
        proxy.drop_replies = True
        # Redis takes the slot, the reply never comes: `a` serves from memory.
        assert await outcome(a, key) == 200
        assert await outcome(b, key) == 429  # the slot is held in Redis
        proxy.drop_replies = False
        await proxy.cut()  # the stuck connection goes; the port answers again
        await proxy.start()
        await asyncio.sleep(2.1)  # `a` retries Redis after this
        assert await outcome(a, key) == 200  # Redis answers: the lost acquire is given back
        await asyncio.sleep(0.05)
        assert await outcome(b, key) == 200
