"""NATS helpers for tests, shared by every member's test suite.

Why here: a conftest cannot be imported across workspace members, and the gateway,
spend-worker and common suites all need a JetStream server and throwaway streams.
"""

from __future__ import annotations

import importlib
import os
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

import nats
import nats.js.errors

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["delete_stream", "nats_server"]

_NATS_IMAGE = "nats:2.10-alpine"


@contextmanager
def nats_server(env: str = "NATS_URL") -> Iterator[str | None]:
    """A JetStream server URL: `$env`, else a testcontainer if Docker answers, else None.

    None means "skip": the caller says why (STYLE section 10).
    """
    url = os.environ.get(env, "")
    if url:
        yield url
        return
    if not _docker_answers():
        yield None
        return
    module = importlib.import_module("testcontainers.community.nats")
    with module.NatsContainer(_NATS_IMAGE, jetstream=True) as container:
        yield str(container.nats_uri())


async def delete_stream(url: str, stream: str) -> None:
    """Delete a test's stream (and its file storage) from the server; missing is fine."""
    nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
    try:
        with suppress(nats.js.errors.NotFoundError):
            await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


def _docker_answers() -> bool:
    try:
        importlib.import_module("docker").from_env(timeout=2).ping()
    except Exception:  # noqa: BLE001 - any failure here just means "no Docker engine"
        return False
    return True
