"""Rate limits and budgets on the request path, shared by replicas through Redis.

What is limited (issue 4 items 4-5): `rpm_limit`, `tpm_limit` and
`max_parallel_requests` per key, user, team, org and end user (the customer's
budget), per key and model (`model_rpm_limit`/`model_tpm_limit`), and per deployment
(`litellm_params.rpm`/`tpm`: the router skips a full deployment, 429 when all are);
`max_budget` per key, user, team, org, end user, and per key and model
(`model_max_budget`). See `limiter` for the request flow and the overshoot bound,
`estimate` for the reservation, `counters`/`redis_counters` for the atomic
operations and the Redis failure mode, `spend` for where confirmed spend comes from.

Counters live in Redis when `REDIS_URL` is set (or LiteLLM's
`router_settings.redis_host`/`redis_port`/`redis_password`, or
`litellm_settings.cache_params` of type redis), else in this process's memory.
`TIANJI_LIMITS=off` removes the limiter from the request path (benchmarks only).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from tianji_common.events import decode_spend
from tianji_common.nats_names import SPEND_UPDATED_SUBJECT

from tianji_gateway.limits.counters import MemoryCounters
from tianji_gateway.limits.estimate import Estimator
from tianji_gateway.limits.limiter import LimitedPipeline, on_usage
from tianji_gateway.limits.plan import Planner, budget_key, snapshot_spend
from tianji_gateway.limits.redis_counters import RedisCounters, ResilientCounters, redis_client
from tianji_gateway.limits.routing import LimitedRouter
from tianji_gateway.limits.spend import Confirmation, SpendView

if TYPE_CHECKING:
    from tianji_common.config.model import ProxyConfig

    from tianji_gateway.pipeline import Pipeline
    from tianji_gateway.routing.router import Router

__all__ = ["LimitedRouter", "Limits", "LimitsSettings", "redis_url"]

log = logging.getLogger("tianji.gateway.limits")

_OFF = {"0", "false", "off", "no"}
_SNAPSHOT_EVERY = 1.0  # seconds between looks at reloaded snapshot spend


def _redis_from_params(params: Mapping[str, Any]) -> str | None:
    host = params.get("redis_host") or params.get("host")
    if not host:
        return None
    port = params.get("redis_port") or params.get("port") or 6379
    password = params.get("redis_password") or params.get("password")
    auth = f":{password}@" if password else ""
    return f"redis://{auth}{host}:{port}/0"


def redis_url(cfg: ProxyConfig, env: Mapping[str, str]) -> str | None:
    """`REDIS_URL`, else LiteLLM's router or cache Redis settings, else None (memory)."""
    url = env.get("REDIS_URL")
    if url:
        return url
    from_router = _redis_from_params(cfg.router_settings.extra)
    if from_router:
        return from_router
    cache = cfg.litellm_settings.extra.get("cache_params")
    if isinstance(cache, dict) and cache.get("type", "redis") == "redis":
        return _redis_from_params(cache)
    return None


@dataclass(frozen=True, slots=True)
class LimitsSettings:
    """Where the counters live and how long a Redis call may take."""

    redis_url: str | None = None
    timeout: float = 0.05
    retry_after: float = 2.0
    enabled: bool = True

    @classmethod
    def from_config(cls, cfg: ProxyConfig, env: Mapping[str, str]) -> LimitsSettings:
        """Read `REDIS_URL` & co, `TIANJI_LIMITS` and `TIANJI_REDIS_TIMEOUT_MS`."""
        timeout_ms = float(env.get("TIANJI_REDIS_TIMEOUT_MS", "50"))
        return cls(
            redis_url=redis_url(cfg, env),
            timeout=min(timeout_ms, 50.0) / 1000,
            enabled=env.get("TIANJI_LIMITS", "on").lower() not in _OFF,
        )


class Limits:
    """The limiter of one gateway process: counters, spend view, planner."""

    def __init__(
        self,
        settings: LimitsSettings,
        store: object | None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._store = store
        self._clock = clock
        remote = None
        if settings.redis_url:
            remote = RedisCounters(redis_client(settings.redis_url, timeout=settings.timeout))
        self.counters = ResilientCounters(
            remote,
            MemoryCounters(),
            deadline=4 * settings.timeout,
            retry_after=settings.retry_after,
        )
        self.spend = SpendView(snapshot_spend(store))
        self.estimator = Estimator()
        self._pipeline: LimitedPipeline | None = None
        self._watcher: asyncio.Task[None] | None = None

    @property
    def on_usage(self) -> Callable[..., None] | None:
        """The `UsagePublisher` hook that gives each request its actual cost."""
        return on_usage if self.settings.enabled else None

    @property
    def enabled(self) -> bool:
        """False when `TIANJI_LIMITS=off`: no limiter on the request path."""
        return self.settings.enabled

    def wrap(self, pipeline: Pipeline, router: Router) -> Pipeline:
        """`pipeline` behind the limiter (unchanged when `TIANJI_LIMITS=off`)."""
        if not self.settings.enabled:
            return pipeline
        planner = Planner(self._store, router, self.spend, self.estimator, clock=self._clock)
        self._pipeline = LimitedPipeline(
            pipeline, planner, self.counters, self._clock, self.spend.watch
        )
        return self._pipeline

    async def start(self, bus: object) -> None:
        """Connect to Redis (if any) and follow `SpendUpdated` broadcasts."""
        await self.counters.start()
        subscribe = getattr(bus, "subscribe", None)
        if self.settings.enabled and subscribe is not None:
            await subscribe(SPEND_UPDATED_SUBJECT, self.on_spend_updated)
        if self.settings.enabled:
            self._watcher = asyncio.get_running_loop().create_task(
                self._follow_snapshot(), name="limits-snapshot-spend"
            )
        where = "Redis" if self.settings.redis_url else "this process's memory"
        log.info("rate limits and budgets: counters in %s", where)

    async def on_spend_updated(self, data: bytes) -> None:
        """Fold confirmed totals in; drop the settled spend they now cover."""
        try:
            update = decode_spend(data)
        except msgspec.MsgspecError as exc:
            log.warning("ignoring a malformed spend update: %s", exc)
            return
        await self._confirm(self.spend.fold(update))

    async def _follow_snapshot(self) -> None:
        """Confirm settled spend from reloaded snapshots (entities without `SpendUpdated`)."""
        while True:
            await asyncio.sleep(_SNAPSHOT_EVERY)
            await self._confirm(self.spend.snapshot_moves())

    async def _confirm(self, confirmations: list[Confirmation]) -> None:
        for c in confirmations:
            await self.counters.confirm(
                budget_key(c.kind, c.id, "set"),
                budget_key(c.kind, c.id, "seen"),
                c.total,
                c.previous,
                c.reset,
            )

    async def close(self) -> None:
        """Stop following, wait for pending settlements, then close Redis."""
        if self._watcher is not None:
            self._watcher.cancel()
            with suppress(asyncio.CancelledError):
                await self._watcher
        if self._pipeline is not None:
            await self._pipeline.drain()
        await self.counters.close()
