"""Transcriptions (multipart), speech and image generation through `tianji up`, with the SDK."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.e2e.conftest import MASTER_KEY
from tests.support.fake_media import PNG_B64, SPEECH, TRANSCRIPT, FakeMedia, FormFile
from tests.support.proc import TianjiProcess, start_tianji

pytestmark = pytest.mark.e2e

UPSTREAM_KEY = "sk-media-upstream-secret"
MODELS = frozenset({"up-whisper-1", "whisper-large-v3", "up-tts-1", "up-gpt-image-1"})


@pytest.fixture(scope="module")
def media() -> Iterator[FakeMedia]:
    fake = FakeMedia(api_key=UPSTREAM_KEY, models=MODELS).start()
    yield fake
    fake.stop()


def config(media: FakeMedia) -> str:
    v1 = f"{media.base}/v1"
    return f"""
model_list:
  - model_name: whisper
    litellm_params: {{model: openai/up-whisper-1, api_base: "{v1}", api_key: {UPSTREAM_KEY}}}
  - model_name: whisper-defaults
    litellm_params: {{model: openai/up-whisper-1, api_base: "{v1}", api_key: {UPSTREAM_KEY},
                      temperature: 0.3}}
  # Groq's transcription API is OpenAI's, under /openai/v1.
  - model_name: groq-whisper
    litellm_params: {{model: openai/whisper-large-v3, api_base: "{media.base}/openai/v1",
                      api_key: {UPSTREAM_KEY}}}
  - model_name: whisper-badkey
    litellm_params: {{model: openai/up-whisper-1, api_base: "{v1}", api_key: sk-wrong,
                      num_retries: 0}}
  - model_name: tts
    litellm_params: {{model: openai/up-tts-1, api_base: "{v1}", api_key: {UPSTREAM_KEY}}}
  - model_name: image
    litellm_params: {{model: openai/up-gpt-image-1, api_base: "{v1}", api_key: {UPSTREAM_KEY}}}
general_settings:
  master_key: {MASTER_KEY}
  max_request_size_mb: 1
"""


@pytest.fixture(scope="module")
def tianji(media: FakeMedia) -> Iterator[TianjiProcess]:
    proc = start_tianji(["up"], config_text=config(media))
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def audio_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Every byte value, boundary look-alikes and CRLFs; large enough to span many reads.
    data = os.urandom(200_000) + b"\r\n--boundary\r\n\r\n" + bytes(range(256)) * 64
    path = tmp_path_factory.mktemp("audio") / "meeting.wav"
    path.write_bytes(data)
    return path


def client(tianji: TianjiProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{tianji.base}/v1", api_key=MASTER_KEY, max_retries=0)


def spend_row(tp: TianjiProcess, request_id: str) -> tuple[str, str, str, int]:
    db = tp.workdir / ".tianji" / "tianji.db"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if db.exists():
            with sqlite3.connect(db) as conn:
                row = conn.execute(
                    "SELECT call_type, model_group, status, total_tokens FROM tianji_spend_log "
                    "WHERE request_id = ?",
                    (request_id,),
                ).fetchone()
            if row:
                return row  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"no spend row for {request_id}")


def test_transcription_forwards_form_with_deployment_model(
    tianji: TianjiProcess, media: FakeMedia, audio_file: Path
) -> None:
    with audio_file.open("rb") as f:
        raw = client(tianji).audio.transcriptions.with_raw_response.create(
            model="whisper",
            file=f,
            language="en",
            prompt="A meeting about foxes.",
            temperature=0.2,
            extra_body={"vendor_knob": "7"},
        )
    result = raw.parse()
    assert result.text == TRANSCRIPT
    assert raw.headers["x-litellm-model-group"] == "whisper"
    sent = media.requests[-1]
    assert sent.path == "/v1/audio/transcriptions"
    assert sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert MASTER_KEY not in str(sent.headers)
    file_field = sent.form.pop("file")
    assert file_field == [FormFile("meeting.wav", "audio/x-wav", audio_file.read_bytes())] or (
        file_field == [FormFile("meeting.wav", "audio/wav", audio_file.read_bytes())]
    )
    assert sent.form == {
        "model": ["up-whisper-1"],
        "language": ["en"],
        "prompt": ["A meeting about foxes."],
        "temperature": ["0.2"],
        "vendor_knob": ["7"],
    }
    assert spend_row(tianji, raw.headers["x-litellm-call-id"]) == (
        "atranscription",
        "whisper",
        "success",
        24,
    )


def test_verbose_json_with_timestamp_granularities(
    tianji: TianjiProcess, media: FakeMedia, audio_file: Path
) -> None:
    with audio_file.open("rb") as f:
        raw = client(tianji).audio.transcriptions.with_raw_response.create(
            model="whisper",
            file=f,
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        )
    result = raw.parse()
    assert result.text == TRANSCRIPT
    assert result.words is not None and result.words[0].word == "The"
    assert media.requests[-1].form["timestamp_granularities[]"] == ["word", "segment"]
    assert media.requests[-1].form["response_format"] == ["verbose_json"]
    # Whisper bills by duration, which the gateway does not price: zero tokens recorded.
    assert spend_row(tianji, raw.headers["x-litellm-call-id"])[2:] == ("success", 0)


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt"])
def test_text_formats_are_relayed_as_text(
    tianji: TianjiProcess, audio_file: Path, fmt: str
) -> None:
    with audio_file.open("rb") as f:
        raw = client(tianji).audio.transcriptions.with_raw_response.create(
            model="whisper", file=f, response_format=fmt
        )
    assert raw.headers["content-type"].startswith("text/plain")
    text = raw.parse()
    assert isinstance(text, str) and TRANSCRIPT in text
    if fmt == "vtt":
        assert text.startswith("WEBVTT")


def test_config_defaults_merge_into_the_form(
    tianji: TianjiProcess, media: FakeMedia, audio_file: Path
) -> None:
    with audio_file.open("rb") as f:
        client(tianji).audio.transcriptions.create(model="whisper-defaults", file=f)
    assert media.requests[-1].form["temperature"] == ["0.3"]
    assert media.requests[-1].form["model"] == ["up-whisper-1"]


def test_groq_style_openai_compatible_base(
    tianji: TianjiProcess, media: FakeMedia, audio_file: Path
) -> None:
    with audio_file.open("rb") as f:
        result = client(tianji).audio.transcriptions.create(model="groq-whisper", file=f)
    assert result.text == TRANSCRIPT
    sent = media.requests[-1]
    assert sent.path == "/openai/v1/audio/transcriptions"
    assert sent.form["model"] == ["whisper-large-v3"]


def test_azure_deployment_path(tianji: TianjiProcess, media: FakeMedia, audio_file: Path) -> None:
    azure = openai.AzureOpenAI(
        azure_endpoint=tianji.base, api_key=MASTER_KEY, api_version="2024-06-01", max_retries=0
    )
    with audio_file.open("rb") as f:
        result = azure.audio.transcriptions.create(model="whisper", file=f)
    assert result.text == TRANSCRIPT
    sent = media.requests[-1]
    assert sent.form["model"] == ["up-whisper-1"]
    (file_field,) = sent.form["file"]
    assert isinstance(file_field, FormFile) and file_field.data == audio_file.read_bytes()
    with audio_file.open("rb") as f:
        raw = azure.audio.transcriptions.with_raw_response.create(
            model="whisper", file=f, response_format="srt"
        )
    assert raw.headers["content-type"] == "text/plain; charset=utf-8"
    assert raw.parse().startswith("1\n00:00:00,000")


def test_upstream_auth_error_is_mapped(tianji: TianjiProcess, audio_file: Path) -> None:
    with audio_file.open("rb") as f, pytest.raises(openai.APIStatusError) as info:
        client(tianji).audio.transcriptions.create(model="whisper-badkey", file=f)
    assert info.value.status_code == 401
    assert "Incorrect API key" in str(info.value)


def test_oversized_upload_is_413(tianji: TianjiProcess, tmp_path: Path) -> None:
    big = tmp_path / "big.wav"
    big.write_bytes(b"\x00" * (1024 * 1024 + 1))
    with big.open("rb") as f, pytest.raises(openai.APIStatusError) as info:
        client(tianji).audio.transcriptions.create(model="whisper", file=f)
    assert info.value.status_code == 413


def test_missing_model_is_400(tianji: TianjiProcess, audio_file: Path) -> None:
    with audio_file.open("rb") as f, pytest.raises(openai.BadRequestError) as info:
        client(tianji).post(
            "/audio/transcriptions",
            cast_to=object,
            body={"language": "en"},
            files=[("file", ("a.wav", f, "audio/wav"))],
            options={"headers": {"Content-Type": "multipart/form-data"}},
        )
    assert "model" in str(info.value)


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
def test_speech_returns_the_vendor_audio_bytes(
    tianji: TianjiProcess, media: FakeMedia, fmt: str
) -> None:
    kwargs = {} if fmt == "mp3" else {"response_format": fmt}
    resp = client(tianji).audio.speech.create(
        model="tts",
        voice="alloy",
        input="The quick brown fox.",
        speed=1.25,
        **kwargs,  # type: ignore[arg-type]
    )
    audio, ctype = SPEECH[fmt]
    assert resp.content == audio
    assert resp.response.headers["content-type"] == ctype
    sent = media.requests[-1]
    assert sent.path == "/v1/audio/speech"
    assert sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert sent.headers["content-type"] == "application/json"
    assert sent.json == {
        "model": "up-tts-1",
        "voice": "alloy",
        "input": "The quick brown fox.",
        "speed": 1.25,
        **kwargs,
    }
    assert spend_row(tianji, resp.response.headers["x-litellm-call-id"])[0] == "aspeech"


def test_image_generation_urls(tianji: TianjiProcess, media: FakeMedia) -> None:
    result = client(tianji).images.generate(
        model="image", prompt="a red fox in snow", n=2, size="1024x1024"
    )
    assert [d.url for d in result.data or []] == [
        "https://images.example/0.png",
        "https://images.example/1.png",
    ]
    sent = media.requests[-1]
    assert sent.path == "/v1/images/generations"
    assert sent.json == {
        "model": "up-gpt-image-1",
        "prompt": "a red fox in snow",
        "n": 2,
        "size": "1024x1024",
    }


def test_image_generation_b64_with_usage(tianji: TianjiProcess) -> None:
    raw = client(tianji).images.with_raw_response.generate(
        model="image", prompt="a fox", response_format="b64_json"
    )
    result = raw.parse()
    assert result.data is not None and result.data[0].b64_json == PNG_B64
    assert result.usage is not None and result.usage.total_tokens == 100
    assert spend_row(tianji, raw.headers["x-litellm-call-id"]) == (
        "aimage_generation",
        "image",
        "success",
        100,
    )
