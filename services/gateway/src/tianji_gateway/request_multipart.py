"""multipart/form-data bodies (audio transcriptions): parse on the way in, re-encode out.

Why the form travels as `dict[str, msgspec.Raw]` like a JSON body: the pipeline merges
config defaults, rewrites `model` and runs `map_params` on that dict for every op, so
a form has to look the same to reach the adapter with the deployment's model. Text
fields become JSON strings (repeated fields, e.g. `timestamp_granularities[]`, a JSON
list); a file field keeps its whole original part (headers and bytes, untouched) behind
a NUL byte, which no JSON text can start with, so the encoder knows it apart.

The parser is our own, on bytes already bounded by the body limit (fast path or
Litestar's `request_max_body_size`): it copies each file once and never decodes it.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, TypeGuard

import msgspec
from tianji_common.errors import InvalidRequest

__all__ = [
    "FORM_TYPE",
    "encode_form",
    "form_content_type",
    "form_text",
    "is_form",
    "parse_form",
    "with_form_content_type",
]

FORM_TYPE = "multipart/form-data"
_FILE_MARK = b"\x00"
_BOUNDARY_PREFIX = b"tianji-"
_MAX_PARTS = 1000
_MAX_HEAD = 16 * 1024  # bytes of part headers we look through for the blank line
# RFC 7578 section 4.2: `name` and `filename` parameters of Content-Disposition.
_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_BOUNDARY = re.compile(r'boundary\s*=\s*("([^"]{1,200})"|[^;\s]{1,200})', re.IGNORECASE)


def is_form(content_type: str | None) -> TypeGuard[str]:
    """Whether a request's content type is multipart/form-data."""
    return content_type is not None and content_type.lower().startswith(FORM_TYPE)


def _boundary(content_type: str) -> bytes:
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise InvalidRequest("multipart/form-data request without a boundary parameter")
    return (match.group(2) or match.group(1)).encode("latin-1")


def _disposition(head: str) -> tuple[str, bool]:
    """The part's field name and whether it carries a file (has a `filename`)."""
    for line in head.split("\r\n"):
        key, _, value = line.partition(":")
        if key.strip().lower() != "content-disposition":
            continue
        params = {k.lower(): v.strip() for k, v in _PARAM.findall(value)}
        name = params.get("name")
        if not name:
            break
        if name.startswith('"'):
            name = name[1:-1].replace('\\"', '"')
        return name, "filename" in params or "filename*" in params
    raise InvalidRequest("multipart part without a Content-Disposition name")


def _add_text(body: dict[str, msgspec.Raw], name: str, text: str) -> None:
    prev = body.get(name)
    if prev is None or memoryview(prev)[:1] == _FILE_MARK:  # a later field wins over a file
        body[name] = msgspec.Raw(msgspec.json.encode(text))
        return
    old = msgspec.json.decode(prev)
    values = (old if isinstance(old, list) else [old]) + [text]
    body[name] = msgspec.Raw(msgspec.json.encode(values))


def _add_part(body: dict[str, msgspec.Raw], part: memoryview) -> None:
    head_end = part[:_MAX_HEAD].tobytes().find(b"\r\n\r\n")
    if head_end < 0:
        raise InvalidRequest("multipart part without a header/body separator")
    head = part[:head_end].tobytes().decode("utf-8", "replace")
    name, is_file = _disposition(head)
    if is_file:
        body[name] = msgspec.Raw(_FILE_MARK + part)
        return
    try:
        text = part[head_end + 4 :].tobytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest(f"form field {name!r} is not UTF-8 text", param=name) from None
    _add_text(body, name, text)


def parse_form(raw: bytes, content_type: str) -> dict[str, msgspec.Raw]:
    """Split a multipart body into fields; file parts are kept byte for byte."""
    delim = b"--" + _boundary(content_type)
    view = memoryview(raw)
    pos = raw.find(delim)
    if pos < 0:
        raise InvalidRequest("multipart body does not contain its boundary")
    body: dict[str, msgspec.Raw] = {}
    for _ in range(_MAX_PARTS):
        pos += len(delim)
        if raw.startswith(b"--", pos):
            return body
        start = raw.find(b"\r\n", pos)
        if start < 0:
            break
        start += 2
        end = raw.find(b"\r\n" + delim, start)
        if end < 0:
            break
        _add_part(body, view[start:end])
        pos = end + 2
    else:
        raise InvalidRequest(f"multipart body has more than {_MAX_PARTS} parts")
    raise InvalidRequest("multipart body is truncated (no closing boundary)")


def form_text(body: dict[str, msgspec.Raw], name: str) -> str | None:
    """A text field's value (the first, if repeated); None when absent or not text."""
    raw = body.get(name)
    if raw is None or memoryview(raw)[:1] == _FILE_MARK:
        return None
    value = msgspec.json.decode(raw)
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else _text(value)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return msgspec.json.encode(value).decode()


def _quote(name: str) -> str:
    # WHATWG's multipart/form-data encoding: escape quote and newlines in names.
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _text_part(name: str, value: str) -> bytes:
    head = f'Content-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'
    return head.encode() + value.encode()


def _parts(body: dict[str, msgspec.Raw]) -> list[bytes | memoryview]:
    out: list[bytes | memoryview] = []
    for name, raw in body.items():
        data = memoryview(raw)
        if data[:1] == _FILE_MARK:
            out.append(data[1:])
            continue
        value = msgspec.json.decode(raw)
        if value is None:
            continue
        if isinstance(value, list):
            field = name if name.endswith("[]") else name + "[]"
            out.extend(_text_part(field, _text(v)) for v in value)
        else:
            out.append(_text_part(name, _text(value)))
    return out


def encode_form(body: dict[str, msgspec.Raw]) -> bytes:
    """The multipart body for the upstream; its boundary is read back by `form_content_type`.

    The boundary is random and checked against every part, so file bytes cannot
    contain it (RFC 2046 section 5.1.1).
    """
    parts = _parts(body)
    while True:
        delim = b"--" + _BOUNDARY_PREFIX + secrets.token_hex(16).encode()
        chunks: list[bytes | memoryview] = []
        for part in parts:
            chunks += [delim, b"\r\n", part, b"\r\n"]
        chunks += [delim, b"--\r\n"]
        out = b"".join(chunks)
        if out.count(delim) == len(parts) + 1:  # no part contains the boundary
            return out


def with_form_content_type(headers: list[tuple[str, str]], payload: bytes) -> list[tuple[str, str]]:
    """`headers` with `content-type` naming the boundary of a form `encode_form` made.

    The pipeline calls this for transcriptions before signing, so the signed request
    carries the content type that is really sent, whatever the adapter's `sign` does.
    """
    form_type = form_content_type(payload)
    if form_type is None:
        return headers
    return [(k, form_type if k == "content-type" else v) for k, v in headers]


def form_content_type(payload: bytes) -> str | None:
    """`multipart/form-data; boundary=...` for a body `encode_form` made, else None."""
    if not payload.startswith(b"--" + _BOUNDARY_PREFIX):
        return None
    end = payload.find(b"\r\n")
    return f"{FORM_TYPE}; boundary={payload[2:end].decode('latin-1')}"
