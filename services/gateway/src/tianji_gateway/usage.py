"""Usage events: exactly one per request, published off the request path.

Why: the handler only appends to an in-memory queue (no await, no I/O), and one
background task hands events to the bus, whose NATS adapter spools to disk when NATS
is down. Nothing here ever drops an event: the queue is unbounded by design (the bus,
not this queue, is where back-pressure goes to disk), and shutdown flushes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Protocol

from tianji_common.events import UsageRecorded, encode_event
from tianji_common.nats_names import USAGE_SUBJECT

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Publisher", "UsagePublisher"]

log = logging.getLogger("tianji.gateway.usage")


class Publisher(Protocol):
    """The slice of the event bus the gateway needs."""

    async def publish(self, subject: str, event_id: str, payload: bytes) -> None:
        """Hand one event to the bus; never raises for transport outages."""
        ...


class UsagePublisher:
    """Queue in the handler, publish in the background, flush on shutdown."""

    def __init__(
        self, bus: Publisher, *, on_event: Callable[[UsageRecorded], None] | None = None
    ) -> None:
        self._bus = bus
        self._queue: deque[UsageRecorded] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._on_event = on_event
        self.published = 0

    def record(self, event: UsageRecorded) -> None:
        """Called once per request, from the handler: O(1), never blocks."""
        self._queue.append(event)
        self._wake.set()
        if self._on_event is not None:
            self._on_event(event)

    @property
    def pending(self) -> int:
        """Events recorded but not yet handed to the bus."""
        return len(self._queue)

    def start(self) -> None:
        """Start the background publishing task (inside the serving loop)."""
        self._task = asyncio.create_task(self._run(), name="usage-publisher")

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._drain()
            if self._closing and not self._queue:
                return

    async def _drain(self) -> None:
        while self._queue:
            event = self._queue[0]
            try:
                await self._bus.publish(USAGE_SUBJECT, event.event_id, encode_event(event))
            except Exception:  # the bus contract says it spools; never lose the event
                log.exception("usage publish failed; will retry")
                await asyncio.sleep(0.5)
                continue
            self._queue.popleft()
            self.published += 1

    async def close(self, timeout: float = 10.0) -> None:
        """Flush what is queued (bounded), then stop."""
        self._closing = True
        self._wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            log.error("usage flush timed out with %d events still queued", len(self._queue))
            self._task.cancel()
