"""An in-process event bus for the embedded all-in-one (`tianji up`).

Why: one process needs no NATS, but the spend-worker code must not know that. The
`MemoryBroker` plays the server (stream, duplicate window, durable consumers); each
`MemoryBus` is a client of it, so a test can close one client and open another, as
with NATS. Semantics follow JetStream: at-least-once, de-duplication by `event_id`
within a window, competing consumers per durable name. Differences: there is no
ack wait (a hung handler holds its messages until its loop stops or is cancelled),
subjects match exactly (no wildcards), and nothing survives the process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Collection
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tianji_common.bus._dispatch import dispatch, wait_any
from tianji_common.bus.base import RedeliveryPolicy, dead_letter_id

if TYPE_CHECKING:
    from tianji_common.bus.base import Delivery, Handler, Listener

__all__ = ["MemoryBroker", "MemoryBus"]

logger = logging.getLogger(__name__)

_IDLE_POLL = 1.0  # seconds between `stop` checks while a durable is empty


@dataclass(frozen=True, slots=True)
class _Message:
    subject: str
    event_id: str
    data: bytes


@dataclass(slots=True, eq=False)
class _Pending:
    message: _Message
    deliveries: int = 0


@dataclass(slots=True, eq=False)
class _Durable:
    """One durable consumer's queue of messages ready for delivery."""

    ready: deque[_Pending] = field(default_factory=deque)
    signal: asyncio.Event = field(default_factory=asyncio.Event)
    unacked: int = 0  # delivered, or nak'd and waiting out their delay

    def put(self, pending: _Pending) -> None:
        self.ready.append(pending)
        self.signal.set()

    def take(self, limit: int) -> list[_Pending]:
        taken: list[_Pending] = []
        while self.ready and len(taken) < limit:
            pending = self.ready.popleft()
            pending.deliveries += 1
            taken.append(pending)
        if not self.ready:
            self.signal.clear()
        self.unacked += len(taken)
        return taken

    def settle(self) -> None:
        self.unacked -= 1

    def requeue(self, pending: _Pending) -> None:
        self.unacked -= 1
        self.put(pending)

    def pending(self) -> int:
        return len(self.ready) + self.unacked


class MemoryBroker:
    """The in-process "server": duplicate window and durable consumers per subject.

    Messages published before any durable exists on a subject wait for the first
    one, as a JetStream stream retains them for a consumer created later.
    """

    def __init__(
        self,
        *,
        duplicate_window: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window = duplicate_window
        self._clock = clock
        # Ids in the window, and their arrival order. A deque, not dict insertion order:
        # evicting from a dict's front makes iteration skip every deleted slot, so
        # each publish would get slower as the window turns over.
        self._seen: set[str] = set()
        self._order: deque[tuple[float, str]] = deque()
        self._durables: dict[str, dict[str, _Durable]] = {}
        self._unclaimed: dict[str, deque[_Message]] = {}
        self._listeners: dict[str, list[Listener]] = {}

    def listen(self, subject: str, listener: Listener) -> None:
        """Add a fan-out subscriber on `subject`."""
        self._listeners.setdefault(subject, []).append(listener)

    def unlisten(self, subject: str, listener: Listener) -> None:
        """Remove a fan-out subscriber (missing is fine)."""
        with suppress(ValueError):
            self._listeners.get(subject, []).remove(listener)

    async def broadcast(self, subject: str, data: bytes) -> None:
        """Call every subscriber of `subject` in turn; one failing does not stop the rest."""
        for listener in list(self._listeners.get(subject, ())):
            try:
                await listener(data)
            except Exception:
                logger.exception("fan-out listener on %s failed", subject)

    def publish(self, subject: str, event_id: str, data: bytes) -> bool:
        """Store a message; False if `event_id` was seen within the window."""
        now = self._clock()
        self._forget_before(now - self._window)
        if event_id in self._seen:
            return False
        self._seen.add(event_id)
        self._order.append((now, event_id))
        message = _Message(subject, event_id, data)
        durables = self._durables.get(subject)
        if durables:
            for durable in durables.values():
                durable.put(_Pending(message))
        else:
            self._unclaimed.setdefault(subject, deque()).append(message)
        return True

    def durable(self, subject: str, name: str) -> _Durable:
        """The durable consumer `name` on `subject`, created on first use."""
        on_subject = self._durables.setdefault(subject, {})
        durable = on_subject.get(name)
        if durable is None:
            durable = on_subject[name] = _Durable()
            for message in self._unclaimed.pop(subject, deque()):
                durable.put(_Pending(message))
        return durable

    def pending(self, exclude: Collection[str] = ()) -> int:
        """Messages not yet acked: waiting for a durable, queued, or in flight."""
        waiting = sum(
            len(messages) for subject, messages in self._unclaimed.items() if subject not in exclude
        )
        durables = (d for on_subject in self._durables.values() for d in on_subject.values())
        return waiting + sum(durable.pending() for durable in durables)

    def _forget_before(self, cutoff: float) -> None:
        order = self._order
        while order and order[0][0] < cutoff:
            self._seen.discard(order.popleft()[1])


class _MemoryDelivery:
    """A delivery from a `_Durable`; nak puts it back, after a delay if asked."""

    __slots__ = ("_durable", "_pending", "_settled")

    def __init__(self, durable: _Durable, pending: _Pending) -> None:
        self._durable = durable
        self._pending = pending
        self._settled = False

    @property
    def data(self) -> bytes:
        return self._pending.message.data

    @property
    def event_id(self) -> str:
        return self._pending.message.event_id

    @property
    def num_delivered(self) -> int:
        return self._pending.deliveries

    async def ack(self) -> None:
        if not self._settled:
            self._settled = True
            self._durable.settle()

    async def nak(self, delay: float | None = None) -> None:
        if self._settled:
            return
        self._settled = True
        if delay:
            asyncio.get_running_loop().call_later(delay, self._durable.requeue, self._pending)
        else:
            self._durable.requeue(self._pending)


class MemoryBus:
    """An `EventBus` client of a `MemoryBroker` (a private one unless given)."""

    def __init__(
        self,
        broker: MemoryBroker | None = None,
        *,
        policy: RedeliveryPolicy | None = None,
        linger: float = 0.0,
    ) -> None:
        self.broker = broker if broker is not None else MemoryBroker()
        self._policy = policy if policy is not None else RedeliveryPolicy()
        # Seconds to wait for a partial batch to fill (a JetStream fetch's expiry, in
        # spirit): fewer, larger batches cost the consumer far less per event.
        self._linger = linger
        self._subscriptions: list[tuple[str, Listener]] = []

    async def start(self) -> None:
        """Nothing to connect."""

    async def publish(self, subject: str, event_id: str, payload: bytes) -> None:
        """Store the event at once: nothing to wait for, nothing to fail."""
        if not self.broker.publish(subject, event_id, payload):
            logger.debug("duplicate event %s dropped", event_id)

    async def consume(
        self,
        subject: str,
        durable: str,
        handler: Handler,
        *,
        batch: int = 256,
        stop: asyncio.Event,
    ) -> None:
        """Deliver batches from the durable `durable` until `stop` is set."""
        queue = self.broker.durable(subject, durable)
        while not stop.is_set():
            taken = queue.take(batch)
            if not taken:
                await wait_any(queue.signal, stop, within=_IDLE_POLL)
                continue
            if self._linger and len(taken) < batch:
                await wait_any(stop, within=self._linger)
                taken += queue.take(batch - len(taken))
            deliveries: list[Delivery] = [_MemoryDelivery(queue, p) for p in taken]
            await dispatch(deliveries, handler, self._policy, self._dead_letter)

    def pending(self) -> int:
        """Messages not yet acked (the all-in-one waits for 0 at shutdown).

        Unread dead letters don't count: they wait for an operator, not for shutdown.
        """
        return self.broker.pending(exclude=(self._policy.dead_subject,))

    async def broadcast(self, subject: str, payload: bytes) -> None:
        """Deliver to every subscriber of the broker before returning."""
        await self.broker.broadcast(subject, payload)

    async def subscribe(self, subject: str, listener: Listener) -> None:
        """Subscribe on the broker until this client closes."""
        self.broker.listen(subject, listener)
        self._subscriptions.append((subject, listener))

    async def close(self) -> None:
        """Publishes complete synchronously: only the fan-out subscriptions end."""
        for subject, listener in self._subscriptions:
            self.broker.unlisten(subject, listener)
        self._subscriptions.clear()

    async def _dead_letter(self, delivery: Delivery) -> None:
        await self.publish(
            self._policy.dead_subject, dead_letter_id(delivery.event_id), delivery.data
        )
