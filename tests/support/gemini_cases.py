"""Shared gemini adapter test cases: the deployment, request helpers and vendor payloads."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from tianji_gateway.providers.base import Op
from tianji_gateway.providers.gemini import GeminiAdapter
from tianji_gateway.routing.deployment import Deployment

__all__ = ["ADAPTER", "HI", "KEY", "MODEL", "USER_HI", "decode", "dep", "encode", "raw_body"]

MODEL = "gemini-2.5-flash"
KEY = "AIza-test-key"
ADAPTER = GeminiAdapter()


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d1",
        "model_name": "gemini",
        "provider": "gemini",
        "model": MODEL,
        "api_key": KEY,
    }
    return Deployment(**(base | kw))


def raw_body(body: dict[str, Any]) -> dict[str, msgspec.Raw]:
    return msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])


def encode(body: dict[str, Any], *, op: Op = Op.CHAT, **dep_kw: Any) -> dict[str, Any]:
    out = ADAPTER.encode_request(raw_body({"model": MODEL, **body}), dep(**dep_kw), op, False)
    result: dict[str, Any] = json.loads(out)
    return result


def decode(body: dict[str, Any], op: Op = Op.CHAT) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(
        ADAPTER.decode_response(json.dumps(body).encode(), dep(), op).body
    )
    return result


HI = [{"role": "user", "content": "Hi"}]
USER_HI = {"role": "user", "parts": [{"text": "Hi"}]}
