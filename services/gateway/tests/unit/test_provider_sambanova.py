"""SambaNova quirks: string-only content, unsupported params, max_completion_tokens."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from tianji_common.errors import InvalidRequest

from tianji_gateway.providers.base import Op
from tianji_gateway.providers.sambanova import SambaNovaAdapter
from tianji_gateway.routing.deployment import Deployment

A = SambaNovaAdapter()


def dep(**kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "id": "d",
        "model_name": "s",
        "provider": "sambanova",
        "model": "Meta-Llama-3.3-70B-Instruct",
        "api_key": "sn-key",
    }
    return Deployment(**(base | kw))


def send(body: dict[str, Any], op: Op = Op.CHAT, **kw: Any) -> dict[str, Any]:
    d = dep(**kw)
    raw = msgspec.json.decode(json.dumps(body).encode(), type=dict[str, msgspec.Raw])
    out: dict[str, Any] = json.loads(A.encode_request(A.map_params(raw, d), d, op, False))
    return out


def test_text_only_parts_become_strings() -> None:
    parts = [{"type": "text", "text": "Summarise: "}, {"type": "text", "text": "SambaNova."}]
    sent = send({"model": "x", "messages": [{"role": "user", "content": parts}]})
    assert sent["messages"] == [{"role": "user", "content": "Summarise: SambaNova."}]


def test_plain_string_content_untouched() -> None:
    messages = [{"role": "user", "content": 'say "type"'}]
    assert send({"model": "x", "messages": messages})["messages"] == messages


@pytest.mark.parametrize("name", ["seed", "n", "logprobs", "presence_penalty"])
def test_unsupported(name: str) -> None:
    body = {"model": "x", "messages": [{"role": "user", "content": "hi"}], name: 1}
    with pytest.raises(InvalidRequest, match=name):
        send(body)
    assert name not in send(body, drop_params=True)


def test_max_completion_tokens_and_embeddings() -> None:
    body = {"model": "x", "messages": [{"role": "user", "content": "hi"}]}
    assert send({**body, "max_completion_tokens": 3})["max_tokens"] == 3
    assert A.url(dep(), Op.EMBEDDING, False) == "https://api.sambanova.ai/v1/embeddings"
    emb = {"model": "E5-Mistral-7B-Instruct", "input": ["hello"]}
    assert send(emb, Op.EMBEDDING) == emb


def test_integration_source_header_from_settings() -> None:
    assert ("x-integration-source", "my-app") in A.headers(
        dep(settings={"integration_source": "my-app"})
    )
    assert all(k != "x-integration-source" for k, _ in A.headers(dep()))
    assert A.env_settings == {"integration_source": ("SAMBANOVA_INTEGRATION_SOURCE",)}
