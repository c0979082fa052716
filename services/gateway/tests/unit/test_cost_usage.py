"""Usage parsing feeds the price units: audio and image token details, generated images."""

from __future__ import annotations

import json
from typing import Any

from tests.support.gemini_cases import ADAPTER as GEMINI
from tests.support.gemini_cases import dep as gemini_dep

from tianji_gateway.providers.base import Op, Usage
from tianji_gateway.providers.registry import load_adapters
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.streaming.sse import SSEEvent

OPENAI = load_adapters()["openai"]
DEP = Deployment(id="d", model_name="m", provider="openai", model="gpt-4o-audio-preview")


def _decode(body: dict[str, Any], op: Op = Op.CHAT) -> Usage:
    return OPENAI.decode_response(json.dumps(body).encode(), DEP, op).usage


def test_openai_chat_audio_and_image_details() -> None:
    usage = _decode(
        {
            "model": "gpt-4o-audio-preview",
            "choices": [],
            "usage": {
                "prompt_tokens": 120,
                "completion_tokens": 90,
                "total_tokens": 210,
                "prompt_tokens_details": {
                    "cached_tokens": 10,
                    "audio_tokens": 60,
                    "image_tokens": 20,
                },
                "completion_tokens_details": {
                    "reasoning_tokens": 5,
                    "audio_tokens": 70,
                    "image_tokens": None,
                },
            },
        }
    )
    assert usage == Usage(
        prompt_tokens=120,
        completion_tokens=90,
        total_tokens=210,
        cached_tokens=10,
        reasoning_tokens=5,
        audio_input_tokens=60,
        audio_output_tokens=70,
        image_input_tokens=20,
    )


def test_openai_stream_usage_chunk_carries_audio_details() -> None:
    relay = OPENAI.new_stream(DEP, Op.CHAT, include_usage=False)
    chunk = {
        "choices": [],
        "usage": {
            "prompt_tokens": 30,
            "completion_tokens": 40,
            "prompt_tokens_details": {"audio_tokens": 25},
            "completion_tokens_details": {"audio_tokens": 33},
        },
    }
    relay.feed(SSEEvent(data=json.dumps(chunk).encode()))
    usage = relay.finish()
    assert usage is not None
    assert (usage.audio_input_tokens, usage.audio_output_tokens) == (25, 33)


def test_gpt_image_1_answer_counts_images_and_image_tokens() -> None:
    usage = _decode(
        {
            "created": 1,
            "data": [{"b64_json": "eA=="}, {"b64_json": "eQ=="}],
            "usage": {
                "total_tokens": 100,
                "input_tokens": 50,
                "output_tokens": 50,
                "input_tokens_details": {"text_tokens": 10, "image_tokens": 40},
            },
        },
        Op.IMAGE_GENERATION,
    )
    assert (usage.prompt_tokens, usage.image_input_tokens) == (50, 40)
    assert (usage.completion_tokens, usage.image_output_tokens, usage.images) == (50, 50, 2)


def test_dall_e_answer_without_usage_counts_its_images() -> None:
    body = {"created": 1, "data": [{"url": f"https://x/{i}.png"} for i in range(3)]}
    assert _decode(body, Op.IMAGE_GENERATION) == Usage(images=3)


def test_transcription_usage_names_its_audio_tokens() -> None:
    usage = _decode(
        {
            "text": "hi",
            "usage": {
                "type": "tokens",
                "input_tokens": 14,
                "output_tokens": 45,
                "total_tokens": 59,
                "input_token_details": {"text_tokens": 0, "audio_tokens": 14},
            },
        },
        Op.AUDIO_TRANSCRIPTION,
    )
    assert (usage.prompt_tokens, usage.audio_input_tokens, usage.completion_tokens) == (14, 14, 45)


def test_gemini_modality_details() -> None:
    body = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}}],
        "usageMetadata": {
            "promptTokenCount": 300,
            "candidatesTokenCount": 1400,
            "totalTokenCount": 1700,
            "promptTokensDetails": [
                {"modality": "TEXT", "tokenCount": 40},
                {"modality": "AUDIO", "tokenCount": 200},
                {"modality": "IMAGE", "tokenCount": 60},
            ],
            "candidatesTokensDetails": [
                {"modality": "TEXT", "tokenCount": 110},
                {"modality": "IMAGE", "tokenCount": 1290},
            ],
        },
    }
    usage = GEMINI.decode_response(json.dumps(body).encode(), gemini_dep(), Op.CHAT).usage
    assert (usage.prompt_tokens, usage.audio_input_tokens, usage.image_input_tokens) == (
        300,
        200,
        60,
    )
    assert (usage.completion_tokens, usage.image_output_tokens, usage.audio_output_tokens) == (
        1400,
        1290,
        0,
    )
