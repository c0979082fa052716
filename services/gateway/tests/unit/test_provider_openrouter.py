"""OpenRouter quirks: usage.include, cache_control placement, reasoning, errors, headers."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from tianji_common.errors import ContentPolicyViolation, UpstreamError, UpstreamRateLimited

from tianji_gateway.providers.base import Op
from tianji_gateway.providers.openrouter import OpenRouterAdapter
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.streaming.sse import SSEEvent

A = OpenRouterAdapter()


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d",
        "model_name": "or",
        "provider": "openrouter",
        "model": "anthropic/claude-sonnet-4",
        "api_key": "sk-or-v1-key",
    }
    return Deployment(**(base | kw))


def send(body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    d = dep(**kw)
    raw = msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])
    out: dict[str, Any] = json.loads(A.encode_request(A.map_params(raw, d), d, Op.CHAT, False))
    return out


HI = [{"role": "user", "content": "hi"}]


def test_usage_include_added_unless_sent() -> None:
    assert send({"model": "x", "messages": HI})["usage"] == {"include": True}
    assert send({"model": "x", "messages": HI, "usage": {"include": False}})["usage"] == {
        "include": False
    }


def test_openrouter_routing_params_forwarded() -> None:
    body = {
        "model": "x",
        "messages": HI,
        "models": ["anthropic/claude-sonnet-4", "openai/gpt-4o"],
        "route": "fallback",
        "transforms": ["middle-out"],
        "provider": {"order": ["Anthropic"]},
    }
    sent = send(body)
    for key in ("models", "route", "transforms", "provider"):
        assert sent[key] == body[key]


CACHE = {"type": "ephemeral"}


def test_cache_control_moved_into_last_block_for_claude() -> None:
    messages = [
        {"role": "system", "content": "long instructions", "cache_control": CACHE},
        {
            "role": "user",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            "cache_control": CACHE,
        },
    ]
    assert send({"model": "x", "messages": messages})["messages"] == [
        {
            "role": "system",
            "content": [{"type": "text", "text": "long instructions", "cache_control": CACHE}],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "a"},
                {"type": "text", "text": "b", "cache_control": CACHE},
            ],
        },
    ]


def test_cache_control_left_alone_for_other_models() -> None:
    messages = [{"role": "system", "content": "s", "cache_control": CACHE}]
    sent = send({"model": "x", "messages": messages}, model="meta-llama/llama-3.3-70b-instruct")
    assert sent["messages"] == messages


def test_reasoning_mirrored_whole_and_streamed() -> None:
    answer = {
        "id": "gen-1",
        "model": "deepseek/deepseek-r1",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "4", "reasoning": "2+2"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12, "cost": 0.0001},
    }
    decoded = A.decode_response(json.dumps(answer).encode(), dep(), Op.CHAT)
    message = json.loads(decoded.body)["choices"][0]["message"]
    assert message["reasoning_content"] == "2+2" and message["reasoning"] == "2+2"
    assert decoded.usage.total_tokens == 12
    tx = A.new_stream(dep(), Op.CHAT, False)
    chunk = {
        "id": "gen-1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": "", "reasoning": "2+"}}],
    }
    [out] = tx.feed(SSEEvent(json.dumps(chunk).encode()))
    assert json.loads(out)["choices"][0]["delta"]["reasoning_content"] == "2+"


def test_mid_stream_error_uses_its_code() -> None:
    tx = A.new_stream(dep(), Op.CHAT, False)
    err = {"error": {"code": 502, "message": "Provider returned error", "metadata": {}}}
    with pytest.raises(UpstreamError) as exc:
        tx.feed(SSEEvent(json.dumps(err).encode()))
    assert exc.value.http_status == 502 and exc.value.retryable is True


def test_moderation_refusal_is_content_policy() -> None:
    body = json.dumps(
        {
            "error": {
                "code": 403,
                "message": "anthropic/claude-sonnet-4 requires moderation on OpenAI. "
                'Your input was flagged for "violence".',
                "metadata": {
                    "reasons": ["violence"],
                    "flagged_input": "...",
                    "provider_name": "OpenAI",
                    "model_slug": "anthropic/claude-sonnet-4",
                },
            }
        }
    ).encode()
    err = A.map_error(403, {}, body)
    assert isinstance(err, ContentPolicyViolation)
    assert "flagged" in err.message
    plain = A.map_error(403, {}, b'{"error":{"code":403,"message":"Key disabled"}}')
    assert not isinstance(plain, ContentPolicyViolation)


def test_rate_limit() -> None:
    body = b'{"error":{"code":429,"message":"Rate limit exceeded: free-models-per-day"}}'
    err = A.map_error(429, {"retry-after": "60"}, body)
    assert isinstance(err, UpstreamRateLimited) and err.headers["retry-after"] == "60"


def test_attribution_headers_from_settings_extra_headers_win() -> None:
    d = dep(settings={"or_site_url": "https://app.example", "or_app_name": "Example"})
    assert A.headers(d)[2:] == [
        ("http-referer", "https://app.example"),
        ("x-title", "Example"),
    ]
    d = dep(
        settings={"or_site_url": "https://app.example", "or_app_name": "Example"},
        extra_headers=(("x-title", "Mine"),),
    )
    assert A.headers(d)[2:] == [("x-title", "Mine"), ("http-referer", "https://app.example")]
    assert A.headers(dep()) == [
        ("content-type", "application/json"),
        ("authorization", "Bearer sk-or-v1-key"),
    ]


def test_attribution_settings_resolved_from_litellm_env_vars() -> None:
    assert A.env_settings == {"or_site_url": ("OR_SITE_URL",), "or_app_name": ("OR_APP_NAME",)}
