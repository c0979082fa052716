"""A fake Azure OpenAI resource on a real socket: deployment URLs, `api-key`, api-version.

Speaks the documented wire format (https://learn.microsoft.com/azure/ai-foundry/openai/reference):
`POST /openai/deployments/{deployment}/chat/completions?api-version=...` (and
`/embeddings`), plus the v1 API at `/openai/v1/chat/completions`. Answers carry
`prompt_filter_results` / `content_filter_results`, and streams open with the
filter-only chunk Azure sends. A deployment named `*-429` rate-limits and `*-filtered`
trips the content filter. Every request is recorded for assertions.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.threaded_server import ThreadedServer

__all__ = ["FakeAzure", "Recorded"]

_FILTERS = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}
_PROMPT_FILTERS = [{"prompt_index": 0, "content_filter_results": _FILTERS}]
_TEXT = "Hello from Azure!"


@dataclass
class Recorded:
    """One request as the fake resource received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeAzure(ThreadedServer):
    """Runs in its own thread and loop; `key` is the only api-key it accepts."""

    key: str = "azure-upstream-key"
    requests: list[Recorded] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._chat)
        app.router.add_post("/openai/deployments/{deployment}/embeddings", self._embeddings)
        app.router.add_post("/openai/v1/chat/completions", self._chat_v1)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _record(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        body = json.loads(raw) if raw else {}
        self.requests.append(
            Recorded(
                request.method,
                request.path,
                dict(request.query),
                {k.lower(): v for k, v in request.headers.items()},
                body,
            )
        )
        return body if isinstance(body, dict) else {}

    def _denied(self, request: web.Request, v1: bool) -> web.Response | None:
        if v1:
            ok = request.headers.get("Authorization") == f"Bearer {self.key}"
        else:
            ok = request.headers.get("api-key") == self.key
        if ok:
            return None
        body = {
            "error": {
                "code": "401",
                "message": "Access denied due to invalid subscription key or wrong API endpoint. "
                "Make sure to provide a valid key for an active subscription and use a correct "
                "regional API endpoint for your resource.",
            }
        }
        return web.json_response(body, status=401)

    def _failure(self, deployment: str) -> web.Response | None:
        body: dict[str, Any]
        if deployment.endswith("-429"):
            body = {
                "error": {
                    "code": "429",
                    "message": "Requests to the ChatCompletions_Create Operation under Azure "
                    "OpenAI API version 2024-10-21 have exceeded token rate limit of your "
                    "current OpenAI S0 pricing tier. Please retry after 6 seconds.",
                }
            }
            return web.json_response(body, status=429, headers={"retry-after": "6"})
        if deployment.endswith("-filtered"):
            body = {
                "error": {
                    "message": "The response was filtered due to the prompt triggering Azure "
                    "OpenAI's content management policy. Please modify your prompt and retry.",
                    "type": None,
                    "param": "prompt",
                    "code": "content_filter",
                    "status": 400,
                    "innererror": {
                        "code": "ResponsibleAIPolicyViolation",
                        "content_filter_result": _FILTERS
                        | {"violence": {"filtered": True, "severity": "medium"}},
                    },
                }
            }
            return web.json_response(body, status=400)
        return None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        denied = self._denied(request, v1=False)
        if denied is not None:
            return denied
        if "api-version" not in request.query:
            return web.json_response(
                {"error": {"code": "404", "message": "Resource not found"}}, status=404
            )
        deployment = request.match_info["deployment"]
        return await self._answer(request, body, deployment)

    async def _chat_v1(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        denied = self._denied(request, v1=True)
        if denied is not None:
            return denied
        return await self._answer(request, body, str(body.get("model", "")))

    async def _answer(
        self, request: web.Request, body: dict[str, Any], deployment: str
    ) -> web.StreamResponse:
        failed = self._failure(deployment)
        if failed is not None:
            return failed
        if body.get("stream"):
            return await self._stream(request, body)
        tools = bool(body.get("tools"))
        message: dict[str, Any] = {"role": "assistant", "refusal": None}
        if tools:
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": "call_5TJ3YgXSBvkw4ZFbs4Rl3vYB",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ]
        else:
            message["content"] = _TEXT
        return web.json_response(
            {
                "choices": [
                    {
                        "content_filter_results": {} if tools else _FILTERS,
                        "finish_reason": "tool_calls" if tools else "stop",
                        "index": 0,
                        "logprobs": None,
                        "message": message,
                    }
                ],
                "created": int(time.time()),
                "id": "chatcmpl-AzureFake01",
                "model": "gpt-4o-2024-08-06",
                "object": "chat.completion",
                "prompt_filter_results": _PROMPT_FILTERS,
                "system_fingerprint": "fp_67802d9a6d",
                "usage": {
                    "completion_tokens": 5,
                    "completion_tokens_details": {"reasoning_tokens": 0},
                    "prompt_tokens": 12,
                    "prompt_tokens_details": {"cached_tokens": 0},
                    "total_tokens": 17,
                },
            }
        )

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "choices": [
                {
                    "content_filter_results": {} if finish else _FILTERS,
                    "delta": delta,
                    "finish_reason": finish,
                    "index": 0,
                    "logprobs": None,
                }
            ],
            "created": int(time.time()),
            "id": "chatcmpl-AzureFakeStream",
            "model": "gpt-4o-2024-08-06",
            "object": "chat.completion.chunk",
            "system_fingerprint": "fp_67802d9a6d",
        }

    def _stream_chunks(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        opening = {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": _PROMPT_FILTERS,
        }
        deltas: list[dict[str, Any]]
        if body.get("tools"):
            call = {"index": 0, "id": "call_abc123", "type": "function"}
            deltas = [
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [call | {"function": {"name": "get_weather", "arguments": ""}}],
                },
                {"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]},
                {"tool_calls": [{"index": 0, "function": {"arguments": 'ty":"Paris"}'}}]},
            ]
            finish = "tool_calls"
        else:
            deltas = [{"role": "assistant", "content": ""}] + [
                {"content": w} for w in ["Hello", " from", " Azure", "!"]
            ]
            finish = "stop"
        chunks = [opening, *(self._chunk(d) for d in deltas), self._chunk({}, finish)]
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"completion_tokens": 4, "prompt_tokens": 12, "total_tokens": 16}
            chunks.append(self._chunk({}) | {"choices": [], "usage": usage})
        return chunks

    async def _stream(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8"})
        await resp.prepare(request)
        for chunk in self._stream_chunks(body):
            await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        denied = self._denied(request, v1=False)
        if denied is not None:
            return denied
        inputs = body.get("input")
        n = len(inputs) if isinstance(inputs, list) else 1
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": [0.0023064255, -0.009327292]}
                    for i in range(n)
                ],
                "model": "text-embedding-3-small",
                "usage": {"prompt_tokens": 4 * n, "total_tokens": 4 * n},
            }
        )
