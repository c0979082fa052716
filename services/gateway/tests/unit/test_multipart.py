"""multipart/form-data transcription bodies: parse, route by `model`, re-encode upstream."""

from __future__ import annotations

import json
from collections.abc import Mapping
from email import message_from_bytes
from email.message import Message
from typing import Any

import httpx
import msgspec
import pytest
from tianji_common.errors import InvalidRequest, NotImplementedFeature

from tianji_gateway.fastpath import FastPath
from tianji_gateway.pipeline import Complete
from tianji_gateway.providers.base import Op
from tianji_gateway.providers.openai import OpenAIAdapter
from tianji_gateway.request import parse_body
from tianji_gateway.request_multipart import (
    encode_form,
    form_content_type,
    parse_form,
    with_form_content_type,
)
from tianji_gateway.routing.deployment import Deployment

# Every byte value, CRLFs and things that look like boundaries: must survive exactly.
AUDIO = bytes(range(256)) * 4 + b"\r\n--\r\n\r\n--boundary\r\n" + b"\x00" * 17


def client_form(
    data: Mapping[str, Any], file: bytes = AUDIO, filename: str = "speech.wav"
) -> tuple[bytes, str]:
    """A body as the OpenAI SDK sends it (httpx's multipart encoder)."""
    req = httpx.Request(
        "POST",
        "http://x/v1/audio/transcriptions",
        data=data,
        files={"file": (filename, file, "audio/wav")},
    )
    return req.read(), req.headers["content-type"]


def upstream_fields(payload: bytes, content_type: str) -> list[Message]:
    """Parse what the vendor receives with the stdlib, an independent decoder."""
    msg = message_from_bytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + payload)
    assert msg.is_multipart()
    return list(msg.get_payload())  # type: ignore[arg-type]  # multipart payload is a list


def field_map(parts: list[Message]) -> dict[str, list[Message]]:
    out: dict[str, list[Message]] = {}
    for part in parts:
        name = part.get_param("name", header="content-disposition")
        assert isinstance(name, str)
        out.setdefault(name, []).append(part)
    return out


DEP = Deployment(
    id="d1",
    model_name="whisper",
    provider="openai",
    model="whisper-large-v3",
    api_key="sk-up",
    api_base="http://fake/v1",
)


def test_parse_routes_by_model_field_and_keeps_file_bytes() -> None:
    raw, ctype = client_form({"model": "whisper", "language": "en", "temperature": "0.2"})
    parsed = parse_body(raw, content_type=ctype)
    assert parsed.model == "whisper"
    assert parsed.form and not parsed.stream and not parsed.include_usage
    assert msgspec.json.decode(parsed.body["language"]) == "en"
    assert AUDIO in bytes(parsed.body["file"])


def test_reencode_rewrites_model_and_preserves_everything_else() -> None:
    raw, ctype = client_form(
        {
            "model": "whisper",
            "language": "en",
            "prompt": "ünïcödé prompt",
            "response_format": "verbose_json",
            "temperature": "0.2",
            "timestamp_granularities[]": ["word", "segment"],
            "vendor_knob": "42",
        }
    )
    parsed = parse_body(raw, content_type=ctype)
    body = dict(parsed.body)
    body["model"] = msgspec.Raw(msgspec.json.encode(DEP.model))  # what the pipeline does
    adapter = OpenAIAdapter()
    payload = adapter.encode_request(body, DEP, Op.AUDIO_TRANSCRIPTION, False)
    headers = dict(with_form_content_type(adapter.headers(DEP, None), payload))
    sent_type = headers["content-type"]
    assert sent_type == form_content_type(payload)
    assert sent_type.startswith("multipart/form-data; boundary=tianji-")
    assert headers["authorization"] == "Bearer sk-up"
    fields = field_map(upstream_fields(payload, sent_type))
    text = {k: [p.get_payload(decode=True) for p in v] for k, v in fields.items() if k != "file"}
    assert text == {
        "model": [b"whisper-large-v3"],
        "language": [b"en"],
        "prompt": ["ünïcödé prompt".encode()],
        "response_format": [b"verbose_json"],
        "temperature": [b"0.2"],
        "timestamp_granularities[]": [b"word", b"segment"],
        "vendor_knob": [b"42"],
    }
    (file_part,) = fields["file"]
    assert file_part.get_filename() == "speech.wav"
    assert file_part.get_content_type() == "audio/wav"
    assert file_part.get_payload(decode=True) == AUDIO


def test_config_defaults_are_encoded_as_form_text() -> None:
    raw, ctype = client_form({"model": "whisper"})
    parsed = parse_body(raw, content_type=ctype)
    defaults = {
        "temperature": msgspec.Raw(b"0"),
        "timestamp_granularities": msgspec.Raw(b'["word"]'),
        "skip_me": msgspec.Raw(b"null"),
        "flag": msgspec.Raw(b"true"),
    }
    payload = encode_form({**defaults, **parsed.body})
    ctype_out = form_content_type(payload)
    assert ctype_out is not None
    fields = field_map(upstream_fields(payload, ctype_out))
    assert fields["temperature"][0].get_payload() == "0"
    assert fields["timestamp_granularities[]"][0].get_payload() == "word"
    assert fields["flag"][0].get_payload() == "true"
    assert "skip_me" not in fields


@pytest.mark.parametrize("quoted", [True, False])
def test_boundary_forms_and_preamble(quoted: bool) -> None:
    b = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
    raw = (
        (
            f"preamble to ignore\r\n--{b}\r\n"
            'Content-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
            f"--{b}\r\n"
            'Content-Disposition: form-data; name="file"; filename="a b.mp3"\r\n'
            "Content-Type: audio/mpeg\r\n\r\n"
        ).encode()
        + AUDIO
        + f"\r\n--{b}--\r\n".encode()
    )
    boundary = f'"{b}"' if quoted else b
    body = parse_form(raw, f"multipart/form-data; charset=utf-8; boundary={boundary}")
    assert msgspec.json.decode(body["model"]) == "whisper-1"
    out = encode_form(body)
    out_type = form_content_type(out)
    assert out_type is not None
    (part,) = field_map(upstream_fields(out, out_type))["file"]
    assert part.get_filename() == "a b.mp3"
    assert part.get_payload(decode=True) == AUDIO


def test_text_field_after_file_of_same_name_wins() -> None:
    raw = (
        b'--x\r\nContent-Disposition: form-data; name="a"; filename="f"\r\n\r\n\x00\r\n'
        b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\ntext\r\n--x--\r\n'
    )
    assert msgspec.json.decode(parse_form(raw, "multipart/form-data; boundary=x")["a"]) == "text"


def test_boundary_never_collides_with_file_bytes() -> None:
    raw, ctype = client_form({"model": "m"})
    body = parse_form(raw, ctype)
    payload = encode_form(body)
    boundary = payload[2 : payload.index(b"\r\n")]
    # Exactly one delimiter per part plus the closing one.
    assert payload.count(b"--" + boundary) == len(body) + 1


def test_model_from_azure_path_overrides_form() -> None:
    raw, ctype = client_form({"model": "ignored"})
    assert parse_body(raw, content_type=ctype, model_override="azure-dep").model == "azure-dep"


@pytest.mark.parametrize(
    ("raw", "ctype", "needle"),
    [
        (b"--x\r\nno-separator", "multipart/form-data; boundary=x", "truncated"),
        (b"whatever", "multipart/form-data", "boundary"),
        (b"no delimiter here", "multipart/form-data; boundary=zz", "boundary"),
        (
            b'--x\r\nContent-Disposition: form-data; name="model"\r\n\r\nm\r\n',
            "multipart/form-data; boundary=x",
            "truncated",
        ),
        (
            b"--x\r\nContent-Type: text/plain\r\n\r\nm\r\n--x--",
            "multipart/form-data; boundary=x",
            "Content-Disposition",
        ),
    ],
)
def test_bad_forms_are_400(raw: bytes, ctype: str, needle: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_body(raw, content_type=ctype)
    assert info.value.http_status == 400
    assert needle in info.value.message


def test_missing_model_is_400() -> None:
    raw, ctype = client_form({"language": "en"})
    with pytest.raises(InvalidRequest) as info:
        parse_body(raw, content_type=ctype)
    assert info.value.http_status == 400
    assert info.value.message == "missing required parameter: 'model'"


def test_streaming_transcription_is_refused() -> None:
    raw, ctype = client_form({"model": "m", "stream": "true"})
    with pytest.raises(NotImplementedFeature):
        parse_body(raw, content_type=ctype)


def test_json_requests_unchanged() -> None:
    parsed = parse_body(b'{"model": "m", "stream": true}', content_type="application/json")
    assert parsed.stream and not parsed.form


async def test_body_over_limit_is_413_before_parsing() -> None:
    raw, ctype = client_form({"model": "whisper"})
    served: list[bytes] = []

    async def serve(op: Op, headers: Mapping[str, str], body: bytes, model: str | None) -> Complete:
        served.append(body)
        return Complete(200, {}, b"{}")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("not the fast path")

    fast = FastPath(app, serve, max_body=len(raw) - 1)
    chunks = [raw[:100], raw[100:]]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/audio/transcriptions",
        "headers": [(b"content-type", ctype.encode())],  # no content-length: chunked
    }
    await fast(scope, receive, send)
    assert served == []
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["message"].startswith("request body is larger")


def test_other_ops_still_send_json() -> None:
    adapter = OpenAIAdapter()
    body = {"model": msgspec.Raw(b'"gpt"'), "prompt": msgspec.Raw(b'"a cat"')}
    payload = adapter.encode_request(body, DEP, Op.IMAGE_GENERATION, False)
    headers = with_form_content_type(adapter.headers(DEP, None), payload)
    assert json.loads(payload) == {"model": "gpt", "prompt": "a cat"}
    assert ("content-type", "application/json") in headers


# --- answers of the media ops: relayed untouched, with their content type -------------


@pytest.mark.parametrize(
    ("audio", "ctype"),
    [
        (b"ID3\x04\x00\x00\x00\x00\x00\x00" + AUDIO, "audio/mpeg"),
        (b"\xff\xfb\x90\x64" + AUDIO, "audio/mpeg"),
        (b"OggS\x00\x02" + AUDIO, "audio/opus"),
        (b"\xff\xf1\x50\x80" + AUDIO, "audio/aac"),
        (b"fLaC\x00\x00\x00\x22" + AUDIO, "audio/flac"),
        (b"RIFF\x24\x08\x00\x00WAVEfmt " + AUDIO, "audio/wav"),
        (b"\x00\x00\x01\x00" + AUDIO, "audio/pcm"),
    ],
)
def test_speech_answer_is_relayed_bytes(audio: bytes, ctype: str) -> None:
    decoded = OpenAIAdapter().decode_response(audio, DEP, Op.AUDIO_SPEECH)
    assert decoded.body is audio
    assert decoded.content_type == ctype
    assert decoded.usage.total_tokens == 0


@pytest.mark.parametrize(
    "text",
    [
        b"Hello there.",
        b"1\n00:00:00,000 --> 00:00:01,500\nHello there.\n",
        b"WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n",
    ],
)
def test_text_transcriptions_are_relayed_as_text(text: bytes) -> None:
    decoded = OpenAIAdapter().decode_response(text, DEP, Op.AUDIO_TRANSCRIPTION)
    assert decoded.body is text
    assert decoded.content_type == "text/plain; charset=utf-8"


def test_json_transcription_reads_token_usage() -> None:
    raw = (
        b'{"text": "Hello there.", "usage": {"type": "tokens", "input_tokens": 14, '
        b'"input_token_details": {"text_tokens": 0, "audio_tokens": 14}, '
        b'"output_tokens": 4, "total_tokens": 18}}'
    )
    decoded = OpenAIAdapter().decode_response(raw, DEP, Op.AUDIO_TRANSCRIPTION)
    assert decoded.body is raw and decoded.content_type == "application/json"
    assert (decoded.usage.prompt_tokens, decoded.usage.completion_tokens) == (14, 4)
    assert decoded.usage.total_tokens == 18


def test_whisper_duration_usage_counts_zero_tokens() -> None:
    raw = b'{"text": "Hi.", "usage": {"type": "duration", "seconds": 3}}'
    decoded = OpenAIAdapter().decode_response(raw, DEP, Op.AUDIO_TRANSCRIPTION)
    assert decoded.usage.total_tokens == 0


def test_image_answer_relayed_with_gpt_image_usage() -> None:
    raw = (
        b'{"created": 1713833628, "data": [{"b64_json": "aGVsbG8="}], "usage": '
        b'{"total_tokens": 100, "input_tokens": 50, "output_tokens": 50, '
        b'"input_tokens_details": {"text_tokens": 10, "image_tokens": 40}}}'
    )
    decoded = OpenAIAdapter().decode_response(raw, DEP, Op.IMAGE_GENERATION)
    assert decoded.body is raw and decoded.content_type == "application/json"
    assert (decoded.usage.prompt_tokens, decoded.usage.completion_tokens) == (50, 50)
    dalle = b'{"created": 1, "data": [{"url": "https://img/x.png", "revised_prompt": "a"}]}'
    assert OpenAIAdapter().decode_response(dalle, DEP, Op.IMAGE_GENERATION).usage.total_tokens == 0
