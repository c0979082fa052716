"""Limit counters: one atomic check-and-take per request, in Redis or in memory.

Why one operation for every check of a request: a request is admitted only if *all*
its limits (key, user, team, end user, deployments, budgets) have room, and taking
the room must be atomic across replicas, or two replicas both see "one left" and
both take it. In Redis that is one Lua script (one round trip); in memory it is one
synchronous function (no await between reading and writing).

Kinds of check (see `Check`):

* `count` (rpm, max_parallel): over if `value + amount > limit`; takes `amount`.
* `level` (tpm): over if `value >= limit`; tokens are added after the response.
* `budget`: over if `base + settled + reserved` reached `limit` (LiteLLM's
  `spend >= max_budget`) or would pass it with `amount`; reserves `amount`.
  `base` is the confirmed spend (from the policy snapshot and `SpendUpdated`),
  `settled` the spend settled since but not yet confirmed, both in nano-USD.

Money is held as integer nano-USD: Redis `INCRBY` is exact, `INCRBYFLOAT` is not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = [
    "Check",
    "Counters",
    "Delta",
    "MemoryCounters",
    "Outcome",
]

Kind = Literal["count", "level", "budget"]


@dataclass(frozen=True, slots=True)
class Check:
    """One limit to test (and, if `take`, to take from) in an `acquire`."""

    kind: Kind
    key: str
    limit: int
    amount: int = 0
    ttl: int = 120
    base: int = 0
    settled_key: str = ""  # budget: the settled-but-unconfirmed counter
    required: bool = True  # False: only report (deployment picks), never refuse or take
    take: bool = True


@dataclass(frozen=True, slots=True)
class Delta:
    """Add `amount` to `key` (never below zero), refreshing its expiry when `ttl` > 0."""

    key: str
    amount: int
    ttl: int = 0


@dataclass(slots=True)
class Outcome:
    """What `acquire` saw: the first refusing check (-1: admitted) and each value."""

    failed: int
    over: list[bool] = field(default_factory=list)
    values: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every required check had room (and was taken)."""
        return self.failed < 0


class Counters(Protocol):
    """The backend seam: memory for one replica, Redis for several."""

    async def acquire(self, checks: list[Check]) -> Outcome:
        """Test every check; if all required ones pass, take them all, atomically."""
        ...

    async def apply(self, deltas: list[Delta]) -> None:
        """Add each delta (releases are negative), clamping at zero."""
        ...

    async def confirm(
        self, settled_key: str, seen_key: str, total: int, previous: int, reset: bool
    ) -> None:
        """Fold a confirmed spend total in: drop what it now covers from `settled_key`.

        `seen_key` remembers the last confirmed total per entity so every replica
        applying the same update drops the difference once (`previous` when unset).
        """
        ...

    async def get(self, key: str) -> int:
        """The current value (0 when absent or expired)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class MemoryCounters:
    """Counters in a dict, for one replica (and the fallback while Redis is down).

    Each entry is `[value, expires_at]`; expired entries read as zero and are swept
    every `sweep_every` writes so window keys do not pile up.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, sweep_every: int = 4096
    ) -> None:
        self._data: dict[str, list[float]] = {}
        self._clock = clock
        self._writes = 0
        self._sweep_every = sweep_every

    def _value(self, key: str, now: float) -> int:
        entry = self._data.get(key)
        if entry is None:
            return 0
        if entry[1] and entry[1] <= now:
            del self._data[key]
            return 0
        return int(entry[0])

    def _add(self, key: str, amount: int, ttl: int, now: float) -> int:
        value = max(self._value(key, now) + amount, 0)
        entry = self._data.get(key)
        expires = now + ttl if ttl > 0 else (entry[1] if entry is not None else 0.0)
        self._data[key] = [value, expires]
        self._writes += 1
        if self._writes >= self._sweep_every:
            self._sweep(now)
        return value

    def _sweep(self, now: float) -> None:
        self._writes = 0
        self._data = {k: e for k, e in self._data.items() if not e[1] or e[1] > now}

    def acquire_now(self, checks: list[Check]) -> Outcome:
        """The synchronous body of `acquire` (atomic: no await inside)."""
        now = self._clock()
        out = Outcome(-1, [False] * len(checks), [0] * len(checks))
        for i, c in enumerate(checks):
            value = self._value(c.key, now)
            if c.kind == "budget":
                value += c.base + self._value(c.settled_key, now)
                over = value >= c.limit or value + c.amount > c.limit
            elif c.kind == "level":
                over = value >= c.limit
            else:
                over = value + c.amount > c.limit
            out.values[i] = value
            out.over[i] = over
            if over and c.required and out.failed < 0:
                out.failed = i
        if out.failed < 0:
            for i, c in enumerate(checks):
                if c.required and c.take and c.amount:
                    self._add(c.key, c.amount, c.ttl, now)
                    out.values[i] += c.amount
        return out

    async def acquire(self, checks: list[Check]) -> Outcome:
        """See `Counters.acquire`."""
        return self.acquire_now(checks)

    def apply_now(self, deltas: list[Delta]) -> None:
        """The synchronous body of `apply`."""
        now = self._clock()
        for d in deltas:
            self._add(d.key, d.amount, d.ttl, now)

    async def apply(self, deltas: list[Delta]) -> None:
        """See `Counters.apply`."""
        self.apply_now(deltas)

    async def confirm(
        self, settled_key: str, seen_key: str, total: int, previous: int, reset: bool
    ) -> None:
        """See `Counters.confirm`."""
        now = self._clock()
        if reset:
            self._data.pop(settled_key, None)
            self._data[seen_key] = [total, 0.0]
            return
        seen_entry = self._data.get(seen_key)
        seen = int(seen_entry[0]) if seen_entry is not None else previous
        if total > seen:
            self._add(settled_key, -(total - seen), 0, now)
        self._data[seen_key] = [total, 0.0]

    async def get(self, key: str) -> int:
        """See `Counters.get`."""
        return self._value(key, self._clock())

    async def close(self) -> None:
        """Nothing to release."""
