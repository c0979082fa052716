"""A stream body whose cleanup runs exactly once, whether or not it was ever iterated.

Why: an async generator that was never started ignores `aclose()`: its `finally`
never runs. A client that disconnects while the gateway waits for the upstream's
first byte makes the server close the body before iterating it, and the cleanup in
the generator's `finally` (the request's one usage event, closing the upstream
connection, leaving the in-flight count) would be skipped. `ClosingStream` runs an
`abort` callback instead in that case.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable

__all__ = ["ClosingStream"]


class ClosingStream:
    """Iterates `source`; `aclose()` closes it, or runs `abort` if it never started."""

    __slots__ = ("_abort", "_closed", "_source", "_started")

    def __init__(
        self, source: AsyncGenerator[bytes, None], abort: Callable[[], Awaitable[None]]
    ) -> None:
        self._source = source
        self._abort = abort
        self._started = False
        self._closed = False

    def __aiter__(self) -> ClosingStream:
        return self

    async def __anext__(self) -> bytes:
        self._started = True
        return await self._source.__anext__()

    async def aclose(self) -> None:
        """Close once: the generator's own `finally` if it ran, else `abort`."""
        if self._closed:
            return
        self._closed = True
        await self._source.aclose()
        if not self._started:
            await self._abort()
