"""The fastest fake OpenAI (and Anthropic) upstream we can write in Python.

Why: `just bench` measures what the gateway adds, so the upstream must cost as little as
possible. A raw asyncio Protocol on uvloop with every response pre-encoded does no JSON
work per request: it finds the end of the headers, reads `Content-Length`, skips the body
and writes fixed bytes. It speaks just enough HTTP/1.1 for a keep-alive client: no
chunked request bodies, no pipelining guarantees beyond in-order answers.

Routes (POST):
- `/v1/chat/completions`, `/chat/completions`: an OpenAI `chat.completion` with usage, or,
  when the body has `"stream":true` / `"stream": true`, an SSE stream of `chat.completion.chunk`
  events, a usage chunk and `data: [DONE]`, sent with chunked transfer encoding.
- `/v1/messages`, `/messages`: an Anthropic Messages response (SSE when streaming).
- GET `/health`: `{"status":"ok"}`.

Run: `python benchmarks/fake_upstream.py --port 8001`; prints `ready` once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Any, cast

__all__ = ["build_responses", "main", "serve"]

_MODEL = "gpt-4o-mini-2024-07-18"
_CREATED = 1_730_000_000
_CHAT_ID = "chatcmpl-benchFAKE0123456789abcdefghij"
_FINGERPRINT = "fp_0ba0d124f1"
_WORDS = ["Hello", "!", " How", " can", " I", " assist", " you", " today", "?", " Ask"]
_MAX_HEADER = 64 * 1024


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _usage() -> dict[str, Any]:
    return {
        "prompt_tokens": 19,
        "completion_tokens": 10,
        "total_tokens": 29,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _chat_completion() -> bytes:
    return _json(
        {
            "id": _CHAT_ID,
            "object": "chat.completion",
            "created": _CREATED,
            "model": _MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "".join(_WORDS),
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(),
            "service_tier": "default",
            "system_fingerprint": _FINGERPRINT,
        }
    )


def _chunk(delta: dict[str, Any], finish: str | None, *, usage: bool = False) -> dict[str, Any]:
    choices = (
        [] if usage else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    )
    return {
        "id": _CHAT_ID,
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": _MODEL,
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
        "choices": choices,
        "usage": _usage() if usage else None,
    }


def _chat_stream_events() -> list[bytes]:
    events = [_chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    events += [_chunk({"content": w}, None) for w in _WORDS[:-1]]
    events.append(_chunk({}, "stop"))
    events.append(_chunk({}, None, usage=True))
    out = [b"data: " + _json(e) + b"\n\n" for e in events]
    out.append(b"data: [DONE]\n\n")
    return out


def _anthropic_message() -> bytes:
    return _json(
        {
            "id": "msg_01BenchFake0123456789abcd",
            "type": "message",
            "role": "assistant",
            "model": "claude-3-5-haiku-20241022",
            "content": [{"type": "text", "text": "".join(_WORDS)}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 19,
                "output_tokens": 10,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
    )


def _anthropic_stream_events() -> list[bytes]:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_01BenchFake0123456789abcd",
            "type": "message",
            "role": "assistant",
            "model": "claude-3-5-haiku-20241022",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 19, "output_tokens": 1},
        },
    }
    events: list[tuple[str, dict[str, Any]]] = [("message_start", start)]
    events.append(
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        )
    )
    events.append(("ping", {"type": "ping"}))
    for w in _WORDS:
        delta = {"type": "text_delta", "text": w}
        events.append(
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 10},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return [b"event: " + name.encode() + b"\ndata: " + _json(d) + b"\n\n" for name, d in events]


def _gemini_response() -> bytes:
    """Gemini generateContent (non-streaming) with usage, as the native adapter reads it."""
    return _json(
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [{"text": "Hello from the fake upstream!"}],
                    },
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 11,
                "candidatesTokenCount": 7,
                "totalTokenCount": 18,
            },
            "modelVersion": "gemini-bench",
        }
    )


def _converse_response() -> bytes:
    """Bedrock Converse (non-streaming) with usage."""
    return _json(
        {
            "output": {
                "message": {
                    "role": "assistant",
                    "content": [{"text": "Hello from the fake upstream!"}],
                }
            },
            "stopReason": "end_turn",
            "usage": {"inputTokens": 11, "outputTokens": 7, "totalTokens": 18},
            "metrics": {"latencyMs": 1},
        }
    )


def _fixed(status: bytes, ctype: bytes, body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\ncontent-type: "
        + ctype
        + b"\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n"
        + extra
        + b"\r\n"
        + body
    )


def _chunked(ctype: bytes, events: list[bytes], extra: bytes = b"") -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: "
        + ctype
        + b"\r\ntransfer-encoding: chunked\r\ncache-control: no-cache\r\n"
        + extra
        + b"\r\n"
    )
    body = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events)
    return head + body + b"0\r\n\r\n"


def build_responses() -> dict[tuple[bytes, bool], bytes]:
    """Every response, fully encoded once, keyed by (path, streaming)."""
    oa_hdr = b"openai-processing-ms: 1\r\nx-request-id: req_bench\r\n"
    json_t = b"application/json"
    sse_t = b"text/event-stream; charset=utf-8"
    chat = _fixed(b"200 OK", json_t, _chat_completion(), oa_hdr)
    chat_sse = _chunked(sse_t, _chat_stream_events(), oa_hdr)
    msg = _fixed(b"200 OK", json_t, _anthropic_message(), b"request-id: req_bench\r\n")
    msg_sse = _chunked(sse_t, _anthropic_stream_events(), b"request-id: req_bench\r\n")
    table: dict[tuple[bytes, bool], bytes] = {}
    for path in (b"/v1/chat/completions", b"/chat/completions"):
        table[path, False], table[path, True] = chat, chat_sse
    for path in (b"/v1/messages", b"/messages"):
        table[path, False], table[path, True] = msg, msg_sse
    return table


_RESPONSES = build_responses()
# Native vendors addressed by suffix (the model id is in the path); paths are lowercased.
_SUFFIXES: tuple[tuple[bytes, bytes], ...] = (
    (b":generatecontent", _fixed(b"200 OK", b"application/json", _gemini_response())),
    (b"/converse", _fixed(b"200 OK", b"application/json", _converse_response())),
)
_HEALTH = _fixed(b"200 OK", b"application/json", b'{"status":"ok"}')
_NOT_FOUND = _fixed(
    b"404 Not Found",
    b"application/json",
    b'{"error":{"message":"not found","type":"invalid_request_error","param":null,"code":null}}',
)
_BAD = _fixed(b"400 Bad Request", b"text/plain", b"bad request", b"connection: close\r\n")


class _Upstream(asyncio.Protocol):
    """One keep-alive connection: parse head, skip `Content-Length` bytes, answer."""

    __slots__ = ("buf", "transport")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only duck-typed ones
        self.transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self._handle_one():
            pass

    def _handle_one(self) -> bool:
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > _MAX_HEADER:
                self._fail()
            return False
        head = bytes(buf[:end]).lower()
        length = 0
        pos = head.find(b"\r\ncontent-length:")
        if pos >= 0:
            eol = head.find(b"\r\n", pos + 2)
            try:
                length = int(head[pos + 17 : eol if eol >= 0 else len(head)])
            except ValueError:
                self._fail()
                return False
        total = end + 4 + length
        if len(buf) < total:
            return False
        body = bytes(buf[end + 4 : total])
        del buf[:total]
        self._answer(head, body)
        return self.transport is not None and not self.transport.is_closing()

    def _answer(self, head: bytes, body: bytes) -> None:
        transport = self.transport
        assert transport is not None
        sp1 = head.find(b" ")
        sp2 = head.find(b" ", sp1 + 1)
        method, target = head[:sp1], head[sp1 + 1 : sp2]
        path = target.split(b"?", 1)[0]
        if method == b"post":
            stream = b'"stream":true' in body or b'"stream": true' in body
            answer = _RESPONSES.get((path, stream))
            if answer is None:
                answer = next((r for sfx, r in _SUFFIXES if path.endswith(sfx)), _NOT_FOUND)
            transport.write(answer)
        elif path == b"/health":
            transport.write(_HEALTH)
        else:
            transport.write(_NOT_FOUND)
        if b"\r\nconnection: close" in head:
            transport.close()

    def _fail(self) -> None:
        if self.transport is not None:
            self.transport.write(_BAD)
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(host: str, port: int) -> None:
    """Listen until SIGINT/SIGTERM; prints `ready` (and the port) once bound."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Upstream, host, port, backlog=4096, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    bound = server.sockets[0].getsockname()[1]
    print(f"ready {bound}", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    args = parser.parse_args(argv)
    try:
        import uvloop
    except ImportError:  # still correct, just slower
        print("uvloop not installed; using asyncio's default loop", file=sys.stderr)
        asyncio.run(serve(args.host, args.port))
    else:
        uvloop.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
