"""A fake Cohere, Cloudflare Workers AI and Replicate on one real socket.

Each vendor's documented wire shapes: Cohere v2 `/v2/chat` (JSON and typed SSE events,
tool calls when the request offers tools), `/v2/embed`, `/v2/rerank`; Workers AI
`/client/v4/accounts/{id}/ai/run/{model}` (envelope JSON and `data: {"response"}` SSE);
Replicate predictions (create answers `starting`, successive GETs answer `starting`,
`processing`, then `succeeded`; `urls.stream` serves `output`/`done` events). A model
name ending in `-429` or `-long` answers that vendor's rate-limit or
context-window error. Every request is recorded for assertions.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.threaded_server import ThreadedServer

__all__ = ["FakeOthers", "Recorded"]

_COHERE_USAGE = {
    "billed_units": {"input_tokens": 6, "output_tokens": 5},
    "tokens": {"input_tokens": 71, "output_tokens": 5},
}
_POLL_STATES = ("starting", "processing", "succeeded")


@dataclass
class Recorded:
    """One request as the vendor received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeOthers(ThreadedServer):
    """Runs in its own thread and loop so sync and async clients can both call it."""

    requests: list[Recorded] = field(default_factory=list)
    port: int = 0
    _polls: dict[str, int] = field(default_factory=dict)
    _next_id: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def last(self, prefix: str) -> Recorded:
        """The latest request whose path starts with `prefix`."""
        return next(r for r in reversed(self.requests) if r.path.startswith(prefix))

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v2/chat", self._cohere_chat)
        app.router.add_post("/v2/embed", self._cohere_embed)
        app.router.add_post("/v2/rerank", self._cohere_rerank)
        app.router.add_post("/client/v4/accounts/{acct}/ai/run/{model:.+}", self._cloudflare)
        app.router.add_post("/v1/models/{owner}/{name}/predictions", self._replicate_create)
        app.router.add_post("/v1/predictions", self._replicate_create)
        app.router.add_get("/v1/predictions/{id}", self._replicate_get)
        app.router.add_get("/v1/streams/{id}", self._replicate_stream)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _record(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Recorded(request.method, request.path, headers, body))
        return body or {}

    # --- Cohere -----------------------------------------------------------------------

    async def _cohere_chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        model = body.get("model", "")
        if model.endswith("-429"):
            return web.json_response(
                {"id": "e1", "message": "You are using a Trial key, which is limited"},
                status=429,
                headers={"retry-after": "3"},
            )
        if model.endswith("-long"):
            msg = "too many tokens: total number of tokens in the prompt cannot exceed 4081"
            return web.json_response({"id": "e2", "message": msg}, status=400)
        tools = bool(body.get("tools"))
        if body.get("stream"):
            return await self._cohere_stream(request, tools)
        message: dict[str, Any] = {"role": "assistant"}
        if tools:
            message["tool_plan"] = "I will look up the weather."
            message["tool_calls"] = [
                {
                    "id": "get_weather_1byjy32y4hvq",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'},
                }
            ]
        else:
            message["content"] = [{"type": "text", "text": "Hello from fake Cohere!"}]
        return web.json_response(
            {
                "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
                "finish_reason": "TOOL_CALL" if tools else "COMPLETE",
                "message": message,
                "usage": _COHERE_USAGE,
            }
        )

    async def _cohere_stream(self, request: web.Request, tools: bool) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)

        async def send(data: dict[str, Any]) -> None:
            await resp.write(f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode())

        await send(
            {
                "id": "29f14a5a-11de-4cae-9800-25e4747408ea",
                "type": "message-start",
                "delta": {
                    "message": {
                        "role": "assistant",
                        "content": [],
                        "tool_plan": "",
                        "tool_calls": [],
                        "citations": [],
                    }
                },
            }
        )
        if tools:
            await send({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will"}}})
            start = {
                "id": "get_weather_nsz5zm3w56q3",
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }
            await send(
                {"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": start}}}
            )
            for piece in ('{"location"', ': "Toronto"}'):
                await send(
                    {
                        "type": "tool-call-delta",
                        "index": 0,
                        "delta": {"message": {"tool_calls": {"function": {"arguments": piece}}}},
                    }
                )
            await send({"type": "tool-call-end", "index": 0})
            finish = "TOOL_CALL"
        else:
            await send(
                {
                    "type": "content-start",
                    "index": 0,
                    "delta": {"message": {"content": {"type": "text", "text": ""}}},
                }
            )
            for word in ("Hello", " from", " Cohere"):
                await send(
                    {
                        "type": "content-delta",
                        "index": 0,
                        "delta": {"message": {"content": {"text": word}}},
                    }
                )
            await send({"type": "content-end", "index": 0})
            finish = "COMPLETE"
        await send(
            {"type": "message-end", "delta": {"finish_reason": finish, "usage": _COHERE_USAGE}}
        )
        await resp.write_eof()
        return resp

    async def _cohere_embed(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        texts = body.get("texts") or body.get("images") or []
        return web.json_response(
            {
                "id": "da6e531f-54c6-4a73-bf92-f60566d8d753",
                "embeddings": {"float": [[0.016, -0.0312, 0.25] for _ in texts]},
                "texts": texts,
                "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 4}},
                "response_type": "embeddings_by_type",
            }
        )

    async def _cohere_rerank(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        docs = body.get("documents") or []
        query = set(str(body.get("query", "")).lower().split())

        def overlap(i: int) -> int:
            doc = docs[i]
            text = doc.get("text", "") if isinstance(doc, dict) else str(doc)
            return len(query & set(text.lower().split()))

        order = sorted(range(len(docs)), key=lambda i: -overlap(i))
        top = order[: body.get("top_n") or len(docs)]
        results: list[dict[str, Any]] = []
        for rank, i in enumerate(top):
            item: dict[str, Any] = {"index": i, "relevance_score": round(0.9 - rank * 0.2, 4)}
            if body.get("return_documents"):
                doc = docs[i]
                item["document"] = doc if isinstance(doc, dict) else {"text": doc}
            results.append(item)
        return web.json_response(
            {
                "id": "07734bd2-2473-4f07-94e1-0d9f0e6843cf",
                "results": results,
                "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
            }
        )

    # --- Cloudflare Workers AI --------------------------------------------------------

    async def _cloudflare(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        model = request.match_info["model"]
        if model.endswith("-429"):
            return web.json_response(
                {
                    "result": None,
                    "success": False,
                    "errors": [{"code": 3040, "message": "No more data centers"}],
                    "messages": [],
                },
                status=429,
            )
        usage = {"prompt_tokens": 18, "completion_tokens": 4, "total_tokens": 22}
        if not body.get("stream"):
            return web.json_response(
                {
                    "result": {"response": "Hello from Workers AI", "usage": usage},
                    "success": True,
                    "errors": [],
                    "messages": [],
                }
            )
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for token in ("Hello", " from", " Workers", " AI"):
            data = json.dumps({"response": token, "p": "abcdefghij"})
            await resp.write(f"data: {data}\n\n".encode())
        await resp.write(f"data: {json.dumps({'response': '', 'usage': usage})}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    # --- Replicate --------------------------------------------------------------------

    def _prediction(self, pid: str, status: str, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": pid,
            "model": "meta/meta-llama-3-8b-instruct",
            "version": "dp-cf04fe09351e25db628e8b6181276547",
            "input": body.get("input", {}),
            "logs": "",
            "output": None,
            "data_removed": False,
            "error": None,
            "status": status,
            "created_at": "2024-07-18T12:00:00.000Z",
            "urls": {
                "cancel": f"{self.base}/v1/predictions/{pid}/cancel",
                "get": f"{self.base}/v1/predictions/{pid}",
                "stream": f"{self.base}/v1/streams/{pid}",
            },
        }
        if status == "succeeded":
            out["output"] = ["Hello", " from", " Replicate"]
            out["metrics"] = {
                "predict_time": 0.51,
                "input_token_count": 14,
                "output_token_count": 3,
                "tokens_per_second": 42.1,
            }
        return out

    async def _replicate_create(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        if request.match_info.get("name", "").endswith("-429"):
            return web.json_response(
                {
                    "title": "Request was throttled",
                    "detail": "Expected available in 1 second.",
                    "status": 429,
                },
                status=429,
                headers={"retry-after": "1"},
            )
        self._next_id += 1
        pid = f"gm3qorzdhgbfurvjtvhg6dckhu{self._next_id}"
        self._polls[pid] = 0
        return web.json_response(self._prediction(pid, "starting", body), status=201)

    async def _replicate_get(self, request: web.Request) -> web.Response:
        await self._record(request)
        pid = request.match_info["id"]
        n = self._polls.get(pid, len(_POLL_STATES))
        self._polls[pid] = n + 1
        status = _POLL_STATES[min(n, len(_POLL_STATES) - 1)]
        return web.json_response(self._prediction(pid, status, {}))

    async def _replicate_stream(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for i, token in enumerate(("Hello", " from", " Replicate")):
            await resp.write(f"event: output\nid: 1690212292:{i}\ndata: {token}\n\n".encode())
        await resp.write(b"event: done\ndata: {}\n\n")
        await resp.write_eof()
        return resp
