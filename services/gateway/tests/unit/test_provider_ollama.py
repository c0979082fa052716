"""ollama adapter: `/api/generate` with LiteLLM's `ollama_pt` prompt, chat and completions."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from tianji_common.errors import InvalidRequest, UpstreamRateLimited

from tianji_gateway.providers.base import Op
from tianji_gateway.providers.ollama import OllamaAdapter, ollama_prompt
from tianji_gateway.routing.deployment import Deployment

ADAPTER = OllamaAdapter()


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d1",
        "model_name": "m",
        "provider": "ollama",
        "model": "mistral:7b",
    }
    return Deployment(**(base | kw))


def prepare(
    body: dict[str, Any], op: Op = Op.CHAT, d: Deployment | None = None, stream: bool = False
) -> dict[str, Any]:
    d = d or dep()
    b = msgspec.json.decode(
        json.dumps({**body, "model": d.model}).encode(), type=dict[str, msgspec.Raw]
    )
    out: dict[str, Any] = json.loads(
        ADAPTER.encode_request(ADAPTER.map_params(b, d), d, op, stream)
    )
    return out


def test_urls_and_ops() -> None:
    assert OllamaAdapter.caps.ops == frozenset({Op.CHAT, Op.COMPLETION, Op.EMBEDDING})
    assert ADAPTER.url(dep(), Op.CHAT, False) == "http://localhost:11434/api/generate"
    assert (
        ADAPTER.url(dep(api_base="http://h:11434/api/generate"), Op.COMPLETION, True)
        == "http://h:11434/api/generate"
    )
    assert (
        ADAPTER.url(dep(api_base="http://h:11434"), Op.EMBEDDING, False)
        == "http://h:11434/api/embed"
    )


def test_prompt_template() -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look: "},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
            ],
        },
        {
            "role": "assistant",
            "content": "Checking",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    ]
    prompt, images = ollama_prompt(messages)
    tool_calls = json.dumps(
        [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}],
        indent=2,
    )
    assert prompt == (
        "### System:\nYou are terse.\n\n"
        "### User:\nHiLook: \n\n"
        f"### Assistant:\nCheckingTool Calls: {tool_calls}\n\n"
        "### User:\nok\n\n"
    )
    assert images == ["iVBOR"]


def test_unknown_role_rejected() -> None:
    with pytest.raises(InvalidRequest, match="invalid message role 'developer'"):
        ollama_prompt([{"role": "developer", "content": "x"}])


def test_chat_request() -> None:
    body = prepare(
        {
            "messages": [{"role": "user", "content": "Why is the sky blue?"}],
            "max_tokens": 50,
            "stop": ["\n\n"],
            "keep_alive": -1,
        },
        stream=True,
    )
    assert body == {
        "model": "mistral:7b",
        "prompt": "### User:\nWhy is the sky blue?\n\n",
        "options": {"num_predict": 50, "stop": ["\n\n"]},
        "stream": True,
        "keep_alive": -1,
    }


def test_completion_request() -> None:
    body = prepare(
        {"prompt": "def fib(n):", "suffix": "    return a", "temperature": 0, "raw": True},
        op=Op.COMPLETION,
    )
    assert body == {
        "model": "mistral:7b",
        "prompt": "def fib(n):",
        "options": {"temperature": 0},
        "stream": False,
        "suffix": "    return a",
        "raw": True,
    }


@pytest.mark.parametrize("param", ["tools", "tool_choice", "reasoning_effort", "user", "n"])
def test_unsupported_on_generate(param: str) -> None:
    value: object = (
        [{"type": "function", "function": {"name": "f"}}]
        if param == "tools"
        else ("auto" if param == "tool_choice" else 1)
    )
    with pytest.raises(InvalidRequest, match=f"ollama does not support parameter '{param}'"):
        prepare({"messages": [{"role": "user", "content": "x"}], param: value})
    assert param not in prepare(
        {"messages": [{"role": "user", "content": "x"}], param: value}, d=dep(drop_params=True)
    )


GENERATE_ANSWER = {
    "model": "mistral:7b",
    "created_at": "2023-08-04T19:22:45.499127Z",
    "response": "The sky is blue because of Rayleigh scattering.",
    "done": True,
    "done_reason": "stop",
    "context": [1, 2, 3],
    "total_duration": 10706818083,
    "load_duration": 6338219291,
    "prompt_eval_count": 26,
    "prompt_eval_duration": 130079000,
    "eval_count": 259,
    "eval_duration": 4232710000,
}


def test_chat_answer_from_generate() -> None:
    decoded = ADAPTER.decode_response(json.dumps(GENERATE_ANSWER).encode(), dep(), Op.CHAT)
    body = json.loads(decoded.body)
    assert body["object"] == "chat.completion"
    assert body["created"] == 1691176965
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "The sky is blue because of Rayleigh scattering.",
    }
    assert body["usage"] == {"prompt_tokens": 26, "completion_tokens": 259, "total_tokens": 285}


def test_text_completion_answer() -> None:
    decoded = ADAPTER.decode_response(
        json.dumps(GENERATE_ANSWER | {"done_reason": "length"}).encode(), dep(), Op.COMPLETION
    )
    body = json.loads(decoded.body)
    assert body["id"].startswith("cmpl-")
    assert body["object"] == "text_completion"
    assert body["choices"] == [
        {
            "text": "The sky is blue because of Rayleigh scattering.",
            "index": 0,
            "logprobs": None,
            "finish_reason": "length",
        }
    ]
    assert decoded.usage.total_tokens == 285


def gen_line(text: str, done: bool = False) -> bytes:
    obj: dict[str, Any] = {
        "model": "mistral:7b",
        "created_at": "2023-08-04T08:52:19.385406455-07:00",
        "response": text,
        "done": done,
    }
    if done:
        obj |= {"done_reason": "stop", "context": [1, 2], "prompt_eval_count": 10, "eval_count": 3}
    return json.dumps(obj).encode() + b"\n"


STREAM = gen_line("The") + gen_line(" sky") + gen_line("", done=True)


def run(op: Op, include_usage: bool) -> list[dict[str, Any]]:
    parser, tx = ADAPTER.stream_parser(dep()), ADAPTER.new_stream(dep(), op, include_usage)
    out = [o for e in [*parser.feed(STREAM), *parser.flush()] for o in tx.feed(e)]
    assert tx.finish() is not None
    return [json.loads(o) for o in out]


def test_generate_stream_as_chat_chunks() -> None:
    chunks = run(Op.CHAT, include_usage=True)
    assert [c["choices"][0]["delta"] for c in chunks[:3]] == [
        {"role": "assistant", "content": "The"},
        {"content": " sky"},
        {},
    ]
    assert chunks[2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[3]["usage"] == {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}


def test_generate_stream_as_text_completion_chunks() -> None:
    chunks = run(Op.COMPLETION, include_usage=False)
    assert [c["object"] for c in chunks] == ["text_completion"] * 3
    assert [c["choices"][0]["text"] for c in chunks] == ["The", " sky", ""]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, "stop"]


def test_rate_limit_error() -> None:
    err = ADAPTER.map_error(
        429,
        {"retry-after": "4"},
        b'{"error": "server busy, please try again. maximum pending requests exceeded"}',
    )
    assert isinstance(err, UpstreamRateLimited)
    assert err.headers == {"retry-after": "4"}
