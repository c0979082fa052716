"""`/budget/*` over HTTP on SQLite and Postgres: bodies, codes, audit, change events."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
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


def bid() -> str:
    return f"budget-{secrets.token_hex(4)}"


async def new_budget(cp: Any, **body: Any) -> dict[str, Any]:
    r = await cp.client.post("/budget/new", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def new_customer(cp: Any, **body: Any) -> dict[str, Any]:
    body.setdefault("user_id", f"c-{secrets.token_hex(4)}")
    r = await cp.client.post("/customer/new", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def budget_info(cp: Any, *ids: str) -> list[dict[str, Any]]:
    r = await cp.client.post("/budget/info", json={"budgets": list(ids)}, headers=cp.admin)
    assert r.status_code == 200, r.text
    return list(r.json())


async def test_new_generates_an_id_and_the_reset_time(cp: Any, db: Db) -> None:
    before = len(cp.events.seen)
    start = datetime.now(UTC)
    out = await new_budget(
        cp,
        max_budget=50.0,
        soft_budget=40.0,
        tpm_limit=1000,
        rpm_limit=10,
        max_parallel_requests=2,
        budget_duration="7d",
        model_max_budget={"gpt-4o": {"max_budget": 5.0}, "claude": 1.5},
    )
    budget_id = out["budget_id"]
    assert budget_id and len(budget_id) == 36  # a uuid, as LiteLLM's default
    assert (out["max_budget"], out["soft_budget"], out["max_parallel_requests"]) == (50.0, 40.0, 2)
    assert out["model_max_budget"] == {"gpt-4o": {"max_budget": 5.0}, "claude": 1.5}
    reset = datetime.fromisoformat(out["budget_reset_at"])
    assert start + timedelta(days=7) <= reset <= datetime.now(UTC) + timedelta(days=7)
    assert out["created_by"] == out["updated_by"] == "default_user_id"
    assert [a.action for a in await audit_for(db, budget_id)] == ["created"]
    assert len(cp.events.seen) == before + 1
    policy = cp.events.seen[-1].budgets[budget_id]
    assert policy is not None and policy.max_budget == 50.0 and policy.soft_budget == 40.0
    assert policy.model_max_budget == {"gpt-4o": 5.0, "claude": 1.5}
    assert policy.budget_duration == "7d"
    snap = (await cp.client.get("/internal/policy/snapshot", headers=cp.admin)).json()
    assert snap["budgets"][budget_id]["tpm_limit"] == 1000


async def test_new_with_an_id_and_duplicates(cp: Any) -> None:
    budget_id = bid()
    out = await new_budget(cp, budget_id=budget_id)
    assert out["budget_id"] == budget_id and out["max_budget"] is None
    assert out["budget_reset_at"] is None and out["model_max_budget"] == {}
    before = len(cp.events.seen)
    r = await cp.client.post(
        "/budget/new", json={"budget_id": budget_id, "max_budget": 1}, headers=cp.admin
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "budget_id"
    assert r.json()["error"]["message"] == f"Budget with id '{budget_id}' already exists."
    assert len(cp.events.seen) == before
    assert (await budget_info(cp, budget_id))[0]["max_budget"] is None


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"max_budget": -1}, 400, "max_budget"),
        ({"soft_budget": -0.5}, 400, "soft_budget"),
        ({"budget_duration": "1 fortnight"}, 400, "budget_duration"),
        ({"tpm_limit": -1}, 422, "tpm_limit"),
        ({"rpm_limit": "many"}, 422, "rpm_limit"),
        ({"model_max_budget": {"m": {"max_budget": -2}}}, 422, "model_max_budget"),
        ({"model_max_budget": {"m": {"budget_duration": "soon"}}}, 400, "model_max_budget"),
        ({"budget_id": ""}, 400, "budget_id"),
    ],
)
async def test_new_validation_names_the_field(
    cp: Any, body: dict[str, Any], status: int, param: str
) -> None:
    before = len(cp.events.seen)
    r = await cp.client.post("/budget/new", json=body, headers=cp.admin)
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param
    assert len(cp.events.seen) == before


async def test_update_republishes_every_linked_customer(cp: Any, db: Db) -> None:
    budget = await new_budget(cp, budget_id=bid(), max_budget=10.0, rpm_limit=3)
    budget_id = budget["budget_id"]
    a = await new_customer(cp, budget_id=budget_id)
    b = await new_customer(cp, budget_id=budget_id)
    other = await new_customer(cp)
    before = len(cp.events.seen)
    body = {"budget_id": budget_id, "max_budget": 25.0, "budget_duration": "1h"}
    r = await cp.client.post("/budget/update", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["max_budget"] == 25.0 and out["rpm_limit"] == 3  # absent fields stay
    assert out["budget_reset_at"] is not None and out["budget_duration"] == "1h"
    assert len(cp.events.seen) == before + 1
    event = cp.events.seen[-1]
    assert set(event.customers) == {a["user_id"], b["user_id"]}
    assert other["user_id"] not in event.customers
    for policy in event.customers.values():
        assert policy is not None and policy.budget is not None
        assert (policy.budget.max_budget, policy.budget.rpm_limit) == (25.0, 3)
    assert event.budgets[budget_id] == event.customers[a["user_id"]].budget
    r = await cp.client.get(
        "/customer/info", params={"end_user_id": a["user_id"]}, headers=cp.admin
    )
    assert r.json()["litellm_budget_table"]["max_budget"] == 25.0
    snap = (await cp.client.get("/internal/policy/snapshot", headers=cp.admin)).json()
    assert snap["customers"][b["user_id"]]["budget"]["max_budget"] == 25.0
    assert [x.action for x in await audit_for(db, budget_id)] == ["created", "updated"]

    body = {"budget_id": budget_id, "budget_duration": None, "max_budget": None}
    r = await cp.client.post("/budget/update", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    assert r.json()["budget_reset_at"] is None and r.json()["max_budget"] is None


async def test_update_republishes_teams_using_it_as_member_budget(cp: Any, db: Db) -> None:
    budget_id = (await new_budget(cp, budget_id=bid(), max_budget=2.0))["budget_id"]
    r = await cp.client.post("/team/new", json={}, headers=cp.admin)
    assert r.status_code == 200, r.text
    team_id = r.json()["team_id"]
    # Linked directly: how a team gets a member budget is the team routes' business.
    where = db.teams.team_id == team_id
    await db.teams.update({db.teams.team_member_budget_id: budget_id}).where(where).run()
    body = {"budget_id": budget_id, "max_budget": 8.0}
    r = await cp.client.post("/budget/update", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    team = cp.events.seen[-1].teams[team_id]
    assert team is not None and team.member_budget is not None
    assert (team.member_budget.budget_id, team.member_budget.max_budget) == (budget_id, 8.0)
    r = await cp.client.post("/budget/delete", json={"id": budget_id}, headers=cp.admin)
    assert r.status_code == 400 and team_id in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"budget_id": "no-such-budget", "max_budget": 1}, 404, "budget_id"),
        ({"max_budget": 1}, 400, "budget_id"),
        ({"budget_id": "no-such-budget", "tpm_limit": -3}, 422, "tpm_limit"),
        ({"budget_id": "no-such-budget", "max_budget": -3}, 400, "max_budget"),
    ],
)
async def test_update_errors(cp: Any, body: dict[str, Any], status: int, param: str) -> None:
    before = len(cp.events.seen)
    r = await cp.client.post("/budget/update", json=body, headers=cp.admin)
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param
    assert len(cp.events.seen) == before


async def test_info_list_and_settings(cp: Any) -> None:
    a = await new_budget(cp, max_budget=1.0)
    b = await new_budget(cp, tpm_limit=9)
    found = await budget_info(cp, a["budget_id"], b["budget_id"], "ghost")
    assert sorted(x["budget_id"] for x in found) == sorted([a["budget_id"], b["budget_id"]])
    r = await cp.client.post("/budget/info", json={"budgets": []}, headers=cp.admin)
    assert r.status_code == 400 and r.json()["error"]["param"] == "budgets"
    r = await cp.client.get("/budget/list", headers=cp.admin)
    assert r.status_code == 200
    listed = {x["budget_id"]: x for x in r.json()}
    assert listed[b["budget_id"]]["tpm_limit"] == 9
    r = await cp.client.get(
        "/budget/settings", params={"budget_id": b["budget_id"]}, headers=cp.admin
    )
    assert r.status_code == 200, r.text
    settings = {s["field_name"]: s for s in r.json()}
    assert settings["tpm_limit"]["field_value"] == 9
    assert settings["tpm_limit"]["field_type"] == "Integer"
    assert settings["max_budget"]["field_value"] is None
    assert set(settings) == {
        "max_budget",
        "soft_budget",
        "max_parallel_requests",
        "tpm_limit",
        "rpm_limit",
        "budget_duration",
        "model_max_budget",
    }


async def test_delete_refuses_a_linked_budget(cp: Any, db: Db) -> None:
    budget_id = (await new_budget(cp, budget_id=bid(), max_budget=3.0))["budget_id"]
    customer = await new_customer(cp, budget_id=budget_id)
    before = len(cp.events.seen)
    r = await cp.client.post("/budget/delete", json={"id": budget_id}, headers=cp.admin)
    assert r.status_code == 400 and r.json()["error"]["param"] == "id"
    assert customer["user_id"] in r.json()["error"]["message"]
    assert len(cp.events.seen) == before
    assert len(await budget_info(cp, budget_id)) == 1  # still there

    await cp.client.post(
        "/customer/update",
        json={"user_id": customer["user_id"], "budget_id": None},
        headers=cp.admin,
    )
    r = await cp.client.post("/budget/delete", json={"id": budget_id}, headers=cp.admin)
    assert r.status_code == 200, r.text
    assert r.json()["budget_id"] == budget_id and r.json()["max_budget"] == 3.0
    assert cp.events.seen[-1].budgets == {budget_id: None}
    assert await budget_info(cp, budget_id) == []
    snap = (await cp.client.get("/internal/policy/snapshot", headers=cp.admin)).json()
    assert budget_id not in snap["budgets"]
    assert [x.action for x in await audit_for(db, budget_id)] == ["created", "deleted"]


async def test_delete_unknown_or_malformed(cp: Any) -> None:
    r = await cp.client.post("/budget/delete", json={"id": "ghost"}, headers=cp.admin)
    assert r.status_code == 404 and r.json()["error"]["param"] == "id"
    r = await cp.client.post("/budget/delete", json={}, headers=cp.admin)
    assert r.status_code == 422 and r.json()["error"]["param"] == "id"


async def test_routes_need_the_admin(cp: Any) -> None:
    r = await cp.client.get("/budget/list")
    assert r.status_code == 401
    r = await cp.client.post("/budget/new", json={}, headers={"authorization": "Bearer nope"})
    assert r.status_code == 401
