"""`/credentials` CRUD over HTTP on both engines: sealed at rest, masked in answers."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from tianji_common.crypto import DecryptError, SecretBox, box_from_env
from tianji_common.db.engine import close_engine, open_engine, run_sql

from tianji_control_plane.repo.audit import audit_for
from tianji_control_plane.repo.db import Db


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


def cred_name() -> str:
    return f"cred-{secrets.token_hex(4)}"


def masked(value: str) -> str:
    return value[:2] + "****" + value[-2:]


async def raw_values(db: Db, name: str) -> str:
    rows = await run_sql(
        db.engine,
        'SELECT "credential_values" FROM "tianji_credential" WHERE "credential_name" = {}',
        name,
    )
    assert len(rows) == 1
    return str(rows[0]["credential_values"])


async def create(cp: Any, name: str, values: dict[str, Any], **extra: Any) -> None:
    body = {"credential_name": name, "credential_values": values, **extra}
    r = await cp.client.post("/credentials", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "message": "Credential created successfully"}


async def test_values_are_ciphertext_at_rest_and_tampering_fails(
    cp: Any, db: Db, box: SecretBox
) -> None:
    name, key = cred_name(), f"sk-{secrets.token_hex(12)}"
    before = len(cp.events.seen)
    await create(cp, name, {"api_key": key, "api_base": "https://a.test"}, credential_info={"x": 1})
    sealed = await raw_values(db, name)
    assert sealed.startswith("tj1:")
    assert key not in sealed and "api_key" not in sealed and "a.test" not in sealed
    assert msgspec.json.decode(box.decrypt(sealed)) == {
        "api_key": key,
        "api_base": "https://a.test",
    }
    tampered = sealed[:-3] + ("A" if sealed[-3] != "A" else "B") + sealed[-2:]
    with pytest.raises(DecryptError):
        box.decrypt(tampered)
    await run_sql(
        db.engine,
        'UPDATE "tianji_credential" SET "credential_values" = {} WHERE "credential_name" = {}',
        tampered,
        name,
    )
    r = await cp.client.get(f"/credentials/by_name/{name}", headers=cp.admin)
    assert r.status_code == 500 and r.json()["error"]["code"] == "credential_decrypt_failed"
    r = await cp.client.get("/credentials", headers=cp.admin)
    assert r.status_code == 200 and key not in r.text
    [listed] = [c for c in r.json()["credentials"] if c["credential_name"] == name]
    assert listed["credential_values"] == {}
    assert (await cp.client.delete(f"/credentials/{name}", headers=cp.admin)).status_code == 200
    policy = cp.events.seen[before].credentials[name]
    assert policy is not None and policy.values == sealed and policy.credential_info == {"x": 1}
    audit = await audit_for(db, name)
    assert [a.action for a in audit] == ["created", "deleted"] and key not in str(audit)


async def test_list_and_read_mask_secrets_like_litellm(cp: Any) -> None:
    name, key = cred_name(), f"sk-{secrets.token_hex(12)}"
    await create(cp, name, {"api_key": key, "api_base": "https://a.test"})
    r = await cp.client.get("/credentials", headers=cp.admin)
    assert r.status_code == 200 and r.json()["success"] is True
    assert key not in r.text
    [item] = [c for c in r.json()["credentials"] if c["credential_name"] == name]
    assert item["credential_values"] == {"api_key": masked(key), "api_base": "https://a.test"}
    r = await cp.client.get(f"/credentials/by_name/{name}", headers=cp.admin)
    assert r.status_code == 200, r.text
    assert r.json() == {**item, "credential_info": {}}
    r = await cp.client.get("/credentials/by_name/nope", headers=cp.admin)
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "Credential not found. Got credential name: nope"


async def test_nested_secrets_are_masked_too(cp: Any) -> None:
    name, pem, bearer = cred_name(), f"pem-{secrets.token_hex(8)}", f"Bearer {secrets.token_hex(8)}"
    service_account = {"private_key": pem, "project_id": "proj-1"}
    await create(
        cp,
        name,
        {"vertex_credentials": service_account, "extra_headers": {"Authorization": bearer}},
    )
    r = await cp.client.get(f"/credentials/by_name/{name}", headers=cp.admin)
    assert pem not in r.text and bearer not in r.text
    values = r.json()["credential_values"]
    assert values["vertex_credentials"] == {
        "private_key": masked(pem),
        "project_id": masked("proj-1"),
    }
    assert values["extra_headers"] == {"Authorization": masked(bearer)}


async def test_patch_merges_values_and_info_and_can_rename(cp: Any, db: Db, box: SecretBox) -> None:
    name, new = cred_name(), cred_name()
    await create(cp, name, {"api_key": "sk-old-1234", "api_base": "https://a.test"})
    body = {"credential_values": {"api_key": "sk-new-5678"}, "credential_info": {"team": "t"}}
    r = await cp.client.patch(f"/credentials/{name}", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "message": "Credential updated successfully"}
    values = msgspec.json.decode(box.decrypt(await raw_values(db, name)))
    assert values == {"api_key": "sk-new-5678", "api_base": "https://a.test"}
    before = len(cp.events.seen)
    r = await cp.client.patch(
        f"/credentials/{name}", json={"credential_name": new}, headers=cp.admin
    )
    assert r.status_code == 200, r.text
    changed = cp.events.seen[before].credentials
    assert changed[name] is None and changed[new] is not None
    r = await cp.client.get(f"/credentials/by_name/{new}", headers=cp.admin)
    assert r.json()["credential_info"] == {"team": "t"}
    assert r.json()["credential_values"]["api_key"] == masked("sk-new-5678")
    assert (
        await cp.client.get(f"/credentials/by_name/{name}", headers=cp.admin)
    ).status_code == 404
    r = await cp.client.patch("/credentials/nope", json=body, headers=cp.admin)
    assert r.status_code == 404


async def test_delete_and_errors(cp: Any) -> None:
    name = cred_name()
    await create(cp, name, {"api_key": "sk-1234567"})
    r = await cp.client.post(
        "/credentials",
        json={"credential_name": name, "credential_values": {"api_key": "x"}},
        headers=cp.admin,
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "credential_name"
    r = await cp.client.post("/credentials", json={"credential_name": "n"}, headers=cp.admin)
    assert r.status_code == 400 and r.json()["error"]["param"] == "credential_values"
    before = len(cp.events.seen)
    r = await cp.client.delete(f"/credentials/{name}", headers=cp.admin)
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "message": "Credential deleted successfully"}
    assert cp.events.seen[before].credentials == {name: None}
    assert (await cp.client.delete(f"/credentials/{name}", headers=cp.admin)).status_code == 404
    assert (await cp.client.get("/credentials")).status_code == 401


async def test_names_with_slashes_and_copies_from_a_model(cp: Any, db: Db, box: SecretBox) -> None:
    r = await cp.client.post(
        "/model/new",
        json={
            "model_name": "cred-src",
            "litellm_params": {
                "model": "azure/gpt-4o",
                "api_key": "sk-model-key",
                "api_base": "https://az.test",
            },
        },
        headers=cp.admin,
    )
    model_id = r.json()["model_id"]
    name = f"team/{cred_name()}"
    r = await cp.client.post(
        "/credentials", json={"credential_name": name, "model_id": model_id}, headers=cp.admin
    )
    assert r.status_code == 200, r.text
    values = msgspec.json.decode(box.decrypt(await raw_values(db, name)))
    assert values == {"api_key": "sk-model-key", "api_base": "https://az.test"}
    r = await cp.client.get(f"/credentials/by_name/{name}", headers=cp.admin)
    assert r.status_code == 200 and r.json()["credential_name"] == name
    r = await cp.client.get(f"/credentials/by_model/{model_id}", headers=cp.admin)
    assert r.json()["credential_values"]["api_key"] == masked("sk-model-key")
    assert (await cp.client.delete(f"/credentials/{name}", headers=cp.admin)).status_code == 200


async def test_snapshot_carries_credentials_sealed(cp: Any, box: SecretBox) -> None:
    name = cred_name()
    await create(cp, name, {"api_key": "sk-snapshot-secret"})
    r = await cp.client.get("/internal/policy/snapshot", headers=cp.admin)
    assert "sk-snapshot-secret" not in r.text
    sealed = r.json()["credentials"][name]["values"]
    assert msgspec.json.decode(box.decrypt(sealed)) == {"api_key": "sk-snapshot-secret"}
