"""`/user/*` over HTTP on SQLite and Postgres: status codes, payloads, audit, events."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tianji_common.db.engine import close_engine, open_engine

from tianji_control_plane.repo.audit import audit_for
from tianji_control_plane.repo.db import Db
from tianji_control_plane.repo.memberships import memberships_of


@pytest.fixture(scope="module")
async def db(db_url: str) -> AsyncIterator[Db]:
    engine = await open_engine(db_url, pool=False)
    yield Db.bind(engine)
    await close_engine(engine)


def uid() -> str:
    return f"u-{secrets.token_hex(4)}"


async def new_user(cp: Any, **body: Any) -> dict[str, Any]:
    r = await cp.client.post("/user/new", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def new_team(cp: Any, **body: Any) -> dict[str, Any]:
    r = await cp.client.post("/team/new", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def actions(db: Db, object_id: str) -> list[str]:
    return [a.action for a in await audit_for(db, object_id)]


async def test_new_user_returns_the_user_and_a_working_key(cp: Any, db: Db) -> None:
    before = len(cp.events.seen)
    out = await new_user(
        cp,
        user_id="alice",
        user_email="alice@example.com",
        user_alias="Alice",
        user_role="internal_user",
        models=["gpt-4o-mini"],
        max_budget=10.5,
        budget_duration="30d",
        tpm_limit=100,
        rpm_limit=5,
        max_parallel_requests=2,
        metadata={"dept": "r&d"},
    )
    assert out["user_id"] == "alice"
    assert (out["user_email"], out["user_alias"]) == ("alice@example.com", "Alice")
    assert out["user_role"] == "internal_user"
    assert out["models"] == ["gpt-4o-mini"] and out["max_budget"] == 10.5
    assert (out["tpm_limit"], out["rpm_limit"], out["max_parallel_requests"]) == (100, 5, 2)
    assert out["budget_duration"] == "30d" and out["budget_reset_at"] is not None
    assert out["metadata"] == {"dept": "r&d"} and out["teams"] == []
    assert out["key"].startswith("sk-") and out["token"] == out["token_id"]
    assert out["created_at"] and out["updated_at"]
    r = await cp.client.get("/key/info", params={"key": out["key"]}, headers=cp.admin)
    assert r.status_code == 200 and r.json()["info"]["user_id"] == "alice"
    assert r.json()["info"]["models"] == ["gpt-4o-mini"]
    assert await actions(db, "alice") == ["created"]
    assert await actions(db, out["token"]) == ["created"]
    assert len(cp.events.seen) == before + 1  # one write, one event
    event = cp.events.seen[-1]
    assert out["token"] in event.keys
    user = event.users["alice"]
    assert user is not None and user.models == ["gpt-4o-mini"] and user.tpm_limit == 100
    r = await cp.client.get("/internal/policy/snapshot", headers=cp.admin)
    snap = r.json()
    assert snap["users"]["alice"]["user_role"] == "internal_user"
    assert snap["version"] == event.version


async def test_new_user_without_key(cp: Any) -> None:
    out = await new_user(cp, auto_create_key=False)
    assert out["user_id"] and out["key"] is None and out["token"] is None
    r = await cp.client.get("/user/info", params={"user_id": out["user_id"]}, headers=cp.admin)
    assert r.json()["keys"] == []


async def test_new_user_joins_its_teams(cp: Any, db: Db) -> None:
    a, b = await new_team(cp), await new_team(cp)
    user_id = uid()
    out = await new_user(
        cp,
        user_id=user_id,
        teams=[a["team_id"], {"team_id": b["team_id"], "user_role": "admin"}],
    )
    assert out["teams"] == [a["team_id"], b["team_id"]]
    r = await cp.client.get("/team/info", params={"team_id": b["team_id"]}, headers=cp.admin)
    entry = {"user_id": user_id, "user_email": None, "role": "admin"}
    assert entry in r.json()["team_info"]["members_with_roles"]
    assert b["team_id"] in cp.events.seen[-1].teams
    assert await actions(db, b["team_id"]) == ["created", "updated"]
    r = await cp.client.get("/user/info", params={"user_id": user_id}, headers=cp.admin)
    assert r.status_code == 200
    info = r.json()
    assert set(info) == {"user_id", "user_info", "keys", "teams"}
    assert info["user_id"] == user_id and info["user_info"]["user_id"] == user_id
    assert [t["team_id"] for t in info["teams"]] == [a["team_id"], b["team_id"]]
    assert [k["token"] for k in info["keys"]] == [out["token"]]


async def test_new_user_teams_write_what_team_member_add_writes(cp: Any, db: Db) -> None:
    """Both ways into a team leave the same entry, membership row and budget."""
    shared = await new_team(cp, team_member_budget=4.0)
    own = await new_team(cp)
    email = f"{uid()}@example.com"
    user_id = uid()
    before = len(cp.events.seen)
    await new_user(
        cp,
        user_id=user_id,
        user_email=email,
        auto_create_key=False,
        teams=[
            shared["team_id"],
            {"team_id": own["team_id"], "user_role": "admin", "max_budget_in_team": 2.5},
            shared["team_id"],  # named twice: joined once
        ],
    )
    r = await cp.client.get("/team/info", params={"team_id": shared["team_id"]}, headers=cp.admin)
    info = r.json()
    assert info["team_info"]["members_with_roles"] == [
        {"user_id": user_id, "user_email": email, "role": "user"}
    ]
    [tm] = info["team_memberships"]
    assert tm["user_id"] == user_id and tm["budget_id"] == shared["team_member_budget_id"]
    [row] = await memberships_of(db, [own["team_id"]], user_id)
    assert row.budget_id is not None and row.budget_id != shared["team_member_budget_id"]
    [event] = cp.events.seen[before:]
    assert event.budgets[row.budget_id].max_budget == 2.5
    assert await actions(db, row.id) == ["created"]
    # The same user added by /team/member_add to a third team: same shapes.
    third = await new_team(cp, team_member_budget=4.0)
    r = await cp.client.post(
        "/team/member_add",
        json={"team_id": third["team_id"], "member": {"role": "user", "user_id": user_id}},
        headers=cp.admin,
    )
    assert r.status_code == 200, r.text
    assert r.json()["members_with_roles"] == info["team_info"]["members_with_roles"]
    [added] = await memberships_of(db, [third["team_id"]], user_id)
    assert added.budget_id == third["team_member_budget_id"]


async def test_unknown_team_writes_nothing(cp: Any, db: Db) -> None:
    before = len(cp.events.seen)
    user_id = uid()
    r = await cp.client.post(
        "/user/new", json={"user_id": user_id, "teams": ["no-such-team"]}, headers=cp.admin
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "teams"
    r = await cp.client.get("/user/info", params={"user_id": user_id}, headers=cp.admin)
    assert r.status_code == 404
    assert await actions(db, user_id) == []
    assert len(cp.events.seen) == before


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"user_role": "boss"}, 422, "user_role"),
        ({"user_role": "team"}, 422, "user_role"),
        ({"user_email": "not-an-email"}, 400, "user_email"),
        ({"models": "gpt"}, 422, "models"),
        ({"max_budget": -1}, 422, "max_budget"),
        ({"max_budget": "lots"}, 422, "max_budget"),
        ({"budget_duration": "forever"}, 400, "budget_duration"),
        ({"tpm_limit": "lots"}, 422, "tpm_limit"),
        ({"rpm_limit": -5}, 422, "rpm_limit"),
        ({"max_parallel_requests": 1.5}, 422, "max_parallel_requests"),
        ({"metadata": ["x"]}, 422, "metadata"),
        ({"teams": "t1"}, 422, "teams"),
        ({"teams": [{"user_role": "admin"}]}, 422, "teams"),
    ],
)
async def test_new_user_validation_names_the_field(
    cp: Any, body: dict[str, Any], status: int, param: str
) -> None:
    before = len(cp.events.seen)
    r = await cp.client.post("/user/new", json=body, headers=cp.admin)
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param
    assert len(cp.events.seen) == before


@pytest.mark.parametrize(
    "role",
    ["proxy_admin", "proxy_admin_viewer", "org_admin", "internal_user", "internal_user_viewer"],
)
async def test_every_litellm_role_is_accepted(cp: Any, role: str) -> None:
    out = await new_user(cp, user_role=role, auto_create_key=False)
    assert out["user_role"] == role


async def test_taken_user_id_or_email_is_409_as_in_litellm(cp: Any) -> None:
    user_id, email = uid(), f"{uid()}@Example.com"
    await new_user(cp, user_id=user_id, user_email=email, auto_create_key=False)
    before = len(cp.events.seen)
    for body, param in (
        ({"user_id": user_id}, "user_id"),
        ({"user_email": email.upper()}, "user_email"),  # emails compare in any case
    ):
        r = await cp.client.post("/user/new", json=body, headers=cp.admin)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["param"] == param
        assert r.headers["x-should-retry"] == "false"  # the OpenAI SDK retries 409
    assert len(cp.events.seen) == before


async def test_info_of_unknown_user_is_404(cp: Any) -> None:
    r = await cp.client.get("/user/info", params={"user_id": "nobody"}, headers=cp.admin)
    assert r.status_code == 404 and r.json()["error"]["param"] == "user_id"
    r = await cp.client.get("/user/info", headers=cp.admin)
    assert r.status_code == 422 and r.json()["error"]["param"] == "user_id"


async def test_list_pages_through_users(cp: Any) -> None:
    role: dict[str, Any] = {"role": "internal_user_viewer"}
    r = await cp.client.get("/user/list", params=role, headers=cp.admin)
    base = r.json()["total"]
    ids = [
        (await new_user(cp, user_role=role["role"], auto_create_key=False))["user_id"]
        for _ in range(3)
    ]
    r = await cp.client.get("/user/list", params={**role, "page_size": 1}, headers=cp.admin)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"users", "total", "page", "page_size", "total_pages"}
    assert (body["total"], body["page"], body["page_size"]) == (base + 3, 1, 1)
    assert body["total_pages"] == base + 3
    assert [u["user_id"] for u in body["users"]] == ids[-1:]  # newest first, as LiteLLM
    assert body["users"][0]["key_count"] == 0
    oldest_first = {**role, "page_size": 1, "sort_by": "created_at", "sort_order": "asc"}
    for i, user_id in enumerate(ids):
        params = {**oldest_first, "page": base + 1 + i}
        r = await cp.client.get("/user/list", params=params, headers=cp.admin)
        assert [u["user_id"] for u in r.json()["users"]] == [user_id]
        assert r.json()["users"][0]["user_role"] == "internal_user_viewer"
    r = await cp.client.get("/user/list", headers=cp.admin)
    assert r.json()["total"] >= 3 and r.json()["page_size"] == 25


async def test_list_filters_by_ids_and_email_and_counts_keys(cp: Any) -> None:
    tag = secrets.token_hex(4)
    a = await new_user(cp, user_email=f"Ann.{tag}@example.com")
    b = await new_user(cp, user_email=f"bob.{tag}@example.com", auto_create_key=False)
    params = {"user_ids": f"{a['user_id']}, {b['user_id']}", "sort_by": "user_email"}
    r = await cp.client.get("/user/list", params=params, headers=cp.admin)
    users = r.json()["users"]
    assert [u["user_id"] for u in users] == [a["user_id"], b["user_id"]]
    assert [u["key_count"] for u in users] == [1, 0]
    r = await cp.client.get("/user/list", params={"user_email": f"ANN.{tag}"}, headers=cp.admin)
    assert [u["user_id"] for u in r.json()["users"]] == [a["user_id"]]


@pytest.mark.parametrize(
    ("params", "status", "param"),
    [
        ({"page": "0"}, 422, "page"),
        ({"page_size": "x"}, 422, "page_size"),
        ({"page_size": "101"}, 422, "page_size"),
        ({"role": "boss"}, 422, "role"),
        ({"sort_by": "password"}, 400, "sort_by"),
        ({"sort_by": "spend", "sort_order": "up"}, 400, "sort_order"),
    ],
)
async def test_list_rejects_bad_parameters(
    cp: Any, params: dict[str, str], status: int, param: str
) -> None:
    r = await cp.client.get("/user/list", params=params, headers=cp.admin)
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param


async def test_update_changes_only_the_fields_sent(cp: Any, db: Db) -> None:
    user_id = uid()
    await new_user(cp, user_id=user_id, models=["a"], max_budget=5, tpm_limit=7)
    before = len(cp.events.seen)
    r = await cp.client.post(
        "/user/update",
        json={
            "user_id": user_id,
            "models": ["a", "b"],
            "max_budget": None,
            "user_role": "org_admin",
        },
        headers=cp.admin,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user_id"] == user_id
    data = body["data"]
    assert data["models"] == ["a", "b"] and data["max_budget"] is None
    assert data["user_role"] == "org_admin" and data["tpm_limit"] == 7
    policy = cp.events.seen[-1].users[user_id]
    assert policy is not None and policy.models == ["a", "b"] and policy.max_budget is None
    assert await actions(db, user_id) == ["created", "updated"]
    assert len(cp.events.seen) == before + 1


async def test_update_by_email(cp: Any) -> None:
    email = f"{uid()}@example.com"
    out = await new_user(cp, user_email=email, auto_create_key=False)
    r = await cp.client.post(
        "/user/update", json={"user_email": email, "rpm_limit": 3}, headers=cp.admin
    )
    assert r.status_code == 200 and r.json()["user_id"] == out["user_id"]
    assert r.json()["data"]["rpm_limit"] == 3 and r.json()["data"]["user_email"] == email


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"user_id": "nobody", "models": []}, 404, "user_id"),
        ({"user_email": "nobody@example.com"}, 404, "user_email"),
        ({"models": []}, 400, "user_id"),
        ({"user_id": "x", "user_role": "boss"}, 422, "user_role"),
        ({"user_id": "x", "tpm_limit": -1}, 422, "tpm_limit"),
    ],
)
async def test_update_errors_name_the_field(
    cp: Any, body: dict[str, Any], status: int, param: str
) -> None:
    before = len(cp.events.seen)
    r = await cp.client.post("/user/update", json=body, headers=cp.admin)
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param
    assert len(cp.events.seen) == before


async def test_update_validates_values(cp: Any) -> None:
    user_id = uid()
    await new_user(cp, user_id=user_id, auto_create_key=False)
    for body, param in (
        ({"user_email": "bad"}, "user_email"),
        ({"budget_duration": "soon"}, "budget_duration"),
    ):
        r = await cp.client.post(
            "/user/update", json={"user_id": user_id, **body}, headers=cp.admin
        )
        assert r.status_code == 400 and r.json()["error"]["param"] == param


async def test_delete_is_all_or_nothing_and_takes_keys_and_teams(cp: Any, db: Db) -> None:
    team = await new_team(cp)
    a = await new_user(cp, user_id=uid(), teams=[team["team_id"]])
    b = await new_user(cp, user_id=uid(), auto_create_key=False)
    before = len(cp.events.seen)
    r = await cp.client.post(
        "/user/delete", json={"user_ids": [a["user_id"], "nobody"]}, headers=cp.admin
    )
    assert r.status_code == 404 and r.json()["error"]["param"] == "user_ids"
    assert len(cp.events.seen) == before
    r = await cp.client.get("/user/info", params={"user_id": a["user_id"]}, headers=cp.admin)
    assert r.status_code == 200  # nothing half-written
    ids = [a["user_id"], b["user_id"]]
    r = await cp.client.post("/user/delete", json={"user_ids": ids}, headers=cp.admin)
    assert r.status_code == 200 and r.json() == 2  # LiteLLM answers with the count
    for user_id in ids:
        r = await cp.client.get("/user/info", params={"user_id": user_id}, headers=cp.admin)
        assert r.status_code == 404
    r = await cp.client.get("/key/info", params={"key": a["key"]}, headers=cp.admin)
    assert r.status_code == 404
    event = cp.events.seen[-1]
    assert event.keys == {a["token"]: None}
    assert event.users == dict.fromkeys(ids)
    assert team["team_id"] in event.teams
    r = await cp.client.get("/team/info", params={"team_id": team["team_id"]}, headers=cp.admin)
    assert r.json()["team_info"]["members_with_roles"] == []
    assert r.json()["team_memberships"] == []
    assert await memberships_of(db, [team["team_id"]]) == []  # the row went in the same write
    membership_id = f"{team['team_id']}/{a['user_id']}"
    assert await actions(db, membership_id) == ["created", "deleted"]
    assert await actions(db, a["user_id"]) == ["created", "deleted"]
    assert await actions(db, a["token"]) == ["created", "deleted"]
    r = await cp.client.post("/user/delete", json={"user_ids": []}, headers=cp.admin)
    assert r.status_code == 400 and r.json()["error"]["param"] == "user_ids"


_ROUTES = [
    ("POST", "/user/new", {}),
    ("POST", "/user/update", {"user_id": "x"}),
    ("POST", "/user/delete", {"user_ids": ["x"]}),
    ("GET", "/user/info?user_id=x", None),
    ("GET", "/user/list", None),
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
    key = (await new_user(cp, auto_create_key=True))["key"]
    r = await cp.client.request(method, path, json=body, headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 403
