"""The plain OpenAI-compatible vendors, one contract suite: URL, auth, body, stream, errors.

Vendor-specific quirks are tested in each vendor's own `test_provider_<id>.py`; this
suite pins what every one of them shares, in each vendor's documented shapes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from tianji_common.errors import (
    ContentPolicyViolation,
    ContextWindowExceeded,
    InvalidRequest,
    UpstreamError,
    UpstreamRateLimited,
)

from tianji_gateway.providers import _group_openai_compat_b as group
from tianji_gateway.providers._openai_compat import CompatAdapter, parse_error_body
from tianji_gateway.providers.base import Op, ProviderAdapter, Usage
from tianji_gateway.providers.registry import ADAPTERS
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.streaming.sse import SSEEvent, SSEParser


@dataclass(frozen=True)
class Vendor:
    id: str
    model: str
    base: str
    chat_url: str
    env_key: str
    env_base: str | None
    ops: frozenset[Op]
    env_key_fallbacks: tuple[str, ...] = ()
    sent_model: str | None = None  # the model id the vendor receives, when rewritten


VENDORS = [
    Vendor(
        "groq",
        "llama-3.3-70b-versatile",
        "https://api.groq.com/openai/v1",
        "https://api.groq.com/openai/v1/chat/completions",
        "GROQ_API_KEY",
        "GROQ_API_BASE",
        frozenset({Op.CHAT, Op.AUDIO_TRANSCRIPTION, Op.AUDIO_SPEECH}),
    ),
    Vendor(
        "mistral",
        "mistral-large-latest",
        "https://api.mistral.ai/v1",
        "https://api.mistral.ai/v1/chat/completions",
        "MISTRAL_API_KEY",
        "MISTRAL_AZURE_API_BASE",
        frozenset({Op.CHAT, Op.EMBEDDING}),
        env_key_fallbacks=("MISTRAL_AZURE_API_KEY",),
    ),
    Vendor(
        "together_ai",
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "https://api.together.xyz/v1",
        "https://api.together.xyz/v1/chat/completions",
        "TOGETHER_API_KEY",
        "TOGETHER_AI_API_BASE",
        frozenset({Op.CHAT, Op.COMPLETION, Op.EMBEDDING, Op.RERANK}),
        env_key_fallbacks=("TOGETHER_AI_API_KEY", "TOGETHERAI_API_KEY", "TOGETHER_AI_TOKEN"),
    ),
    Vendor(
        "fireworks_ai",
        "llama-v3p1-8b-instruct",
        "https://api.fireworks.ai/inference/v1",
        "https://api.fireworks.ai/inference/v1/chat/completions",
        "FIREWORKS_API_KEY",
        "FIREWORKS_API_BASE",
        frozenset({Op.CHAT, Op.COMPLETION, Op.EMBEDDING}),
        sent_model="accounts/fireworks/models/llama-v3p1-8b-instruct",
        env_key_fallbacks=("FIREWORKS_AI_API_KEY", "FIREWORKSAI_API_KEY", "FIREWORKS_AI_TOKEN"),
    ),
    Vendor(
        "deepseek",
        "deepseek-chat",
        "https://api.deepseek.com/beta",
        "https://api.deepseek.com/beta/chat/completions",
        "DEEPSEEK_API_KEY",
        "DEEPSEEK_API_BASE",
        frozenset({Op.CHAT, Op.COMPLETION}),
    ),
    Vendor(
        "perplexity",
        "sonar-pro",
        "https://api.perplexity.ai",
        "https://api.perplexity.ai/chat/completions",
        "PERPLEXITYAI_API_KEY",
        "PERPLEXITY_API_BASE",
        frozenset({Op.CHAT, Op.EMBEDDING}),
        env_key_fallbacks=("PERPLEXITY_API_KEY",),
    ),
    Vendor(
        "xai",
        "grok-3",
        "https://api.x.ai/v1",
        "https://api.x.ai/v1/chat/completions",
        "XAI_API_KEY",
        "XAI_API_BASE",
        frozenset({Op.CHAT}),
    ),
    Vendor(
        "cerebras",
        "llama3.1-8b",
        "https://api.cerebras.ai/v1",
        "https://api.cerebras.ai/v1/chat/completions",
        "CEREBRAS_API_KEY",
        "CEREBRAS_API_BASE",
        frozenset({Op.CHAT, Op.COMPLETION}),
    ),
    Vendor(
        "sambanova",
        "Meta-Llama-3.3-70B-Instruct",
        "https://api.sambanova.ai/v1",
        "https://api.sambanova.ai/v1/chat/completions",
        "SAMBANOVA_API_KEY",
        "SAMBANOVA_API_BASE",
        frozenset({Op.CHAT, Op.EMBEDDING}),
    ),
    Vendor(
        "openrouter",
        "meta-llama/llama-3.3-70b-instruct",
        "https://openrouter.ai/api/v1",
        "https://openrouter.ai/api/v1/chat/completions",
        "OPENROUTER_API_KEY",
        "OPENROUTER_API_BASE",
        frozenset({Op.CHAT, Op.EMBEDDING}),
    ),
    Vendor(
        "deepinfra",
        "meta-llama/Meta-Llama-3.1-8B-Instruct",
        "https://api.deepinfra.com/v1/openai",
        "https://api.deepinfra.com/v1/openai/chat/completions",
        "DEEPINFRA_API_KEY",
        "DEEPINFRA_API_BASE",
        frozenset({Op.CHAT, Op.COMPLETION, Op.EMBEDDING}),
    ),
    Vendor(
        "nvidia_nim",
        "meta/llama-3.1-8b-instruct",
        "https://integrate.api.nvidia.com/v1",
        "https://integrate.api.nvidia.com/v1/chat/completions",
        "NVIDIA_NIM_API_KEY",
        "NVIDIA_NIM_API_BASE",
        frozenset({Op.CHAT, Op.EMBEDDING}),
    ),
]
IDS = [v.id for v in VENDORS]


def adapter(v: Vendor) -> ProviderAdapter:
    return ADAPTERS[v.id]()


def dep(v: Vendor, **kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d1",
        "model_name": "public",
        "provider": v.id,
        "model": v.model,
        "api_key": f"sk-{v.id}-secret",
    }
    return Deployment(**(base | kw))


def raw_body(body: dict[str, Any]) -> dict[str, msgspec.Raw]:
    return msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])


def upstream_body(
    v: Vendor, body: dict[str, Any], op: Op = Op.CHAT, *, stream: bool = False, **kw: Any
) -> dict[str, Any]:
    """What the vendor receives: the gateway's map_params then encode_request."""
    a, d = adapter(v), dep(v, **kw)
    mapped = a.map_params(raw_body(body), d)
    out: dict[str, Any] = json.loads(a.encode_request(mapped, d, op, stream))
    return out


CHAT = {
    "model": "ignored-by-gateway",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is 2+2?"},
    ],
    "temperature": 0.2,
    "max_tokens": 64,
}


# --- registration and class attributes ----------------------------------------------


@pytest.mark.parametrize("v", VENDORS, ids=IDS)
def test_registered_with_litellm_settings(v: Vendor) -> None:
    cls = group.ADAPTERS[v.id]
    assert ADAPTERS[v.id] is cls
    assert issubclass(cls, CompatAdapter)
    assert cls.name == v.id
    assert cls.default_api_base == v.base
    assert cls.env_key == v.env_key
    assert cls.env_base == v.env_base
    assert cls.env_key_fallbacks == v.env_key_fallbacks
    assert cls.caps.ops == v.ops
    assert cls.passthrough is True


def test_hosts_are_litellm_known_endpoints() -> None:
    assert dict(group.HOSTS) == {
        "api.groq.com": "groq",
        "api.mistral.ai": "mistral",
        "api.deepseek.com": "deepseek",
        "api.perplexity.ai": "perplexity",
        "api.cerebras.ai": "cerebras",
        "api.sambanova.ai": "sambanova",
        "api.deepinfra.com": "deepinfra",
        "integrate.api.nvidia.com": "nvidia_nim",
    }


# --- chat request: URL, headers, body -------------------------------------------------


@pytest.mark.parametrize("v", VENDORS, ids=IDS)
def test_chat_url_default_and_override(v: Vendor) -> None:
    a = adapter(v)
    assert a.url(dep(v), Op.CHAT, False) == v.chat_url
    assert a.url(dep(v), Op.CHAT, True) == v.chat_url
    assert a.url(dep(v, api_base="http://127.0.0.1:9/v1/"), Op.CHAT, False) == (
        "http://127.0.0.1:9/v1/chat/completions"
    )


@pytest.mark.parametrize("v", VENDORS, ids=IDS)
def test_chat_headers_bearer_auth_and_extra_headers_last(v: Vendor) -> None:
    d = dep(v, extra_headers=(("x-trace", "t-1"),))
    assert adapter(v).headers(d) == [
        ("content-type", "application/json"),
        ("authorization", f"Bearer sk-{v.id}-secret"),
        ("x-trace", "t-1"),
    ]


@pytest.mark.parametrize("v", VENDORS, ids=IDS)
def test_plain_chat_body_is_relayed(v: Vendor) -> None:
    body = {**CHAT, "model": v.model}
    sent = upstream_body(v, body)
    expected: dict[str, Any] = {**body, "model": v.sent_model or v.model}
    if v.id == "openrouter":
        expected["usage"] = {"include": True}  # always asked for, to get the cost
    assert sent == expected


# perplexity takes no tools: see test_provider_perplexity.
_TOOL_VENDORS = [v for v in VENDORS if v.id != "perplexity"]


@pytest.mark.parametrize("v", _TOOL_VENDORS, ids=[v.id for v in _TOOL_VENDORS])
def test_tools_and_image_parts_are_forwarded(v: Vendor) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    content = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    body = {
        "model": v.model,
        "messages": [{"role": "user", "content": content}],
        "tools": tools,
        "tool_choice": "auto",
    }
    sent = upstream_body(v, body)
    assert sent["tools"] == tools
    assert sent["tool_choice"] == "auto"
    assert sent["messages"] == [{"role": "user", "content": content}]


@pytest.mark.parametrize("v", VENDORS, ids=IDS)
def test_additional_drop_params_always_dropped(v: Vendor) -> None:
    body = {**CHAT, "model": v.model, "vendor_flag": 1}
    sent = upstream_body(v, body, additional_drop_params=frozenset({"vendor_flag"}))
    assert "vendor_flag" not in sent


@pytest.mark.parametrize("v", VENDORS, ids=IDS)
def test_unknown_params_are_forwarded(v: Vendor) -> None:
    sent = upstream_body(v, {**CHAT, "model": v.model, "top_k": 40})
    assert sent["top_k"] == 40


# --- streaming ------------------------------------------------------------------------

_ID = "chatcmpl-7f1c"


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": _ID,
        "object": "chat.completion.chunk",
        "created": 1735689600,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


TRANSCRIPT = [
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": "Let me "}),
    _chunk({"content": "check."}),
    _chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_9c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        }
    ),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' "Paris"}'}}]}),
    _chunk({}, "tool_calls"),
    {
        "id": _ID,
        "object": "chat.completion.chunk",
        "created": 1735689600,
        "model": "m",
        "choices": [],
        "usage": {"prompt_tokens": 31, "completion_tokens": 17, "total_tokens": 48},
    },
]


def sse(chunks: list[dict[str, Any]]) -> bytes:
    out = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
    return b": keep-alive\n\n" + out + b"data: [DONE]\n\n"


def run_stream(
    a: ProviderAdapter, d: Deployment, wire: bytes, include_usage: bool, step: int = 7
) -> tuple[list[dict[str, Any]], Usage | None]:
    parser = a.stream_parser(d)
    tx = a.new_stream(d, Op.CHAT, include_usage)
    out: list[bytes] = []
    for i in range(0, len(wire), step):  # split at arbitrary byte boundaries
        for event in parser.feed(wire[i : i + step]):
            out.extend(tx.feed(event))
    for event in parser.flush():
        out.extend(tx.feed(event))
    return [json.loads(o) for o in out], tx.finish()


@pytest.mark.parametrize("v", VENDORS, ids=IDS)
def test_stream_transcript_reassembles_text_tools_and_usage(v: Vendor) -> None:
    chunks, usage = run_stream(adapter(v), dep(v), sse(TRANSCRIPT), include_usage=True)
    assert chunks == TRANSCRIPT  # relayed as the vendor sent them
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Let me check."
    args = "".join(
        tc["function"].get("arguments", "")
        for c in chunks
        if c["choices"]
        for tc in c["choices"][0]["delta"].get("tool_calls", [])
    )
    assert json.loads(args) == {"city": "Paris"}
    assert usage == Usage(prompt_tokens=31, completion_tokens=17, total_tokens=48)


@pytest.mark.parametrize("v", VENDORS, ids=IDS)
def test_stream_usage_chunk_stripped_when_not_asked(v: Vendor) -> None:
    chunks, usage = run_stream(adapter(v), dep(v), sse(TRANSCRIPT), include_usage=False)
    assert chunks == TRANSCRIPT[:-1]
    assert usage is not None and usage.total_tokens == 48


@pytest.mark.parametrize("v", VENDORS, ids=IDS)
def test_stream_mid_stream_error_chunk(v: Vendor) -> None:
    wire = sse([TRANSCRIPT[1], {"error": {"message": "Rate limit reached", "code": 429}}])
    with pytest.raises(UpstreamRateLimited, match="Rate limit reached"):
        run_stream(adapter(v), dep(v), wire, include_usage=False)


def test_sse_parser_is_the_default() -> None:
    assert all(isinstance(adapter(v).stream_parser(dep(v)), SSEParser) for v in VENDORS)


# --- errors, in each vendor's documented shape ----------------------------------------


def openai_error(message: str, type_: str, code: str | None) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": type_, "param": None, "code": code}}
    ).encode()


RATE = {
    "groq": openai_error(
        "Rate limit reached for model `llama-3.3-70b-versatile` on tokens per minute (TPM).",
        "tokens",
        "rate_limit_exceeded",
    ),
    "mistral": json.dumps(
        {
            "object": "error",
            "message": "Requests rate limit exceeded",
            "type": "rate_limited",
            "param": None,
            "code": "1300",
        }
    ).encode(),
    "together_ai": openai_error(
        "You have exceeded the rate limit.", "model_rate_limit", "rate_limit_exceeded"
    ),
    "fireworks_ai": json.dumps(
        {"error": {"object": "error", "type": "rate_limit_error", "message": "too many"}}
    ).encode(),
    "deepseek": openai_error("Rate Limit Reached", "rate_limit_error", None),
    "perplexity": openai_error("Rate limit exceeded", "rate_limit_exceeded", "429"),
    "xai": json.dumps(
        {"code": "Some resource has been exhausted", "error": "Too many requests"}
    ).encode(),
    "cerebras": json.dumps(
        {
            "message": "Requests per minute limit exceeded",
            "type": "too_many_requests_error",
            "param": "quota",
            "code": "request_quota_exceeded",
        }
    ).encode(),
    "sambanova": json.dumps({"error": {"code": None, "message": "Rate limit exceeded"}}).encode(),
    "openrouter": json.dumps(
        {"error": {"code": 429, "message": "Rate limit exceeded", "metadata": {}}}
    ).encode(),
    "deepinfra": json.dumps({"detail": {"error": "Rate limited"}}).encode(),
    "nvidia_nim": json.dumps(
        {"type": "about:blank", "status": 429, "title": "Too Many Requests"}
    ).encode(),
}

CONTEXT = {
    "groq": openai_error(
        "Please reduce the length of the messages or completion.",
        "invalid_request_error",
        "context_length_exceeded",
    ),
    "mistral": json.dumps(
        {
            "object": "error",
            "message": "Prompt contains 40100 tokens and 0 draft tokens, too large for model "
            "with 32768 maximum context length",
            "type": "invalid_request_error",
            "param": None,
            "code": "3051",
        }
    ).encode(),
    "together_ai": openai_error(
        "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 8193. "
        "Given: 9000 `inputs` tokens and 100 `max_new_tokens`; maximum context length",
        "invalid_request_error",
        None,
    ),
    "fireworks_ai": json.dumps(
        {
            "error": {
                "object": "error",
                "type": "invalid_request_error",
                "message": "The prompt is too long: 140000, model maximum context length: 131072",
            }
        }
    ).encode(),
    "deepseek": openai_error(
        "This model's maximum context length is 65536 tokens. However, you requested 70000 "
        "tokens (70000 in the messages, 0 in the completion).",
        "invalid_request_error",
        "invalid_request_error",
    ),
    "perplexity": openai_error(
        "Prompt is too long: 130000 tokens > 127072 maximum", "invalid_request_error", None
    ),
    "xai": json.dumps(
        {
            "code": "Client specified an invalid argument",
            "error": "This model's maximum prompt length is 131072 but the request contains "
            "140000 tokens; context length exceeded.",
        }
    ).encode(),
    "cerebras": json.dumps(
        {
            "message": "Please reduce the length of the messages or completion.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    ).encode(),
    "sambanova": json.dumps(
        {"error": {"message": "model max context length is 8192 tokens", "code": None}}
    ).encode(),
    "openrouter": json.dumps(
        {
            "error": {
                "code": 400,
                "message": "This endpoint's maximum context length is 131072 tokens.",
            }
        }
    ).encode(),
    "deepinfra": json.dumps(
        {"detail": {"error": "Requested tokens exceed context window of 8192"}}
    ).encode(),
    "nvidia_nim": json.dumps(
        {
            "type": "about:blank",
            "status": 400,
            "title": "Bad Request",
            "detail": "Input too long: this model's maximum context length is 8192 tokens",
        }
    ).encode(),
}


@pytest.mark.parametrize("v", VENDORS, ids=IDS)
def test_rate_limit_keeps_retry_after(v: Vendor) -> None:
    err = adapter(v).map_error(429, {"retry-after": "12"}, RATE[v.id])
    assert isinstance(err, UpstreamRateLimited)
    assert err.retryable is True
    assert err.headers["retry-after"] == "12"
    assert err.http_status == 429
    assert err.message and "HTTP" not in err.message  # the vendor's own words


@pytest.mark.parametrize("v", VENDORS, ids=IDS)
def test_context_window_error(v: Vendor) -> None:
    err = adapter(v).map_error(400, {}, CONTEXT[v.id])
    assert isinstance(err, ContextWindowExceeded), err.message
    assert err.body().error.code == "context_length_exceeded"
    assert err.retryable is False


@pytest.mark.parametrize("v", VENDORS, ids=IDS)
def test_content_policy_error(v: Vendor) -> None:
    body = openai_error(
        "Your request was rejected by the safety system.",
        "invalid_request_error",
        "content_policy_violation",
    )
    err = adapter(v).map_error(400, {}, body)
    assert isinstance(err, ContentPolicyViolation)


@pytest.mark.parametrize("v", VENDORS, ids=IDS)
def test_server_errors_retryable_client_errors_not(v: Vendor) -> None:
    a = adapter(v)
    assert a.map_error(503, {}, b"upstream connect error").retryable is True
    bad = a.map_error(401, {}, openai_error("Invalid API Key", "invalid_request_error", None))
    assert type(bad) is UpstreamError and bad.retryable is False and bad.http_status == 401
    assert bad.message == "Invalid API Key"


def test_error_body_shapes() -> None:
    assert parse_error_body(RATE["xai"]) == (
        "Too many requests",
        None,
        "Some resource has been exhausted",
    )
    assert parse_error_body(RATE["nvidia_nim"]) == ("Too Many Requests", None, None)
    assert parse_error_body(RATE["openrouter"]) == ("Rate limit exceeded", None, "429")
    assert parse_error_body(b'{"detail":[{"type":"extra_forbidden","msg":"x"}]}')[0] == (
        '[{"type":"extra_forbidden","msg":"x"}]'
    )
    assert parse_error_body(b"<html>bad gateway</html>") == ("<html>bad gateway</html>", None, None)


# --- unsupported parameters: drop vs reject -------------------------------------------

REJECTED = {
    "groq": "logit_bias",
    "mistral": "logprobs",
    "perplexity": "tools",
    "cerebras": "frequency_penalty",
    "sambanova": "seed",
    "nvidia_nim": "logit_bias",
}


@pytest.mark.parametrize("vid", sorted(REJECTED))
def test_unsupported_param_rejected_or_dropped(vid: str) -> None:
    v = next(x for x in VENDORS if x.id == vid)
    name = REJECTED[vid]
    body = {**CHAT, "model": v.model, name: {"50256": -100} if name == "logit_bias" else 1}
    with pytest.raises(InvalidRequest, match=repr(name)) as exc:
        upstream_body(v, body)
    assert exc.value.param == name
    assert name not in upstream_body(v, body, drop_params=True)


@pytest.mark.parametrize("v", VENDORS, ids=IDS)
def test_non_generation_bodies_skip_chat_checks(v: Vendor) -> None:
    body = {"model": v.model, "input": ["a", "b"], "logit_bias": 1}
    mapped = adapter(v).map_params(raw_body(body), dep(v), Op.EMBEDDING)
    assert set(mapped) == {"model", "input", "logit_bias"}


# --- non-streaming answers are relayed with usage ---------------------------------------


@pytest.mark.parametrize("v", VENDORS, ids=IDS)
def test_chat_answer_relayed_with_usage(v: Vendor) -> None:
    answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1735689600,
        "model": v.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "4"},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 20,
            "completion_tokens": 1,
            "total_tokens": 21,
            "prompt_tokens_details": {"cached_tokens": 16},
        },
    }
    raw = json.dumps(answer).encode()
    decoded = adapter(v).decode_response(raw, dep(v), Op.CHAT)
    assert json.loads(decoded.body) == answer
    assert decoded.usage == Usage(
        prompt_tokens=20, completion_tokens=1, total_tokens=21, cached_tokens=16
    )
    assert decoded.model == v.model


def test_stream_chunk_that_is_not_json_is_relayed() -> None:
    v = next(x for x in VENDORS if x.id == "openrouter")  # has chunk markers
    tx = adapter(v).new_stream(dep(v), Op.CHAT, False)
    odd = b'{"choices": [{"delta": {"reasoning": "cut'
    assert tx.feed(SSEEvent(odd)) == [odd]
    assert tx.feed(SSEEvent(b'not json "error"')) == [b'not json "error"']
