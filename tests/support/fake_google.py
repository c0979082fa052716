"""A fake Google on a real socket: Gemini API, Vertex AI and an OAuth token endpoint.

Speaks the documented wire shapes: `POST /v1beta/models/{model}:generateContent`
(and `:streamGenerateContent?alt=sse`, `:batchEmbedContents`) with `x-goog-api-key`;
`POST /token` taking a jwt-bearer assertion, whose RS256 signature it verifies with the
public key the test registers; Vertex publisher paths (`publishers/google/...` Gemini,
`publishers/anthropic/...:rawPredict` Claude) that demand the issued Bearer token.
Behaviour is chosen by the request: `tools` present -> a function call answer. Every
request is recorded for assertions.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.support.threaded_server import ThreadedServer

__all__ = ["API_KEY", "ISSUED_TOKEN", "FakeGoogle", "Recorded"]

API_KEY = "AIza-fake-gemini-key"
ISSUED_TOKEN = "ya29.fake-vertex-access-token"


@dataclass
class Recorded:
    """One request as the vendor received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class FakeGoogle(ThreadedServer):
    """Runs in its own thread and loop so sync and async clients can both call it."""

    requests: list[Recorded] = field(default_factory=list)
    port: int = 0
    public_keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)  # kid -> key
    assertions: list[dict[str, Any]] = field(default_factory=list)  # verified JWT claims
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def trust(self, kid: str, public_key: rsa.RSAPublicKey) -> None:
        """Accept assertions signed by this key (as Google trusts a service account)."""
        self.public_keys[kid] = public_key

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/token", self._token)
        app.router.add_post("/v1beta/models/{target}", self._gemini)
        app.router.add_post(
            "/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{target}",
            self._vertex,
        )
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _record(self, request: web.Request) -> Any:
        raw = await request.read()
        ctype = request.headers.get("content-type", "")
        body: Any
        if ctype.startswith("application/x-www-form-urlencoded"):
            body = dict(parse_qsl(raw.decode()))
        else:
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
        return body

    # --- OAuth token endpoint ------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        form = await self._record(request)
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return _oauth_error("unsupported_grant_type")
        claims = self._verify(str(form.get("assertion", "")))
        if claims is None:
            return _oauth_error("invalid_grant")
        self.assertions.append(claims)
        return web.json_response(
            {"access_token": ISSUED_TOKEN, "expires_in": 3599, "token_type": "Bearer"}
        )

    def _verify(self, assertion: str) -> dict[str, Any] | None:
        try:
            head, body, sig = assertion.split(".")
            header = json.loads(_b64url_decode(head))
            key = self.public_keys[header["kid"]]
            key.verify(
                _b64url_decode(sig),
                f"{head}.{body}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (ValueError, KeyError, InvalidSignature):
            return None
        claims: dict[str, Any] = json.loads(_b64url_decode(body))
        ok = (
            header.get("alg") == "RS256"
            and claims.get("scope") == "https://www.googleapis.com/auth/cloud-platform"
            and claims.get("exp", 0) - claims.get("iat", 0) == 3600
            and claims.get("aud", "").endswith("/token")
        )
        return claims if ok else None

    # --- Gemini (AI Studio and Vertex publishers/google) ---------------------------------

    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if request.headers.get("x-goog-api-key") != API_KEY:
            return _google_error(
                403, "API key not valid. Please pass a valid API key.", "PERMISSION_DENIED"
            )
        return await self._gemini_answer(request, body)

    async def _vertex(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if request.headers.get("authorization") != f"Bearer {ISSUED_TOKEN}":
            return _google_error(
                401, "Request had invalid authentication credentials.", "UNAUTHENTICATED"
            )
        if request.match_info["publisher"] == "anthropic":
            return await self._claude(request, body)
        return await self._gemini_answer(request, body)

    async def _gemini_answer(self, request: web.Request, body: Any) -> web.StreamResponse:
        _, _, method = request.match_info["target"].partition(":")
        if method == "batchEmbedContents":
            n = len(body.get("requests", []))
            return web.json_response({"embeddings": [{"values": [0.1, 0.2, 0.3]}] * n})
        if "max tokens" in json.dumps(body.get("contents", [])):
            return _google_error(
                400,
                "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
                "INVALID_ARGUMENT",
            )
        parts = _answer_parts(body)
        if method == "streamGenerateContent":
            return await self._gemini_stream(request, parts)
        return web.json_response(
            {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": parts},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": 11,
                    "candidatesTokenCount": 6,
                    "totalTokenCount": 17,
                },
                "modelVersion": "gemini-2.0-flash",
                "responseId": "fake-response-1",
            }
        )

    async def _gemini_stream(self, request: web.Request, parts: list[Any]) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        if "functionCall" in parts[0]:
            pieces = [[p] for p in parts]
        else:
            pieces = [[{"text": w}] for w in ["Hello", " from", " Gemini"]]
        for i, chunk_parts in enumerate(pieces):
            last = i == len(pieces) - 1
            event: dict[str, Any] = {
                "candidates": [{"content": {"role": "model", "parts": chunk_parts}, "index": 0}],
                "usageMetadata": {"promptTokenCount": 9},
                "modelVersion": "gemini-2.0-flash",
                "responseId": "fake-stream-1",
            }
            if last:
                event["candidates"][0]["finishReason"] = "STOP"
                event["usageMetadata"] = {
                    "promptTokenCount": 9,
                    "candidatesTokenCount": 3,
                    "totalTokenCount": 12,
                }
            await resp.write(f"data: {json.dumps(event)}\r\n\r\n".encode())
        await resp.write_eof()
        return resp

    # --- Claude on Vertex ----------------------------------------------------------------

    async def _claude(self, request: web.Request, body: Any) -> web.StreamResponse:
        _, _, method = request.match_info["target"].partition(":")
        if "model" in body or body.get("anthropic_version") != "vertex-2023-10-16":
            return web.json_response(
                {
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": "bad body"},
                },
                status=400,
            )
        if method == "streamRawPredict":
            return await self._claude_stream(request)
        return web.json_response(
            {
                "id": "msg_vrtx_01",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-20250514",
                "content": [{"type": "text", "text": "Hi from Claude on Vertex"}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 14, "output_tokens": 6},
            }
        )

    async def _claude_stream(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        events = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_vrtx_s1",
                        "type": "message",
                        "role": "assistant",
                        "model": "claude-sonnet-4-20250514",
                        "content": [],
                        "stop_reason": None,
                        "usage": {"input_tokens": 10, "output_tokens": 1},
                    },
                },
            ),
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": "Hi from"},
                },
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": " Vertex"},
                },
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn"},
                    "usage": {"output_tokens": 4},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        for name, data in events:
            await resp.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        await resp.write_eof()
        return resp


def _answer_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    """A function call when tools are offered and no result came back yet, else text."""
    contents = body.get("contents", [])
    answered = any("functionResponse" in p for c in contents for p in c.get("parts", []))
    tools = body.get("tools") or []
    if tools and not answered:
        name = tools[0]["functionDeclarations"][0]["name"]
        return [
            {"functionCall": {"name": name, "args": {"city": "Paris"}}},
            {"functionCall": {"name": name, "args": {"city": "Tokyo"}}},
        ]
    return [{"text": "Hello from Gemini"}]


def _google_error(status: int, message: str, code: str) -> web.Response:
    body = {"error": {"code": status, "message": message, "status": code}}
    return web.json_response(body, status=status)


def _oauth_error(error: str) -> web.Response:
    return web.json_response({"error": error, "error_description": "fake"}, status=400)
