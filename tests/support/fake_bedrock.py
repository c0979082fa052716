"""A fake Amazon Bedrock runtime on a real socket: Converse, ConverseStream, InvokeModel, Rerank.

It checks every request the way AWS does: the SigV4 signature is recomputed from the
request as received (path exactly as on the wire, encoded once more; signed headers;
SHA-256 of the body) with the secret it knows for the access key, or a Bedrock API key
is checked as a Bearer token. Both are written here independently of the gateway's
code, so a gateway bug cannot hide behind a shared helper. Streams are real
`application/vnd.amazon.eventstream` frames (CRC32-checked prelude and message),
written in small uneven pieces so the gateway must reassemble them.

Behaviour is chosen by the model id's last `-` part: `-429` (ThrottlingException),
`-toolong` (ValidationException: input too long), `-blocked` (content filtering),
`-streamerr` (a throttlingException frame mid-stream); anything else answers. A
request with `toolConfig` whose last turn is not a tool result gets a tool call back.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from aiohttp import web

from tests.support.threaded_server import ThreadedServer

__all__ = ["FakeBedrock", "Recorded", "event_frame"]


@dataclass
class Recorded:
    """One request as the vendor received it, and whether its auth checked out."""

    method: str
    raw_path: str
    model_id: str | None
    headers: dict[str, str]
    body: Any
    auth: str  # "sigv4", "bearer" or the reason it was refused


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        bytes([len(raw_name)]) + raw_name + b"\x07" + struct.pack("!H", len(raw_value)) + raw_value
    )


def event_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude + prelude CRC, string headers, payload, CRC."""
    hdrs = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(hdrs) + len(payload) + 4
    prelude = struct.pack("!II", total, len(hdrs))
    head = prelude + struct.pack("!I", zlib.crc32(prelude)) + hdrs + payload
    return head + struct.pack("!I", zlib.crc32(head))


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    # Bedrock pads payloads with a "p" field so sizes do not leak content length.
    return event_frame(headers, json.dumps({**payload, "p": "abcdefgh"}).encode())


def _exception(kind: str, message: str) -> bytes:
    headers = {
        ":exception-type": kind,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return event_frame(headers, json.dumps({"message": message}).encode())


def _sign_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


@dataclass
class FakeBedrock(ThreadedServer):
    """Runs in its own thread and loop; `secrets` maps access key id -> secret."""

    secrets: dict[str, str] = field(default_factory=lambda: {"AKIDFAKEBEDROCK": "fake/secret+key"})
    api_keys: set[str] = field(default_factory=lambda: {"bedrock-api-key-fake"})
    region: str = "us-east-1"
    requests: list[Recorded] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/model/{model_id}/converse", self._converse)
        app.router.add_post("/model/{model_id}/converse-stream", self._converse_stream)
        app.router.add_post("/model/{model_id}/invoke", self._invoke)
        app.router.add_post("/rerank", self._rerank)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    # --- auth -----------------------------------------------------------------------

    def _check_sigv4(self, request: web.Request, body: bytes) -> str:
        """Recompute the signature from the request as received; "sigv4" if it matches."""
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return "bearer" if auth[7:] in self.api_keys else "unknown api key"
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
        if amz_date[:8] != date:
            return "x-amz-date does not match the credential scope"
        signed = fields.get("SignedHeaders", "").split(";")
        if not {"host", "x-amz-date"} <= set(signed):
            return "host and x-amz-date must be signed"
        path, _, query = request.raw_path.partition("?")
        canonical_query = "&".join(
            sorted(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in parse_qsl(query))
        )
        header_lines = "".join(
            f"{name}:{' '.join(request.headers.get(name, '').split())}\n" for name in signed
        )
        creq = "\n".join(
            [
                request.method,
                quote(path, safe="/~"),  # non-S3: the wire path is encoded once more
                canonical_query,
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
        token = request.headers.get("x-amz-security-token")
        if token is not None and "x-amz-security-token" not in signed:
            return "session token not signed"
        return "sigv4"

    async def _admit(self, request: web.Request) -> tuple[Recorded, web.Response | None]:
        raw = await request.read()
        auth = self._check_sigv4(request, raw)
        model_id = request.match_info.get("model_id")
        rec = Recorded(
            request.method,
            request.raw_path,
            unquote(model_id) if model_id is not None else None,
            {k.lower(): v for k, v in request.headers.items()},
            json.loads(raw) if raw else None,
            auth,
        )
        self.requests.append(rec)
        if auth not in ("sigv4", "bearer"):
            return rec, _error(
                403,
                "InvalidSignatureException",
                f"The request signature we calculated does not match the signature you provided ({auth})",
            )
        failure = _scenario_error(rec.model_id or "")
        return rec, failure

    # --- handlers ---------------------------------------------------------------------

    async def _converse(self, request: web.Request) -> web.Response:
        rec, failure = await self._admit(request)
        if failure is not None:
            return failure
        if _wants_tool(rec.body):
            content: list[dict[str, Any]] = [
                {"text": "Let me check."},
                {
                    "toolUse": {
                        "toolUseId": "tooluse_fake01",
                        "name": _tool_name(rec.body),
                        "input": {"city": "Paris"},
                    }
                },
            ]
            stop = "tool_use"
        else:
            content, stop = [{"text": "Hello from fake Bedrock!"}], "end_turn"
        return web.json_response(
            {
                "output": {"message": {"role": "assistant", "content": content}},
                "stopReason": stop,
                "usage": {"inputTokens": 12, "outputTokens": 6, "totalTokens": 18},
                "metrics": {"latencyMs": 42},
            }
        )

    async def _converse_stream(self, request: web.Request) -> web.StreamResponse:
        rec, failure = await self._admit(request)
        if failure is not None:
            return failure
        resp = web.StreamResponse(headers={"Content-Type": "application/vnd.amazon.eventstream"})
        await resp.prepare(request)
        frames = _stream_frames(rec)
        data = b"".join(frames)
        # Uneven pieces that cut through preludes, headers and payloads.
        at, sizes = 0, [5, 17, 3, 64, 11, 29]
        i = 0
        while at < len(data):
            size = sizes[i % len(sizes)]
            await resp.write(data[at : at + size])
            at += size
            i += 1
            await asyncio.sleep(0)
        await resp.write_eof()
        return resp

    async def _invoke(self, request: web.Request) -> web.Response:
        rec, failure = await self._admit(request)
        if failure is not None:
            return failure
        if (rec.model_id or "").startswith("cohere."):
            texts = rec.body["texts"]
            return web.json_response(
                {
                    "id": "emb-1",
                    "embeddings": [[0.1 * (i + 1), 0.2, 0.3] for i in range(len(texts))],
                    "response_type": "embeddings_floats",
                    "texts": texts,
                }
            )
        return web.json_response({"embedding": [0.5, -0.25, 0.125], "inputTextTokenCount": 4})

    async def _rerank(self, request: web.Request) -> web.Response:
        rec, failure = await self._admit(request)
        if failure is not None:
            return failure
        sources = rec.body["sources"]
        n = rec.body["rerankingConfiguration"]["bedrockRerankingConfiguration"]["numberOfResults"]
        results = [
            {"index": i, "relevanceScore": round(1.0 - i * 0.25, 2)}
            for i in reversed(range(len(sources)))
        ][:n]
        return web.json_response({"results": results})


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response(
        {"message": message},
        status=status,
        headers={
            "x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"
        },
    )


def _scenario_error(model_id: str) -> web.Response | None:
    scenario = model_id.rsplit("-", 1)[-1]
    if scenario == "429":
        return _error(
            429, "ThrottlingException", "Too many tokens, please wait before trying again."
        )
    if scenario == "toolong":
        return _error(400, "ValidationException", "Input is too long for requested model.")
    if scenario == "blocked":
        return _error(400, "ValidationException", "Output blocked by content filtering policy")
    return None


def _wants_tool(body: Any) -> bool:
    if not isinstance(body, dict) or "toolConfig" not in body:
        return False
    last = body["messages"][-1]["content"]
    return not any("toolResult" in block for block in last)


def _tool_name(body: dict[str, Any]) -> str:
    return str(body["toolConfig"]["tools"][0]["toolSpec"]["name"])


def _stream_frames(rec: Recorded) -> list[bytes]:
    frames = [_event("messageStart", {"role": "assistant"})]
    if _wants_tool(rec.body):
        frames += [
            _event(
                "contentBlockStart",
                {
                    "contentBlockIndex": 0,
                    "start": {
                        "toolUse": {"toolUseId": "tooluse_fake01", "name": _tool_name(rec.body)}
                    },
                },
            ),
            _event(
                "contentBlockDelta",
                {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '{"city": '}}},
            ),
            _event(
                "contentBlockDelta",
                {"contentBlockIndex": 0, "delta": {"toolUse": {"input": '"Paris"}'}}},
            ),
            _event("contentBlockStop", {"contentBlockIndex": 0}),
            _event("messageStop", {"stopReason": "tool_use"}),
        ]
    else:
        frames += [
            _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hello"}}),
            _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " from"}}),
        ]
        if (rec.model_id or "").endswith("-streamerr"):
            return [
                *frames,
                _exception(
                    "throttlingException", "Too many requests, please wait before trying again."
                ),
            ]
        frames += [
            _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " Bedrock"}}),
            _event("contentBlockStop", {"contentBlockIndex": 0}),
            _event("messageStop", {"stopReason": "end_turn"}),
        ]
    usage = {"inputTokens": 10, "outputTokens": 3, "totalTokens": 13}
    frames.append(_event("metadata", {"usage": usage, "metrics": {"latencyMs": 7}}))
    return frames
