"""Fake alert receivers on real sockets: an HTTP endpoint (webhook, Slack) and SMTP.

Why our own tiny SMTP server: neither aiosmtpd nor an SMTP test server is locked; the
part of RFC 5321 that `smtplib.send_message` speaks without TLS or AUTH is a handful of
commands. Both run in one background thread with its own event loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiohttp import web

__all__ = ["AlertReceivers", "Mail"]


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: Message


@dataclass
class AlertReceivers:
    """POSTs to /webhook and /slack/... are recorded; SMTP mail is recorded."""

    fail_first_webhook: bool = False
    http_port: int = 0
    smtp_port: int = 0
    posts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    mails: list[Mail] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _smtp: asyncio.Server | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> AlertReceivers:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()

        threading.Thread(target=run, daemon=True, name="alert-receivers").start()
        if not ready.wait(10):
            raise RuntimeError("alert receivers did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)

    def bodies(self, path_prefix: str) -> list[dict[str, Any]]:
        with self._lock:
            return [b for p, bs in self.posts.items() if p.startswith(path_prefix) for b in bs]

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._smtp = await asyncio.start_server(self._smtp_session, "127.0.0.1", 0)
        self.smtp_port = self._smtp.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._smtp is not None:
            self._smtp.close()

    async def _post(self, request: web.Request) -> web.Response:
        path = request.path
        body = json.loads(await request.read())
        with self._lock:
            self.attempts[path] = self.attempts.get(path, 0) + 1
            if self.fail_first_webhook and path == "/webhook" and self.attempts[path] == 1:
                return web.Response(status=500, text="try again")
            self.posts.setdefault(path, []).append(body)
        return web.Response(text="ok")

    async def _smtp_session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        async def reply(line: str) -> None:
            writer.write(f"{line}\r\n".encode())
            await writer.drain()

        sender, recipients = "", []
        await reply("220 fake-smtp ready")
        try:
            while line := await reader.readline():
                command = line.decode(errors="replace").strip()
                verb = command.split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    await reply("250 fake-smtp")
                elif verb == "MAIL":
                    sender, recipients = command.split(":", 1)[1].strip("<> "), []
                    await reply("250 OK")
                elif verb == "RCPT":
                    recipients.append(command.split(":", 1)[1].strip("<> "))
                    await reply("250 OK")
                elif verb == "DATA":
                    await reply("354 end with <CRLF>.<CRLF>")
                    data = await reader.readuntil(b"\r\n.\r\n")
                    mail = Mail(sender, recipients, message_from_bytes(data[:-5]))
                    with self._lock:
                        self.mails.append(mail)
                    await reply("250 OK queued")
                elif verb == "QUIT":
                    await reply("221 bye")
                    break
                else:  # RSET, NOOP, ...
                    await reply("250 OK")
        finally:
            writer.close()
