"""`/organization/*` over HTTP on SQLite and Postgres: codes, payloads, audit, events."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tianji_common.db.engine import close_engine, open_engine

from tianji_control_plane.repo.audit import audit_for
from tianji_control_plane.repo.db import Db


@pytest.fixture(scope="module")
async def db(db_url: str) -> AsyncIterator[Db]:
    engine = await open_engine(db_url, pool=False)
    yield Db.bind(engine)
    await close_engine(engine)


def uid() -> str:
    return f"u-{secrets.token_hex(4)}"


async def new_org(cp: Any, **body: Any) -> dict[str, Any]:
    body.setdefault("organization_alias", f"org-{secrets.token_hex(3)}")
    r = await cp.client.post("/organization/new", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def info(cp: Any, org_id: str) -> dict[str, Any]:
    r = await cp.client.get(
        "/organization/info", params={"organization_id": org_id}, headers=cp.admin
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def member_add(cp: Any, org_id: str, member: Any, **extra: Any) -> Any:
    body = {"organization_id": org_id, "member": member, **extra}
    return await cp.client.post("/organization/member_add", json=body, headers=cp.admin)


async def actions(db: Db, object_id: str) -> list[str]:
    return [a.action for a in await audit_for(db, object_id)]


async def test_new_org_returns_its_id_and_limits(cp: Any, db: Db) -> None:
    before = len(cp.events.seen)
    out = await new_org(
        cp,
        organization_alias="Acme",
        models=["gpt-4o"],
        max_budget=100.0,
        budget_duration="1mo",
        tpm_limit=1000,
        rpm_limit=50,
        metadata={"tier": "gold"},
    )
    assert out["organization_id"] and out["organization_alias"] == "Acme"
    assert out["models"] == ["gpt-4o"] and out["metadata"] == {"tier": "gold"}
    assert (out["max_budget"], out["tpm_limit"], out["rpm_limit"]) == (100.0, 1000, 50)
    assert out["budget_reset_at"] is not None and out["spend"] == 0
    assert out["litellm_budget_table"]["max_budget"] == 100.0
    assert out["litellm_budget_table"]["budget_duration"] == "1mo"
    assert out["created_by"] == "default_user_id"
    assert await actions(db, out["organization_id"]) == ["created"]
    assert len(cp.events.seen) == before + 1
    policy = cp.events.seen[-1].orgs[out["organization_id"]]
    assert policy is not None and policy.models == ["gpt-4o"] and policy.max_budget == 100.0
    r = await cp.client.get("/internal/policy/snapshot", headers=cp.admin)
    snap = r.json()
    assert snap["orgs"][out["organization_id"]]["tpm_limit"] == 1000
    assert snap["version"] == cp.events.seen[-1].version


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({}, 422, "organization_alias"),
        ({"organization_alias": "  "}, 400, "organization_alias"),
        ({"organization_alias": "a", "models": "gpt"}, 422, "models"),
        ({"organization_alias": "a", "max_budget": -1}, 422, "max_budget"),
        ({"organization_alias": "a", "budget_duration": "never"}, 400, "budget_duration"),
        ({"organization_alias": "a", "tpm_limit": "x"}, 422, "tpm_limit"),
        ({"organization_alias": "a", "rpm_limit": -1}, 422, "rpm_limit"),
        ({"organization_alias": "a", "metadata": 3}, 422, "metadata"),
    ],
)
async def test_new_org_validation_names_the_field(
    cp: Any, body: dict[str, Any], status: int, param: str
) -> None:
    before = len(cp.events.seen)
    r = await cp.client.post("/organization/new", json=body, headers=cp.admin)
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param
    assert len(cp.events.seen) == before


async def test_duplicate_org_id_is_400(cp: Any) -> None:
    org = await new_org(cp)
    body = {"organization_alias": "x", "organization_id": org["organization_id"]}
    r = await cp.client.post("/organization/new", json=body, headers=cp.admin)
    assert r.status_code == 400 and r.json()["error"]["param"] == "organization_id"


async def test_update_is_a_patch(cp: Any, db: Db) -> None:
    org = await new_org(cp, models=["a"], max_budget=5.0, tpm_limit=9)
    body = {"organization_id": org["organization_id"], "models": ["a", "b"], "max_budget": None}
    r = await cp.client.patch("/organization/update", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["models"] == ["a", "b"] and out["max_budget"] is None
    assert out["tpm_limit"] == 9 and out["organization_alias"] == org["organization_alias"]
    assert out["members"] == [] and out["teams"] == []  # LiteLLM answers with members
    assert cp.events.seen[-1].orgs[org["organization_id"]].models == ["a", "b"]  # type: ignore[union-attr]
    assert await actions(db, org["organization_id"]) == ["created", "updated"]


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"organization_id": "nope", "models": []}, 404, "organization_id"),
        ({"models": []}, 422, "organization_id"),
        ({"organization_id": "nope", "tpm_limit": -2}, 422, "tpm_limit"),
    ],
)
async def test_update_errors(cp: Any, body: dict[str, Any], status: int, param: str) -> None:
    before = len(cp.events.seen)
    r = await cp.client.patch("/organization/update", json=body, headers=cp.admin)
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param
    assert len(cp.events.seen) == before


async def test_info_shows_teams_and_members(cp: Any) -> None:
    org = await new_org(cp)
    org_id = org["organization_id"]
    r = await cp.client.post("/team/new", json={"organization_id": org_id}, headers=cp.admin)
    team_id = r.json()["team_id"]
    user_id = uid()
    assert (
        await member_add(cp, org_id, {"role": "org_admin", "user_id": user_id})
    ).status_code == 200
    out = await info(cp, org_id)
    assert out["organization_id"] == org_id
    assert [t["team_id"] for t in out["teams"]] == [team_id]
    assert [(m["user_id"], m["user_role"]) for m in out["members"]] == [(user_id, "org_admin")]
    r = await cp.client.get(
        "/organization/info", params={"organization_id": "nope"}, headers=cp.admin
    )
    assert r.status_code == 404 and r.json()["error"]["param"] == "organization_id"
    r = await cp.client.get("/organization/info", headers=cp.admin)
    assert r.status_code == 422 and r.json()["error"]["param"] == "organization_id"
    r = await cp.client.post(
        "/organization/info", json={"organizations": [org_id]}, headers=cp.admin
    )
    assert r.status_code == 200 and [o["organization_id"] for o in r.json()] == [org_id]


async def test_list_holds_every_org_with_members_and_teams(cp: Any) -> None:
    a, b = await new_org(cp), await new_org(cp)
    await member_add(cp, b["organization_id"], {"role": "internal_user", "user_id": uid()})
    r = await cp.client.get("/organization/list", headers=cp.admin)
    assert r.status_code == 200
    by_id = {o["organization_id"]: o for o in r.json()}
    assert by_id[a["organization_id"]]["members"] == []
    assert len(by_id[b["organization_id"]]["members"]) == 1
    assert by_id[b["organization_id"]]["teams"] == []


async def test_delete_refuses_an_org_with_teams(cp: Any, db: Db) -> None:
    org = await new_org(cp)
    org_id = org["organization_id"]
    await cp.client.post("/team/new", json={"organization_id": org_id}, headers=cp.admin)
    before = len(cp.events.seen)
    body = {"organization_ids": [org_id]}
    r = await cp.client.request("DELETE", "/organization/delete", json=body, headers=cp.admin)
    assert r.status_code == 400 and r.json()["error"]["param"] == "organization_ids"
    assert len(cp.events.seen) == before
    await info(cp, org_id)  # still there
    assert await actions(db, org_id) == ["created"]


async def test_delete_is_all_or_nothing(cp: Any, db: Db) -> None:
    a, b = await new_org(cp), await new_org(cp)
    ids = [a["organization_id"], b["organization_id"]]
    await member_add(cp, ids[0], {"role": "internal_user", "user_id": uid()})
    body = {"organization_ids": [ids[0], "nope"]}
    r = await cp.client.request("DELETE", "/organization/delete", json=body, headers=cp.admin)
    assert r.status_code == 404 and r.json()["error"]["param"] == "organization_ids"
    await info(cp, ids[0])  # nothing half-written
    before = len(cp.events.seen)
    r = await cp.client.request(
        "DELETE", "/organization/delete", json={"organization_ids": ids}, headers=cp.admin
    )
    assert r.status_code == 200, r.text
    assert [o["organization_id"] for o in r.json()] == ids
    assert len(cp.events.seen) == before + 1
    assert cp.events.seen[-1].orgs == dict.fromkeys(ids)
    for org_id in ids:
        r = await cp.client.get(
            "/organization/info", params={"organization_id": org_id}, headers=cp.admin
        )
        assert r.status_code == 404
    assert await actions(db, ids[0]) == ["created", "deleted"]
    r = await cp.client.request(
        "DELETE", "/organization/delete", json={"organization_ids": []}, headers=cp.admin
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "organization_ids"


async def test_member_add_creates_missing_users_and_re_roles_existing(cp: Any, db: Db) -> None:
    org_id = (await new_org(cp))["organization_id"]
    existing = uid()
    r = await cp.client.post(
        "/user/new", json={"user_id": existing, "auto_create_key": False}, headers=cp.admin
    )
    email = f"{uid()}@example.com"
    members = [
        {"role": "internal_user", "user_id": existing},
        {"role": "internal_user_viewer", "user_email": email},
    ]
    r = await member_add(cp, org_id, members, max_budget_in_organization=3.5)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["organization_id"] == org_id
    assert out["updated_users"][0]["user_id"] == existing
    created = out["updated_users"][1]
    assert created["user_email"] == email and created["user_role"] == "internal_user"
    assert list(cp.events.seen[-1].users) == [created["user_id"]]  # the user it created
    memberships = out["updated_organization_memberships"]
    assert [m["user_role"] for m in memberships] == ["internal_user", "internal_user_viewer"]
    assert memberships[0]["litellm_budget_table"]["max_budget"] == 3.5
    assert await actions(db, f"{org_id}/{existing}") == ["created"]
    r = await member_add(cp, org_id, {"role": "org_admin", "user_id": existing})
    assert r.json()["updated_organization_memberships"][0]["user_role"] == "org_admin"
    assert await actions(db, f"{org_id}/{existing}") == ["created", "updated"]
    assert len((await info(cp, org_id))["members"]) == 2


@pytest.mark.parametrize(
    ("member", "status", "param"),
    [
        ({"role": "proxy_admin", "user_id": "x"}, 422, "member"),
        ({"user_id": "x"}, 422, "member"),
        ({"role": "org_admin"}, 400, "member"),
        ({"role": "org_admin", "user_email": "nope"}, 400, "user_email"),
    ],
)
async def test_member_add_validation(
    cp: Any, member: dict[str, Any], status: int, param: str
) -> None:
    org_id = (await new_org(cp))["organization_id"]
    before = len(cp.events.seen)
    r = await member_add(cp, org_id, member)
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param
    assert len(cp.events.seen) == before


async def test_member_add_is_all_or_nothing(cp: Any) -> None:
    org_id = (await new_org(cp))["organization_id"]
    first = uid()
    members = [{"role": "internal_user", "user_id": first}, {"role": "org_admin"}]
    r = await member_add(cp, org_id, members)
    assert r.status_code == 400
    assert (await info(cp, org_id))["members"] == []
    r = await cp.client.get("/user/info", params={"user_id": first}, headers=cp.admin)
    assert r.status_code == 404  # the user it would have created is not there either
    r = await member_add(cp, "nope", {"role": "org_admin", "user_id": first})
    assert r.status_code == 404 and r.json()["error"]["param"] == "organization_id"


async def test_member_update_and_delete(cp: Any, db: Db) -> None:
    org_id = (await new_org(cp))["organization_id"]
    user_id = uid()
    await member_add(cp, org_id, {"role": "internal_user", "user_id": user_id})
    body = {"organization_id": org_id, "user_id": user_id, "role": "org_admin"}
    r = await cp.client.patch("/organization/member_update", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    assert r.json()["user_role"] == "org_admin" and r.json()["user_id"] == user_id
    bad = {**body, "role": "proxy_admin"}
    r = await cp.client.patch("/organization/member_update", json=bad, headers=cp.admin)
    assert r.status_code == 422 and r.json()["error"]["param"] == "role"
    ref = {"organization_id": org_id, "user_id": user_id}
    r = await cp.client.request("DELETE", "/organization/member_delete", json=ref, headers=cp.admin)
    assert r.status_code == 200 and r.json()["user_id"] == user_id
    assert (await info(cp, org_id))["members"] == []
    assert await actions(db, f"{org_id}/{user_id}") == ["created", "updated", "deleted"]
    r = await cp.client.request("DELETE", "/organization/member_delete", json=ref, headers=cp.admin)
    assert r.status_code == 404 and r.json()["error"]["param"] == "user_id"
    r = await cp.client.patch("/organization/member_update", json=body, headers=cp.admin)
    assert r.status_code == 404
    r = await cp.client.patch(
        "/organization/member_update", json={"organization_id": org_id}, headers=cp.admin
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "user_id"
    r = await cp.client.request(
        "DELETE",
        "/organization/member_delete",
        json={**ref, "organization_id": "nope"},
        headers=cp.admin,
    )
    assert r.status_code == 404 and r.json()["error"]["param"] == "organization_id"


_ROUTES = [
    ("POST", "/organization/new", {"organization_alias": "x"}),
    ("PATCH", "/organization/update", {"organization_id": "x"}),
    ("DELETE", "/organization/delete", {"organization_ids": ["x"]}),
    ("GET", "/organization/info?organization_id=x", None),
    ("POST", "/organization/info", {"organizations": ["x"]}),
    ("GET", "/organization/list", None),
    ("POST", "/organization/member_add", {"organization_id": "x", "member": []}),
    ("PATCH", "/organization/member_update", {"organization_id": "x", "user_id": "y"}),
    ("DELETE", "/organization/member_delete", {"organization_id": "x", "user_id": "y"}),
]


@pytest.mark.parametrize(("method", "path", "body"), _ROUTES)
async def test_auth_401_without_or_with_a_bad_key_403_for_a_virtual_key(
    cp: Any, method: str, path: str, body: dict[str, Any] | None
) -> None:
    r = await cp.client.request(method, path, json=body)
    assert r.status_code == 401
    bad = {"authorization": "Bearer sk-not-a-real-key"}
    r = await cp.client.request(method, path, json=body, headers=bad)
    assert r.status_code == 401
    r = await cp.client.post("/key/generate", json={}, headers=cp.admin)
    key = r.json()["key"]
    r = await cp.client.request(method, path, json=body, headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 403
