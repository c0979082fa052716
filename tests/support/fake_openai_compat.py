"""Fake OpenAI-compatible vendors (groq, mistral, together_ai, ...) on one real socket.

Each vendor lives under its own path prefix, mirroring its real URL layout, so a
deployment's `api_base` is `{base}/groq/openai/v1`, `{base}/mistral` (the adapter must add
`/v1`), `{base}/together/v1`, ... Answers use each vendor's documented shapes: Groq's
`x_groq` and `service_tier: "on_demand"`, Mistral's strict request schema (422
`extra_forbidden` for a field it does not know, usage in the last stream chunk), Together's
rerank answer, the vendors' error bodies. Behaviour by model-name suffix: `-429` (rate
limited, `retry-after: 7`), `-ctx` (context window exceeded). Every request is recorded.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.threaded_server import ThreadedServer

__all__ = ["FakeOpenAICompat", "Recorded"]

# Mistral's chat request schema (docs.mistral.ai/api): anything else is a 422.
MISTRAL_CHAT_FIELDS = frozenset(
    {
        "model",
        "messages",
        "temperature",
        "top_p",
        "max_tokens",
        "stream",
        "stop",
        "random_seed",
        "response_format",
        "tools",
        "tool_choice",
        "presence_penalty",
        "frequency_penalty",
        "n",
        "prediction",
        "parallel_tool_calls",
        "prompt_mode",
        "safe_prompt",
    }
)
MISTRAL_TOOL_CHOICES = frozenset({"auto", "none", "any", "required"})


@dataclass
class Recorded:
    """One request as the vendor received it."""

    vendor: str
    path: str
    headers: dict[str, str]
    body: Any


def _rate_limit_body(vendor: str) -> dict[str, Any]:
    if vendor == "mistral":
        return {
            "object": "error",
            "message": "Requests rate limit exceeded",
            "type": "rate_limited",
            "param": None,
            "code": "1300",
        }
    if vendor == "groq":
        return {
            "error": {
                "message": "Rate limit reached for model on tokens per minute (TPM)",
                "type": "tokens",
                "code": "rate_limit_exceeded",
            }
        }
    return {"error": {"message": "You have exceeded the rate limit.", "type": "rate_limit"}}


def _context_body(vendor: str) -> dict[str, Any]:
    if vendor == "mistral":
        return {
            "object": "error",
            "message": "Prompt contains 40100 tokens and 0 draft tokens, too large for model "
            "with 32768 maximum context length",
            "type": "invalid_request_error",
            "param": None,
            "code": "3051",
        }
    return {
        "error": {
            "message": "Please reduce the length of the messages or completion.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }


def _wants_tool(body: dict[str, Any]) -> bool:
    messages = body.get("messages") or []
    return bool(body.get("tools")) and bool(messages) and messages[-1].get("role") == "user"


def _words(text: object) -> set[str]:
    return set(re.findall(r"[a-z]+", str(text).lower()))


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


@dataclass
class FakeOpenAICompat(ThreadedServer):
    """Runs in its own thread and loop so sync and async clients can both call it."""

    requests: list[Recorded] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def last(self, vendor: str) -> Recorded:
        return next(r for r in reversed(self.requests) if r.vendor == vendor)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/{vendor}/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        vendor, tail = request.match_info["vendor"], request.match_info["tail"]
        raw = await request.read()
        body = json.loads(raw) if raw else {}
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Recorded(vendor, request.path, headers, body))
        model = str(body.get("model", ""))
        if model.endswith("-429"):
            return web.json_response(
                _rate_limit_body(vendor), status=429, headers={"retry-after": "7"}
            )
        if model.endswith("-ctx"):
            return web.json_response(_context_body(vendor), status=400)
        if tail.endswith("chat/completions"):
            return await self._chat(request, vendor, body)
        if tail.endswith("embeddings"):
            return self._embeddings(body)
        if tail.endswith("rerank") and vendor == "together":
            return self._together_rerank(body)
        return web.json_response({"error": {"message": f"no route {tail}"}}, status=404)

    def _mistral_violation(self, body: dict[str, Any]) -> web.Response | None:
        extra = sorted(set(body) - MISTRAL_CHAT_FIELDS)
        choice = body.get("tool_choice")
        if isinstance(choice, dict) or (choice is not None and choice not in MISTRAL_TOOL_CHOICES):
            extra.append("tool_choice")
        if not extra:
            return None
        detail = [
            {"type": "extra_forbidden", "loc": ["body", k], "msg": "Extra inputs are not permitted"}
            for k in extra
        ]
        return web.json_response({"detail": detail}, status=422)

    async def _chat(
        self, request: web.Request, vendor: str, body: dict[str, Any]
    ) -> web.StreamResponse:
        if vendor == "mistral":
            violation = self._mistral_violation(body)
            if violation is not None:
                return violation
        if body.get("stream"):
            return await self._stream(request, vendor, body)
        message: dict[str, Any] = {"role": "assistant", "content": f"Hello from {vendor}!"}
        finish = "stop"
        if _wants_tool(body):
            name = body["tools"][0]["function"]["name"]
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_fake1",
                        "type": "function",
                        "function": {"name": name, "arguments": '{"city": "Paris"}'},
                    }
                ],
            }
            finish = "tool_calls"
        answer: dict[str, Any] = {
            "id": f"chatcmpl-{vendor}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": _usage(14, 6),
        }
        if vendor == "groq":
            answer["service_tier"] = "on_demand"
            answer["x_groq"] = {"id": "req_fake"}
        if vendor == "perplexity":
            answer["citations"] = ["https://example.com/a"]
        return web.json_response(answer)

    async def _stream(
        self, request: web.Request, vendor: str, body: dict[str, Any]
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        base = {
            "id": f"chatcmpl-{vendor}-stream",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model"),
        }

        async def send(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> None:
            chunk = {
                **base,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())

        await send({"role": "assistant", "content": ""})
        if _wants_tool(body):
            name = body["tools"][0]["function"]["name"]
            first = {"index": 0, "id": "call_fake1", "type": "function"}
            await send({"tool_calls": [{**first, "function": {"name": name, "arguments": ""}}]})
            for piece in ('{"city"', ': "Paris"}'):
                await send({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            finish = "tool_calls"
        else:
            for word in ("Hello", " from", f" {vendor}", "!"):
                await send({"content": word})
            finish = "stop"
        usage = _usage(12, 4)
        if vendor == "mistral":  # Mistral: usage rides on the last chunk, always
            await send({}, finish, usage=usage)
        elif vendor == "groq":
            await send({}, finish, x_groq={"id": "req_fake", "usage": usage})
        else:
            await send({}, finish)
        wants_usage = (body.get("stream_options") or {}).get("include_usage")
        if wants_usage and vendor != "mistral":
            await resp.write(
                f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode()
            )
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    def _embeddings(self, body: dict[str, Any]) -> web.Response:
        inputs = body.get("input")
        n = len(inputs) if isinstance(inputs, list) else 1
        return web.json_response(
            {
                "id": "emb-fake",
                "object": "list",
                "model": body.get("model"),
                "data": [
                    {"object": "embedding", "index": i, "embedding": [0.25, -0.5, 0.125]}
                    for i in range(n)
                ],
                "usage": {"prompt_tokens": 4 * n, "total_tokens": 4 * n},
            }
        )

    def _together_rerank(self, body: dict[str, Any]) -> web.Response:
        docs = body.get("documents") or []
        query = _words(body.get("query", ""))
        # Word overlap with the query; ties go to the later document.
        scored = sorted(
            ((len(query & _words(d)) / 10, i) for i, d in enumerate(docs)), reverse=True
        )
        top = scored[: body.get("top_n") or len(scored)]
        results = []
        for score, i in top:
            item: dict[str, Any] = {"index": i, "relevance_score": round(0.5 + score, 4)}
            item["document"] = {"text": docs[i]} if body.get("return_documents") else None
            results.append(item)
        return web.json_response(
            {
                "object": "rerank",
                "id": "rr-fake-1",
                "model": body.get("model"),
                "results": results,
                "usage": {"prompt_tokens": 42, "completion_tokens": 0, "total_tokens": 42},
            }
        )
