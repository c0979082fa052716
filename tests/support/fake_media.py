"""A fake OpenAI media vendor on a real socket: transcriptions, speech, image generation.

It checks what it receives as OpenAI would (a wrong key is a 401; a model outside
`models`, i.e. not rewritten to the deployment's model, a 404; a transcription without
a multipart `file` a 400) and records every request, parsed by aiohttp's own multipart
reader, for the test's field-by-field assertions. Served under `/v1` (OpenAI) and
`/openai/v1` (Groq's OpenAI-compatible base).
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.support.threaded_server import ThreadedServer

__all__ = ["FakeMedia", "FormFile", "MediaRequest"]

# Audio the fake "synthesises", one per OpenAI response_format, with real magic numbers.
SPEECH: dict[str, tuple[bytes, str]] = {
    "mp3": (b"ID3\x04\x00\x00\x00\x00\x00\x0f" + bytes(range(256)) * 8, "audio/mpeg"),
    "opus": (b"OggS\x00\x02" + bytes(range(255, -1, -1)) * 4, "audio/opus"),
    "wav": (b"RIFF\x24\x08\x00\x00WAVEfmt " + b"\x00\x01" * 300, "audio/wav"),
    "flac": (b"fLaC\x00\x00\x00\x22" + b"\xfe" * 100, "audio/flac"),
    "aac": (b"\xff\xf1\x50\x80" + b"\x10" * 100, "audio/aac"),
    "pcm": (b"\x00\x00\x01\x00" * 200, "audio/pcm"),
}
TRANSCRIPT = "The quick brown fox jumped over the lazy dog."
PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image").decode()


@dataclass(frozen=True)
class FormFile:
    """A file field as the vendor received it."""

    filename: str | None
    content_type: str
    data: bytes


@dataclass
class MediaRequest:
    """One request as the vendor received it."""

    path: str
    headers: dict[str, str]
    json: dict[str, Any] | None = None
    form: dict[str, list[str | FormFile]] = field(default_factory=dict)


def _error(status: int, message: str, type_: str, code: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return web.json_response(body, status=status)


@dataclass
class FakeMedia(ThreadedServer):
    """Runs in its own thread and loop, like `fake_upstream.FakeUpstream`."""

    api_key: str
    models: frozenset[str]
    requests: list[MediaRequest] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        for prefix in ("/v1", "/openai/v1"):
            app.router.add_post(f"{prefix}/audio/transcriptions", self._transcribe)
            app.router.add_post(f"{prefix}/audio/speech", self._speech)
            app.router.add_post(f"{prefix}/images/generations", self._images)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def _check(self, rec: MediaRequest, model: object) -> web.Response | None:
        self.requests.append(rec)
        if rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(
                401, "Incorrect API key provided", "invalid_request_error", "invalid_api_key"
            )
        if model not in self.models:
            msg = f"The model `{model}` does not exist or you do not have access to it."
            return _error(404, msg, "invalid_request_error", "model_not_found")
        return None

    async def _read_form(self, request: web.Request) -> dict[str, list[str | FormFile]]:
        form: dict[str, list[str | FormFile]] = {}
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            assert isinstance(part, aiohttp.BodyPartReader)  # no nested multipart
            data = await part.read()
            value: str | FormFile
            if part.filename is not None:
                ctype = part.headers.get("content-type", "application/octet-stream")
                value = FormFile(part.filename, ctype, bytes(data))
            else:
                value = bytes(data).decode()
            form.setdefault(part.name or "", []).append(value)
        return form

    async def _transcribe(self, request: web.Request) -> web.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        if not headers.get("content-type", "").startswith("multipart/form-data; boundary="):
            return _error(400, "expected multipart/form-data", "invalid_request_error")
        rec = MediaRequest(request.path, headers, form=await self._read_form(request))
        model = (rec.form.get("model") or [None])[0]
        if (bad := self._check(rec, model)) is not None:
            return bad
        files = rec.form.get("file") or []
        if len(files) != 1 or not isinstance(files[0], FormFile):
            return _error(400, "file is a required multipart file field", "invalid_request_error")
        fmt = (rec.form.get("response_format") or ["json"])[0]
        return _transcription(fmt, len(files[0].data))

    async def _speech(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        rec = MediaRequest(request.path, {k.lower(): v for k, v in request.headers.items()}, body)
        if (bad := self._check(rec, body.get("model"))) is not None:
            return bad
        audio, ctype = SPEECH[body.get("response_format", "mp3")]
        return web.Response(body=audio, content_type=ctype)

    async def _images(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        rec = MediaRequest(request.path, {k.lower(): v for k, v in request.headers.items()}, body)
        if (bad := self._check(rec, body.get("model"))) is not None:
            return bad
        n = int(body.get("n", 1))
        if body.get("response_format") == "b64_json":
            data = [{"b64_json": PNG_B64} for _ in range(n)]
            usage: dict[str, Any] = {
                "total_tokens": 100,
                "input_tokens": 50,
                "output_tokens": 50,
                "input_tokens_details": {"text_tokens": 10, "image_tokens": 40},
            }
            return web.json_response({"created": 1713833628, "data": data, "usage": usage})
        data = [
            {"url": f"https://images.example/{i}.png", "revised_prompt": body["prompt"]}
            for i in range(n)
        ]
        return web.json_response({"created": 1713833628, "data": data})


def _transcription(fmt: str, size: int) -> web.Response:
    if fmt == "text":
        return web.Response(text=TRANSCRIPT + "\n", content_type="text/plain")
    if fmt == "srt":
        return web.Response(
            text=f"1\n00:00:00,000 --> 00:00:02,000\n{TRANSCRIPT}\n\n", content_type="text/plain"
        )
    if fmt == "vtt":
        return web.Response(
            text=f"WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n{TRANSCRIPT}\n\n",
            content_type="text/plain",
        )
    if fmt == "verbose_json":
        return web.json_response(
            {
                "task": "transcribe",
                "language": "english",
                "duration": 2.0,
                "text": TRANSCRIPT,
                "words": [{"word": "The", "start": 0.0, "end": 0.2}],
                "segments": [
                    {
                        "id": 0,
                        "seek": 0,
                        "start": 0.0,
                        "end": 2.0,
                        "text": TRANSCRIPT,
                        "tokens": [50364, 440],
                        "temperature": 0.0,
                        "avg_logprob": -0.2,
                        "compression_ratio": 1.1,
                        "no_speech_prob": 0.01,
                    }
                ],
                "usage": {"type": "duration", "seconds": 2},
                "x_file_bytes": size,
            }
        )
    return web.json_response(
        {
            "text": TRANSCRIPT,
            "usage": {
                "type": "tokens",
                "input_tokens": 14,
                "input_token_details": {"text_tokens": 0, "audio_tokens": 14},
                "output_tokens": 10,
                "total_tokens": 24,
            },
        }
    )
