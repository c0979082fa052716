"""The spend-worker's pull loop: usage events from the bus into spend rows.

Why this shape: the bus acks a batch only after the handler returns, and the
handler returns only after the batch's transaction committed, so an event is either
written or redelivered; the unique `event_id` makes the redelivery a no-op.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from piccolo.engine.sqlite import SQLiteEngine
from tianji_common.bus.base import dead_letter_id
from tianji_common.db.engine import close_engine, open_engine
from tianji_common.events import UsageRecorded
from tianji_common.nats_names import USAGE_CONSUMER, USAGE_DEAD_SUBJECT, USAGE_SUBJECT

from tianji_spend_worker.handlers import InvalidEvent, decode_event
from tianji_spend_worker.repo import write_usage
from tianji_spend_worker.sqlite_writer import SqliteSpendWriter

if TYPE_CHECKING:
    import asyncio

    from tianji_common.bus.base import Delivery, EventBus

__all__ = ["SpendBatchHandler", "run_spend_worker"]

logger = logging.getLogger(__name__)


async def run_spend_worker(
    bus: EventBus,
    database_url: str,
    stop: asyncio.Event,
    *,
    subject: str = USAGE_SUBJECT,
    durable: str = USAGE_CONSUMER,
    dead_subject: str = USAGE_DEAD_SUBJECT,
    batch: int = 256,
) -> None:
    """Consume usage events into the database until `stop` is set.

    The schema must already be migrated (`tianji migrate`, or `tianji up` itself).
    """
    engine = await open_engine(database_url, max_size=2)  # batches run one at a time
    sqlite = SqliteSpendWriter(engine.path) if isinstance(engine, SQLiteEngine) else None
    try:
        writer: Writer = sqlite.write if sqlite else functools.partial(write_usage, engine)
        handler = SpendBatchHandler(writer, bus, dead_subject)
        await bus.consume(subject, durable, handler, batch=batch, stop=stop)
    finally:
        if sqlite is not None:
            sqlite.close()
        await close_engine(engine)


Writer = Callable[[list[UsageRecorded]], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class SpendBatchHandler:
    """Write one batch in one transaction; dead-letter what can never be written."""

    write: Writer
    bus: EventBus
    dead_subject: str

    async def __call__(self, deliveries: list[Delivery]) -> None:
        events: list[UsageRecorded] = []
        for delivery in deliveries:
            try:
                events.append(decode_event(delivery.data))
            except InvalidEvent as exc:
                await self._dead_letter(delivery, exc)
        new = await self.write(events)
        logger.debug("spend batch: %d events, %d new", len(events), new)

    async def _dead_letter(self, delivery: Delivery, reason: InvalidEvent) -> None:
        event_id = delivery.event_id or hashlib.sha256(delivery.data).hexdigest()
        logger.error(
            "usage event %s rejected (%s); sent to %s", event_id, reason, self.dead_subject
        )
        await self.bus.publish(self.dead_subject, dead_letter_id(event_id), delivery.data)
