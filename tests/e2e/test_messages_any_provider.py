"""The official `anthropic` SDK against `/v1/messages` for non-Anthropic deployments.

`gpt-4o-mini` is an OpenAI-compatible deployment on `FakeUpstream`; a small vendor
below (OpenAI tool-call answers, Anthropic's count_tokens) covers what it does not
speak. Requests go through `tianji up` as a real process.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from aiohttp import web

from tests.e2e.conftest import MASTER_KEY
from tests.support.fake_upstream import FakeUpstream
from tests.support.proc import TianjiProcess, start_tianji

pytestmark = pytest.mark.e2e

WEATHER_TOOL: Any = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


class ToolVendor:
    """Answers every chat with a `get_weather` tool call; counts tokens like Anthropic."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ToolVendor:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()

        threading.Thread(target=run, daemon=True, name="tool-vendor").start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop and self._runner:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/messages/count_tokens", self._count)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _record(self, request: web.Request) -> Any:
        body = await request.json()
        self.requests.append((request.path, dict(request.headers), body))
        return body

    async def _count(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response({"input_tokens": 42})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        call = {"id": "call_w1", "type": "function"}
        base = {"id": "chatcmpl-tool", "created": int(time.time()), "model": body["model"]}
        if not body.get("stream"):
            fn = {"name": "get_weather", "arguments": '{"city": "Paris"}'}
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [call | {"function": fn}],
            }
            return web.json_response(
                base
                | {
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
                    "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
                }
            )
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        deltas: list[tuple[dict[str, Any], str | None]] = [
            ({"role": "assistant", "content": "Checking"}, None),
            ({"content": " the weather."}, None),
            (
                {
                    "tool_calls": [
                        call | {"index": 0, "function": {"name": "get_weather", "arguments": ""}}
                    ]
                },
                None,
            ),
            ({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}, None),
            ({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}, None),
            ({}, "tool_calls"),
        ]
        for delta, finish in deltas:
            chunk = base | {
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
        usage = {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60}
        chunk = base | {"object": "chat.completion.chunk", "choices": [], "usage": usage}
        await resp.write(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())
        await resp.write_eof()
        return resp


def config(upstream: FakeUpstream, vendor: ToolVendor) -> str:
    return f"""
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini-ok
      api_base: {upstream.base}/v1
      api_key: sk-upstream-openai-secret
  - model_name: tooly
    litellm_params:
      model: openai/tool-model
      api_base: {vendor.base}/v1
      api_key: sk-tool-vendor
  - model_name: claude-counted
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_base: {vendor.base}
      api_key: sk-ant-counter
general_settings:
  master_key: {MASTER_KEY}
"""


@pytest.fixture(scope="module")
def vendor() -> Iterator[ToolVendor]:
    fake = ToolVendor().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def gateway(upstream: FakeUpstream, vendor: ToolVendor) -> Iterator[TianjiProcess]:
    proc = start_tianji(["up"], config_text=config(upstream, vendor))
    yield proc
    proc.stop()


def client(tianji: TianjiProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=tianji.base, api_key=MASTER_KEY, max_retries=0)


def test_create_text(gateway: TianjiProcess, upstream: FakeUpstream) -> None:
    msg = client(gateway).messages.create(
        model="gpt-4o-mini",
        max_tokens=64,
        system="be brief",
        extra_body={"temperature": 0.3},
        stop_sequences=["END"],
        metadata={"user_id": "u-1"},
        messages=[{"role": "user", "content": "hi"}],
    )
    assert msg.type == "message"
    assert msg.role == "assistant"
    assert msg.id.startswith("msg_")
    assert [(b.type, getattr(b, "text", None)) for b in msg.content] == [
        ("text", "Hello from the fake upstream!")
    ]
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens == 9  # 11 prompt tokens, 2 of them cached
    assert msg.usage.cache_read_input_tokens == 2
    assert msg.usage.output_tokens == 7
    sent = upstream.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-upstream-openai-secret"
    assert sent.body == {
        "model": "gpt-4o-mini-ok",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
        ],
        "max_tokens": 64,
        "temperature": 0.3,
        "stop": ["END"],
        "user": "u-1",
    }


def test_stream_text(gateway: TianjiProcess, upstream: FakeUpstream) -> None:
    with client(gateway).messages.stream(
        model="gpt-4o-mini", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello from the fake stream!"
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens == 9
    assert final.usage.output_tokens == 6
    assert upstream.requests[-1].body["stream_options"] == {"include_usage": True}


def test_tool_history_translated_for_openai_upstream(
    gateway: TianjiProcess, upstream: FakeUpstream
) -> None:
    msg = client(gateway).messages.create(
        model="gpt-4o-mini",
        max_tokens=64,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}],
            },
        ],
    )
    assert msg.content[0].type == "text"
    body = upstream.requests[-1].body
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": WEATHER_TOOL["input_schema"],
            },
        }
    ]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
    ]


def test_create_tool_call(gateway: TianjiProcess) -> None:
    msg = client(gateway).messages.create(
        model="tooly",
        max_tokens=64,
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "weather in Paris?"}],
    )
    assert msg.stop_reason == "tool_use"
    block = msg.content[0]
    assert block.type == "tool_use"
    assert (block.id, block.name, block.input) == ("call_w1", "get_weather", {"city": "Paris"})
    assert msg.usage.input_tokens == 50


def test_stream_text_then_tool_call(gateway: TianjiProcess) -> None:
    with client(gateway).messages.stream(
        model="tooly",
        max_tokens=64,
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "weather in Paris?"}],
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert getattr(final.content[0], "text", None) == "Checking the weather."
    tool = final.content[1]
    assert tool.type == "tool_use"
    assert (tool.id, tool.name, tool.input) == ("call_w1", "get_weather", {"city": "Paris"})
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (50, 10)


def test_count_tokens_approximate_for_openai(gateway: TianjiProcess) -> None:
    count = client(gateway).messages.count_tokens(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x" * 400}]
    )
    assert count.input_tokens == 100 + 3 + 3


def test_count_tokens_forwarded_to_anthropic(gateway: TianjiProcess, vendor: ToolVendor) -> None:
    count = client(gateway).messages.count_tokens(
        model="claude-counted", messages=[{"role": "user", "content": "hi"}]
    )
    assert count.input_tokens == 42
    path, headers, body = vendor.requests[-1]
    assert path == "/v1/messages/count_tokens"
    lower = {k.lower(): v for k, v in headers.items()}
    assert lower["x-api-key"] == "sk-ant-counter"
    assert body == {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}


def test_count_tokens_needs_a_key(gateway: TianjiProcess) -> None:
    bad = anthropic.Anthropic(base_url=gateway.base, api_key="sk-nope-000000", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        bad.messages.count_tokens(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
