"""DeepInfra quirks: tool_choice limits, zero temperature model, FastAPI error bodies."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from tianji_common.errors import InvalidRequest, UpstreamRateLimited

from tianji_gateway.providers.base import Op
from tianji_gateway.providers.deepinfra import DeepInfraAdapter
from tianji_gateway.routing.deployment import Deployment

A = DeepInfraAdapter()


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d",
        "model_name": "di",
        "provider": "deepinfra",
        "model": "meta-llama/Meta-Llama-3.1-70B-Instruct",
        "api_key": "di-key",
    }
    return Deployment(**(base | kw))


def send(body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    d = dep(**kw)
    raw = msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])
    out: dict[str, Any] = json.loads(A.encode_request(A.map_params(raw, d), d, Op.CHAT, False))
    return out


HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("choice", ["auto", "none"])
def test_supported_tool_choice(choice: str) -> None:
    assert send({"model": "x", "messages": HI, "tool_choice": choice})["tool_choice"] == choice


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "f"}}])
def test_other_tool_choice_rejected_or_dropped(choice: object) -> None:
    body = {"model": "x", "messages": HI, "tool_choice": choice}
    with pytest.raises(InvalidRequest, match="deepinfra does not support tool_choice"):
        send(body)
    assert "tool_choice" not in send(body, drop_params=True)


def test_zero_temperature_model() -> None:
    body = {"model": "x", "messages": HI, "temperature": 0}
    assert send(body, model="mistralai/Mistral-7B-Instruct-v0.1")["temperature"] == 0.0001
    assert send(body)["temperature"] == 0


def test_paths() -> None:
    assert A.url(dep(), Op.CHAT, False) == "https://api.deepinfra.com/v1/openai/chat/completions"
    assert A.url(dep(), Op.EMBEDDING, False) == "https://api.deepinfra.com/v1/openai/embeddings"


def test_fastapi_error_bodies() -> None:
    err = A.map_error(429, {}, b'{"detail":{"error":"Model is overloaded, try again"}}')
    assert isinstance(err, UpstreamRateLimited)
    assert err.message == "Model is overloaded, try again"
    err = A.map_error(401, {}, b'{"detail":"Missing or invalid Authorization header"}')
    assert err.message == "Missing or invalid Authorization header"
    assert err.http_status == 401
