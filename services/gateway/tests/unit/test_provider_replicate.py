"""The Replicate adapter: OpenAI chat -> predictions, polled or streamed, as pure hooks."""

from __future__ import annotations

import json
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

from tianji_gateway.providers.base import Op, UpstreamCall, Usage
from tianji_gateway.providers.registry import ADAPTERS
from tianji_gateway.providers.replicate import ReplicateAdapter
from tianji_gateway.routing.deployment import Deployment
from tianji_gateway.streaming.sse import SSEParser

ADAPTER = ReplicateAdapter()
MODEL = "meta/meta-llama-3-70b-instruct"
VERSION = "fbfb20b472b2f3bdd101412a9f70a0ed4fc0ced78a77ff00970ee7a2383c575d"
PID = "gm3qorzdhgbfurvjtvhg6dckhu"


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d1",
        "model_name": "llama",
        "provider": "replicate",
        "model": MODEL,
        "api_key": "r8_test_token",
    }
    return Deployment(**(base | kw))


def encode(body: dict[str, Any], *, stream: bool = False, **dep_kw: Any) -> dict[str, Any]:
    d = dep(**dep_kw)
    raw = msgspec.json.decode(
        json.dumps({"model": d.model, **body}).encode(), type=dict[str, msgspec.Raw]
    )
    out: dict[str, Any] = json.loads(
        ADAPTER.encode_request(ADAPTER.map_params(raw, d), d, Op.CHAT, stream)
    )
    return out


def prediction(status: str, **kw: Any) -> bytes:
    body = {
        "id": PID,
        "model": MODEL,
        "version": "dp-cf04fe09351e25db628e8b6181276547",
        "input": {"prompt": "Tell me a joke"},
        "logs": "",
        "output": None,
        "data_removed": False,
        "error": None,
        "status": status,
        "created_at": "2024-07-18T12:00:00.000Z",
        "urls": {
            "cancel": f"https://api.replicate.com/v1/predictions/{PID}/cancel",
            "get": f"https://api.replicate.com/v1/predictions/{PID}",
            "stream": f"https://stream-b.svc.rno2.c.replicate.net/v1/streams/{PID}",
        },
    }
    return json.dumps(body | kw).encode()


USER = {"role": "user", "content": "Tell me a joke"}


def test_registered() -> None:
    assert ADAPTERS["replicate"] is ReplicateAdapter
    assert ReplicateAdapter.env_key == "REPLICATE_API_KEY"
    assert ReplicateAdapter.poll_interval == 0.5
    assert ReplicateAdapter.caps.stream_usage is False


@pytest.mark.parametrize(
    ("model", "api_base", "expected"),
    [
        (MODEL, None, f"https://api.replicate.com/v1/models/{MODEL}/predictions"),
        (f"{MODEL}:{VERSION}", None, "https://api.replicate.com/v1/predictions"),
        (VERSION, None, "https://api.replicate.com/v1/predictions"),
        (
            "deployments/acme/my-llama",
            None,
            "https://api.replicate.com/v1/deployments/acme/my-llama/predictions",
        ),
        (MODEL, "https://r8.example.com", f"https://r8.example.com/v1/models/{MODEL}/predictions"),
        (
            MODEL,
            "https://r8.example.com/v1/",
            f"https://r8.example.com/v1/models/{MODEL}/predictions",
        ),
    ],
)
def test_url(model: str, api_base: str | None, expected: str) -> None:
    assert ADAPTER.url(dep(model=model, api_base=api_base), Op.CHAT, False) == expected


def test_headers() -> None:
    assert ADAPTER.headers(dep()) == [
        ("content-type", "application/json"),
        ("authorization", "Bearer r8_test_token"),
    ]


def test_request_field_by_field() -> None:
    body = encode(
        {
            "messages": [
                {"role": "system", "content": "You are a comedian."},
                {"role": "user", "content": [{"type": "text", "text": "Tell me a joke"}]},
            ],
            "max_tokens": 128,
            "temperature": 0.7,
            "top_p": 0.9,
            "top_k": 50,
            "seed": 42,
            "stop": ["<end>", "<stop>"],
            "presence_penalty": 1.15,
            "user": "u-1",
        }
    )
    assert body == {
        "input": {
            "prompt": "Tell me a joke",
            "system_prompt": "You are a comedian.",
            "max_new_tokens": 128,
            "stop_sequences": "<end>,<stop>",
            "temperature": 0.7,
            "top_p": 0.9,
            "top_k": 50,
            "seed": 42,
            "presence_penalty": 1.15,
        }
    }


def test_versioned_model_and_stream_flag() -> None:
    body = encode({"messages": [USER], "stream": True}, stream=True, model=f"{MODEL}:{VERSION}")
    assert body == {"input": {"prompt": "Tell me a joke"}, "version": VERSION, "stream": True}


def test_max_tokens_field_per_model() -> None:
    assert (
        "max_length"
        in encode({"messages": [USER], "max_tokens": 9}, model="replicate/vicuna-13b")["input"]
    )
    assert encode({"messages": [USER], "max_completion_tokens": 9})["input"]["max_new_tokens"] == 9


def test_unsupported_param_rejected_or_dropped() -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    with pytest.raises(InvalidRequest) as exc:
        encode({"messages": [USER], "tools": tools})
    assert exc.value.param == "tools"
    assert "tools" not in encode({"messages": [USER], "tools": tools}, drop_params=True)["input"]


def test_image_content_rejected() -> None:
    msg = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}
    with pytest.raises(InvalidRequest, match="image_url"):
        encode({"messages": [msg]})


# --- polling ---------------------------------------------------------------------------


def test_follow_up_polls_get_url_until_terminal() -> None:
    d = dep()
    for status in ("starting", "processing"):
        call = ADAPTER.follow_up(d, Op.CHAT, False, 201, prediction(status))
        assert call == UpstreamCall(
            "GET",
            f"https://api.replicate.com/v1/predictions/{PID}",
            [("authorization", "Bearer r8_test_token")],
        )
    for status in ("succeeded", "failed", "canceled"):
        assert ADAPTER.follow_up(d, Op.CHAT, False, 200, prediction(status)) is None


def test_follow_up_refuses_off_origin_poll_url() -> None:
    body = prediction("starting", urls={"get": "https://evil.example.com/steal"})
    with pytest.raises(UpstreamError, match="off-origin"):
        ADAPTER.follow_up(dep(), Op.CHAT, False, 201, body)


def test_follow_up_stream_opens_stream_url() -> None:
    call = ADAPTER.follow_up(dep(), Op.CHAT, True, 201, prediction("starting"))
    assert call == UpstreamCall(
        "GET",
        f"https://stream-b.svc.rno2.c.replicate.net/v1/streams/{PID}",
        [
            ("accept", "text/event-stream"),
            ("cache-control", "no-store"),
            ("authorization", "Bearer r8_test_token"),
        ],
    )
    off = prediction("starting", urls={"stream": "https://replicate.net.evil.com/s"})
    with pytest.raises(UpstreamError, match="off-origin"):
        ADAPTER.follow_up(dep(), Op.CHAT, True, 201, off)
    with pytest.raises(InvalidRequest, match="streaming"):
        ADAPTER.follow_up(dep(), Op.CHAT, True, 201, prediction("starting", urls={}))


def test_succeeded_prediction_decoded() -> None:
    raw = prediction(
        "succeeded",
        output=["Why", " did", " the", " chicken", "..."],
        metrics={"predict_time": 1.2, "input_token_count": 12, "output_token_count": 5},
    )
    decoded = ADAPTER.decode_response(raw, dep(), Op.CHAT)
    body = json.loads(decoded.body)
    assert body["id"] == PID
    assert body["model"] == MODEL
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Why did the chicken..."},
            "finish_reason": "stop",
        }
    ]
    assert body["usage"] == {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    assert decoded.usage == Usage(prompt_tokens=12, completion_tokens=5, total_tokens=17)


def test_string_output_and_missing_metrics() -> None:
    decoded = ADAPTER.decode_response(prediction("succeeded", output="One string"), dep(), Op.CHAT)
    assert json.loads(decoded.body)["choices"][0]["message"]["content"] == "One string"
    assert decoded.usage == Usage()


def test_failed_prediction_is_an_error() -> None:
    raw = prediction("failed", error="CUDA out of memory")
    with pytest.raises(UpstreamError) as exc:
        ADAPTER.decode_response(raw, dep(), Op.CHAT)
    assert exc.value.http_status == 422
    assert "CUDA out of memory" in exc.value.message


def test_failed_prediction_too_long_is_context_window() -> None:
    raw = prediction("failed", error="Prompt length (9000) exceeds maximum input length (8192)")
    with pytest.raises(ContextWindowExceeded):
        ADAPTER.decode_response(raw, dep(), Op.CHAT)


# --- streaming -------------------------------------------------------------------------


def test_stream_events() -> None:
    wire = (
        b"event: output\nid: 1690212292:0\ndata: Why\n\n"
        b"event: output\nid: 1690212292:1\ndata:  did\n\n"
        b"event: output\nid: 1690212292:2\ndata: \ndata: \n\n"
        b"event: done\nid: 1690212292:3\ndata: {}\n\n"
    )
    tx = ADAPTER.new_stream(dep(), Op.CHAT, True)
    chunks = [json.loads(c) for ev in SSEParser().feed(wire) for c in tx.feed(ev)]
    assert [c["choices"] for c in chunks] == [
        [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        [{"index": 0, "delta": {"content": "Why"}, "finish_reason": None}],
        [{"index": 0, "delta": {"content": " did"}, "finish_reason": None}],
        [{"index": 0, "delta": {"content": "\n"}, "finish_reason": None}],
        [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        [],
    ]
    assert chunks[-1]["usage"] == {"prompt_tokens": 0, "completion_tokens": 3, "total_tokens": 3}
    assert tx.finish() == Usage(completion_tokens=3, total_tokens=3)


def test_stream_error_and_cancel() -> None:
    tx = ADAPTER.new_stream(dep(), Op.CHAT, False)
    events = SSEParser().feed(b'event: error\ndata: {"detail": "CUDA error"}\n\n')
    with pytest.raises(UpstreamError, match="CUDA error"):
        tx.feed(events[0])
    tx = ADAPTER.new_stream(dep(), Op.CHAT, False)
    events = SSEParser().feed(b'event: done\ndata: {"reason": "canceled"}\n\n')
    with pytest.raises(UpstreamError, match="canceled"):
        tx.feed(events[0])


# --- errors ----------------------------------------------------------------------------


def test_rate_limit() -> None:
    body = (
        b'{"title":"Request was throttled","detail":"Expected available in 1 second.","status":429}'
    )
    err = ADAPTER.map_error(429, {"retry-after": "1"}, body)
    assert isinstance(err, UpstreamRateLimited)
    assert err.headers["retry-after"] == "1"
    assert err.message == "Expected available in 1 second."


def test_validation_error() -> None:
    body = (
        b'{"title":"Input validation failed","detail":"- input.max_new_tokens: Must be less '
        b'than or equal to 4096","status":422,"invalid_fields":[{"type":"less_equal",'
        b'"field":"input.max_new_tokens","description":"Must be less than or equal to 4096"}]}'
    )
    err = ADAPTER.map_error(422, {}, body)
    assert err.http_status == 422
    assert not err.retryable
    assert "max_new_tokens" in err.message


def test_nsfw_is_content_policy_and_spend_limit_not_retried() -> None:
    nsfw = ADAPTER.map_error(
        400, {}, b'{"detail":"NSFW content detected. Try a different prompt."}'
    )
    assert isinstance(nsfw, ContentPolicyViolation)
    spend = ADAPTER.map_error(402, {}, b'{"title":"Monthly spend limit reached","status":402}')
    assert spend.message == "Monthly spend limit reached"
    assert not spend.retryable
