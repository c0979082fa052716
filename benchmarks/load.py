"""A small, fast HTTP/1.1 load generator: N keep-alive connections, fixed duration.

Why not wrk: it is not on a fresh machine, and this one runs anywhere uvloop does. A raw
asyncio Protocol with a pre-encoded request costs a few microseconds per request, so on
2 cores it can drive several thousand req/s while leaving a core to the server.

Each connection sends one request, reads the whole response (`Content-Length` or
chunked), checks the status and records the latency, then sends the next. Requests still
in flight at the deadline finish but are not counted. Prints one JSON object:
`{"requests", "errors", "rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "ttfb_p50_ms", ...}`.

Run: `python benchmarks/load.py --url http://127.0.0.1:4000/v1/chat/completions -c 16 -d 10
--key sk-... [--stream]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

__all__ = ["LoadResult", "build_request", "main", "run_load", "summarize"]

_MAX_ERROR_SAMPLES = 5


def build_request(url: str, body: bytes, key: str | None) -> tuple[str, int, bytes]:
    """Return host, port and the fully encoded POST request for `url`."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None:
        raise ValueError(f"only http:// URLs are supported, got {url!r}")
    port = parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [
        f"POST {target} HTTP/1.1",
        f"host: {parts.hostname}:{port}",
        "content-type: application/json",
        "accept: application/json, text/event-stream",
        f"content-length: {len(body)}",
        "user-agent: tianji-bench/1",
    ]
    if key:
        lines.append(f"authorization: Bearer {key}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return parts.hostname, port, head + body


@dataclass
class _Response:
    status: int = 0
    body: bytearray = field(default_factory=bytearray)
    first_byte_ns: int = 0


class _Client(asyncio.Protocol):
    """Parses one response at a time; `waiter` resolves with it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[_Response] | None = None
        self.resp = _Response()
        self.state = 0  # 0 head, 1 body by length, 2 chunk size, 3 chunk data, 4 trailers
        self.remaining = 0
        self.close_after = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only duck-typed ones
        self.transport = cast("asyncio.Transport", transport)

    def send(self, request: bytes) -> asyncio.Future[_Response]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.resp = _Response()
        self.state = 0
        self.transport.write(request)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        if not self.resp.first_byte_ns:
            self.resp.first_byte_ns = time.perf_counter_ns()
        self.buf += data
        try:
            while self._step():
                pass
        except ValueError as exc:
            self._fail(exc)

    def _step(self) -> bool:
        buf = self.buf
        if self.state == 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return False
            self._parse_head(bytes(buf[:end]).lower())
            del buf[: end + 4]
            return True
        if self.state == 1:
            take = min(self.remaining, len(buf))
            self.resp.body += buf[:take]
            del buf[:take]
            self.remaining -= take
            if self.remaining == 0:
                self._done()
            return False
        if self.state == 2:
            eol = buf.find(b"\r\n")
            if eol < 0:
                return False
            size = int(bytes(buf[:eol]).split(b";", 1)[0], 16)
            del buf[: eol + 2]
            self.state, self.remaining = (4, 0) if size == 0 else (3, size + 2)
            return True
        if self.state == 3:
            if len(buf) < self.remaining:
                return False
            self.resp.body += buf[: self.remaining - 2]
            del buf[: self.remaining]
            self.state = 2
            return True
        # state 4: trailers, ended by an empty line
        eol = buf.find(b"\r\n")
        if eol < 0:
            return False
        del buf[: eol + 2]
        if eol == 0:
            self._done()
            return False
        return True

    def _parse_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        self.resp.status = int(lines[0].split(b" ", 2)[1])
        length, chunked = 0, False
        self.close_after = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value
            elif name == b"connection":
                self.close_after = b"close" in value
        if chunked:
            self.state = 2
        elif length:
            self.state, self.remaining = 1, length
        else:
            self._done()

    def _done(self) -> None:
        self.state = 0
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(self.resp)

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail(exc or ConnectionResetError("connection closed by server"))


@dataclass
class LoadResult:
    latencies_ns: list[int] = field(default_factory=list)
    ttfb_ns: list[int] = field(default_factory=list)
    errors: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < _MAX_ERROR_SAMPLES:
            self.error_samples.append(message[:300])


def _check(resp: _Response, expect_done: bool) -> str | None:
    if resp.status != 200:
        return f"status {resp.status}: {bytes(resp.body[:200])!r}"
    if expect_done and not resp.body.rstrip().endswith(b"data: [DONE]"):
        return f"stream did not end with data: [DONE]: {bytes(resp.body[-120:])!r}"
    return None


async def _worker(
    host: str,
    port: int,
    request: bytes,
    deadline: float,
    max_requests: int | None,
    result: LoadResult,
    expect_done: bool,
) -> None:
    loop = asyncio.get_running_loop()
    client: _Client | None = None
    while time.perf_counter() < deadline:
        if max_requests is not None and len(result.latencies_ns) + result.errors >= max_requests:
            return
        try:
            if client is None or client.transport is None or client.close_after:
                if client is not None and client.transport is not None:
                    client.transport.close()
                _, client = await loop.create_connection(_Client, host, port)
            start = time.perf_counter_ns()
            resp = await client.send(request)
            end = time.perf_counter_ns()
        except (OSError, ValueError, IndexError) as exc:
            if time.perf_counter() < deadline:
                result.error(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(0.01)
            client = None
            continue
        if time.perf_counter() >= deadline:
            break  # finished after the deadline: not counted
        result.statuses[resp.status] += 1
        problem = _check(resp, expect_done)
        if problem is not None:
            result.error(problem)
            continue
        result.latencies_ns.append(end - start)
        if resp.first_byte_ns:
            result.ttfb_ns.append(resp.first_byte_ns - start)
    if client is not None and client.transport is not None:
        client.transport.close()


def _pct(sorted_ns: list[int], q: float) -> float | None:
    if not sorted_ns:
        return None
    idx = min(len(sorted_ns) - 1, max(0, round(q * len(sorted_ns)) - 1))
    return round(sorted_ns[idx] / 1e6, 3)


def summarize(result: LoadResult, elapsed: float, connections: int) -> dict[str, Any]:
    """Turn raw samples into the JSON the runner reads."""
    lat = sorted(result.latencies_ns)
    ttfb = sorted(result.ttfb_ns)
    return {
        "connections": connections,
        "duration_s": round(elapsed, 3),
        "requests": len(lat),
        "errors": result.errors,
        "rps": round(len(lat) / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": _pct(lat, 0.50),
        "p90_ms": _pct(lat, 0.90),
        "p99_ms": _pct(lat, 0.99),
        "max_ms": _pct(lat, 1.0),
        "mean_ms": round(sum(lat) / len(lat) / 1e6, 3) if lat else None,
        "ttfb_p50_ms": _pct(ttfb, 0.50),
        "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
        "error_samples": result.error_samples,
    }


async def run_load(
    url: str,
    body: bytes,
    key: str | None,
    connections: int,
    duration: float,
    max_requests: int | None = None,
    expect_done: bool = False,
) -> dict[str, Any]:
    """Drive `url` with `connections` keep-alive connections for `duration` seconds."""
    host, port, request = build_request(url, body, key)
    result = LoadResult()
    start = time.perf_counter()
    deadline = start + duration
    workers = [
        _worker(host, port, request, deadline, max_requests, result, expect_done)
        for _ in range(connections)
    ]
    await asyncio.gather(*workers)
    elapsed = min(time.perf_counter(), deadline) - start
    return summarize(result, elapsed, connections)


def chat_body(model: str, stream: bool) -> bytes:
    """A typical small chat request, as an SDK would send it."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Hello! Say hi back in a few words."},
        ],
        "temperature": 0.2,
        "max_tokens": 64,
    }
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="HTTP/1.1 keep-alive load generator")
    parser.add_argument("--url", required=True, help="http://host:port/v1/chat/completions")
    parser.add_argument("-c", "--connections", type=int, default=16)
    parser.add_argument("-d", "--duration", type=float, default=10.0, help="seconds")
    parser.add_argument("-n", "--requests", type=int, default=None, help="stop after N")
    parser.add_argument("--key", default=None, help="sent as Authorization: Bearer <key>")
    parser.add_argument("--model", default="bench-model")
    parser.add_argument("--stream", action="store_true", help='send "stream": true')
    parser.add_argument("--body", default=None, help="raw JSON body (overrides --model/--stream)")
    args = parser.parse_args(argv)
    body = args.body.encode() if args.body else chat_body(args.model, args.stream)
    coro = run_load(
        args.url,
        body,
        args.key,
        args.connections,
        args.duration,
        args.requests,
        expect_done=args.stream and not args.body,
    )
    try:
        import uvloop
    except ImportError:
        out = asyncio.run(coro)
    else:
        out = uvloop.run(coro)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
