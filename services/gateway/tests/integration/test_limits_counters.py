"""The `Counters` contract, one suite for both backends: memory and a real Redis."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import pytest

from tianji_gateway.limits.counters import Check, Counters, Delta, MemoryCounters
from tianji_gateway.limits.redis_counters import RedisCounters, redis_client


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[Counters]:
    if request.param == "memory":
        yield MemoryCounters()
        return
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("no Redis: set REDIS_URL")
    # Semantics here, not failure handling: a loaded CI box may exceed 50 ms.
    backend = RedisCounters(redis_client(url, timeout=0.5))
    await backend.ping()
    yield backend
    await backend.close()


@pytest.fixture
def ns() -> str:
    """A key prefix no other run shares."""
    return f"tianji:test:{secrets.token_hex(6)}:"


async def test_count_takes_until_the_limit(counters: Counters, ns: str) -> None:
    check = [Check("count", ns + "rpm", 2, 1, 60)]
    first, second, third = [await counters.acquire(check) for _ in range(3)]
    assert (first.ok, first.values) == (True, [1])
    assert (second.ok, second.values) == (True, [2])
    assert (third.ok, third.failed, third.values) == (False, 0, [2])
    assert await counters.get(ns + "rpm") == 2


async def test_a_refusal_takes_nothing_from_the_others(counters: Counters, ns: str) -> None:
    await counters.apply([Delta(ns + "tpm", 50, 60)])
    checks = [
        Check("count", ns + "rpm", 10, 1, 60),
        Check("level", ns + "tpm", 50),
        Check("count", ns + "par", 5, 1, 60),
    ]
    out = await counters.acquire(checks)
    assert (out.ok, out.failed, out.over) == (False, 1, [False, True, False])
    assert await counters.get(ns + "rpm") == 0
    assert await counters.get(ns + "par") == 0


async def test_reports_without_taking_for_optional_checks(counters: Counters, ns: str) -> None:
    await counters.apply([Delta(ns + "dep", 3, 60)])
    checks = [
        Check("count", ns + "dep", 3, 1, 60, required=False, take=False),
        Check("count", ns + "rpm", 10, 1, 60),
    ]
    out = await counters.acquire(checks)
    assert out.ok
    assert out.over == [True, False]
    assert await counters.get(ns + "dep") == 3


async def test_budget_sums_base_settled_and_reserved(counters: Counters, ns: str) -> None:
    budget = Check("budget", ns + "res", 90, 30, 60, base=40, settled_key=ns + "set")
    assert (await counters.acquire([budget])).values == [70]  # 40 + 0 + 0, then +30
    assert not (await counters.acquire([budget])).ok  # 40 + 30 + 30 > 90
    await counters.apply([Delta(ns + "res", -30), Delta(ns + "set", 15, 60)])
    out = await counters.acquire([budget])  # 40 + 15 + 0 + 30 <= 90
    assert (out.ok, out.values) == (True, [85])
    at_limit = Check("budget", ns + "res2", 40, 0, 60, base=40, settled_key=ns + "set2")
    assert not (await counters.acquire([at_limit])).ok  # spend >= budget: LiteLLM's rule


async def test_apply_never_goes_below_zero(counters: Counters, ns: str) -> None:
    await counters.apply([Delta(ns + "par", 1, 60)])
    await counters.apply([Delta(ns + "par", -1), Delta(ns + "par", -1)])
    assert await counters.get(ns + "par") == 0
    await counters.apply([Delta(ns + "par", 1, 60)])
    assert await counters.get(ns + "par") == 1


async def test_confirm_drops_covered_spend_once(counters: Counters, ns: str) -> None:
    settled, seen = ns + "set", ns + "seen"
    await counters.apply([Delta(settled, 30, 60)])
    # Two replicas apply the same confirmed total: the rise (10 -> 35) is dropped once.
    await counters.confirm(settled, seen, 35, 10, False)
    await counters.confirm(settled, seen, 35, 10, False)
    assert await counters.get(settled) == 5
    await counters.confirm(settled, seen, 100, 35, False)  # more than settled: clamped
    assert await counters.get(settled) == 0
    await counters.apply([Delta(settled, 7, 60)])
    await counters.confirm(settled, seen, 0, 100, True)  # a budget reset
    assert await counters.get(settled) == 0
