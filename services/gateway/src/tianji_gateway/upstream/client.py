"""The one `UpstreamClient` all provider I/O goes through.

Why aiohttp and not httpx here: measured on this project's 2-core machine (STYLE.md,
Litestar on Granian forwarding chat to a mock, 16 connections): httpx.AsyncClient did
447 req/s and 1.75 ms p50, aiohttp.ClientSession 3,555 req/s and 0.72 ms p50. The
issue's target is 1,900 req/s, which httpx cannot reach, so the hot path uses aiohttp
behind this seam and httpx stays for everything off the hot path.

Every call carries explicit connect and read timeouts from the deployment; no library
default ever applies. Transport failures are mapped once, by type, here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from tianji_common.errors import UpstreamError, UpstreamTimeout

__all__ = ["PoolSettings", "UpstreamClient", "UpstreamResponse", "UpstreamStream"]


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """Connection pool limits; explicit so a burst cannot open unbounded sockets."""

    max_connections: int = 1000
    max_per_host: int = 200
    keepalive_seconds: float = 30.0
    connect_timeout: float = 10.0
    max_response_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    """A complete (non-streaming) upstream answer."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class UpstreamStream:
    """An open streaming answer: status and headers now, the body as it arrives."""

    status: int
    headers: dict[str, str]
    _resp: aiohttp.ClientResponse

    async def read_all(self) -> bytes:
        """Read the whole body (used for error answers on a stream request)."""
        with map_transport_errors():
            return await self._resp.read()

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """Yield body bytes as they arrive, never collected first (PP-11)."""
        with map_transport_errors():
            async for chunk in self._resp.content.iter_any():
                yield chunk


class _TransportErrorMap:
    """Context manager turning aiohttp/asyncio failures into our error types."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if exc is None or isinstance(exc, UpstreamError):
            return
        if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
            raise UpstreamTimeout("upstream request timed out", retryable=True) from exc
        if isinstance(exc, aiohttp.ClientConnectorError):
            raise UpstreamError(
                "could not connect to upstream", status=502, retryable=True, type_="api_error"
            ) from exc
        if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
            raise UpstreamError(
                "upstream closed the connection", status=502, retryable=True, type_="api_error"
            ) from exc
        if isinstance(exc, aiohttp.ClientError):
            raise UpstreamError(
                f"upstream transport error: {type(exc).__name__}", status=502, retryable=True
            ) from exc


def map_transport_errors() -> _TransportErrorMap:
    """Wrap transport calls; like httpx's own map_httpcore_exceptions."""
    return _TransportErrorMap()


def _headers(resp: aiohttp.ClientResponse) -> dict[str, str]:
    return {k.lower(): v for k, v in resp.headers.items()}


class UpstreamClient:
    """A pooled HTTP client for provider calls; open in the lifespan, closed after."""

    def __init__(self, pool: PoolSettings | None = None) -> None:
        self._pool = pool or PoolSettings()
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the pool (must run inside the serving event loop)."""
        connector = aiohttp.TCPConnector(
            limit=self._pool.max_connections,
            limit_per_host=self._pool.max_per_host,
            keepalive_timeout=self._pool.keepalive_seconds,
            ttl_dns_cache=300,
            enable_cleanup_closed=True,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
            timeout=aiohttp.ClientTimeout(total=None, connect=self._pool.connect_timeout),
        )

    async def close(self) -> None:
        """Close every pooled connection."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The open session; a programming error to use before `start`."""
        if self._session is None:
            raise RuntimeError("UpstreamClient used before start()")
        return self._session

    def _timeout(self, read_timeout: float) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=None,
            connect=min(self._pool.connect_timeout, read_timeout),
            sock_read=read_timeout,
        )

    async def post(
        self, url: str, headers: list[tuple[str, str]], body: bytes, timeout: float
    ) -> UpstreamResponse:
        """POST and read the whole answer, bounded by `timeout` end to end."""
        return await self.request("POST", url, headers, body, timeout)

    async def request(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        timeout: float,
    ) -> UpstreamResponse:
        """Any method; read the whole answer, bounded by `timeout` end to end."""
        with map_transport_errors():
            async with (
                asyncio.timeout(timeout),
                self.session.request(
                    method, url, data=body, headers=headers, timeout=self._timeout(timeout)
                ) as resp,
            ):
                data = await resp.content.read(self._pool.max_response_bytes + 1)
                if len(data) > self._pool.max_response_bytes:
                    raise UpstreamError("upstream response too large", status=502)
                return UpstreamResponse(resp.status, _headers(resp), data)

    @asynccontextmanager
    async def stream(
        self,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        timeout: float,
        method: str = "POST",
    ) -> AsyncIterator[UpstreamStream]:
        """Send and hand back the open response; `timeout` bounds each read."""
        hdrs = [*headers, ("accept-encoding", "identity")]
        with map_transport_errors():
            async with asyncio.timeout(timeout):
                ctx = self.session.request(
                    method, url, data=body, headers=hdrs, timeout=self._timeout(timeout)
                )
                resp = await ctx.__aenter__()
        try:
            yield UpstreamStream(resp.status, _headers(resp), resp)
        finally:
            if resp.content.at_eof():
                resp.release()  # fully read: the connection goes back to the pool
            else:
                resp.close()  # abandoned mid-body (client gone): never reuse it
