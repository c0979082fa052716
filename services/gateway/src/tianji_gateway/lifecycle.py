"""Readiness and graceful drain: count in-flight work, refuse new work when draining.

Why: on SIGTERM Kubernetes keeps routing for a moment; readiness flips to 503 first,
in-flight requests and streams finish within a bound, then usage is flushed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

from tianji_gateway.closing import ClosingStream

__all__ = ["Lifecycle"]


class Lifecycle:
    """In-flight counter with a drain wait; one per process."""

    def __init__(self) -> None:
        self.ready = False
        self.draining = False
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def inflight(self) -> int:
        """Requests and streams currently being served."""
        return self._inflight

    def enter(self) -> None:
        """A request started."""
        self._inflight += 1
        self._idle.clear()

    def leave(self) -> None:
        """A request (or its stream) finished."""
        self._inflight -= 1
        if self._inflight <= 0:
            self._inflight = 0
            self._idle.set()

    def guard_stream(self, body: AsyncIterator[bytes]) -> ClosingStream:
        """Keep a stream counted as in flight until its last byte, disconnect, or close.

        Closed before its first byte, the stream still leaves the count and closes
        `body` (see `closing.ClosingStream`).
        """

        async def close_body() -> None:
            await body.aclose()  # type: ignore[attr-defined]  # async generators have aclose

        async def guarded() -> AsyncGenerator[bytes, None]:
            try:
                async for chunk in body:
                    yield chunk
            finally:
                await close_body()
                self.leave()

        async def never_started() -> None:
            await close_body()
            self.leave()

        return ClosingStream(guarded(), never_started)

    async def drain(self, timeout: float) -> bool:
        """Stop being ready and wait for in-flight work; False if the bound was hit."""
        self.draining = True
        self.ready = False
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True
