"""The spend-worker's loops: usage events into spend rows, and budget resets.

Why this shape: the bus acks a batch only after the handler returns, and the
handler returns only after the batch's transaction committed, so an event is either
written or redelivered; the unique `event_id` makes the redelivery a no-op. What a
commit changed is then broadcast (`SpendUpdated`, absolute totals) and its alerts are
handed to a background sender: neither can hold the batch back.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from tianji_common.bus.base import dead_letter_id
from tianji_common.db.engine import engine_from_url
from tianji_common.events import SpendEntry, SpendUpdated, encode_event
from tianji_common.nats_names import (
    SPEND_UPDATED_SUBJECT,
    USAGE_CONSUMER,
    USAGE_DEAD_SUBJECT,
    USAGE_SUBJECT,
)

from tianji_spend_worker.alerts.dispatch import AlertDispatcher
from tianji_spend_worker.handlers import InvalidEvent, decode_event
from tianji_spend_worker.repo import PostgresSpendWriter
from tianji_spend_worker.results import spend_entry
from tianji_spend_worker.sqlite_writer import SqliteSpendWriter

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tianji_common.bus.base import Delivery, EventBus
    from tianji_common.events import UsageRecorded

    from tianji_spend_worker.alerts.sinks import AlertSink
    from tianji_spend_worker.results import BatchResult, ResetResult

__all__ = ["SpendBatchHandler", "SpendPublisher", "SpendWriter", "open_writer", "run_spend_worker"]

logger = logging.getLogger(__name__)

DEFAULT_RESET_INTERVAL = 60.0
_MAX_ENTRIES = 2000  # ~250 KB of JSON: well under NATS's default 1 MB max_payload


class SpendWriter(Protocol):
    """The database side: Postgres (asyncpg) or SQLite (stdlib), same semantics."""

    async def write(self, events: Sequence[UsageRecorded]) -> BatchResult:
        """Write one batch in one transaction; report what it changed."""
        ...

    async def reset_budgets(self, now: datetime) -> ResetResult:
        """Reset every spend whose budget period ended before `now`."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


async def open_writer(database_url: str, *, concurrency: int = 1) -> SpendWriter:
    """SQLite for `sqlite:///…` (the all-in-one), Postgres otherwise."""
    if database_url.startswith("sqlite:"):
        engine = await asyncio.to_thread(engine_from_url, database_url)
        return SqliteSpendWriter(str(engine.path))  # type: ignore[attr-defined]  # SQLiteEngine
    return await PostgresSpendWriter.open(database_url, max_size=concurrency + 1)


async def run_spend_worker(
    bus: EventBus,
    database_url: str,
    stop: asyncio.Event,
    *,
    subject: str = USAGE_SUBJECT,
    durable: str = USAGE_CONSUMER,
    dead_subject: str = USAGE_DEAD_SUBJECT,
    spend_subject: str = SPEND_UPDATED_SUBJECT,
    batch: int = 256,
    alert_sinks: Sequence[AlertSink] = (),
    reset_interval: float = DEFAULT_RESET_INTERVAL,
    concurrency: int = 1,
) -> None:
    """Consume usage events into the database, and reset budgets, until `stop` is set.

    `concurrency` pull loops share the durable: while one batch waits on Postgres the
    next one is fetched, decoded and COPYed (Python and the database overlap). SQLite
    has one writer, so the all-in-one keeps 1. A budget reset cancelled at stop rolls
    back whole and runs again on the next start. The schema must already be migrated
    (`tianji migrate`, or `tianji up` itself).
    """
    writer = await open_writer(database_url, concurrency=concurrency)
    alerts = AlertDispatcher(alert_sinks)
    alerts.start()
    publisher = SpendPublisher(bus, spend_subject)
    handler = SpendBatchHandler(writer, bus, dead_subject, publisher, alerts)
    resets = asyncio.create_task(
        reset_budgets_forever(writer, publisher, stop, reset_interval), name="budget-reset"
    )
    try:
        async with asyncio.TaskGroup() as group:
            for n in range(max(concurrency, 1)):
                consume = bus.consume(subject, durable, handler, batch=batch, stop=stop)
                group.create_task(consume, name=f"spend-consume-{n}")
    finally:
        resets.cancel()
        with suppress(asyncio.CancelledError):
            await resets
        await alerts.close()
        await writer.close()


@dataclass(frozen=True, slots=True)
class SpendPublisher:
    """Broadcast one `SpendUpdated` per commit.

    `seq` is the database clock (µs) read at the end of the transaction, while it still
    held its row locks: for any one entity, a later committed total always carries a
    larger `seq`, whichever batch, loop or worker wrote it. Gateways keep the highest
    `seq` per entity, so a broadcast that overtakes another one cannot regress a total.
    """

    bus: EventBus
    subject: str

    async def publish(self, entries: Sequence[SpendEntry], seq: int) -> None:
        """One broadcast per commit; never raises (the bus drops it while offline).

        A huge batch is split into messages of at most `_MAX_ENTRIES` entries with the
        same `seq` (NATS refuses payloads over 1 MB by default); totals are absolute,
        so the parts can be applied in any order.
        """
        now = datetime.now(UTC).timestamp()
        for part, start in enumerate(range(0, len(entries), _MAX_ENTRIES)):
            event = SpendUpdated(
                event_id=f"spend-{seq}-{part}-{id(self):x}",
                occurred_at=now,
                entries=tuple(entries[start : start + _MAX_ENTRIES]),
                seq=seq,
            )
            await self.bus.broadcast(self.subject, encode_event(event))


@dataclass(frozen=True, slots=True)
class SpendBatchHandler:
    """Write one batch in one transaction; dead-letter what can never be written."""

    writer: SpendWriter
    bus: EventBus
    dead_subject: str
    publisher: SpendPublisher
    alerts: AlertDispatcher

    async def __call__(self, deliveries: list[Delivery]) -> None:
        events: list[UsageRecorded] = []
        for delivery in deliveries:
            try:
                events.append(decode_event(delivery.data))
            except InvalidEvent as exc:
                await self._dead_letter(delivery, exc)
        result = await self.writer.write(events)
        logger.debug("spend batch: %d events, %d new", len(events), result.new)
        await self.publisher.publish([spend_entry(t) for t in result.totals], result.seq)
        self.alerts.submit(result.alerts)

    async def _dead_letter(self, delivery: Delivery, reason: InvalidEvent) -> None:
        event_id = delivery.event_id or hashlib.sha256(delivery.data).hexdigest()
        logger.error(
            "usage event %s rejected (%s); sent to %s", event_id, reason, self.dead_subject
        )
        await self.bus.publish(self.dead_subject, dead_letter_id(event_id), delivery.data)


async def reset_budgets_forever(
    writer: SpendWriter, publisher: SpendPublisher, stop: asyncio.Event, interval: float
) -> None:
    """Reset due budgets now and every `interval` seconds; a failure waits one interval."""
    while not stop.is_set():
        try:
            result = await writer.reset_budgets(datetime.now(UTC))
        except Exception:
            logger.exception("budget reset failed; retrying in %.0fs", interval)
        else:
            if result.reset:
                logger.info("budget reset: %d spend(s) back to zero", len(result.reset))
                entries = [SpendEntry(kind=k, id=i, spend="0", reset=True) for k, i in result.reset]
                await publisher.publish(entries, result.seq)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
