"""Exactly one usage event per request, even when the caller is cancelled mid-call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from tests.support.fake_upstream import FakeUpstream
from tianji_common.config.loader import load_config_text
from tianji_common.events import UsageRecorded, decode_usage

from tianji_gateway.auth import Principal
from tianji_gateway.lifecycle import Lifecycle
from tianji_gateway.pipeline import Complete, Pipeline, Streaming
from tianji_gateway.providers.base import Op
from tianji_gateway.providers.registry import load_adapters
from tianji_gateway.request import parse_body
from tianji_gateway.routing.build import build_deployments
from tianji_gateway.routing.router import Router
from tianji_gateway.upstream.client import UpstreamClient
from tianji_gateway.usage import UsagePublisher


class RecordingBus:
    def __init__(self) -> None:
        self.events: list[UsageRecorded] = []

    async def publish(self, subject: str, event_id: str, payload: bytes) -> None:
        self.events.append(decode_usage(payload))


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    yield fake
    fake.stop()


@pytest.fixture
async def pipeline(upstream: FakeUpstream) -> AsyncIterator[tuple[Pipeline, RecordingBus]]:
    cfg = load_config_text(
        "model_list:\n"
        f"  - {{model_name: ok, litellm_params: {{model: openai/m-ok, api_base: '{upstream.base}/v1', api_key: k}}}}\n"
        f"  - {{model_name: hang, litellm_params: {{model: openai/m-hang, api_base: '{upstream.base}/v1', api_key: k, timeout: 30}}}}\n",
        Path("."),
        {},
    ).config
    adapters = load_adapters()
    router = Router(build_deployments(cfg, {}, adapters).deployments, served=adapters.keys())
    client = UpstreamClient()
    await client.start()
    bus = RecordingBus()
    usage = UsagePublisher(bus)
    usage.start()
    yield Pipeline(router=router, adapters=adapters, upstream=client, usage=usage), bus
    await usage.close()
    await client.close()


PRINCIPAL = Principal(key_hash="h", is_admin=True)


async def test_success_records_one_event(pipeline: tuple[Pipeline, RecordingBus]) -> None:
    p, bus = pipeline
    result = await p.run(Op.CHAT, PRINCIPAL, parse_body(b'{"model": "ok", "messages": []}'))
    assert isinstance(result, Complete)
    await asyncio.sleep(0.05)
    assert [(e.status, e.total_tokens) for e in bus.events] == [("success", 18)]


async def test_cancelled_caller_still_records_one_event(
    pipeline: tuple[Pipeline, RecordingBus],
) -> None:
    p, bus = pipeline
    task = asyncio.create_task(
        p.run(Op.CHAT, PRINCIPAL, parse_body(b'{"model": "hang", "messages": []}'))
    )
    await asyncio.sleep(0.3)  # the upstream call is in flight
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.05)
    assert [(e.status, e.model_group) for e in bus.events] == [("disconnected", "hang")]


async def test_stream_closed_before_its_first_byte_records_one_event(
    pipeline: tuple[Pipeline, RecordingBus],
) -> None:
    """The client left while the gateway waited: the body is closed, never iterated."""
    p, bus = pipeline
    body = b'{"model": "ok", "messages": [], "stream": true}'
    result = await p.run(Op.CHAT, PRINCIPAL, parse_body(body))
    assert isinstance(result, Streaming)
    await result.body.aclose()  # type: ignore[attr-defined]
    await result.body.aclose()  # type: ignore[attr-defined]  # twice: still one event
    await asyncio.sleep(0.05)
    assert [(e.status, e.model_group, e.stream) for e in bus.events] == [
        ("disconnected", "ok", True)
    ]


async def test_guarded_stream_closed_before_its_first_byte_leaves_the_count() -> None:
    life = Lifecycle()

    async def body() -> AsyncIterator[bytes]:
        yield b"x"

    life.enter()
    stream = life.guard_stream(body())
    await stream.aclose()
    assert life.inflight == 0
    assert await life.drain(0.1) is True
