"""Shared bedrock adapter test cases: the deployment, request helpers and vendor payloads."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from tianji_gateway.providers.base import Op
from tianji_gateway.providers.bedrock import BedrockAdapter
from tianji_gateway.routing.deployment import Deployment

__all__ = [
    "ADAPTER",
    "BEDROCK_HI",
    "CREDS",
    "HI",
    "MODEL",
    "WEATHER_SPEC",
    "WEATHER_TOOL",
    "dep",
    "encode",
    "raw_body",
]

ADAPTER = BedrockAdapter()
MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
CREDS = {
    "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
    "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "aws_region_name": "us-east-1",
}


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d1",
        "model_name": "claude",
        "provider": "bedrock",
        "model": MODEL,
        "settings": dict(CREDS),
    }
    return Deployment(**(base | kw))


def raw_body(body: dict[str, Any]) -> dict[str, msgspec.Raw]:
    return msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])


def encode(body: dict[str, Any], op: Op = Op.CHAT, **dep_kw: Any) -> dict[str, Any]:
    out = ADAPTER.encode_request(raw_body({"model": "claude", **body}), dep(**dep_kw), op, False)
    result: dict[str, Any] = json.loads(out)
    return result


HI = {"role": "user", "content": "Hi"}
BEDROCK_HI = {"role": "user", "content": [{"text": "Hi"}]}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
WEATHER_SPEC = {
    "toolSpec": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            }
        },
    }
}
