"""Hugging Face adapter: the router's `model:provider` ids, endpoint URLs, TGI errors."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from tianji_common.errors import ContentPolicyViolation, ContextWindowExceeded, UpstreamRateLimited

from tianji_gateway.providers.base import Op
from tianji_gateway.providers.huggingface import ROUTER_BASE, HuggingFaceAdapter, router_model
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.streaming.sse import SSEParser

ADAPTER = HuggingFaceAdapter()


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d1",
        "model_name": "r1",
        "provider": "huggingface",
        "model": "together/deepseek-ai/DeepSeek-R1",
        "api_key": "hf_abcdefghijklmnop",
    }
    return Deployment(**(base | kw))


def prepare(body: dict[str, Any], d: Deployment) -> tuple[str, dict[str, Any]]:
    b = msgspec.json.decode(
        json.dumps({**body, "model": d.model}).encode(), type=dict[str, msgspec.Raw]
    )
    sent = json.loads(ADAPTER.encode_request(ADAPTER.map_params(b, d), d, Op.CHAT, False))
    return ADAPTER.url(d, Op.CHAT, False), sent


def test_class_attributes() -> None:
    assert HuggingFaceAdapter.default_api_base == "https://router.huggingface.co/v1"
    assert HuggingFaceAdapter.env_key == "HF_TOKEN"
    assert HuggingFaceAdapter.caps.ops == frozenset({Op.CHAT})


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("together/deepseek-ai/DeepSeek-R1", "deepseek-ai/DeepSeek-R1:together"),
        (
            "fireworks-ai/meta-llama/Llama-3.3-70B-Instruct",
            "meta-llama/Llama-3.3-70B-Instruct:fireworks-ai",
        ),
        ("meta-llama/Llama-3.3-70B-Instruct", "meta-llama/Llama-3.3-70B-Instruct"),
        ("Qwen/Qwen3-8B:fastest", "Qwen/Qwen3-8B:fastest"),
        ("gpt2", "gpt2"),
    ],
)
def test_router_model(model: str, expected: str) -> None:
    assert router_model(model) == expected


def test_router_request() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe"},
                {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}},
            ],
        }
    ]
    url, body = prepare({"messages": messages, "max_tokens": 64}, dep())
    assert url == "https://router.huggingface.co/v1/chat/completions"
    assert body == {
        "messages": messages,
        "max_tokens": 64,
        "model": "deepseek-ai/DeepSeek-R1:together",
    }
    assert ADAPTER.headers(dep()) == [
        ("content-type", "application/json"),
        ("authorization", "Bearer hf_abcdefghijklmnop"),
    ]


@pytest.mark.parametrize(
    ("api_base", "expected"),
    [
        (
            "https://xyz.us-east-1.aws.endpoints.huggingface.cloud",
            "https://xyz.us-east-1.aws.endpoints.huggingface.cloud/v1/chat/completions",
        ),
        ("http://tgi:8080/v1/", "http://tgi:8080/v1/chat/completions"),
        ("http://tgi:8080/v1/chat/completions", "http://tgi:8080/v1/chat/completions"),
    ],
)
def test_endpoint_urls_keep_model(api_base: str, expected: str) -> None:
    url, body = prepare(
        {"messages": [{"role": "user", "content": "hi"}]}, dep(api_base=api_base, model="tgi")
    )
    assert url == expected
    assert body["model"] == "tgi"


def test_model_url_is_an_endpoint() -> None:
    d = dep(model="https://abc.endpoints.huggingface.cloud")
    url, body = prepare({"messages": [{"role": "user", "content": "hi"}]}, d)
    assert url == "https://abc.endpoints.huggingface.cloud/v1/chat/completions"
    assert body["model"] == "tgi"
    assert ROUTER_BASE not in url


def test_stream_relay_with_tool_call_deltas() -> None:
    base = {
        "id": "",
        "object": "chat.completion.chunk",
        "created": 1741000000,
        "model": "deepseek-ai/DeepSeek-R1",
        "system_fingerprint": "3.2.1-sha",
    }
    events = [
        base
        | {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "0",
                                "type": "function",
                                "function": {"name": "search", "arguments": ""},
                            }
                        ],
                    },
                    "finish_reason": None,
                }
            ]
        },
        base
        | {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [{"index": 0, "function": {"arguments": '{"q": "hf"}'}}]
                    },
                    "finish_reason": None,
                }
            ]
        },
        base
        | {
            "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
        },
    ]
    data = (
        b"".join(b"data:" + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    )
    tx = ADAPTER.new_stream(dep(), Op.CHAT, False)
    out = [json.loads(o) for e in SSEParser().feed(data) for o in tx.feed(e)]
    assert len(out) == 3
    assert out[1]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] == '{"q": "hf"}'
    usage = tx.finish()
    assert usage is not None and usage.total_tokens == 12


def test_errors() -> None:
    rate = ADAPTER.map_error(
        429,
        {"retry-after": "30"},
        b'{"error": "Rate limit reached. You reached free usage limit (reset hourly)."}',
    )
    assert isinstance(rate, UpstreamRateLimited)
    assert rate.headers == {"retry-after": "30"}
    tgi = {
        "error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 `inputs` tokens and 500 `max_new_tokens`",
        "error_type": "validation",
    }
    assert isinstance(ADAPTER.map_error(422, {}, json.dumps(tgi).encode()), ContextWindowExceeded)
    routed = {
        "error": {
            "message": "This model's maximum context length is 32768 tokens",
            "type": "invalid_request_error",
            "code": None,
        }
    }
    assert isinstance(
        ADAPTER.map_error(400, {}, json.dumps(routed).encode()), ContextWindowExceeded
    )
    policy = {
        "error": {
            "message": "flagged",
            "type": "invalid_request_error",
            "code": "content_policy_violation",
        }
    }
    assert isinstance(
        ADAPTER.map_error(400, {}, json.dumps(policy).encode()), ContentPolicyViolation
    )
    assert ADAPTER.map_error(404, {}, b"Not Found").message == "Not Found"
