"""Alert sinks: a generic JSON webhook, a Slack incoming webhook, email over SMTP.

Why stdlib (urllib, smtplib) in a thread: alerts are rare, off the spend path, and the
worker then needs no HTTP or SMTP client dependency. A sink raises on failure; the
dispatcher retries and logs. Nothing here logs a URL or a password: webhook URLs carry
their secret in the path (Slack's do).
"""

from __future__ import annotations

import asyncio
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING, Protocol

import msgspec

from tianji_spend_worker.alerts.model import webhook_payload

if TYPE_CHECKING:
    from tianji_spend_worker.alerts.model import Alert

__all__ = ["AlertSink", "EmailSink", "SinkError", "SlackSink", "WebhookSink"]

_json = msgspec.json.Encoder()


class SinkError(RuntimeError):
    """A send failed; the message is safe to log (no URL, no credentials)."""


class AlertSink(Protocol):
    """Somewhere an alert goes; `send` raises `SinkError` (or OSError) on failure."""

    @property
    def name(self) -> str:
        """Short, secret-free name for logs: "slack", "webhook", "email"."""
        ...

    async def send(self, alert: Alert) -> None:
        """Deliver one alert or raise."""
        ...


def _post_json(url: str, body: bytes, timeout: float) -> None:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise SinkError("webhook URL is not http(s)")
    request = urllib.request.Request(  # noqa: S310  # scheme checked above
        url, data=body, headers={"content-type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as exc:
        raise SinkError(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise SinkError(type(exc).__name__) from None


@dataclass(frozen=True, slots=True)
class WebhookSink:
    """POST LiteLLM's budget webhook JSON to `url` (env WEBHOOK_URL)."""

    url: str
    timeout: float = 5.0
    name: str = "webhook"

    async def send(self, alert: Alert) -> None:
        body = _json.encode(webhook_payload(alert))
        await asyncio.to_thread(_post_json, self.url, body, self.timeout)


@dataclass(frozen=True, slots=True)
class SlackSink:
    """POST `{"text": ...}` to a Slack incoming webhook (env SLACK_WEBHOOK_URL)."""

    url: str
    timeout: float = 5.0
    name: str = "slack"

    async def send(self, alert: Alert) -> None:
        body = _json.encode({"text": alert.message})
        await asyncio.to_thread(_post_json, self.url, body, self.timeout)


@dataclass(frozen=True, slots=True)
class EmailSink:
    """Email over SMTP with LiteLLM's settings (SMTP_HOST, SMTP_PORT, SMTP_TLS, ...)."""

    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    timeout: float = 10.0
    name: str = "email"

    async def send(self, alert: Alert) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Subject"] = f"LLM budget alert: {alert.message.split(':', 1)[0]}"
        message.set_content(f"{alert.message}\n\nalert id: {alert.id}\n")
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        import smtplib

        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username and self.password:
                    smtp.login(self.username, self.password)
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise SinkError(type(exc).__name__) from None
