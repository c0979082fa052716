"""The event-bus seam: publish usage events, consume them at least once.

Why: the gateway must never lose a usage event and never wait long for the bus
(PP-12: spend written once per request, whatever happens to the transport); the
spend-worker must see every event at least once and write it once (idempotent on
`event_id`). Two implementations share this contract and one contract test suite:
`MemoryBus` (the embedded all-in-one) and `NatsBus` (JetStream, split services).

Delivery rules, the same for both:

* `publish` never raises for a transport outage and waits a bounded time; events
  with the same `event_id` within the duplicate window are stored once.
* `consume` acks a delivery only after the handler returned without raising; a
  handler exception naks the batch (redelivered after a backoff). A redelivered
  message is handled alone, so one poison message cannot sink its batch-mates, and
  after `max_deliver` deliveries it goes to the dead-letter subject and is acked.
* A handler may settle deliveries itself (`ack`/`nak`); settling is idempotent.

Fan-out (`broadcast`/`subscribe`) is the other delivery mode: every live subscriber
gets every message, in publish order, at most once, and nothing is stored (core NATS,
not JetStream). It carries policy changes to every gateway replica; a subscriber that
misses one notices the version gap and reloads (see `tianji_common.policy`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeAlias

from tianji_common.nats_names import USAGE_DEAD_SUBJECT

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "Delivery",
    "EventBus",
    "Handler",
    "Listener",
    "RedeliveryPolicy",
    "dead_letter_id",
]


class Delivery(Protocol):
    """One delivered message; settle it once with `ack` or `nak`."""

    @property
    def data(self) -> bytes:
        """The payload as published."""
        ...

    @property
    def event_id(self) -> str:
        """The publisher's de-duplication key (`Nats-Msg-Id` on NATS)."""
        ...

    @property
    def num_delivered(self) -> int:
        """1 on first delivery, 2 on the first redelivery, and so on."""
        ...

    async def ack(self) -> None:
        """Mark the message done; later calls are no-ops."""
        ...

    async def nak(self, delay: float | None = None) -> None:
        """Ask for redelivery, after `delay` seconds if given; later calls are no-ops."""
        ...


Handler: TypeAlias = Callable[[list[Delivery]], Awaitable[None]]
Listener: TypeAlias = Callable[[bytes], Awaitable[None]]


class EventBus(Protocol):
    """Publish bytes under an event id; consume them in batches with a durable name."""

    async def start(self) -> None:
        """Open connections and background tasks; never fails for a transport outage."""
        ...

    async def publish(self, subject: str, event_id: str, payload: bytes) -> None:
        """Store the event (or spool it locally); never raises, waits a bounded time."""
        ...

    async def consume(
        self,
        subject: str,
        durable: str,
        handler: Handler,
        *,
        batch: int = 256,
        stop: asyncio.Event,
    ) -> None:
        """Feed batches to `handler` until `stop` is set; ack after it returns."""
        ...

    async def broadcast(self, subject: str, payload: bytes) -> None:
        """Fan `payload` out to every current subscriber; never raises, never stores."""
        ...

    async def subscribe(self, subject: str, listener: Listener) -> None:
        """Call `listener` for each broadcast on `subject`, in order, until `close`.

        A listener that raises is logged; the next message still comes.
        """
        ...

    async def close(self) -> None:
        """Flush pending publishes, then close."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class RedeliveryPolicy:
    """How failed deliveries come back, and when they are given up on.

    Why a backoff: a database outage fails every batch; redelivering at once would
    spin, and redelivering too often would dead-letter good events during a short
    outage. With the defaults a message is retried for about four minutes.
    """

    max_deliver: int = 10
    base_delay: float = 0.5
    max_delay: float = 60.0
    dead_subject: str = USAGE_DEAD_SUBJECT

    def delay(self, num_delivered: int) -> float:
        """Seconds to wait before delivery number `num_delivered + 1`."""
        exponent = max(num_delivered - 1, 0)
        return float(min(self.base_delay * (2**exponent), self.max_delay))


def dead_letter_id(event_id: str) -> str:
    """The event id a dead letter is published under.

    Why not the original id: the dead-letter subject lives in the same stream, and
    JetStream's duplicate window is per stream, so the original id would be dropped.
    """
    return f"{event_id}:dead"
