"""A whole gateway in-process (`build_gateway`), for rate-limit and budget tests.

Why in-process: the tests need the request path exactly as served (auth, model check,
limiter, pipeline, usage hook) and a way to drive it fast and concurrently, to close a
stream before or after its first byte, and to run two "replicas" against one Redis.
`serve` is the function both the Litestar handlers and the raw fast path call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
from tianji_common.bus.memory import MemoryBroker, MemoryBus
from tianji_common.config.loader import load_config_text
from tianji_common.errors import GatewayError
from tianji_common.events import SpendEntry, SpendUpdated, encode_event
from tianji_common.nats_names import SPEND_UPDATED_SUBJECT
from tianji_common.policy import PolicySnapshot, encode_policy
from tianji_gateway.api.llm import make_serve
from tianji_gateway.app import build_gateway
from tianji_gateway.auth import hash_key
from tianji_gateway.pipeline import Complete, Streaming
from tianji_gateway.policy import GatewayPolicy
from tianji_gateway.providers.base import Op

__all__ = [
    "MASTER",
    "LimitsGateway",
    "Refused",
    "away_from_window_edge",
    "key_hash",
    "spend_update",
]

MASTER = "sk-limits-master-0123456789abcdef"


def away_from_window_edge(margin: float = 4.0) -> None:
    """Sleep past the next minute boundary if it is near: rate windows are fixed minutes."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.05)


def key_hash(key: str) -> str:
    """The snapshot's token for a key."""
    return hash_key(key)


def spend_update(seq: int, *entries: tuple[str, str, str]) -> bytes:
    """A `SpendUpdated` payload of `(kind, id, spend)` entries."""
    return encode_event(
        SpendUpdated(
            event_id=f"spend-{seq}",
            occurred_at=0.0,
            seq=seq,
            entries=tuple(SpendEntry(kind=k, id=i, spend=s) for k, i, s in entries),
        )
    )


class Refused(Exception):
    """A request the gateway answered with an error."""

    def __init__(self, err: GatewayError) -> None:
        super().__init__(err.message)
        self.status = err.http_status
        self.headers = err.response_headers()
        self.body = msgspec.json.decode(msgspec.json.encode(err.body()))
        self.message = err.message


class LimitsGateway:
    """`build_gateway` over a fixed snapshot and a memory bus, started and stopped."""

    def __init__(
        self,
        config_yaml: str,
        snapshot: PolicySnapshot,
        env: Mapping[str, str] | None = None,
        broker: MemoryBroker | None = None,
    ) -> None:
        self.snapshot = snapshot
        # A short drain: a stream dropped unread is never counted out of `Lifecycle`.
        self.env = {
            "TIANJI_MASTER_KEY": MASTER,
            "TIANJI_SHUTDOWN_GRACE_SECONDS": "0.5",
            **(env or {}),
        }
        self.bus = MemoryBus(broker or MemoryBroker())
        cfg = load_config_text(config_yaml, Path("."), self.env).config

        async def fetch() -> bytes:
            return encode_policy(self.snapshot)

        self.policy = GatewayPolicy.create(fetch, self.bus)
        self.state, self.component = build_gateway(cfg, self.env, self.bus, policy=self.policy)
        self.serve = make_serve(self.state)

    async def __aenter__(self) -> LimitsGateway:
        await self.bus.start()
        for hook in self.component.on_startup:
            await hook()
        while not self.policy.loaded:
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for hook in self.component.on_shutdown:
            await hook()
        await self.bus.close()

    async def spend_updated(self, payload: bytes) -> None:
        """Broadcast a spend update as the spend-worker does."""
        await self.bus.broadcast(SPEND_UPDATED_SUBJECT, payload)

    async def chat(
        self,
        key: str,
        model: str = "priced",
        *,
        stream: bool = False,
        user: str | None = None,
        **extra: Any,
    ) -> Complete | Streaming:
        """One chat completion as a client sends it; raises `Refused` on an error answer."""
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "user", "content": "hi"}],
            **extra,
        }
        if stream:
            body["stream"] = True
        if user is not None:
            body["user"] = user
        headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        try:
            return await self.serve(Op.CHAT, headers, msgspec.json.encode(body), None)
        except GatewayError as err:
            raise Refused(err) from None
