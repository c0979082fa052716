"""NatsBus without NATS: publish spools fast and never raises; the spool is replayed
exactly once when NATS is reachable again (by a later instance, or after an outage)."""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from tianji_common.bus.nats import NatsBus
from tianji_common.bus.spool import SPOOL_FILE, Spool, SpoolLocked
from tianji_common.bus.testing import delete_stream

WAIT = 15.0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Names:
    stream: str
    subjects: tuple[str, ...]
    subject: str


@pytest.fixture
async def names(nats_url: str) -> AsyncIterator[Names]:
    token = secrets.token_hex(4)
    names = Names(f"T{token}", (f"t{token}.>",), f"t{token}.usage.recorded.v1")
    yield names
    await delete_stream(nats_url, names.stream)


def _bus(url: str, spool_dir: Path, names: Names | None = None) -> NatsBus:
    if names is None:
        return NatsBus(url, spool_dir)
    return NatsBus(url, spool_dir, stream=names.stream, stream_subjects=names.subjects)


async def _stored_ids(url: str, names: Names, expected: int) -> list[str]:
    """Every Nats-Msg-Id in the stream, read by an ephemeral consumer (no acks needed)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + WAIT
        while (await js.stream_info(names.stream)).state.messages < expected:
            assert time.monotonic() < deadline, "stream did not fill up"
            await asyncio.sleep(0.05)
        sub = await js.pull_subscribe(names.subject, stream=names.stream)
        msgs = await sub.fetch(expected + 50, timeout=1)
        return [str((m.headers or {})["Nats-Msg-Id"]) for m in msgs]
    finally:
        await nc.close()


async def test_unreachable_nats_spools_fast_without_raising(tmp_path: Path) -> None:
    bus = _bus(f"nats://127.0.0.1:{_closed_port()}", tmp_path)
    await bus.start()
    worst = 0.0
    for n in range(50):
        started = time.perf_counter()
        await bus.publish("tianji.usage.recorded.v1", f"e{n}", b"payload")
        worst = max(worst, time.perf_counter() - started)
    await bus.close()

    assert worst < 0.1
    spool = Spool(tmp_path)
    records = await spool.read(0)
    spool.close()
    assert [r.event_id for r in records] == [f"e{n}" for n in range(50)]


async def test_spool_is_replayed_exactly_once_by_the_next_instance(
    tmp_path: Path, nats_url: str, names: Names
) -> None:
    offline = _bus(f"nats://127.0.0.1:{_closed_port()}", tmp_path, names)
    await offline.start()
    for n in range(30):
        await offline.publish(names.subject, f"e{n}", f"{n}".encode())
    await offline.close()

    online = _bus(nats_url, tmp_path, names)
    await online.start()
    # Some events reached JetStream before the outage: the replay must not double them.
    for n in range(10):
        await online.publish(names.subject, f"e{n}", f"{n}".encode())
    ids = await _stored_ids(nats_url, names, 30)
    await online.close()

    assert sorted(ids) == sorted(f"e{n}" for n in range(30))
    assert (tmp_path / SPOOL_FILE).stat().st_size == 0


class Proxy:
    """A TCP proxy in front of NATS that a test can cut and restore: an outage."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = _closed_port()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)

    async def down(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        await self._server.wait_closed()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self._writers += [writer, up_writer]
        await asyncio.gather(_copy(reader, up_writer), _copy(up_reader, writer))


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def test_outage_spools_then_replays_when_nats_returns(
    tmp_path: Path, nats_url: str, names: Names
) -> None:
    host, _, port = nats_url.removeprefix("nats://").partition(":")
    proxy = Proxy((host, int(port or 4222)))
    await proxy.up()
    bus = _bus(f"nats://127.0.0.1:{proxy.port}", tmp_path, names)
    await bus.start()
    await bus.publish(names.subject, "before", b"x")

    await proxy.down()
    await asyncio.sleep(0.2)  # let the client notice the dropped connection
    worst = 0.0
    for n in range(20):
        started = time.perf_counter()
        await bus.publish(names.subject, f"during{n}", b"x")
        worst = max(worst, time.perf_counter() - started)
    assert worst < 1.5  # bounded by publish_timeout even before the drop is noticed
    assert (tmp_path / SPOOL_FILE).stat().st_size > 0

    await proxy.up()
    ids = await _stored_ids(nats_url, names, 21)
    await bus.close()
    await proxy.down()

    assert sorted(ids) == sorted(["before", *(f"during{n}" for n in range(20))])


async def test_torn_tail_is_cut_on_open(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    spool.append("s", "a", b"1")
    spool.append("s", "b", b"2")
    spool.close()
    with (tmp_path / SPOOL_FILE).open("ab") as f:
        f.write(b"\x00\x00\x00\x09\x01")  # a crash mid-record

    reopened = Spool(tmp_path)
    reopened.open()
    records = await reopened.read(0)
    assert [(r.subject, r.event_id, r.payload) for r in records] == [
        ("s", "a", b"1"),
        ("s", "b", b"2"),
    ]
    assert reopened.size() == records[-1].end
    reopened.close()


def test_a_spool_belongs_to_one_process(tmp_path: Path) -> None:
    first = Spool(tmp_path)
    first.open()
    with pytest.raises(SpoolLocked):
        Spool(tmp_path).open()
    first.close()
    second = Spool(tmp_path)
    second.open()
    second.close()
