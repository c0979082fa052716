"""Fireworks AI quirks: resource names, tool_choice "any", forbidden message fields."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from tianji_gateway.providers.base import Op
from tianji_gateway.providers.fireworks_ai import FireworksAIAdapter, resource_name
from tianji_gateway.routing.deployment import Deployment

A = FireworksAIAdapter()


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d",
        "model_name": "f",
        "provider": "fireworks_ai",
        "model": "llama-v3p1-70b-instruct",
        "api_key": "fw-key",
    }
    return Deployment(**(base | kw))


def send(body: dict[str, Any], op: Op = Op.CHAT, **kw: Any) -> dict[str, Any]:
    d = dep(**kw)
    raw = msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])
    out: dict[str, Any] = json.loads(A.encode_request(A.map_params(raw, d, op), d, op, False))
    return out


HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("model", "resource"),
    [
        ("llama-v3p1-8b-instruct", "accounts/fireworks/models/llama-v3p1-8b-instruct"),
        ("accounts/my-acct/models/ft-1", "accounts/my-acct/models/ft-1"),
        ("models/qwen3-8b", "accounts/fireworks/models/qwen3-8b"),
        ("routers/glm-latest", "accounts/fireworks/routers/glm-latest"),
        ("kimi-k2-instruct-fast", "accounts/fireworks/routers/kimi-k2-instruct-fast"),
        ("glm-4p6#accounts/acme/deployments/2fb7", "glm-4p6#accounts/acme/deployments/2fb7"),
        ("FW-llama-70b", "FW-llama-70b"),
    ],
)
def test_resource_name(model: str, resource: str) -> None:
    assert resource_name(model) == resource
    assert send({"model": model, "messages": HI}, model=model)["model"] == resource


def test_completion_model_prefixed_embeddings_untouched() -> None:
    assert send({"model": "x", "prompt": "Once"}, Op.COMPLETION)["model"] == (
        "accounts/fireworks/models/llama-v3p1-70b-instruct"
    )
    body = {"model": "nomic-ai/nomic-embed-text-v1.5", "input": "hi"}
    assert send(body, Op.EMBEDDING, model="nomic-ai/nomic-embed-text-v1.5") == body


def test_tool_choice_required_is_any_and_strict_removed() -> None:
    tool = {
        "type": "function",
        "function": {"name": "f", "strict": True, "parameters": {"type": "object"}},
    }
    sent = send({"model": "x", "messages": HI, "tools": [tool], "tool_choice": "required"})
    assert sent["tool_choice"] == "any"
    assert sent["tools"] == [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    ]


def test_max_completion_tokens_renamed() -> None:
    sent = send({"model": "x", "messages": HI, "max_completion_tokens": 9})
    assert sent["max_tokens"] == 9 and "max_completion_tokens" not in sent


def test_forbidden_message_fields_removed_including_in_parts() -> None:
    messages = [
        {
            "role": "system",
            "content": [
                {"type": "text", "text": "long prefix", "cache_control": {"type": "ephemeral"}}
            ],
        },
        {"role": "user", "content": "q", "cache_control": {"type": "ephemeral"}},
        {
            "role": "assistant",
            "content": "a",
            "reasoning_content": "r",
            "thinking_blocks": [],
            "provider_specific_fields": {},
        },
    ]
    assert send({"model": "x", "messages": messages})["messages"] == [
        {"role": "system", "content": [{"type": "text", "text": "long prefix"}]},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
    ]


def test_error_shape() -> None:
    body = json.dumps(
        {
            "error": {
                "object": "error",
                "type": "invalid_request_error",
                "message": "Model not found, inaccessible, and/or not deployed",
            }
        }
    ).encode()
    err = A.map_error(404, {}, body)
    assert err.http_status == 404
    assert err.message == "Model not found, inaccessible, and/or not deployed"
    assert err.body().error.type == "invalid_request_error"
