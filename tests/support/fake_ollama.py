"""A fake Ollama server on a real socket: `/api/chat`, `/api/generate`, `/api/embed`.

Speaks Ollama's documented API (https://github.com/ollama/ollama/blob/main/docs/api.md):
streams are newline-delimited JSON with `application/x-ndjson` (and streaming is the
default when a request leaves `stream` out), the final line carries `done`,
`done_reason` and the eval counters, tool calls arrive whole with object arguments,
and unknown models answer 404 `{"error": "model \"x\" not found, try pulling it first"}`.
Every request is recorded for assertions.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.threaded_server import ThreadedServer

__all__ = ["FakeOllama", "Recorded"]

_CREATED = "2024-08-05T15:32:10.123456789-07:00"
_MODELS = frozenset({"llama3.2", "llama3.2:latest", "nomic-embed-text"})
_WORDS = ["The", " sky", " is", " blue", "."]


@dataclass
class Recorded:
    """One request as the fake server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeOllama(ThreadedServer):
    """Runs in its own thread and loop."""

    requests: list[Recorded] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/chat", self._chat)
        app.router.add_post("/api/generate", self._generate)
        app.router.add_post("/api/embed", self._embed)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _record(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        body = json.loads(raw) if raw else {}
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Recorded(request.method, request.path, headers, body))
        return body if isinstance(body, dict) else {}

    def _missing(self, model: str) -> web.Response | None:
        if model in _MODELS:
            return None
        error = {"error": f'model "{model}" not found, try pulling it first'}
        return web.json_response(error, status=404)

    @staticmethod
    def _final(model: str, key: str, value: Any) -> dict[str, Any]:
        return {
            "model": model,
            "created_at": _CREATED,
            key: value,
            "done": True,
            "done_reason": "stop",
            "total_duration": 4883583458,
            "load_duration": 1334875,
            "prompt_eval_count": 26,
            "prompt_eval_duration": 342546000,
            "eval_count": 5,
            "eval_duration": 4535599000,
        }

    def _chat_lines(self, model: str, tools: bool) -> list[dict[str, Any]]:
        if tools:
            call = {
                "function": {
                    "name": "get_weather",
                    "arguments": {"city": "Paris", "unit": "celsius"},
                }
            }
            message = {"role": "assistant", "content": "", "tool_calls": [call]}
            first = {"model": model, "created_at": _CREATED, "message": message, "done": False}
            return [first, self._final(model, "message", {"role": "assistant", "content": ""})]
        lines: list[dict[str, Any]] = [
            {
                "model": model,
                "created_at": _CREATED,
                "message": {"role": "assistant", "content": w},
                "done": False,
            }
            for w in _WORDS
        ]
        return [*lines, self._final(model, "message", {"role": "assistant", "content": ""})]

    async def _ndjson(
        self, request: web.Request, lines: list[dict[str, Any]]
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "application/x-ndjson"})
        await resp.prepare(request)
        for line in lines:
            await resp.write(json.dumps(line).encode() + b"\n")
        await resp.write_eof()
        return resp

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        model = str(body.get("model", ""))
        missing = self._missing(model)
        if missing is not None:
            return missing
        lines = self._chat_lines(model, bool(body.get("tools")))
        if body.get("stream", True):
            return await self._ndjson(request, lines)
        if body.get("tools"):
            whole = self._final(model, "message", lines[0]["message"])
        else:
            whole = self._final(model, "message", {"role": "assistant", "content": "".join(_WORDS)})
        return web.json_response(whole)

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        model = str(body.get("model", ""))
        missing = self._missing(model)
        if missing is not None:
            return missing
        if not body.get("stream", True):
            return web.json_response(self._final(model, "response", "".join(_WORDS)))
        lines = [
            {"model": model, "created_at": _CREATED, "response": w, "done": False} for w in _WORDS
        ]
        return await self._ndjson(request, [*lines, self._final(model, "response", "")])

    async def _embed(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        missing = self._missing(str(body.get("model", "")))
        if missing is not None:
            return missing
        inputs = body.get("input")
        n = len(inputs) if isinstance(inputs, list) else 1
        return web.json_response(
            {
                "model": body["model"],
                "embeddings": [[0.010071029, -0.0017594862, 0.05007221] for _ in range(n)],
                "total_duration": 14143917,
                "load_duration": 1019500,
                "prompt_eval_count": 8 * n,
            }
        )
