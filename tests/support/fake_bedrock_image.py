"""A fake Bedrock runtime for image generation: `POST /model/{modelId}/invoke`, SigV4-checked.

It recomputes each request's SigV4 signature from the request as received (path as on
the wire, encoded once more; signed headers; SHA-256 of the body), written here apart
from the gateway's signer so a gateway bug cannot hide behind shared code. It answers
per model family as Bedrock documents: Nova Canvas / Titan `{"images": [...]}`,
Stability SD3 / Stable Image `{"seeds", "finish_reasons", "images"}`, SDXL
`{"artifacts": [{"base64", "finishReason"}]}`. A model id ending in `-blocked`
answers the content-filter ValidationException Titan and Nova Canvas send.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web

__all__ = ["PNG_B64", "FakeBedrockImage", "ImageRequest"]

# A 1x1 PNG, base64, as Bedrock returns images.
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


@dataclass
class ImageRequest:
    """One InvokeModel request as received, and whether its signature checked out."""

    raw_path: str
    model_id: str
    headers: dict[str, str]
    body: Any
    auth: str  # "sigv4" or the reason it was refused


def _sign_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _answer(model_id: str, body: dict[str, Any]) -> dict[str, Any]:
    if model_id.startswith("stability.") and ("sd3" in model_id or "stable-image" in model_id):
        return {"seeds": [body.get("seed", 1)], "finish_reasons": [None], "images": [PNG_B64]}
    if model_id.startswith("stability."):
        return {
            "result": "success",
            "artifacts": [{"seed": 1, "base64": PNG_B64, "finishReason": "SUCCESS"}],
        }
    count = body.get("imageGenerationConfig", {}).get("numberOfImages", 1)
    return {"images": [PNG_B64] * count}


@dataclass
class FakeBedrockImage:
    """Runs in its own thread and loop; `secrets` maps access key id -> secret."""

    secrets: dict[str, str] = field(default_factory=lambda: {"AKIDFAKEIMAGE": "fake/image+secret"})
    region: str = "us-east-1"
    requests: list[ImageRequest] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeBedrockImage:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()

        threading.Thread(target=run, daemon=True, name="fake-bedrock-image").start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop and self._runner:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/model/{model_id}/invoke", self._invoke)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def _check_sigv4(self, request: web.Request, body: bytes) -> str:
        """Recompute the signature from the request as received; "sigv4" if it matches."""
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return "not SigV4"
        fields = dict(
            part.strip().split("=", 1) for part in auth.removeprefix("AWS4-HMAC-SHA256 ").split(",")
        )
        key_id, date, region, service, _ = fields.get("Credential", "////").split("/")
        secret = self.secrets.get(key_id)
        if secret is None:
            return "unknown access key"
        if region != self.region or service != "bedrock":
            return f"wrong scope {region}/{service}"
        amz_date = request.headers.get("x-amz-date", "")
        signed = fields.get("SignedHeaders", "").split(";")
        if amz_date[:8] != date or not {"host", "x-amz-date"} <= set(signed):
            return "bad date or signed headers"
        header_lines = "".join(
            f"{name}:{' '.join(request.headers.get(name, '').split())}\n" for name in signed
        )
        path = request.raw_path.partition("?")[0]
        creq = "\n".join(
            [
                request.method,
                quote(path, safe="/~"),
                "",
                header_lines,
                ";".join(signed),
                hashlib.sha256(body).hexdigest(),
            ]
        )
        scope = f"{date}/{region}/{service}/aws4_request"
        sts = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(creq.encode()).hexdigest()}"
        expected = hmac.new(
            _sign_key(secret, date, region, service), sts.encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, fields.get("Signature", "")):
            return "signature mismatch"
        return "sigv4"

    async def _invoke(self, request: web.Request) -> web.Response:
        raw = await request.read()
        rec = ImageRequest(
            request.raw_path,
            unquote(request.match_info["model_id"]),
            {k.lower(): v for k, v in request.headers.items()},
            json.loads(raw) if raw else None,
            self._check_sigv4(request, raw),
        )
        self.requests.append(rec)
        if rec.auth != "sigv4":
            return _error(403, "InvalidSignatureException", f"signature rejected ({rec.auth})")
        if rec.model_id.endswith("-blocked"):
            return _error(
                400,
                "ValidationException",
                "This request has been blocked by our content filters. Our filters "
                "automatically flagged this prompt because it may conflict our AUP or AWS "
                "Responsible AI Policy.",
            )
        return web.json_response(_answer(rec.model_id, rec.body))


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response(
        {"message": message},
        status=status,
        headers={
            "x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"
        },
    )
