"""Incremental Server-Sent Events parser.

Why: upstream streams arrive split at arbitrary byte boundaries; this parser keeps only
the unfinished tail between `feed` calls and never collects the whole stream (PP-11).
Follows the WHATWG event-stream rules for `event:`, `data:` (joined with "\n"), `id:`,
comments and CR/LF/CRLF line endings.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SSEEvent", "SSEParser", "frame"]


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event: the `event:` name (None if absent) and the joined data."""

    data: bytes
    event: str | None = None
    id: str | None = None


class SSEParser:
    """Feed bytes, get complete events; state is only the partial line and event."""

    __slots__ = ("_buf", "_data", "_event", "_has_data", "_id", "_pending_cr")

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[bytes] = []
        self._event: str | None = None
        self._id: str | None = None
        self._has_data = False
        self._pending_cr = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Parse as many complete lines as `chunk` finishes; return dispatched events."""
        if self._pending_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the LF of a CRLF split across two chunks
        self._pending_cr = False
        buf = self._buf + chunk if self._buf else chunk
        out: list[SSEEvent] = []
        start = 0
        n = len(buf)
        while start < n:
            lf = buf.find(b"\n", start)
            cr = buf.find(b"\r", start, lf if lf != -1 else n)
            if cr != -1:
                end, nxt = cr, cr + 1
                if nxt < n and buf[nxt] == 0x0A:
                    nxt += 1
                elif nxt == n:
                    self._pending_cr = True
            elif lf != -1:
                end, nxt = lf, lf + 1
            else:
                break
            self._line(buf[start:end], out)
            start = nxt
        self._buf = buf[start:]
        return out

    def flush(self) -> list[SSEEvent]:
        """End of stream: a last line without a terminator, then any pending event."""
        out: list[SSEEvent] = []
        if self._buf:
            self._line(self._buf, out)
            self._buf = b""
        self._line(b"", out)
        return out

    def _line(self, line: bytes, out: list[SSEEvent]) -> None:
        if not line:
            if self._has_data:
                out.append(SSEEvent(b"\n".join(self._data), self._event, self._id))
            self._data = []
            self._event = None
            self._has_data = False
            return
        if line[0] == 0x3A:  # ":" comment
            return
        colon = line.find(b":")
        if colon == -1:
            field, value = line, b""
        else:
            field = line[:colon]
            value = line[colon + 1 :]
            if value[:1] == b" ":
                value = value[1:]
        if field == b"data":
            self._data.append(value)
            self._has_data = True
        elif field == b"event":
            self._event = value.decode("utf-8", "replace")
        elif field == b"id" and b"\x00" not in value:
            self._id = value.decode("utf-8", "replace")


def frame(payload: bytes, event: str | None = None) -> bytes:
    """Encode one SSE event (single-line JSON payloads, as every vendor sends)."""
    if event is None:
        return b"data: " + payload + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"
