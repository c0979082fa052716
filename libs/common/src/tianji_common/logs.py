"""Structured logging that never writes a key or a prompt.

Why: LiteLLM users found keys in logs and exceptions (PP-18). Handlers here format
JSON when `json_logs` is set, and a filter masks anything shaped like a key in every
message, as defence in depth behind code that never logs bodies or headers.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time

__all__ = ["JsonFormatter", "RedactingFilter", "configure_logging", "redact"]

_SECRET = re.compile(
    r"(sk-[A-Za-z0-9_\-]{4})[A-Za-z0-9_\-]{4,}"  # OpenAI/LiteLLM-style keys
    r"|(?i:(bearer\s+))[A-Za-z0-9_\-.=]{8,}"
    # key=value secrets: only values that look like secrets (8+ chars with a digit), so a
    # message such as "api_key: environment variable X is not set" stays readable.
    r"|(?i:((?:api[_-]?key|password|secret|token)[\"']?\s*[:=]\s*[\"']?))"
    r"(?=[^\s\"',}]*\d)[^\s\"',}]{8,}"
)


def _mask(m: re.Match[str]) -> str:
    if m.group(1):
        return m.group(1) + "…REDACTED"
    prefix = m.group(2) or m.group(3) or ""
    return prefix + "REDACTED"


def redact(text: str) -> str:
    """Mask key-shaped substrings; keeps the first 4 characters of an `sk-` key."""
    return _SECRET.sub(_mask, text)


class RedactingFilter(logging.Filter):
    """Render the message once, redact it, and drop the args."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record; only its text changes."""
        record.msg = redact(record.getMessage())
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, exception type."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialize a record; tracebacks are redacted too."""
        out: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[1] is not None:
            out["exc_type"] = type(record.exc_info[1]).__name__
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)


def configure_logging(*, json_logs: bool, debug: bool) -> None:
    """Set up the root logger once per process (the CLI calls this)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if json_logs:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for noisy in ("aiohttp.access", "granian.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
