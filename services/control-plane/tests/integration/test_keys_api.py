"""`/key/*` over HTTP on SQLite and Postgres: status codes, payloads, audit, events."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tianji_common.db.engine import close_engine, open_engine

from tianji_control_plane.repo.audit import audit_for
from tianji_control_plane.repo.db import Db
from tianji_control_plane.repo.records import AuditEntry


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture(scope="module")
async def db(db_url: str) -> AsyncIterator[Db]:
    engine = await open_engine(db_url, pool=False)
    yield Db.bind(engine)
    await close_engine(engine)


async def audit(db: Db, object_id: str) -> list[AuditEntry]:
    return await audit_for(db, object_id)


async def generate(cp: Any, **body: Any) -> dict[str, Any]:
    r = await cp.client.post("/key/generate", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_generate_returns_the_key_once_and_stores_only_its_hash(cp: Any, db: Db) -> None:
    before = len(cp.events.seen)
    out = await generate(
        cp,
        key_alias="alias-1",
        duration="30d",
        models=["gpt-4o-mini"],
        aliases={"small": "gpt-4o-mini"},
        max_budget=12.5,
        metadata={"env": "test"},
        tpm_limit=1000,
        rpm_limit=10,
        max_parallel_requests=2,
    )
    key = out["key"]
    assert key.startswith("sk-") and len(key) >= 20
    assert out["token"] == out["token_id"] == sha(key)
    assert out["key_name"] == f"sk-...{key[-4:]}"
    assert out["expires"] is not None
    assert out["models"] == ["gpt-4o-mini"]
    assert out["aliases"] == {"small": "gpt-4o-mini"}
    assert out["max_budget"] == 12.5
    assert out["metadata"] == {"env": "test"}
    assert (out["tpm_limit"], out["rpm_limit"], out["max_parallel_requests"]) == (1000, 10, 2)
    assert out["duration"] == "30d"
    rows = await audit(db, sha(key))
    assert [r.action for r in rows] == ["created"]
    assert rows[0].updated_values is not None and "key" not in rows[0].updated_values
    assert len(cp.events.seen) == before + 1
    event = cp.events.seen[-1]
    policy = event.keys[sha(key)]
    assert policy is not None and policy.models == ["gpt-4o-mini"]


async def test_user_chosen_key_must_start_with_sk(cp: Any) -> None:
    r = await cp.client.post("/key/generate", json={"key": "nope-123"}, headers=cp.admin)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["param"] == "key" and "sk-" in err["message"]
    assert "nope-123" not in err["message"]


async def test_user_chosen_key_is_kept_and_duplicates_refused(cp: Any) -> None:
    out = await generate(cp, key="sk-chosen-0123456789")
    assert out["key"] == "sk-chosen-0123456789"
    r = await cp.client.post(
        "/key/generate", json={"key": "sk-chosen-0123456789"}, headers=cp.admin
    )
    assert r.status_code == 400


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"tpm_limit": "lots"}, 422, "tpm_limit"),
        ({"models": "gpt"}, 422, "models"),
        ({"duration": "forever"}, 400, "duration"),
        ({"team_id": "no-such-team"}, 400, "team_id"),
    ],
)
async def test_generate_validation_names_the_field(
    cp: Any, body: dict[str, Any], status: int, param: str
) -> None:
    before = len(cp.events.seen)
    r = await cp.client.post("/key/generate", json=body, headers=cp.admin)
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param
    assert len(cp.events.seen) == before  # nothing committed, nothing announced


async def test_invalid_json_is_400(cp: Any) -> None:
    r = await cp.client.post(
        "/key/generate",
        content=b"{not json",
        headers={**cp.admin, "content-type": "application/json"},
    )
    assert r.status_code == 400


async def test_info_by_key_or_hash(cp: Any) -> None:
    out = await generate(cp, key_alias="info-me")
    for given in (out["key"], out["token"]):
        r = await cp.client.get("/key/info", params={"key": given}, headers=cp.admin)
        assert r.status_code == 200
        body = r.json()
        assert body["key"] == given
        assert body["info"]["key_alias"] == "info-me"
        assert "token" not in body["info"]


async def test_info_of_unknown_key_is_404(cp: Any) -> None:
    r = await cp.client.get("/key/info", params={"key": "sk-unknown-key"}, headers=cp.admin)
    assert r.status_code == 404
    assert "sk-unknown-key" not in r.text  # abbreviated, never echoed whole
    r = await cp.client.get("/key/info", headers=cp.admin)
    assert r.status_code == 422


async def test_list_pages_through_hashes(cp: Any) -> None:
    tokens = [(await generate(cp, user_id="lister"))["token"] for _ in range(3)]
    r = await cp.client.get(
        "/key/list", params={"user_id": "lister", "size": 2, "page": 1}, headers=cp.admin
    )
    assert r.status_code == 200
    body = r.json()
    assert body["total_count"] == 3
    assert body["current_page"] == 1
    assert body["total_pages"] == 2
    assert body["keys"] == tokens[:2]
    r = await cp.client.get(
        "/key/list", params={"user_id": "lister", "page": 2, "size": 2}, headers=cp.admin
    )
    assert r.json()["keys"] == tokens[2:]
    r = await cp.client.get(
        "/key/list",
        params={"user_id": "lister", "return_full_object": "true"},
        headers=cp.admin,
    )
    assert [k["token"] for k in r.json()["keys"]] == tokens
    r = await cp.client.get("/key/list", params={"page": "0"}, headers=cp.admin)
    assert r.status_code == 422


async def test_update_changes_only_the_fields_sent(cp: Any, db: Db) -> None:
    out = await generate(cp, key_alias="before", models=["a"], tpm_limit=5)
    r = await cp.client.post(
        "/key/update",
        json={"key": out["key"], "models": ["a", "b"], "key_alias": None},
        headers=cp.admin,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["key"] == out["key"]
    assert body["models"] == ["a", "b"]
    assert body["key_alias"] is None
    assert body["tpm_limit"] == 5  # absent: untouched
    assert [a.action for a in await audit(db, out["token"])] == ["created", "updated"]


async def test_update_of_unknown_key_is_404_and_writes_nothing(cp: Any) -> None:
    before = len(cp.events.seen)
    r = await cp.client.post(
        "/key/update", json={"key": "sk-missing", "models": []}, headers=cp.admin
    )
    assert r.status_code == 404
    assert len(cp.events.seen) == before
    r = await cp.client.post("/key/update", json={"models": []}, headers=cp.admin)
    assert r.status_code == 422
    assert r.json()["error"]["param"] == "key"


async def test_block_and_unblock(cp: Any, db: Db) -> None:
    out = await generate(cp)
    r = await cp.client.post("/key/block", json={"key": out["key"]}, headers=cp.admin)
    assert r.status_code == 200 and r.json()["blocked"] is True
    assert cp.events.seen[-1].keys[out["token"]].blocked is True  # type: ignore[union-attr]
    r = await cp.client.post("/key/unblock", json={"key": out["token"]}, headers=cp.admin)
    assert r.status_code == 200 and r.json()["blocked"] is False
    actions = [a.action for a in await audit(db, out["token"])]
    assert actions == ["created", "blocked", "unblocked"]
    r = await cp.client.post("/key/block", json={"key": "sk-nope"}, headers=cp.admin)
    assert r.status_code == 404


async def test_delete_is_all_or_nothing(cp: Any, db: Db) -> None:
    a, b = await generate(cp), await generate(cp)
    r = await cp.client.post(
        "/key/delete", json={"keys": [a["key"], "sk-not-there"]}, headers=cp.admin
    )
    assert r.status_code == 404
    r = await cp.client.get("/key/info", params={"key": a["key"]}, headers=cp.admin)
    assert r.status_code == 200  # nothing half-written
    r = await cp.client.post("/key/delete", json={"keys": [a["key"], b["token"]]}, headers=cp.admin)
    assert r.status_code == 200
    assert r.json() == {"deleted_keys": [a["key"], b["token"]]}
    assert cp.events.seen[-1].keys == {a["token"]: None, b["token"]: None}
    r = await cp.client.get("/key/info", params={"key": a["key"]}, headers=cp.admin)
    assert r.status_code == 404
    assert [x.action for x in await audit(db, b["token"])] == ["created", "deleted"]


@pytest.mark.parametrize("in_path", [True, False])
async def test_regenerate_issues_a_new_key_with_the_same_settings(
    cp: Any, db: Db, in_path: bool
) -> None:
    old = await generate(cp, models=["m1"], key_alias="regen", metadata={"k": "v"})
    if in_path:
        r = await cp.client.post(f"/key/{old['key']}/regenerate", headers=cp.admin)
    else:
        r = await cp.client.post("/key/regenerate", json={"key": old["token"]}, headers=cp.admin)
    assert r.status_code == 200, r.text
    new = r.json()
    assert new["key"] != old["key"] and new["key"].startswith("sk-")
    assert new["token"] == sha(new["key"])
    assert new["key_name"] == f"sk-...{new['key'][-4:]}"
    assert (new["models"], new["key_alias"], new["metadata"]) == (["m1"], "regen", {"k": "v"})
    r = await cp.client.get("/key/info", params={"key": old["key"]}, headers=cp.admin)
    assert r.status_code == 404
    event = cp.events.seen[-1]
    assert event.keys[old["token"]] is None and event.keys[new["token"]] is not None
    assert [a.action for a in await audit(db, new["token"])] == ["regenerated"]
    r = await cp.client.post("/key/sk-gone/regenerate", headers=cp.admin)
    assert r.status_code == 404


async def test_versions_increase_by_one_per_write(cp: Any) -> None:
    await generate(cp)
    await generate(cp)
    versions = [e.version for e in cp.events.seen]
    assert versions == sorted(versions)
    assert versions[-1] == versions[-2] + 1


ROUTES = [
    ("POST", "/key/generate"),
    ("GET", "/key/info?key=sk-x"),
    ("GET", "/key/list"),
    ("POST", "/key/update"),
    ("POST", "/key/delete"),
    ("POST", "/key/block"),
    ("POST", "/key/unblock"),
    ("POST", "/key/regenerate"),
    ("POST", "/key/sk-x/regenerate"),
    ("POST", "/team/new"),
    ("GET", "/team/info?team_id=t"),
    ("GET", "/team/list"),
    ("GET", "/internal/policy/snapshot"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_every_route_refuses_bad_credentials_and_virtual_keys(
    cp: Any, method: str, path: str
) -> None:
    r = await cp.client.request(method, path, json={})
    assert r.status_code == 401
    assert r.json()["error"]["message"] == "Authentication Error, No api key passed in."
    bad = {"authorization": "Bearer sk-wrong-master"}
    r = await cp.client.request(method, path, json={}, headers=bad)
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "auth_error"
    virtual = (await generate(cp))["key"]
    r = await cp.client.request(method, path, json={}, headers={"x-api-key": virtual})
    assert r.status_code == 403


async def test_generate_takes_budget_fields_and_metadata_shortcuts(cp: Any) -> None:
    out = await generate(
        cp,
        max_budget=10.0,
        soft_budget=8.0,
        model_max_budget={"gpt-4o": {"max_budget": 1.5, "budget_duration": "1d"}},
        tags=["prod"],
        guardrails=["pii"],
        model_rpm_limit={"gpt-4o": 5},
        metadata={"env": "x"},
    )
    assert out["soft_budget"] == 8.0
    assert out["model_max_budget"] == {"gpt-4o": {"max_budget": 1.5, "budget_duration": "1d"}}
    assert out["metadata"] == {
        "env": "x",
        "tags": ["prod"],
        "guardrails": ["pii"],
        "model_rpm_limit": {"gpt-4o": 5},
    }
    event = cp.events.seen[-1].keys[out["token"]]
    assert event is not None
    assert event.soft_budget == 8.0
    assert event.model_max_budget == {"gpt-4o": 1.5}
    assert event.tags == ["prod"]
    assert event.model_rpm_limit == {"gpt-4o": 5}

    r = await cp.client.post(
        "/key/update", json={"key": out["key"], "tags": None, "soft_budget": 2.0}, headers=cp.admin
    )
    assert r.status_code == 200, r.text
    info = await cp.client.get("/key/info", params={"key": out["key"]}, headers=cp.admin)
    assert info.json()["info"]["soft_budget"] == 2.0
    assert "tags" not in info.json()["info"]["metadata"]
    assert info.json()["info"]["metadata"]["env"] == "x"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"max_budget": -1}, "max_budget"),
        ({"soft_budget": -0.5}, "soft_budget"),
        ({"model_max_budget": {"m": {"max_budget": -2}}}, "model_max_budget"),
        (
            {"model_max_budget": {"m": {"max_budget": 1, "budget_duration": "soon"}}},
            "model_max_budget",
        ),
    ],
)
async def test_generate_refuses_bad_budgets_naming_the_field(
    cp: Any, body: dict[str, Any], param: str
) -> None:
    before = len(cp.events.seen)
    r = await cp.client.post("/key/generate", json=body, headers=cp.admin)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param
    assert len(cp.events.seen) == before
