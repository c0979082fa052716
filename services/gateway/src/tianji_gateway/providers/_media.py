"""Content types for binary and text answers of the media ops (speech, transcription).

Why sniff the bytes: `decode_response` sees the upstream body only, not the request's
`response_format` nor the upstream headers, and OpenAI's speech formats are told
apart by their magic numbers (mp3, opus in Ogg, aac in ADTS, flac, wav); `pcm` is raw
samples with no header, so it is what is left. LiteLLM's proxy always answers
`audio/mpeg`; we name the real format instead.
"""

from __future__ import annotations

__all__ = ["speech_content_type", "transcription_content_type"]

_TEXT = "text/plain; charset=utf-8"


def speech_content_type(audio: bytes) -> str:
    """The MIME type of an `/audio/speech` answer (OpenAI `response_format` values)."""
    head = audio[:12]
    if head.startswith(b"ID3"):
        return "audio/mpeg"
    if head.startswith(b"OggS"):
        return "audio/opus"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        # Frame sync: ADTS (AAC) has layer bits 00, MPEG audio (mp3) does not.
        return "audio/aac" if head[1] & 0x06 == 0 else "audio/mpeg"
    return "audio/pcm"


def transcription_content_type(body: bytes) -> str:
    """JSON for json/verbose_json answers; text/plain for text, srt and vtt."""
    return "application/json" if body[:64].lstrip()[:1] == b"{" else _TEXT
