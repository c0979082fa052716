"""Counters in Redis (shared by replicas), and the wrapper that survives Redis failing.

Why Lua: `acquire` must read every counter of a request, decide, and take them all in
one atomic step across replicas; a script runs atomically on the server in one round
trip (LiteLLM's v3 limiter does the same with `BATCH_RATE_LIMITER_SCRIPT`). All keys
of one script share no hash tag, so this targets a single Redis (or a primary), not
Redis Cluster.

Why `ResilientCounters`: a limiter must never hang a request. Every Redis network
operation (connect, send, read) is bounded by the client's socket timeouts (50 ms by
default, `TIANJI_REDIS_TIMEOUT_MS`, never more); on failure the request is served by
local in-memory counters, ONE warning is logged for the outage, and Redis is retried
after `retry_after` seconds (one probing request pays at most one timeout). A second,
outer `deadline` (4x the timeout) is only a safety net: it also counts time the event
loop spent on other requests, so under a burst it must not be what trips first
(measured: 50 concurrent requests on one loop wait ~100 ms for their turn, with Redis
answering in 2 ms). Releases of what was taken in Redis go back to Redis; if that
fails, the counters' TTLs heal them. A reply lost mid-command (the socket timed out
after Redis ran the script) is not a leak either: each acquire leaves a marker key
when it takes, and once Redis answers again the lost acquires are given back where
their marker shows they ran (`_GIVE_BACK`, once).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from asyncio import Future
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from tianji_gateway.limits.counters import Check, Delta, MemoryCounters, Outcome

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

_Orphan = Callable[[Any], None]
_Queued = tuple["AsyncScript", list[str], list[Any], _Orphan | None, Future[Any]]
_Lost = Callable[[], None]

__all__ = ["RedisCounters", "ResilientCounters", "redis_client"]

log = logging.getLogger("tianji.gateway.limits")

_T = TypeVar("_T")
_json = msgspec.json.Encoder()
_WARN_EVERY = 60.0  # an outage that flaps is still one warning a minute at most
_START_TIMEOUT = 2.0

# ARGV[1]: JSON list of checks, each [kind, limit, amount, base, ttl, flags] (flags: 1
# required, 2 take). One JSON argument, not 6 per check: redis-py's command packing
# is pure Python and was the largest cost per request. KEYS: per check its key, then
# (budget) its settled key, and last this request's marker (set when admitted, for
# `_GIVE_BACK`). Returns {failed (0: admitted, else 1-based index),
# over_1..over_n, value_1..value_n}.
_ACQUIRE = """
local checks = cjson.decode(ARGV[1])
local n = #checks
local over, vals, ks = {}, {}, {}
local failed, ki = 0, 1
for i = 1, n do
  local c = checks[i]
  local kind, limit, amount = c[1], c[2], c[3]
  local k = KEYS[ki]
  ki = ki + 1
  ks[i] = k
  local v = tonumber(redis.call('GET', k) or '0')
  local is_over
  if kind == 'budget' then
    v = v + c[4] + tonumber(redis.call('GET', KEYS[ki]) or '0')
    ki = ki + 1
    is_over = v >= limit or v + amount > limit
  elseif kind == 'level' then
    is_over = v >= limit
  else
    is_over = v + amount > limit
  end
  vals[i] = v
  over[i] = is_over and 1 or 0
  if is_over and c[6] % 2 == 1 and failed == 0 then failed = i end
end
if failed == 0 then
  for i = 1, n do
    local c = checks[i]
    if c[6] == 3 and c[3] ~= 0 then
      redis.call('INCRBY', ks[i], c[3])
      if c[5] > 0 then redis.call('EXPIRE', ks[i], c[5]) end
      vals[i] = vals[i] + c[3]
    end
  end
  redis.call('SET', KEYS[#KEYS], 1, 'EX', 900)
end
local out = {failed}
for i = 1, n do out[#out + 1] = over[i] end
for i = 1, n do out[#out + 1] = vals[i] end
return out
"""

# KEYS: one per delta. ARGV[1]: JSON list of [amount, ttl]. Never leaves a counter below 0.
_APPLY = """
local deltas = cjson.decode(ARGV[1])
for i = 1, #KEYS do
  local v = redis.call('INCRBY', KEYS[i], deltas[i][1])
  if v < 0 then redis.call('SET', KEYS[i], 0, 'KEEPTTL') end
  if deltas[i][2] > 0 then redis.call('EXPIRE', KEYS[i], deltas[i][2]) end
end
return 1
"""

# KEYS[1]: a request's marker, then one per delta. ARGV[1]: JSON list of [amount, ttl].
# Gives back what an acquire took only if it ran (its marker exists), and only once.
_GIVE_BACK = """
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
local deltas = cjson.decode(ARGV[1])
for i = 2, #KEYS do
  local v = redis.call('INCRBY', KEYS[i], deltas[i - 1][1])
  if v < 0 then redis.call('SET', KEYS[i], 0, 'KEEPTTL') end
end
return 1
"""

# KEYS: settled, seen. ARGV: total, previous, reset (1/0).
_CONFIRM = """
local total, previous = tonumber(ARGV[1]), tonumber(ARGV[2])
if ARGV[3] == '1' then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], total)
  return 1
end
local seen = tonumber(redis.call('GET', KEYS[2]) or previous)
if total > seen then
  local v = redis.call('DECRBY', KEYS[1], total - seen)
  if v < 0 then redis.call('SET', KEYS[1], 0) end
end
redis.call('SET', KEYS[2], total)
return 1
"""


def redis_client(url: str, *, timeout: float) -> Redis:
    """An asyncio client whose every socket operation is bounded, with no retries."""
    from redis.asyncio import Redis

    client: Redis = Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry_on_timeout=False,
        retry_on_error=[],
        health_check_interval=0,
    )
    return client


def _flags(c: Check) -> int:
    return (1 if c.required else 0) + (2 if c.take else 0)


class _Batcher:
    """Concurrent script calls coalesced into one pipeline at a time, on one connection.

    Why: a burst of N requests would otherwise open N connections at once (each a
    connect and a script load against the 50 ms bound); batched, a burst costs one
    round trip per pipeline and one pooled connection. A call whose caller gave up
    (timed out) still runs; `orphan` then gets its result, so an acquire applied after
    its caller fell back to memory is given back (no reservation is left behind).
    """

    def __init__(self, client: Redis) -> None:
        self._client = client
        self._queue: list[_Queued] = []
        self._task: asyncio.Task[None] | None = None
        self._lost: dict[int, _Lost] = {}  # by id of the future: run if its batch failed

    def call(
        self,
        script: AsyncScript,
        keys: list[str],
        args: list[Any],
        orphan: _Orphan | None = None,
        lost: _Lost | None = None,
    ) -> Future[Any]:
        loop = asyncio.get_running_loop()
        fut: Future[Any] = loop.create_future()
        self._queue.append((script, keys, args, orphan, fut))
        if lost is not None:
            self._lost[id(fut)] = lost
        if self._task is None:
            self._task = loop.create_task(self._flush(), name="limits-redis")
        return fut

    async def wait(self, timeout: float) -> None:
        """Wait (bounded) until nothing is queued or in flight."""
        task = self._task
        if task is not None:
            await asyncio.wait([task], timeout=timeout)

    async def _flush(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    results = await self._execute(batch)
                except Exception as exc:  # noqa: BLE001 - every caller gets the failure
                    for *_, fut in batch:
                        lost = self._lost.pop(id(fut), None)
                        if lost is not None:  # it may have run: Redis's reply is gone
                            lost()
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (*_, orphan, fut), res in zip(batch, results, strict=True):
                    self._lost.pop(id(fut), None)
                    if fut.done():  # the caller gave up: the command ran anyway
                        if orphan is not None and not isinstance(res, Exception):
                            orphan(res)
                    elif isinstance(res, Exception):
                        fut.set_exception(res)
                    else:
                        fut.set_result(res)
        finally:
            self._task = None

    async def _execute(self, batch: list[_Queued]) -> list[Any]:
        """EVALSHA each call in one pipeline; on NOSCRIPT (Redis restarted) load and redo.

        Not `script(client=pipe)`: redis-py then sends SCRIPT EXISTS before every
        pipeline, a second round trip per batch.
        """
        from redis.exceptions import NoScriptError  # lazily: redis is optional without Redis

        results = await self._pipeline(batch)
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:  # only those did not run: redo them alone, never a call twice
            for script in {id(batch[i][0]): batch[i][0] for i in missing}.values():
                script.sha = await self._client.script_load(script.script)
            redone = await self._pipeline([batch[i] for i in missing])
            for i, r in zip(missing, redone, strict=True):
                results[i] = r
        return results

    async def _pipeline(self, batch: list[_Queued]) -> list[Any]:
        async with self._client.pipeline(transaction=False) as pipe:
            for script, keys, args, _, _ in batch:
                # Queued on the pipeline (redis-py types it as an awaitable; it is not).
                _ = pipe.evalsha(script.sha, len(keys), *keys, *args)
            results: list[Any] = await pipe.execute(raise_on_error=False)
            return results


class RedisCounters:
    """`Counters` on one Redis; any failure raises (the wrapper decides what to do)."""

    def __init__(self, client: Redis) -> None:
        self._client = client
        self._batch = _Batcher(client)
        self._acquire = client.register_script(_ACQUIRE)
        self._apply = client.register_script(_APPLY)
        self._confirm = client.register_script(_CONFIRM)
        self._give_back = client.register_script(_GIVE_BACK)
        self._markers = f"tianji:tk:{secrets.token_hex(6)}:"
        self._serial = itertools.count()
        # Acquires whose reply was lost: given back (if they ran) once Redis answers.
        self.lost: list[tuple[str, list[Delta]]] = []

    def give_back_lost(self) -> None:
        """Undo, where they ran, the acquires whose replies were lost (Redis is back)."""
        lost, self.lost = self.lost, []
        for marker, taken in lost:
            keys = [marker, *(d.key for d in taken)]
            args = [_json.encode([(d.amount, 0) for d in taken])]

            def again(entry: tuple[str, list[Delta]] = (marker, taken)) -> None:
                self.lost.append(entry)  # Redis failed again: next time

            self._batch.call(self._give_back, keys, args, lost=again).add_done_callback(_consume)

    async def acquire(self, checks: list[Check]) -> Outcome:
        """See `Counters.acquire`."""
        keys: list[str] = []
        rows: list[tuple[str, int, int, int, int, int]] = []
        for c in checks:
            keys.append(c.key)
            if c.kind == "budget":
                keys.append(c.settled_key)
            rows.append((c.kind, c.limit, c.amount, c.base, c.ttl, _flags(c)))
        marker = f"{self._markers}{next(self._serial)}"
        keys.append(marker)
        args = [_json.encode(rows)]

        def taken() -> list[Delta]:
            return [Delta(c.key, -c.amount) for c in checks if c.required and c.take]

        def give_back(raw: Any) -> None:
            if int(raw[0]) == 0:  # admitted after its caller had gone local
                self._call_apply(taken()).add_done_callback(_consume)

        def lost() -> None:
            self.lost.append((marker, taken()))

        raw = await self._batch.call(self._acquire, keys, args, give_back, lost)
        n = len(checks)
        return Outcome(
            int(raw[0]) - 1,
            [bool(int(x)) for x in raw[1 : n + 1]],
            [int(x) for x in raw[n + 1 : 2 * n + 1]],
        )

    def submit_apply(self, deltas: list[Delta]) -> Future[Any]:
        """Queue an apply into the next pipeline; the future resolves when it ran."""
        return self._call_apply(deltas)

    def _call_apply(self, deltas: list[Delta]) -> Future[Any]:
        args = [_json.encode([(d.amount, d.ttl) for d in deltas])]
        return self._batch.call(self._apply, [d.key for d in deltas], args)

    async def apply(self, deltas: list[Delta]) -> None:
        """See `Counters.apply`."""
        if deltas:
            await self._call_apply(deltas)

    async def confirm(
        self, settled_key: str, seen_key: str, total: int, previous: int, reset: bool
    ) -> None:
        """See `Counters.confirm`."""
        await self._batch.call(
            self._confirm, [settled_key, seen_key], [total, previous, 1 if reset else 0]
        )

    async def ping(self) -> None:
        """Open a connection and load the scripts (startup: the first request pays nothing)."""
        await self._client.script_load(_ACQUIRE)
        await self._client.script_load(_APPLY)
        await self._client.script_load(_CONFIRM)
        await self._client.script_load(_GIVE_BACK)

    async def get(self, key: str) -> int:
        """See `Counters.get`."""
        value = await self._client.get(key)
        return int(value) if value is not None else 0

    async def close(self) -> None:
        """Let queued calls (releases) go out, bounded, then close the connection pool."""
        await self._batch.wait(1.0)
        await self._client.aclose()


def _consume(fut: Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()  # retrieved: a failed give-back is healed by the key's TTL


class ResilientCounters:
    """Redis first, bounded; local memory while Redis fails (logged once) or without Redis."""

    def __init__(
        self,
        remote: RedisCounters | None,
        local: MemoryCounters | None = None,
        *,
        deadline: float = 0.2,
        retry_after: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.remote = remote
        self.local = local or MemoryCounters()
        self._deadline = deadline
        self._retry_after = retry_after
        self._clock = clock
        self._down_until = 0.0
        self._warned_at = -1e9
        self.down = False

    def _available(self) -> bool:
        return self.remote is not None and (not self.down or self._clock() >= self._down_until)

    def _failed(self, exc: BaseException) -> None:
        self._down_until = self._clock() + self._retry_after
        if not self.down:
            self.down = True
            if self._clock() - self._warned_at < _WARN_EVERY:  # flapping: one warning
                log.debug("Redis unavailable again (%r)", exc)
                return
            self._warned_at = self._clock()
            log.warning(
                "Redis unavailable for rate limits and budgets (%r): using this replica's "
                "in-memory counters until it answers again",
                exc,
            )

    def _recovered(self) -> None:
        if self.remote is not None and self.remote.lost:
            self.remote.give_back_lost()
        if self.down:
            self.down = False
            log.info("Redis answers again: rate limits and budgets are shared again")

    async def _remote(self, call: Callable[[], Awaitable[_T]]) -> tuple[bool, _T | None]:
        if not self._available():
            return False, None
        if self.down and self.remote is not None and self.remote.lost:
            self.remote.give_back_lost()  # queued first: the probing call then sees it
        try:
            async with asyncio.timeout(self._deadline):
                result = await call()
        except Exception as exc:  # noqa: BLE001 - any Redis failure: fall back, never fail the request
            self._failed(exc)
            return False, None
        self._recovered()
        return True, result

    async def start(self) -> None:
        """Connect and load the scripts before the first request (bounded, never fails)."""
        remote = self.remote
        if remote is None:
            return
        try:
            async with asyncio.timeout(_START_TIMEOUT):
                await remote.ping()
        except Exception as exc:  # noqa: BLE001 - start degraded; requests retry Redis later
            self._failed(exc)

    async def acquire(self, checks: list[Check]) -> tuple[Outcome, bool]:
        """The outcome, and whether Redis (True) or local memory (False) holds what was taken."""
        remote = self.remote
        if remote is None:
            return self.local.acquire_now(checks), False
        ok, outcome = await self._remote(lambda: remote.acquire(checks))
        if ok and outcome is not None:
            return outcome, True
        return self.local.acquire_now(checks), False

    def apply_nowait(self, deltas: list[Delta], *, remote: bool) -> Future[Any] | None:
        """Queue `deltas` without waiting (releases never delay an answer).

        Local: applied at once. Redis: queued into the next pipeline, in order, so a
        later acquire from this process always sees it; a failure marks Redis down and
        the counters' TTLs heal what was not given back. The future, for `drain`.
        """
        target = self.remote
        if not remote or target is None:
            self.local.apply_now(deltas)
            return None
        if not self._available():
            return None
        fut = target.submit_apply(deltas)
        fut.add_done_callback(self._settled)
        return fut

    def _settled(self, fut: Future[Any]) -> None:
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:
            self._failed(exc)

    async def confirm(
        self, settled_key: str, seen_key: str, total: int, previous: int, reset: bool
    ) -> None:
        """Confirm in both: Redis for replicas, memory for what was settled locally."""
        await self.local.confirm(settled_key, seen_key, total, previous, reset)
        target = self.remote
        if target is not None:
            await self._remote(
                lambda: target.confirm(settled_key, seen_key, total, previous, reset)
            )

    async def close(self) -> None:
        """Close the Redis client."""
        if self.remote is not None:
            await self.remote.close()
