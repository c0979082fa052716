"""DB models and credentials from the snapshot in the router; end users' regions."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from tianji_common.config.loader import load_config_text
from tianji_common.crypto import SecretBox
from tianji_common.errors import InvalidRequest
from tianji_common.policy import (
    CredentialPolicy,
    CustomerPolicy,
    DbModelPolicy,
    KeyPolicy,
    PolicyChanged,
    PolicySnapshot,
)

from tianji_gateway.auth import Principal, hash_key
from tianji_gateway.pipeline import Complete, Pipeline, Streaming
from tianji_gateway.policy import GatewayPolicy
from tianji_gateway.policy.guard import CustomerBlocked, authorize_model
from tianji_gateway.providers.base import Op
from tianji_gateway.providers.registry import load_adapters
from tianji_gateway.request import ParsedRequest, parse_body
from tianji_gateway.routing.build import DeploymentBuilder
from tianji_gateway.routing.router import Router

SALT = "salt-for-tests-0123456789"
BOX = SecretBox(SALT)
TOKEN = hash_key("sk-db-model-key-0001")
ADMIN = Principal(key_hash=None, is_admin=True)

CONFIG = """
model_list:
  - model_name: regional
    litellm_params: {model: openai/eu-model, api_base: "http://eu/v1", api_key: k,
                     region_name: eu}
  - model_name: regional
    litellm_params: {model: openai/us-model, api_base: "http://us/v1", api_key: k}
    model_info: {region_name: us-east-1}
  - model_name: only-us
    litellm_params: {model: openai/x, api_base: "http://us/v1", api_key: k, region_name: us}
  - model_name: grouped
    litellm_params: {model: openai/g, api_base: "http://g/v1", api_key: k}
    model_info: {access_groups: [cfg-group]}
credential_list:
  - credential_name: shared
    credential_values: {api_key: sk-from-config}
"""


async def _never() -> bytes:
    raise AssertionError("not fetched in these tests")


def _policy(snapshot: PolicySnapshot) -> tuple[GatewayPolicy, Router]:
    loaded = load_config_text(CONFIG, Path("."))
    assert loaded.config is not None
    cfg = loaded.config
    adapters = load_adapters()
    builder = DeploymentBuilder(cfg, {}, adapters)
    router = Router(builder.build().deployments, served=adapters.keys())
    policy = GatewayPolicy.create(_never, None)
    policy.store.replace(snapshot)
    policy.attach_router(router, builder, BOX)
    return policy, router


def _db_model(model_id: str, name: str, **params: object) -> DbModelPolicy:
    return DbModelPolicy(model_id=model_id, model_name=name, litellm_params=dict(params))


def _change(version: int, **sections: object) -> PolicyChanged:
    return PolicyChanged(event_id="e", occurred_at=0, version=version, **sections)  # type: ignore[arg-type]


def test_db_model_is_served_with_its_secret_decrypted() -> None:
    model = _db_model(
        "m1", "db-chat", model="openai/real", api_base="http://db/v1", api_key=BOX.encrypt("sk-db")
    )
    _, router = _policy(PolicySnapshot(version=1, models={"m1": model}))
    dep = router.pick(router.resolve("db-chat"))
    assert (dep.id, dep.model, dep.api_key, dep.api_base) == ("m1", "real", "sk-db", "http://db/v1")
    assert "db-chat" in router.model_names and "regional" in router.model_names


def test_added_updated_and_deleted_db_models_take_effect() -> None:
    policy, router = _policy(PolicySnapshot(version=1))
    with pytest.raises(InvalidRequest, match="Invalid model name passed in model=db-chat"):
        router.resolve("db-chat")
    first = _db_model("m1", "db-chat", model="openai/a", api_base="http://one/v1", api_key="k")
    assert policy.store.apply(_change(2, models={"m1": first}))
    assert router.pick(router.resolve("db-chat")).api_base == "http://one/v1"
    moved = _db_model("m1", "db-chat", model="openai/a", api_base="http://two/v1", api_key="k")
    assert policy.store.apply(_change(3, models={"m1": moved}))
    assert router.pick(router.resolve("db-chat")).api_base == "http://two/v1"
    assert policy.store.apply(_change(4, models={"m1": None}))
    with pytest.raises(InvalidRequest, match="model=db-chat"):
        router.resolve("db-chat")
    assert router.pick(router.resolve("grouped")).model == "g"  # config models stay


def test_credential_names_resolve_from_snapshot_and_config() -> None:
    sealed = BOX.encrypt(
        msgspec.json.encode({"api_key": "sk-from-db", "api_base": "http://c/v1"}).decode()
    )
    models = {
        "a": _db_model("a", "uses-db-cred", model="openai/a", litellm_credential_name="dbcred"),
        "b": _db_model("b", "uses-cfg-cred", model="openai/b", litellm_credential_name="shared"),
    }
    creds = {"dbcred": CredentialPolicy(credential_name="dbcred", values=sealed)}
    policy, router = _policy(PolicySnapshot(version=1, models=models, credentials=creds))
    db_dep = router.pick(router.resolve("uses-db-cred"))
    assert (db_dep.api_key, db_dep.api_base) == ("sk-from-db", "http://c/v1")
    assert router.pick(router.resolve("uses-cfg-cred")).api_key == "sk-from-config"
    rotated = BOX.encrypt(msgspec.json.encode({"api_key": "sk-rotated"}).decode())
    policy.store.apply(
        _change(
            2, credentials={"dbcred": CredentialPolicy(credential_name="dbcred", values=rotated)}
        )
    )
    assert router.pick(router.resolve("uses-db-cred")).api_key == "sk-rotated"


def test_model_sealed_with_another_salt_answers_a_clear_error() -> None:
    other = SecretBox("another-salt-key-entirely")
    model = _db_model("m1", "db-chat", model="openai/a", api_key=other.encrypt("sk"))
    _, router = _policy(PolicySnapshot(version=1, models={"m1": model}))
    with pytest.raises(InvalidRequest, match="encrypted with another salt key") as info:
        router.resolve("db-chat")
    assert info.value.body().error.code == "model_not_decryptable"


def test_config_and_db_access_groups_grant_models() -> None:
    db = DbModelPolicy(
        model_id="m1",
        model_name="db-grouped",
        litellm_params={"model": "openai/d", "api_key": "k"},
        model_info={"access_groups": ["cfg-group"]},
    )
    keys = {TOKEN: KeyPolicy(token=TOKEN, models=["cfg-group"])}
    policy, _ = _policy(PolicySnapshot(version=1, keys=keys, models={"m1": db}))
    me = Principal(key_hash=TOKEN, is_admin=False)
    assert authorize_model(policy.store, me, "grouped") == "grouped"
    assert authorize_model(policy.store, me, "db-grouped") == "db-grouped"
    policy.store.apply(_change(2, models={"m1": None}))
    with pytest.raises(Exception, match="Tried to access db-grouped"):
        authorize_model(policy.store, me, "db-grouped")


class _Routes(Pipeline):
    """Stands in for the real pipeline: resolves the model as it would, records the pick."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.picked: list[str] = []

    async def run(self, op: Op, principal: Principal, parsed: object) -> Complete | Streaming:
        model = parsed.model  # type: ignore[attr-defined]
        self.picked = [d.model for d in self.router.resolve(model).deployments]
        return Complete(200, {}, b"{}")


def _request(model: str, user: str) -> object:
    return parse_body(msgspec.json.encode({"model": model, "user": user, "messages": []}))


async def test_allowed_model_region_restricts_routing() -> None:
    customers = {
        "eu-user": CustomerPolicy(user_id="eu-user", allowed_model_region="eu"),
        "us-user": CustomerPolicy(user_id="us-user", allowed_model_region="us"),
        "blocked": CustomerPolicy(user_id="blocked", blocked=True),
    }
    policy, router = _policy(PolicySnapshot(version=1, customers=customers))
    inner = _Routes(router)
    guarded = policy.guard(inner)
    await guarded.run(Op.CHAT, ADMIN, _request("regional", "eu-user"))  # type: ignore[arg-type]
    assert inner.picked == ["eu-model"]
    await guarded.run(Op.CHAT, ADMIN, _request("regional", "us-user"))  # type: ignore[arg-type]
    assert inner.picked == ["us-model"]
    await guarded.run(Op.CHAT, ADMIN, _request("regional", "anyone"))  # type: ignore[arg-type]
    assert sorted(inner.picked) == ["eu-model", "us-model"]
    with pytest.raises(InvalidRequest, match="allowed_model_region=eu") as info:
        await guarded.run(Op.CHAT, ADMIN, _request("only-us", "eu-user"))  # type: ignore[arg-type]
    assert info.value.body().error.code == "no_deployments_available"
    with pytest.raises(CustomerBlocked, match="User=blocked"):
        await guarded.run(Op.CHAT, ADMIN, _request("regional", "blocked"))  # type: ignore[arg-type]
    # The restriction ended with the request.
    assert len(router.resolve("regional").deployments) == 2


async def test_customer_default_model_fills_a_request_without_one() -> None:
    customers = {"c": CustomerPolicy(user_id="c", default_model="grouped")}
    policy, router = _policy(PolicySnapshot(version=1, customers=customers))
    inner = _Routes(router)
    parsed = ParsedRequest(body={}, model="", stream=False, include_usage=False, user="c")
    await policy.guard(inner).run(Op.CHAT, ADMIN, parsed)
    assert (parsed.model, inner.picked) == ("grouped", ["g"])
