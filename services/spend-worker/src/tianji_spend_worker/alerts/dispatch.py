"""Send alerts in the background: bounded queue, a few retries, never blocks spend.

Why a queue: the spend batch commits first and only hands alerts over; a slow or dead
sink must never hold a batch (and its acks) back. Delivery is at most once per
crossing: the alert-log row went in with the batch, so a crash before sending loses
that alert rather than sending it twice.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import TYPE_CHECKING

from tianji_spend_worker.alerts.sinks import SinkError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tianji_spend_worker.alerts.model import Alert
    from tianji_spend_worker.alerts.sinks import AlertSink

__all__ = ["AlertDispatcher"]

logger = logging.getLogger(__name__)


class AlertDispatcher:
    """Fan each submitted alert out to every sink, retrying each sink on its own."""

    def __init__(
        self,
        sinks: Sequence[AlertSink],
        *,
        attempts: int = 3,
        base_delay: float = 0.5,
        max_queued: int = 1000,
    ) -> None:
        self._sinks = tuple(sinks)
        self._attempts = attempts
        self._base_delay = base_delay
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(max_queued)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the sender task (idempotent; a no-op without sinks)."""
        if self._sinks and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="alerts")

    def submit(self, alerts: Sequence[Alert]) -> None:
        """Queue alerts; never waits. A full queue drops (and logs) the alert."""
        if not self._sinks:
            return
        for alert in alerts:
            try:
                self._queue.put_nowait(alert)
            except asyncio.QueueFull:
                logger.error("alert queue full: alert %s dropped", alert.id)

    async def close(self, timeout: float = 5.0) -> None:
        """Give queued alerts a bounded moment, then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while True:
            alert = await self._queue.get()
            try:
                await asyncio.gather(*(self._deliver(sink, alert) for sink in self._sinks))
            finally:
                self._queue.task_done()

    async def _deliver(self, sink: AlertSink, alert: Alert) -> None:
        for attempt in range(1, self._attempts + 1):
            try:
                await sink.send(alert)
            except Exception as exc:  # noqa: BLE001 - a sink failure must never stop the loop
                # Only our own SinkError text is known to be free of URLs and secrets.
                reason = str(exc) if isinstance(exc, SinkError) else type(exc).__name__
                logger.warning(
                    "alert %s via %s failed (attempt %d/%d): %s",
                    alert.id,
                    sink.name,
                    attempt,
                    self._attempts,
                    reason,
                )
                if attempt < self._attempts:
                    await asyncio.sleep(self._base_delay * 2 ** (attempt - 1))
            else:
                logger.info("alert %s sent via %s", alert.id, sink.name)
                return
        logger.error(
            "alert %s via %s given up after %d attempts", alert.id, sink.name, self._attempts
        )
