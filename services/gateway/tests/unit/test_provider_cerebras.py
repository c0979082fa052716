"""Cerebras quirks: documented 400 parameters, max_completion_tokens, flat error bodies."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from tianji_common.errors import InvalidRequest, UpstreamRateLimited

from tianji_gateway.providers.base import Op
from tianji_gateway.providers.cerebras import CerebrasAdapter
from tianji_gateway.routing.deployment import Deployment

A = CerebrasAdapter()


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d",
        "model_name": "c",
        "provider": "cerebras",
        "model": "llama3.1-8b",
        "api_key": "csk-key",
    }
    return Deployment(**(base | kw))


def send(body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    d = dep(**kw)
    raw = msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])
    out: dict[str, Any] = json.loads(A.encode_request(A.map_params(raw, d), d, Op.CHAT, False))
    return out


HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    "name",
    ["frequency_penalty", "presence_penalty", "logit_bias", "parallel_tool_calls", "service_tier"],
)
def test_documented_400_params(name: str) -> None:
    body = {"model": "x", "messages": HI, name: 1}
    with pytest.raises(InvalidRequest, match=f"cerebras does not support parameter '{name}'"):
        send(body)
    assert send(body, drop_params=True) == {"model": "x", "messages": HI}


def test_max_completion_tokens_renamed_and_completions_path() -> None:
    sent = send({"model": "x", "messages": HI, "max_completion_tokens": 5})
    assert sent == {"model": "x", "messages": HI, "max_tokens": 5}
    assert A.url(dep(), Op.COMPLETION, False) == "https://api.cerebras.ai/v1/completions"


def test_flat_error_body() -> None:
    body = json.dumps(
        {
            "message": "Tokens per minute limit exceeded - too many tokens processed.",
            "type": "too_many_tokens_error",
            "param": "quota",
            "code": "token_quota_exceeded",
        }
    ).encode()
    err = A.map_error(429, {"retry-after": "3"}, body)
    assert isinstance(err, UpstreamRateLimited)
    assert err.body().error.type == "too_many_tokens_error"
    assert err.body().error.code == "token_quota_exceeded"
