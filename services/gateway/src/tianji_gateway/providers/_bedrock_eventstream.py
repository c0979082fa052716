"""Incremental parser for AWS's binary event stream (`application/vnd.amazon.eventstream`).

Why: Bedrock's ConverseStream answers in binary frames, not SSE (the framing is
documented at https://docs.aws.amazon.com/AmazonS3/latest/API/RESTSelectObjectAppendix.html).
A frame is a 12-byte prelude (total length, headers length, CRC32 of the first 8
bytes), typed headers, the payload and a CRC32 of everything before it. Frames arrive
split at arbitrary byte boundaries; this parser keeps only the unfinished tail (PP-11),
checks both CRCs, and turns `event` frames into `SSEEvent(data=payload,
event=:event-type)`. Exception frames become our errors.
"""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING

from tianji_common.errors import UpstreamError

from tianji_gateway.providers._bedrock_errors import stream_exception
from tianji_gateway.streaming.sse import SSEEvent

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["EventStreamParser", "HeaderValue", "decode_headers"]

HeaderValue = bool | int | bytes | str
_PRELUDE = 12
_MIN_FRAME = 16  # prelude + message CRC
# AWS caps an event-stream message at 16 MiB (aws-c-event-stream's
# AWS_EVENT_STREAM_MAX_MESSAGE_SIZE); a larger length is corruption, not data.
_MAX_FRAME = 16 * 1024 * 1024


def _corrupt(why: str) -> UpstreamError:
    return UpstreamError(f"bedrock: corrupt event stream ({why})", status=502, retryable=True)


def _fixed(fmt: str, size: int) -> Callable[[bytes, int], tuple[HeaderValue, int]]:
    def read(data: bytes, at: int) -> tuple[HeaderValue, int]:
        return struct.unpack_from(fmt, data, at)[0], at + size

    return read


def _sized(as_text: bool) -> Callable[[bytes, int], tuple[HeaderValue, int]]:
    def read(data: bytes, at: int) -> tuple[HeaderValue, int]:
        (length,) = struct.unpack_from("!H", data, at)
        raw = data[at + 2 : at + 2 + length]
        if len(raw) != length:
            raise _corrupt("header value runs past the headers")
        return (raw.decode() if as_text else raw), at + 2 + length

    return read


def _const(value: bool) -> Callable[[bytes, int], tuple[HeaderValue, int]]:
    def read(data: bytes, at: int) -> tuple[HeaderValue, int]:
        return value, at

    return read


def _uuid(data: bytes, at: int) -> tuple[HeaderValue, int]:
    return data[at : at + 16], at + 16


# Header value types 0-9 (bool true/false, byte, short, int, long, bytes, string,
# timestamp in ms, uuid), as botocore's EventStreamHeaderParser reads them.
_READERS: dict[int, Callable[[bytes, int], tuple[HeaderValue, int]]] = {
    0: _const(True),
    1: _const(False),
    2: _fixed("!b", 1),
    3: _fixed("!h", 2),
    4: _fixed("!i", 4),
    5: _fixed("!q", 8),
    6: _sized(as_text=False),
    7: _sized(as_text=True),
    8: _fixed("!q", 8),
    9: _uuid,
}


def decode_headers(data: bytes) -> dict[str, HeaderValue]:
    """The typed headers of one frame (names are 1-byte-length UTF-8)."""
    out: dict[str, HeaderValue] = {}
    at = 0
    try:
        while at < len(data):
            name_len = data[at]
            name = data[at + 1 : at + 1 + name_len].decode()
            kind = data[at + 1 + name_len]
            reader = _READERS.get(kind)
            if reader is None:
                raise _corrupt(f"unknown header type {kind}")
            out[name], at = reader(data, at + 2 + name_len)
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise _corrupt("malformed headers") from exc
    if at != len(data):
        raise _corrupt("header length mismatch")
    return out


class EventStreamParser:
    """Feed bytes, get one SSEEvent per complete `event` frame.

    An exception frame raises our error, but only after the events that preceded it in
    the same chunk were handed out: those were sent before the failure, so the client
    sees them first (the error is raised on the next `feed` or on `flush`).
    """

    __slots__ = ("_buf", "_pending")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pending: UpstreamError | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Parse every frame this chunk completes; raise on exception frames."""
        self._raise_pending()
        self._buf += chunk
        out: list[SSEEvent] = []
        start = 0
        buf = self._buf
        try:
            while len(buf) - start >= _PRELUDE:
                total, headers_len, prelude_crc = struct.unpack_from("!III", buf, start)
                if zlib.crc32(buf[start : start + 8]) != prelude_crc:
                    raise _corrupt("prelude CRC mismatch")
                if total < _MIN_FRAME or total > _MAX_FRAME or headers_len > total - _MIN_FRAME:
                    raise _corrupt("impossible frame length")
                if len(buf) - start < total:
                    break
                frame = bytes(buf[start : start + total])
                start += total
                event = _frame_event(frame, headers_len)
                if event is not None:
                    out.append(event)
        except UpstreamError as exc:
            if not out:
                raise
            self._pending = exc
        del buf[:start]
        return out

    def flush(self) -> list[SSEEvent]:
        """End of stream: a partial frame left over means the upstream cut us off."""
        self._raise_pending()
        if self._buf:
            raise _corrupt(f"stream ended inside a frame ({len(self._buf)} bytes left)")
        return []

    def _raise_pending(self) -> None:
        if self._pending is not None:
            err, self._pending = self._pending, None
            raise err


def _frame_event(frame: bytes, headers_len: int) -> SSEEvent | None:
    (message_crc,) = struct.unpack_from("!I", frame, len(frame) - 4)
    if zlib.crc32(frame[:-4]) != message_crc:
        raise _corrupt("message CRC mismatch")
    headers = decode_headers(frame[_PRELUDE : _PRELUDE + headers_len])
    payload = frame[_PRELUDE + headers_len : -4]
    kind = headers.get(":message-type", "event")
    if kind == "event":
        name = headers.get(":event-type")
        return SSEEvent(payload, name if isinstance(name, str) else None)
    if kind == "exception":
        name = headers.get(":exception-type")
        raise stream_exception(name if isinstance(name, str) else "", payload)
    if kind == "error":
        code, message = headers.get(":error-code"), headers.get(":error-message")
        raise stream_exception(
            code if isinstance(code, str) else "", b"", str(message or "bedrock stream error")
        )
    return None  # unknown message types are skipped, as the AWS SDKs do
