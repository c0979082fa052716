"""One contract suite for every EventBus: MemoryBus and NatsBus behave the same.

Each test gets its own subjects (and, on NATS, its own stream), so runs never collide.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tianji_common.bus import EventBus, MemoryBroker, MemoryBus, RedeliveryPolicy
from tianji_common.bus.base import Delivery, dead_letter_id

WAIT = 10.0  # seconds to wait for something that should happen
QUIET = 0.5  # seconds of silence that show nothing more arrives


@dataclass
class Kit:
    """Opens bus clients against one backend (broker or NATS stream) for one test."""

    subject: str
    dead_subject: str
    make: Callable[[], EventBus]
    opened: list[EventBus] = field(default_factory=list)

    async def open(self) -> EventBus:
        bus = self.make()
        await bus.start()
        self.opened.append(bus)
        return bus

    def durable(self) -> str:
        return f"d{secrets.token_hex(4)}"


def _policy(dead_subject: str) -> RedeliveryPolicy:
    return RedeliveryPolicy(
        max_deliver=3, base_delay=0.05, max_delay=0.2, dead_subject=dead_subject
    )


@pytest.fixture(params=["memory", "nats"])
async def kit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Kit]:
    token = secrets.token_hex(4)
    subject, dead = f"t{token}.usage.recorded.v1", f"t{token}.usage.dead.v1"
    if request.param == "memory":
        broker = MemoryBroker()
        kit = Kit(subject, dead, lambda: MemoryBus(broker, policy=_policy(dead)))
        yield kit
        for bus in kit.opened:
            await bus.close()
        return

    from tianji_common.bus.nats import NatsBus
    from tianji_common.bus.testing import delete_stream

    url: str = request.getfixturevalue("nats_url")
    stream = f"T{token}"
    spools = iter(range(1000))

    def make() -> EventBus:
        spool_dir = tmp_path / f"spool{next(spools)}"
        return NatsBus(
            url,
            spool_dir,
            stream=stream,
            stream_subjects=(f"t{token}.>",),
            policy=_policy(dead),
            fetch_timeout=0.2,
        )

    kit = Kit(subject, dead, make)
    try:
        yield kit
    finally:
        for bus in kit.opened:
            await bus.close()
        await delete_stream(url, stream)


@dataclass
class Consumer:
    """Runs `bus.consume` in a task and records what the handler saw."""

    seen: list[tuple[str, bytes, int]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(WAIT):
            while len(self.seen) < count:
                await asyncio.sleep(0.01)

    async def quiet(self) -> None:
        before = len(self.seen)
        await asyncio.sleep(QUIET)
        assert len(self.seen) == before, self.seen[before:]

    async def finish(self) -> None:
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, WAIT)

    def ids(self) -> list[str]:
        return [event_id for event_id, _, _ in self.seen]


def consume(
    bus: EventBus,
    kit: Kit,
    durable: str,
    fail: Callable[[Delivery], bool] = lambda _: False,
    block: Callable[[Delivery], Awaitable[None]] | None = None,
    subject: str | None = None,
) -> Consumer:
    consumer = Consumer()

    async def handler(batch: list[Delivery]) -> None:
        for delivery in batch:
            consumer.seen.append((delivery.event_id, delivery.data, delivery.num_delivered))
            if block is not None:
                await block(delivery)
        if any(fail(delivery) for delivery in batch):
            raise RuntimeError("handler failed on purpose")

    consumer.task = asyncio.create_task(
        bus.consume(subject or kit.subject, durable, handler, batch=16, stop=consumer.stop)
    )
    return consumer


async def test_publish_then_consume_roundtrip(kit: Kit) -> None:
    bus = await kit.open()
    for n in range(3):
        await bus.publish(kit.subject, f"e{n}", f"payload-{n}".encode())

    consumer = consume(bus, kit, kit.durable())
    await consumer.wait_for(3)
    await consumer.quiet()
    await consumer.finish()

    assert sorted(consumer.seen) == [(f"e{n}", f"payload-{n}".encode(), 1) for n in range(3)]


async def test_same_event_id_is_stored_once(kit: Kit) -> None:
    bus = await kit.open()
    await bus.publish(kit.subject, "same", b"first")
    await bus.publish(kit.subject, "same", b"second")
    await bus.publish(kit.subject, "other", b"x")

    consumer = consume(bus, kit, kit.durable())
    await consumer.wait_for(2)
    await consumer.quiet()
    await consumer.finish()

    assert sorted(consumer.seen) == [("other", b"x", 1), ("same", b"first", 1)]


async def test_handler_failure_means_redelivery(kit: Kit) -> None:
    bus = await kit.open()
    await bus.publish(kit.subject, "flaky", b"x")

    consumer = consume(bus, kit, kit.durable(), fail=lambda d: d.num_delivered == 1)
    await consumer.wait_for(2)
    await consumer.quiet()
    await consumer.finish()

    assert consumer.seen == [("flaky", b"x", 1), ("flaky", b"x", 2)]


async def test_ack_only_after_handler_returns(kit: Kit) -> None:
    bus = await kit.open()
    durable = kit.durable()
    await bus.publish(kit.subject, "slow", b"x")
    entered = asyncio.Event()

    async def hang(_: Delivery) -> None:
        entered.set()
        await asyncio.Event().wait()  # a handler that never returns: a crash mid-batch

    first = consume(bus, kit, durable, block=hang)
    await asyncio.wait_for(entered.wait(), WAIT)
    assert first.task is not None
    first.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first.task

    second_bus = await kit.open()
    second = consume(second_bus, kit, durable)
    await second.wait_for(1)
    await second.quiet()
    await second.finish()
    assert second.seen == [("slow", b"x", 2)]

    third = consume(second_bus, kit, durable)  # acked now: nothing comes back
    await third.quiet()
    await third.finish()
    assert third.seen == []


async def test_poison_message_goes_to_dead_letter_alone(kit: Kit) -> None:
    bus = await kit.open()
    await bus.publish(kit.subject, "good", b"g")
    await bus.publish(kit.subject, "poison", b"p")

    consumer = consume(bus, kit, kit.durable(), fail=lambda d: d.event_id == "poison")
    dead = consume(bus, kit, kit.durable(), subject=kit.dead_subject)
    await dead.wait_for(1)
    await consumer.quiet()
    await consumer.finish()
    await dead.finish()

    assert consumer.ids().count("poison") == 3  # max_deliver
    assert consumer.ids().count("good") == 2  # failed once with its batch, then alone
    assert dead.seen == [(dead_letter_id("poison"), b"p", 1)]


async def test_close_flushes_pending_publishes(kit: Kit) -> None:
    bus = await kit.open()
    tasks = [asyncio.create_task(bus.publish(kit.subject, f"c{n}", b"x")) for n in range(20)]
    await asyncio.sleep(0)  # let them start, then close under them
    await bus.close()
    await asyncio.gather(*tasks)

    reader = await kit.open()
    consumer = consume(reader, kit, kit.durable())
    await consumer.wait_for(20)
    await consumer.quiet()
    await consumer.finish()
    assert sorted(consumer.ids()) == sorted(f"c{n}" for n in range(20))


async def test_consume_returns_soon_after_stop(kit: Kit) -> None:
    bus = await kit.open()
    consumer = consume(bus, kit, kit.durable())
    await asyncio.sleep(0.1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await consumer.finish()
    assert loop.time() - started < 2.0


async def test_memory_bus_counts_pending_until_acked() -> None:
    """The all-in-one waits for `pending() == 0` before stopping its spend-worker."""
    dead = "t.usage.dead.v1"
    bus = MemoryBus(policy=_policy(dead))
    await bus.publish("t.usage.recorded.v1", "a", b"x")
    await bus.publish(dead, "old-dead-letter", b"x")  # waits for an operator, not counted
    assert bus.pending() == 1

    release = asyncio.Event()
    inside = asyncio.Event()

    async def handler(_: list[Delivery]) -> None:
        inside.set()
        await release.wait()

    stop = asyncio.Event()
    task = asyncio.create_task(bus.consume("t.usage.recorded.v1", "d", handler, stop=stop))
    await asyncio.wait_for(inside.wait(), WAIT)
    assert bus.pending() == 1  # in flight, not acked yet
    release.set()
    async with asyncio.timeout(WAIT):
        while bus.pending():
            await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, WAIT)
