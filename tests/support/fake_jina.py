"""A fake Jina AI on a real socket: `POST /v1/embeddings` and `POST /v1/rerank`.

Jina's documented shapes: embeddings answer OpenAI's list (`usage` carries
`total_tokens` and `prompt_tokens`), rerank answers `{model, usage: {total_tokens},
results: [{index, relevance_score, document: {text}}]}` sorted by score, documents only
when `return_documents` is true. A missing or wrong Bearer key answers 401, and a model
ending in `-429` answers Jina's FastAPI-style rate-limit error with `retry-after`.
Every request is recorded for assertions.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.threaded_server import ThreadedServer

__all__ = ["API_KEY", "FakeJina", "Recorded"]

API_KEY = "jina_upstream_secret"


@dataclass
class Recorded:
    """One request as the vendor received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


def _vector(seed: int) -> list[float]:
    return [round(0.01 * (seed + 1), 4), round(-0.02 * (seed + 1), 4), 0.5]


def _score(query: str, doc: object) -> float:
    """Word overlap between query and document: deterministic, order-revealing."""
    text = doc.get("text", "") if isinstance(doc, dict) else str(doc)
    q = set(query.lower().replace("?", "").split())
    d = set(str(text).lower().replace(".", "").replace(",", "").split())
    return round(len(q & d) / max(len(q), 1), 4)


@dataclass
class FakeJina(ThreadedServer):
    """Runs in its own thread and loop so sync and async clients can both call it."""

    requests: list[Recorded] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def last(self, path: str) -> Recorded:
        """The latest request to `path`."""
        return next(r for r in reversed(self.requests) if r.path == path)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/rerank", self._rerank)
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

    def _refuse(self, request: web.Request, body: dict[str, Any]) -> web.Response | None:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return web.json_response({"detail": "Unauthorized: invalid API key"}, status=401)
        if str(body.get("model", "")).endswith("-429"):
            return web.json_response(
                {"detail": "Rate limit exceeded: 500 requests per minute"},
                status=429,
                headers={"retry-after": "4"},
            )
        return None

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        refused = self._refuse(request, body)
        if refused is not None:
            return refused
        inputs = body.get("input", [])
        inputs = inputs if isinstance(inputs, list) else [inputs]
        tokens = sum(len(str(x).split()) for x in inputs)
        return web.json_response(
            {
                "model": body.get("model"),
                "object": "list",
                "usage": {"total_tokens": tokens, "prompt_tokens": tokens},
                "data": [
                    {"object": "embedding", "index": i, "embedding": _vector(i)}
                    for i in range(len(inputs))
                ],
            }
        )

    async def _rerank(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        refused = self._refuse(request, body)
        if refused is not None:
            return refused
        docs: list[Any] = body.get("documents", [])
        ranked = sorted(
            ((i, _score(body.get("query", ""), d)) for i, d in enumerate(docs)),
            key=lambda pair: -pair[1],
        )[: body.get("top_n") or len(docs)]
        results = []
        for index, score in ranked:
            result: dict[str, Any] = {"index": index, "relevance_score": score}
            if body.get("return_documents", True):
                doc = docs[index]
                result["document"] = doc if isinstance(doc, dict) else {"text": doc}
            results.append(result)
        return web.json_response(
            {"model": body.get("model"), "usage": {"total_tokens": 42}, "results": results}
        )
