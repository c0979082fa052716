"""Keep the `PolicyStore` current: a full snapshot, then the change events, in order.

How: the bus listener only queues raw events (it must not block the bus); one task
loads the snapshot (retrying with backoff until the control plane answers), then
applies queued events in version order. A version gap means an event was lost (core
NATS is at most once), so the task reloads the full snapshot. A periodic reload
(`resync_every`) bounds how long a lost *last* event can go unnoticed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import TYPE_CHECKING

import msgspec
from tianji_common.nats_names import POLICY_CHANGED_SUBJECT
from tianji_common.policy import decode_change, decode_snapshot

if TYPE_CHECKING:
    from tianji_common.bus.base import EventBus

    from tianji_gateway.policy.store import PolicyStore

__all__ = ["Fetch", "PolicySync"]

log = logging.getLogger("tianji.gateway.policy")

Fetch = Callable[[], Awaitable[bytes]]


class PolicySync:
    """Loads and follows the policy for one gateway process."""

    def __init__(
        self,
        store: PolicyStore,
        fetch: Fetch,
        bus: EventBus | None,
        *,
        resync_every: float = 30.0,
        max_backoff: float = 2.0,
    ) -> None:
        self._store = store
        self._fetch = fetch
        self._bus = bus
        self._resync_every = resync_every
        self._max_backoff = max_backoff
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe first (so nothing committed after the snapshot is missed), then load."""
        if self._bus is not None:
            await self._bus.subscribe(POLICY_CHANGED_SUBJECT, self._on_event)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="policy-sync")

    async def close(self) -> None:
        """Stop following (the bus subscription ends when the bus closes)."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _on_event(self, data: bytes) -> None:
        self._queue.put_nowait(data)

    async def _run(self) -> None:
        await self._reload()
        while True:
            try:
                data = await asyncio.wait_for(self._queue.get(), self._resync_every)
            except TimeoutError:
                await self._reload()
                continue
            await self._handle(data)

    async def _handle(self, data: bytes) -> None:
        try:
            change = decode_change(data)
        except msgspec.MsgspecError as exc:
            log.warning("ignoring a malformed policy event: %s", exc)
            return
        if not self._store.apply(change):
            log.info(
                "policy version gap (have %d, got %d): reloading",
                self._store.version,
                change.version,
            )
            await self._reload()
            self._store.apply(change)  # no-op unless the snapshot predates it by exactly one

    async def _reload(self) -> None:
        delay = 0.05
        while True:
            try:
                snapshot = decode_snapshot(await self._fetch())
            except Exception as exc:  # noqa: BLE001 - any failure: keep the old policy, retry
                log.warning("policy snapshot fetch failed (%r); retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
                continue
            if snapshot.version >= self._store.version:
                self._store.replace(snapshot)
            return
