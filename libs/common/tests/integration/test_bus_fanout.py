"""Fan-out contract, the same for MemoryBus and NatsBus: every subscriber, in order."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from tianji_common.bus import EventBus, MemoryBroker, MemoryBus

WAIT = 10.0


@pytest.fixture(params=["memory", "nats"])
async def make_bus(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Callable[[], EventBus]]:
    opened: list[EventBus] = []
    if request.param == "memory":
        broker = MemoryBroker()

        def make() -> EventBus:
            bus = MemoryBus(broker)
            opened.append(bus)
            return bus

    else:
        from tianji_common.bus.nats import NatsBus
        from tianji_common.bus.testing import delete_stream

        url: str = request.getfixturevalue("nats_url")
        token = secrets.token_hex(4)
        counter = iter(range(100))

        def make() -> EventBus:
            bus = NatsBus(
                url,
                tmp_path / f"spool{next(counter)}",
                stream=f"F{token}",
                stream_subjects=(f"f{token}.usage.>",),
            )
            opened.append(bus)
            return bus

    yield make
    for bus in opened:
        await bus.close()
    if request.param == "nats":
        await delete_stream(url, f"F{token}")


class Recorder:
    def __init__(self) -> None:
        self.seen: list[bytes] = []

    async def __call__(self, data: bytes) -> None:
        self.seen.append(data)

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(WAIT):
            while len(self.seen) < count:
                await asyncio.sleep(0.01)


async def test_every_subscriber_gets_every_message_in_order(
    make_bus: Callable[[], EventBus],
) -> None:
    subject = f"f{secrets.token_hex(4)}.policy.changed.v1"
    publisher, sub_a, sub_b = make_bus(), make_bus(), make_bus()
    for bus in (publisher, sub_a, sub_b):
        await bus.start()
    a, b = Recorder(), Recorder()
    await sub_a.subscribe(subject, a)
    await sub_b.subscribe(subject, b)

    for n in range(5):
        await publisher.broadcast(subject, f"m{n}".encode())

    await a.wait_for(5)
    await b.wait_for(5)
    expected = [f"m{n}".encode() for n in range(5)]
    assert a.seen == expected
    assert b.seen == expected


async def test_a_failing_listener_does_not_stop_delivery(
    make_bus: Callable[[], EventBus],
) -> None:
    subject = f"f{secrets.token_hex(4)}.policy.changed.v1"
    publisher, subscriber = make_bus(), make_bus()
    await publisher.start()
    await subscriber.start()
    good = Recorder()

    async def bad(data: bytes) -> None:
        raise RuntimeError("listener failed on purpose")

    await subscriber.subscribe(subject, bad)
    await subscriber.subscribe(subject, good)
    await publisher.broadcast(subject, b"one")
    await publisher.broadcast(subject, b"two")

    await good.wait_for(2)
    assert good.seen == [b"one", b"two"]


async def test_closed_subscriber_gets_nothing(make_bus: Callable[[], EventBus]) -> None:
    subject = f"f{secrets.token_hex(4)}.policy.changed.v1"
    publisher, subscriber, witness = make_bus(), make_bus(), make_bus()
    for bus in (publisher, subscriber, witness):
        await bus.start()
    closed, live = Recorder(), Recorder()
    await subscriber.subscribe(subject, closed)
    await witness.subscribe(subject, live)
    await subscriber.close()

    await publisher.broadcast(subject, b"after-close")

    await live.wait_for(1)
    assert closed.seen == []
