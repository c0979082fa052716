"""An end user's `default_model` fills a request that names no model (LiteLLM's customers).

`parse_body` admits a JSON body without `model`; the policy guard fills in the end
user's default; anything that still needs the model without one gets the 400
"missing required parameter: 'model'", as before.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from tianji_common.config.loader import load_config_text
from tianji_common.crypto import SecretBox
from tianji_common.errors import InvalidRequest, PermissionDenied
from tianji_common.policy import CustomerPolicy, KeyPolicy, PolicySnapshot

from tianji_gateway.auth import Principal, hash_key
from tianji_gateway.pipeline import Complete, Pipeline, Streaming
from tianji_gateway.policy import GatewayPolicy
from tianji_gateway.providers.base import Op
from tianji_gateway.providers.registry import load_adapters
from tianji_gateway.request import ParsedRequest, parse_body
from tianji_gateway.routing.build import DeploymentBuilder
from tianji_gateway.routing.router import Router
from tianji_gateway.upstream.client import UpstreamClient
from tianji_gateway.usage import UsagePublisher

ADMIN = Principal(key_hash=None, is_admin=True)
TOKEN = hash_key("sk-default-model-key-01")
MISSING = "missing required parameter: 'model'"
CONFIG = """
model_list:
  - model_name: chosen
    litellm_params: {model: openai/chosen-up, api_base: "http://a/v1", api_key: k}
  - model_name: fallback-default
    litellm_params: {model: openai/default-up, api_base: "http://b/v1", api_key: k}
"""


async def _never() -> bytes:
    raise AssertionError("not fetched in these tests")


class _Routes(Pipeline):
    """Stands in for the real pipeline: resolves the model as it would, records it."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.picked: list[str] = []

    async def run(
        self, op: Op, principal: Principal, parsed: ParsedRequest
    ) -> Complete | Streaming:
        self.picked = [d.model for d in self.router.resolve(parsed.model).deployments]
        return Complete(200, {}, b"{}")


class _Bus:
    def __init__(self) -> None:
        self.published: list[bytes] = []

    async def publish(self, subject: str, event_id: str, payload: bytes) -> None:
        self.published.append(payload)


def _router() -> tuple[Router, DeploymentBuilder]:
    loaded = load_config_text(CONFIG, Path("."))
    assert loaded.config is not None
    builder = DeploymentBuilder(loaded.config, {}, load_adapters())
    return Router(builder.build().deployments, served=load_adapters().keys()), builder


def _guarded() -> tuple[Pipeline, _Routes]:
    router, builder = _router()
    policy = GatewayPolicy.create(_never, None)
    customers = {
        "with-default": CustomerPolicy(user_id="with-default", default_model="fallback-default"),
        "plain": CustomerPolicy(user_id="plain"),
    }
    keys = {TOKEN: KeyPolicy(token=TOKEN, models=["chosen"])}
    policy.store.replace(PolicySnapshot(version=1, customers=customers, keys=keys))
    policy.attach_router(router, builder, SecretBox("salt-for-default-model-tests"))
    inner = _Routes(router)
    return policy.guard(inner), inner


def _body(**fields: object) -> bytes:
    return msgspec.json.encode({"messages": [{"role": "user", "content": "hi"}], **fields})


def test_a_body_without_model_parses_but_its_model_is_the_400() -> None:
    parsed = parse_body(_body(user="x"))
    assert parsed.has_model is False
    with pytest.raises(InvalidRequest, match=MISSING) as info:
        _ = parsed.model
    assert info.value.http_status == 400 and info.value.param == "model"
    assert parse_body(_body(model="chosen")).model == "chosen"
    assert parse_body(_body(), model_override="forced").model == "forced"


@pytest.mark.parametrize("body", [b"", b"[1]", b"{not json", b'{"model": 5}'])
def test_malformed_bodies_are_still_refused_at_parse(body: bytes) -> None:
    with pytest.raises(InvalidRequest):
        parse_body(body)


def test_multipart_without_model_is_still_refused_at_parse() -> None:
    boundary = "b0undary"
    raw = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="language"\r\n\r\nen\r\n'
    ).encode()
    raw += f"--{boundary}--\r\n".encode()
    with pytest.raises(InvalidRequest, match=MISSING):
        parse_body(raw, content_type=f"multipart/form-data; boundary={boundary}")


async def test_without_a_policy_the_pipeline_refuses_a_missing_model_with_the_400() -> None:
    """No policy guard (master key only, no database): the real pipeline says 400."""
    router, _ = _router()
    bus = _Bus()
    upstream = UpstreamClient()  # never started: nothing may be sent
    pipeline = Pipeline(
        router=router, adapters=load_adapters(), upstream=upstream, usage=UsagePublisher(bus)
    )
    with pytest.raises(InvalidRequest, match=MISSING):
        await pipeline.run(Op.CHAT, ADMIN, parse_body(_body(user="with-default")))
    assert bus.published == []


async def test_end_user_default_model_fills_in_a_missing_model() -> None:
    guarded, inner = _guarded()
    parsed = parse_body(_body(user="with-default"))
    await guarded.run(Op.CHAT, ADMIN, parsed)
    assert parsed.model == "fallback-default"
    assert inner.picked == ["default-up"]


async def test_a_model_in_the_body_wins_over_the_default() -> None:
    guarded, inner = _guarded()
    await guarded.run(Op.CHAT, ADMIN, parse_body(_body(model="chosen", user="with-default")))
    assert inner.picked == ["chosen-up"]


@pytest.mark.parametrize("user", [None, "plain", "unknown-user"])
async def test_without_a_default_the_missing_model_is_400(user: str | None) -> None:
    guarded, inner = _guarded()
    with pytest.raises(InvalidRequest, match=MISSING):
        await guarded.run(Op.CHAT, ADMIN, parse_body(_body(user=user)))
    assert inner.picked == []


async def test_the_default_model_is_checked_against_the_key() -> None:
    guarded, inner = _guarded()
    key = Principal(key_hash=TOKEN, is_admin=False)
    with pytest.raises(PermissionDenied, match="Tried to access fallback-default"):
        await guarded.run(Op.CHAT, key, parse_body(_body(user="with-default")))
    assert inner.picked == []
