"""Shared anthropic adapter test cases: the deployment, request helpers and vendor payloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
from tianji_gateway.providers.anthropic import AnthropicAdapter
from tianji_gateway.providers.base import Op
from tianji_gateway.routing.deployment import Deployment

__all__ = ["ADAPTER", "ANTH_HI", "MODEL", "TRANSCRIPTS", "USER_HI", "dep", "encode", "raw_body"]

TRANSCRIPTS = (
    Path(__file__).resolve().parents[2] / "services/gateway/tests/unit/transcripts/anthropic"
)
MODEL = "claude-sonnet-4-5-20250929"
ADAPTER = AnthropicAdapter()


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d1",
        "model_name": "claude",
        "provider": "anthropic",
        "model": MODEL,
        "api_key": "sk-ant-test",
    }
    return Deployment(**(base | kw))


def raw_body(body: dict[str, Any]) -> dict[str, msgspec.Raw]:
    return msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])


def encode(body: dict[str, Any], *, stream: bool = False, **dep_kw: Any) -> dict[str, Any]:
    out = ADAPTER.encode_request(raw_body(body), dep(**dep_kw), Op.CHAT, stream)
    result: dict[str, Any] = json.loads(out)
    return result


USER_HI = {"role": "user", "content": "Hi"}
ANTH_HI = {"role": "user", "content": [{"type": "text", "text": "Hi"}]}
