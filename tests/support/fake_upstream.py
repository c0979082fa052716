"""A fake LLM vendor on a real socket: OpenAI and Anthropic wire shapes.

Behaviour is chosen by the upstream model name the gateway sends, so one server serves
every scenario: `*-ok`, `*-429`, `*-500`, `*-flaky` (500 once, then fine), `*-slow`
(streams with pauses), `*-hang` (never answers), `*-gated` (streams one chunk, then
waits for the test to release it), `*-400`. Every request is recorded for assertions.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.threaded_server import ThreadedServer

__all__ = ["FakeUpstream", "Recorded"]


@dataclass
class Recorded:
    """One request as the vendor received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeUpstream(ThreadedServer):
    """Runs in its own thread and loop so sync and async clients can both call it."""

    requests: list[Recorded] = field(default_factory=list)
    port: int = 0
    _flaky: dict[str, int] = field(default_factory=dict)
    _gate: threading.Event = field(default_factory=threading.Event)
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def release_gate(self) -> None:
        self._gate.set()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._openai_chat)
        app.router.add_post("/v1/completions", self._openai_completion)
        app.router.add_post("/v1/embeddings", self._openai_embeddings)
        app.router.add_post("/v1/messages", self._anthropic)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _record(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        self.requests.append(
            Recorded(
                request.method,
                request.path,
                request.query_string,
                {k.lower(): v for k, v in request.headers.items()},
                body,
            )
        )
        return body or {}

    def _scenario(self, model: str) -> str:
        return model.rsplit("-", 1)[-1] if "-" in model else "ok"

    async def _maybe_fail(self, model: str, anthropic: bool = False) -> web.Response | None:
        s = self._scenario(model)
        if s == "flaky":
            n = self._flaky.get(model, 0)
            self._flaky[model] = n + 1
            if n == 0:
                s = "500"
        if s == "hang":
            await asyncio.sleep(3600)
        codes = {"429": 429, "500": 500, "400": 400, "529": 529, "401": 401}
        if s not in codes:
            return None
        status = codes[s]
        headers = {"retry-after": "7"} if status == 429 else {}
        if anthropic:
            etype = {
                429: "rate_limit_error",
                500: "api_error",
                400: "invalid_request_error",
                529: "overloaded_error",
                401: "authentication_error",
            }[status]
            body = {"type": "error", "error": {"type": etype, "message": f"fake {etype}"}}
        else:
            etype = {
                429: "rate_limit_error",
                500: "server_error",
                400: "invalid_request_error",
                529: "server_error",
                401: "invalid_request_error",
            }[status]
            body = {
                "error": {
                    "message": f"fake upstream {status}",
                    "type": etype,
                    "param": None,
                    "code": None,
                }
            }
        return web.json_response(body, status=status, headers=headers)

    async def _openai_chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        model = body.get("model", "")
        failed = await self._maybe_fail(model)
        if failed is not None:
            return failed
        if body.get("stream"):
            return await self._openai_stream(request, body)
        text = "Hello from the fake upstream!"
        return web.json_response(
            {
                "id": "chatcmpl-fake123",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": 11,
                    "completion_tokens": 7,
                    "total_tokens": 18,
                    "prompt_tokens_details": {"cached_tokens": 2},
                    "completion_tokens_details": {"reasoning_tokens": 0},
                },
            }
        )

    async def _openai_stream(
        self, request: web.Request, body: dict[str, Any]
    ) -> web.StreamResponse:
        model = body["model"]
        scenario = self._scenario(model)
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        base = {
            "id": "chatcmpl-fakestream",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        words = ["Hello", " from", " the", " fake", " stream", "!"]
        first = {
            **base,
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            ],
        }
        await resp.write(f"data: {json.dumps(first)}\n\n".encode())
        for i, w in enumerate(words):
            if scenario == "gated" and i == 1:
                await asyncio.get_running_loop().run_in_executor(None, self._gate.wait, 30)
            if scenario == "slow":
                await asyncio.sleep(0.2)
            chunk = {
                **base,
                "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}],
            }
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        await resp.write(f"data: {json.dumps(last)}\n\n".encode())
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {
                **base,
                "choices": [],
                "usage": {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15},
            }
            await resp.write(f"data: {json.dumps(usage)}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def _openai_completion(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        failed = await self._maybe_fail(body.get("model", ""))
        if failed is not None:
            return failed
        return web.json_response(
            {
                "id": "cmpl-fake",
                "object": "text_completion",
                "created": int(time.time()),
                "model": body.get("model"),
                "choices": [
                    {"text": " world", "index": 0, "logprobs": None, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
            }
        )

    async def _openai_embeddings(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        inputs = body.get("input")
        n = len(inputs) if isinstance(inputs, list) else 1
        return web.json_response(
            {
                "object": "list",
                "model": body.get("model"),
                "data": [
                    {"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]}
                    for i in range(n)
                ],
                "usage": {"prompt_tokens": 5 * n, "total_tokens": 5 * n},
            }
        )

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        model = body.get("model", "")
        failed = await self._maybe_fail(model, anthropic=True)
        if failed is not None:
            return failed
        if body.get("stream"):
            return await self._anthropic_stream(request, model)
        return web.json_response(
            {
                "id": "msg_fake01",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": "Hi from fake Claude"}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {
                    "input_tokens": 12,
                    "output_tokens": 5,
                    "cache_read_input_tokens": 0,
                    "cache_creation_input_tokens": 0,
                },
            }
        )

    async def _anthropic_stream(self, request: web.Request, model: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)

        async def send(event: str, data: dict[str, Any]) -> None:
            await resp.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())

        await send(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_fakestream",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 1},
                },
            },
        )
        await send(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        )
        await send("ping", {"type": "ping"})
        for w in ["Hi", " from", " Claude"]:
            await send(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": w},
                },
            )
        await send("content_block_stop", {"type": "content_block_stop", "index": 0})
        await send(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 3},
            },
        )
        await send("message_stop", {"type": "message_stop"})
        await resp.write_eof()
        return resp
