"""The official `anthropic` SDK against `tianji up`'s `/v1/messages`."""

from __future__ import annotations

import anthropic
import pytest

from tests.e2e.conftest import MASTER_KEY
from tests.support.fake_upstream import FakeUpstream
from tests.support.proc import TianjiProcess

pytestmark = pytest.mark.e2e


def client(tianji: TianjiProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=tianji.base, api_key=MASTER_KEY, max_retries=0)


def test_messages_to_anthropic_deployment(tianji: TianjiProcess, upstream: FakeUpstream) -> None:
    msg = client(tianji).messages.create(
        model="claude",
        max_tokens=64,
        system="be brief",
        extra_body={"top_k": 3},
        messages=[{"role": "user", "content": "hi"}],
    )
    assert msg.content[0].type == "text"
    assert msg.content[0].text == "Hi from fake Claude"
    assert msg.usage.input_tokens == 12
    sent = upstream.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-upstream-secret"
    assert sent.body == {
        "model": "claude-sonnet-ok",
        "max_tokens": 64,
        "system": "be brief",
        "top_k": 3,
        "messages": [{"role": "user", "content": "hi"}],
    }


def test_messages_stream_events_relayed(tianji: TianjiProcess) -> None:
    with client(tianji).messages.stream(
        model="claude", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hi from Claude"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 3


def test_messages_to_openai_deployment_is_bridged(
    tianji: TianjiProcess, upstream: FakeUpstream
) -> None:
    msg = client(tianji).messages.create(
        model="gpt-4o-mini", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.content[0].type == "text"
    assert msg.content[0].text == "Hello from the fake upstream!"
    assert msg.stop_reason == "end_turn"
    assert upstream.requests[-1].path == "/v1/chat/completions"


def test_bad_key_rejected(tianji: TianjiProcess) -> None:
    bad = anthropic.Anthropic(base_url=tianji.base, api_key="sk-nope-000000", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        bad.messages.create(
            model="claude", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
