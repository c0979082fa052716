"""NVIDIA NIM quirks: per-model parameter support, embeddings params, problem+json errors."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from tianji_common.errors import InvalidRequest

from tianji_gateway.providers.base import Op
from tianji_gateway.providers.nvidia_nim import NvidiaNimAdapter
from tianji_gateway.routing.deployment import Deployment

A = NvidiaNimAdapter()


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d",
        "model_name": "n",
        "provider": "nvidia_nim",
        "model": "meta/llama-3.1-70b-instruct",
        "api_key": "nvapi-key",
    }
    return Deployment(**(base | kw))


def send(body: dict[str, Any], op: Op = Op.CHAT, **kw: Any) -> dict[str, Any]:
    d = dep(**kw)
    raw = msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])
    out: dict[str, Any] = json.loads(A.encode_request(A.map_params(raw, d), d, op, False))
    return out


HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("model", "param", "rejected"),
    [
        ("meta/llama-3.1-70b-instruct", "tools", False),
        ("meta/llama-3.1-70b-instruct", "logit_bias", True),
        ("google/gemma-2-9b-it", "tools", True),
        ("google/gemma-2-9b-it", "seed", False),
        ("google/codegemma-1.1-7b", "seed", True),
        ("google/codegemma-1.1-7b", "frequency_penalty", False),
        ("nvidia/nemotron-4-340b-instruct", "stop", True),
    ],
)
def test_per_model_support(model: str, param: str, rejected: bool) -> None:
    body = {"model": "x", "messages": HI, param: [] if param == "tools" else 1}
    if rejected:
        with pytest.raises(InvalidRequest, match=param):
            send(body, model=model)
        assert param not in send(body, model=model, drop_params=True)
    else:
        assert param in send(body, model=model)


def test_max_completion_tokens_renamed() -> None:
    assert send({"model": "x", "messages": HI, "max_completion_tokens": 7})["max_tokens"] == 7


def test_embedding_params_forwarded() -> None:
    body = {
        "model": "nvidia/nv-embedqa-e5-v5",
        "input": ["What is NIM?"],
        "input_type": "query",
        "truncate": "END",
        "encoding_format": "float",
    }
    assert send(body, Op.EMBEDDING) == body


def test_problem_json_error() -> None:
    body = json.dumps(
        {
            "type": "about:blank",
            "status": 404,
            "title": "Not Found",
            "detail": "Function 'a1b2': Not found for account 'x'",
        }
    ).encode()
    err = A.map_error(404, {}, body)
    assert err.message == "Function 'a1b2': Not found for account 'x'"
    assert err.http_status == 404 and err.retryable is False
