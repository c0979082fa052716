"""`/model/*`, `/model/info`, `/v2/model/info`, `/model_group/info` over HTTP on both engines.

Secrets: the raw row holds ciphertext that opens to the value sent; no answer, event
or audit row carries the value in clear.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from tianji_common.config.model import LiteLLMParams, ModelEntry, ModelInfo
from tianji_common.crypto import SecretBox, box_from_env, is_encrypted
from tianji_common.db.engine import close_engine, open_engine, run_sql
from tianji_common.http import compose_app
from tianji_common.pricing import load_prices

from tianji_control_plane.app import build_control_plane
from tianji_control_plane.repo.audit import audit_for
from tianji_control_plane.repo.db import Db

_CONFIG_KEY = "sk-config-master-key"
_SALT_VARS = ("TIANJI_SALT_KEY", "LITELLM_SALT_KEY", "TIANJI_MASTER_KEY", "LITELLM_MASTER_KEY")


@pytest.fixture(scope="module")
async def db(db_url: str) -> AsyncIterator[Db]:
    engine = await open_engine(db_url, pool=False)
    yield Db.bind(engine)
    await close_engine(engine)


@pytest.fixture
def box(cp: Any) -> SecretBox:
    """The box the control plane under test uses (its master key, or the salt key)."""
    found = box_from_env(master_key=cp.admin["authorization"].removeprefix("Bearer "))
    assert found is not None
    return found


def name() -> str:
    return f"m-{secrets.token_hex(4)}"


async def raw_params(db: Db, model_id: str) -> dict[str, Any]:
    rows = await run_sql(
        db.engine,
        'SELECT "litellm_params" FROM "tianji_proxy_model" WHERE "model_id" = {}',
        model_id,
    )
    assert len(rows) == 1
    value = rows[0]["litellm_params"]
    return dict(msgspec.json.decode(value) if isinstance(value, str | bytes) else value)


async def new_model(cp: Any, **body: Any) -> dict[str, Any]:
    r = await cp.client.post("/model/new", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def model_info(cp: Any, **params: str) -> list[dict[str, Any]]:
    r = await cp.client.get("/model/info", params=params, headers=cp.admin)
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


async def test_new_model_seals_secrets_at_rest_and_never_answers_them(
    cp: Any, db: Db, box: SecretBox
) -> None:
    secret, aws = f"sk-live-{secrets.token_hex(8)}", f"aws-{secrets.token_hex(8)}"
    before = len(cp.events.seen)
    out = await new_model(
        cp,
        model_name=name(),
        litellm_params={
            "model": "openai/gpt-4o",
            "api_key": secret,
            "aws_secret_access_key": aws,
            "api_base": "https://example.test/v1",
            "max_tokens": 64,
        },
        model_info={"mode": "chat"},
    )
    model_id = out["model_id"]
    assert secret not in str(out) and aws not in str(out)
    assert "api_key" not in out["litellm_params"]
    stored = await raw_params(db, model_id)
    assert is_encrypted(stored["api_key"]) and box.decrypt(stored["api_key"]) == secret
    assert box.decrypt(stored["aws_secret_access_key"]) == aws
    assert stored["api_base"] == "https://example.test/v1"
    assert stored["max_tokens"] == 64  # a limit, not a secret
    event = cp.events.seen[before]
    policy = event.models[model_id]
    assert policy is not None and policy.litellm_params["api_key"] == stored["api_key"]
    audit = await audit_for(db, model_id)
    assert [a.action for a in audit] == ["created"]
    assert secret not in msgspec.json.encode(audit).decode()


async def test_env_references_are_kept_for_the_gateway_to_resolve(cp: Any, db: Db) -> None:
    out = await new_model(
        cp,
        model_name=name(),
        litellm_params={"model": "openai/gpt-4o", "api_key": "os.environ/OPENAI_API_KEY"},
    )
    assert (await raw_params(db, out["model_id"]))["api_key"] == "os.environ/OPENAI_API_KEY"


async def test_model_info_lists_db_models_without_secrets_with_prices(
    cp: Any, box: SecretBox
) -> None:
    token = f"tok-{secrets.token_hex(8)}"
    out = await new_model(
        cp,
        model_name=name(),
        litellm_params={"model": "openai/gpt-4o", "api_key": "sk-abc", "azure_ad_token": token},
    )
    [entry] = await model_info(cp, litellm_model_id=out["model_id"])
    assert "api_key" not in entry["litellm_params"]
    assert entry["litellm_params"]["azure_ad_token"] == token[:2] + "****" + token[-2:]
    assert entry["model_info"]["id"] == out["model_id"] and entry["model_info"]["db_model"]
    expected = load_prices().lookup("gpt-4o", "openai")
    assert expected is not None
    assert entry["model_info"]["max_input_tokens"] == expected.max_input_tokens
    assert entry["model_info"]["litellm_provider"] == "openai"
    r = await cp.client.get("/v1/model/info", headers=cp.admin)
    assert out["model_id"] in {e["model_info"]["id"] for e in r.json()["data"]}


async def test_update_merges_params_and_reseals_a_new_key(cp: Any, db: Db, box: SecretBox) -> None:
    out = await new_model(
        cp,
        model_name=name(),
        litellm_params={"model": "openai/gpt-4o", "api_key": "sk-old", "rpm": 10, "tpm": 5},
    )
    model_id = out["model_id"]
    body = {
        "model_name": "renamed-" + model_id[:8],
        "litellm_params": {"api_key": "sk-new-value", "rpm": 20, "tpm": None},
        "model_info": {"id": model_id, "note": "x"},
    }
    r = await cp.client.post("/model/update", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    assert r.json()["model_name"] == body["model_name"]
    stored = await raw_params(db, model_id)
    assert box.decrypt(stored["api_key"]) == "sk-new-value"
    assert stored["rpm"] == 20 and "tpm" not in stored and stored["model"] == "openai/gpt-4o"
    patch = {"litellm_params": {"api_base": "https://b.test"}}
    r = await cp.client.patch(f"/model/{model_id}/update", json=patch, headers=cp.admin)
    assert r.status_code == 200, r.text
    stored = await raw_params(db, model_id)
    assert stored["api_base"] == "https://b.test" and stored["rpm"] == 20
    assert box.decrypt(stored["api_key"]) == "sk-new-value"
    [entry] = await model_info(cp, litellm_model_id=model_id)
    assert entry["model_info"]["note"] == "x" and entry["model_name"] == body["model_name"]


async def test_update_and_delete_errors_name_the_problem(cp: Any) -> None:
    r = await cp.client.post("/model/update", json={"litellm_params": {"rpm": 1}}, headers=cp.admin)
    assert r.status_code == 422 and r.json()["error"]["param"] == "model_info.id"
    out = await new_model(cp, model_name=name(), litellm_params={"model": "ollama/llama3"})
    path = f"/model/{out['model_id']}/update"
    r = await cp.client.patch(path, json={"model_name": " "}, headers=cp.admin)
    assert r.status_code == 422 and r.json()["error"]["param"] == "model_name"
    r = await cp.client.patch(path, json={"litellm_params": {"model": None}}, headers=cp.admin)
    assert r.status_code == 422 and r.json()["error"]["param"] == "litellm_params.model"
    r = await cp.client.patch("/model/nope/update", json={}, headers=cp.admin)
    assert r.status_code == 404 and "nope" in r.json()["error"]["message"]
    r = await cp.client.post("/model/delete", json={"id": "nope"}, headers=cp.admin)
    assert r.status_code == 404
    r = await cp.client.post("/model/new", json={"model_name": "x", "litellm_params": {}})
    assert r.status_code == 401
    bad = {"model_name": "x", "litellm_params": {"api_key": "k"}}
    r = await cp.client.post("/model/new", json=bad, headers=cp.admin)
    assert r.status_code == 422 and r.json()["error"]["param"] == "litellm_params.model"
    out = await new_model(cp, model_name=name(), litellm_params={"model": "ollama/llama3"})
    dup = {
        "model_name": "y",
        "litellm_params": {"model": "a/b"},
        "model_info": {"id": out["model_id"]},
    }
    r = await cp.client.post("/model/new", json=dup, headers=cp.admin)
    assert r.status_code == 400 and out["model_id"] in r.json()["error"]["message"]


async def test_delete_removes_the_model_and_tells_the_gateways(cp: Any, db: Db) -> None:
    out = await new_model(cp, model_name=name(), litellm_params={"model": "ollama/llama3"})
    before = len(cp.events.seen)
    r = await cp.client.post("/model/delete", json={"id": out["model_id"]}, headers=cp.admin)
    assert r.status_code == 200, r.text
    assert r.json() == {"message": f"Model: {out['model_id']} deleted successfully"}
    assert cp.events.seen[before].models == {out["model_id"]: None}
    assert await model_info(cp, litellm_model_id=out["model_id"]) == []
    assert [a.action for a in await audit_for(db, out["model_id"])] == ["created", "deleted"]


async def test_v2_model_info_filters_and_pages(cp: Any) -> None:
    stem = f"v2-{secrets.token_hex(3)}"
    for i in range(3):
        await new_model(cp, model_name=f"{stem}-{i}", litellm_params={"model": "ollama/llama3"})
    r = await cp.client.get(
        "/v2/model/info", params={"search": stem.upper(), "size": "2"}, headers=cp.admin
    )
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total_count"] == 3 and page["total_pages"] == 2 and len(page["data"]) == 2
    r = await cp.client.get(
        "/v2/model/info", params={"search": stem, "size": "2", "page": "2"}, headers=cp.admin
    )
    assert [d["model_name"] for d in r.json()["data"]] == [f"{stem}-2"]
    r = await cp.client.get("/v2/model/info", params={"model": f"{stem}-1"}, headers=cp.admin)
    assert [d["model_name"] for d in r.json()["data"]] == [f"{stem}-1"]
    r = await cp.client.get("/v2/model/info", params={"size": "0"}, headers=cp.admin)
    assert r.status_code == 422 and r.json()["error"]["param"] == "size"


async def test_model_group_info_merges_deployments(cp: Any) -> None:
    group = name()
    await new_model(cp, model_name=group, litellm_params={"model": "openai/gpt-4o", "tpm": 100})
    await new_model(
        cp, model_name=group, litellm_params={"model": "azure/gpt-4o", "tpm": 50, "rpm": 3}
    )
    r = await cp.client.get("/model_group/info", params={"model_group": group}, headers=cp.admin)
    assert r.status_code == 200, r.text
    [info] = r.json()["data"]
    expected = load_prices().lookup("gpt-4o", "openai")
    assert expected is not None
    assert info["providers"] == ["azure", "openai"]
    assert info["tpm"] == 150 and info["rpm"] == 3
    assert info["max_input_tokens"] == expected.max_input_tokens
    assert info["input_cost_per_token"] == float(expected.input or 0)


async def test_snapshot_carries_db_models_sealed(cp: Any, box: SecretBox) -> None:
    out = await new_model(
        cp, model_name=name(), litellm_params={"model": "openai/gpt-4o", "api_key": "sk-snap"}
    )
    r = await cp.client.get("/internal/policy/snapshot", headers=cp.admin)
    assert r.status_code == 200
    assert "sk-snap" not in r.text
    sealed = r.json()["models"][out["model_id"]]["litellm_params"]["api_key"]
    assert box.decrypt(sealed) == "sk-snap"


@pytest.fixture
async def config_cp(db_url: str) -> AsyncIterator[AsyncTestClient[Any]]:
    entry = ModelEntry(
        model_name="cfg-model",
        litellm_params=LiteLLMParams(
            model="openai/gpt-4o", api_key="sk-config-secret", extra={"temperature": 0.1}
        ),
        model_info=ModelInfo(id="cfg-1"),
    )
    control = build_control_plane(db_url, master_key=_CONFIG_KEY, config_models=[entry])
    app = compose_app([control.component], max_body=1 << 20, version="test")
    async with AsyncTestClient(app=app) as client:  # type: ignore[arg-type]  # compose_app returns a Litestar app typed as ASGIApp
        yield client


async def test_config_models_are_listed_and_read_only(config_cp: AsyncTestClient[Any]) -> None:
    admin = {"authorization": f"Bearer {_CONFIG_KEY}"}
    r = await config_cp.get("/model/info", params={"litellm_model_id": "cfg-1"}, headers=admin)
    [entry] = r.json()["data"]
    assert entry["model_name"] == "cfg-model" and entry["model_info"]["db_model"] is False
    assert "sk-config-secret" not in r.text and entry["litellm_params"]["temperature"] == 0.1
    r = await config_cp.post("/model/delete", json={"id": "cfg-1"}, headers=admin)
    assert r.status_code == 400 and "/model/new" in r.json()["error"]["message"]
    r = await config_cp.patch("/model/cfg-1/update", json={}, headers=admin)
    assert r.status_code == 400


async def test_without_a_key_secrets_are_refused_not_stored_in_clear(
    db_url: str, db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in _SALT_VARS:
        monkeypatch.delenv(var, raising=False)
    control = build_control_plane(db_url, master_key=None)
    app = compose_app([control.component], max_body=1 << 20, version="test")
    model = name()
    async with AsyncTestClient(app=app) as client:  # type: ignore[arg-type]  # compose_app returns a Litestar app typed as ASGIApp
        body = {"model_name": model, "litellm_params": {"model": "openai/x", "api_key": "sk-c"}}
        r = await client.post("/model/new", json=body)
        assert r.status_code == 500 and "TIANJI_SALT_KEY" in r.json()["error"]["message"]
        rows = await run_sql(
            db.engine, 'SELECT 1 FROM "tianji_proxy_model" WHERE "model_name" = {}', model
        )
        assert rows == []
        plain = {"model_name": model, "litellm_params": {"model": "ollama/llama3"}}
        assert (await client.post("/model/new", json=plain)).status_code == 200
