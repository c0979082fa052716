"""SSE parser: WHATWG framing rules, and identical events under any byte split."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tianji_gateway.streaming.sse import SSEEvent, SSEParser, frame

STREAM = (
    b": comment\n"
    b'event: message_start\r\ndata: {"a": 1}\r\n\r\n'
    b"data: line one\ndata: line two\n\n"
    b"id: 7\ndata:no-space\n\n"
    b"event: ping\n\n"  # no data: not dispatched
    b'data: {"b": "\xc3\xa9"}\r\r'
    b"data: [DONE]\n\n"
)
EXPECTED = [
    SSEEvent(b'{"a": 1}', "message_start"),
    SSEEvent(b"line one\nline two"),
    SSEEvent(b"no-space", None, "7"),
    SSEEvent(b'{"b": "\xc3\xa9"}', None, "7"),
    SSEEvent(b"[DONE]", None, "7"),
]


def parse_all(chunks: list[bytes]) -> list[SSEEvent]:
    p = SSEParser()
    out: list[SSEEvent] = []
    for c in chunks:
        out.extend(p.feed(c))
    out.extend(p.flush())
    return out


def test_whole_stream() -> None:
    assert parse_all([STREAM]) == EXPECTED


def test_byte_by_byte() -> None:
    assert parse_all([STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=20))
def test_any_split_gives_same_events(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    chunks = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    assert parse_all(chunks) == EXPECTED


@given(
    st.lists(
        st.binary(min_size=1, max_size=40).filter(lambda b: b"\n" not in b and b"\r" not in b),
        min_size=1,
        max_size=10,
    ),
    st.data(),
)
def test_roundtrip_of_framed_payloads(payloads: list[bytes], data: st.DataObject) -> None:
    wire = b"".join(frame(p) for p in payloads)
    cut = data.draw(st.lists(st.integers(0, len(wire)), max_size=10))
    points = sorted(set(cut))
    chunks = [wire[a:b] for a, b in zip([0, *points], [*points, len(wire)], strict=True)]
    got = [e.data for e in parse_all(chunks)]
    assert got == payloads  # frame() writes "data: ", the parser strips exactly that space


def test_unterminated_last_event_flushed() -> None:
    p = SSEParser()
    assert p.feed(b"data: tail") == []
    assert p.flush() == [SSEEvent(b"tail")]


def test_frame_with_event_name() -> None:
    assert frame(b"{}", "ping") == b"event: ping\ndata: {}\n\n"
