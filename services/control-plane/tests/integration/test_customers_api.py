"""`/customer/*` and `/end_user/*` over HTTP on SQLite and Postgres: bodies, codes, events."""

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


def cid() -> str:
    return f"cust-{secrets.token_hex(4)}"


async def new_customer(cp: Any, prefix: str = "/customer", **body: Any) -> dict[str, Any]:
    body.setdefault("user_id", cid())
    r = await cp.client.post(f"{prefix}/new", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def new_budget(cp: Any, **body: Any) -> dict[str, Any]:
    r = await cp.client.post("/budget/new", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def info(cp: Any, user_id: str, prefix: str = "/customer") -> Any:
    return await cp.client.get(f"{prefix}/info", params={"end_user_id": user_id}, headers=cp.admin)


async def actions(db: Db, object_id: str) -> list[str]:
    return [a.action for a in await audit_for(db, object_id)]


async def test_inline_limits_create_a_linked_budget(cp: Any, db: Db) -> None:
    before = len(cp.events.seen)
    out = await new_customer(
        cp,
        alias="Acme Corp",
        allowed_model_region="eu",
        default_model="gpt-4o",
        max_budget=10.0,
        tpm_limit=1000,
        rpm_limit=20,
        budget_duration="30d",
        model_max_budget={"gpt-4o": {"max_budget": 2.5, "budget_duration": "1d"}},
    )
    user_id, budget_id = out["user_id"], out["budget_id"]
    assert out["alias"] == "Acme Corp" and out["allowed_model_region"] == "eu"
    assert out["default_model"] == "gpt-4o" and out["blocked"] is False and out["spend"] == 0
    assert budget_id
    table = out["litellm_budget_table"]
    assert table["budget_id"] == budget_id
    assert (table["max_budget"], table["tpm_limit"], table["rpm_limit"]) == (10.0, 1000, 20)
    assert table["budget_duration"] == "30d" and table["budget_reset_at"] is not None
    assert table["created_by"] == "default_user_id"
    assert "max_budget" not in out  # limits live on the budget row, as in LiteLLM
    assert await actions(db, user_id) == ["created"]
    assert await actions(db, budget_id) == ["created"]
    assert len(cp.events.seen) == before + 1
    event = cp.events.seen[-1]
    policy = event.customers[user_id]
    assert policy is not None and policy.allowed_model_region == "eu"
    assert policy.budget is not None and policy.budget.budget_id == budget_id
    assert (policy.budget.max_budget, policy.budget.tpm_limit) == (10.0, 1000)
    assert policy.budget.model_max_budget == {"gpt-4o": 2.5}
    assert event.budgets[budget_id] == policy.budget

    snap = (await cp.client.get("/internal/policy/snapshot", headers=cp.admin)).json()
    assert snap["customers"][user_id]["budget"]["rpm_limit"] == 20
    assert snap["customers"][user_id]["alias"] == "Acme Corp"
    assert snap["budgets"][budget_id]["max_budget"] == 10.0
    assert snap["version"] == event.version


async def test_end_user_alias_links_an_existing_budget(cp: Any) -> None:
    budget = await new_budget(cp, budget_id=f"tier-{secrets.token_hex(3)}", max_budget=5.0)
    out = await new_customer(cp, prefix="/end_user", budget_id=budget["budget_id"])
    assert out["budget_id"] == budget["budget_id"]
    assert out["litellm_budget_table"]["max_budget"] == 5.0
    r = await info(cp, out["user_id"], prefix="/end_user")
    assert r.status_code == 200, r.text
    shown = r.json()
    assert shown["user_id"] == out["user_id"]
    assert shown["litellm_budget_table"]["budget_id"] == budget["budget_id"]
    assert "alias" not in shown  # info drops nulls (LiteLLM's exclude_none)
    policy = cp.events.seen[-1].customers[out["user_id"]]
    assert policy is not None and policy.budget is not None and policy.budget.max_budget == 5.0


async def test_customer_without_limits_links_no_budget(cp: Any) -> None:
    out = await new_customer(cp, blocked=True)
    assert out["budget_id"] is None and out["litellm_budget_table"] is None
    assert out["blocked"] is True
    policy = cp.events.seen[-1].customers[out["user_id"]]
    assert policy is not None and policy.blocked and policy.budget is None


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({}, 422, "user_id"),
        ({"user_id": " "}, 400, "user_id"),
        ({"allowed_model_region": "mars"}, 422, "allowed_model_region"),
        ({"max_budget": 1.0, "budget_id": "b"}, 422, "budget_id"),
        ({"max_budget": -1.0}, 400, "max_budget"),
        ({"budget_duration": "forever"}, 400, "budget_duration"),
        ({"tpm_limit": -5}, 422, "tpm_limit"),
        ({"budget_id": "no-such-budget"}, 400, "budget_id"),
        ({"model_max_budget": {"gpt-4o": "lots"}}, 422, "model_max_budget"),
        ({"blocked": "yes"}, 422, "blocked"),
    ],
)
async def test_new_validation_names_the_field(
    cp: Any, body: dict[str, Any], status: int, param: str
) -> None:
    user_id = cid()
    if body:
        body = {"user_id": user_id, **body}
    before = len(cp.events.seen)
    r = await cp.client.post("/customer/new", json=body, headers=cp.admin)
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param
    assert len(cp.events.seen) == before
    assert (await info(cp, user_id)).status_code == 404  # nothing half-written


async def test_duplicate_user_id_is_400_and_keeps_the_first(cp: Any) -> None:
    out = await new_customer(cp, alias="first")
    r = await cp.client.post(
        "/customer/new", json={"user_id": out["user_id"], "max_budget": 3.0}, headers=cp.admin
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "user_id"
    assert "Customer already exists" in r.json()["error"]["message"]
    assert (await info(cp, out["user_id"])).json()["alias"] == "first"


async def test_info_of_unknown_or_missing_id(cp: Any) -> None:
    r = await info(cp, "nobody-here")
    assert r.status_code == 404 and r.json()["error"]["param"] == "end_user_id"
    assert r.json()["error"]["message"] == "End User Id=nobody-here does not exist in db"
    r = await cp.client.get("/customer/info", headers=cp.admin)
    assert r.status_code == 422 and r.json()["error"]["param"] == "end_user_id"


async def test_update_changes_present_fields_and_the_linked_budget(cp: Any, db: Db) -> None:
    out = await new_customer(cp, alias="a", max_budget=10.0, rpm_limit=5)
    user_id, budget_id = out["user_id"], out["budget_id"]
    before = len(cp.events.seen)
    body = {"user_id": user_id, "alias": "b", "max_budget": 20.0, "allowed_model_region": "us"}
    r = await cp.client.post("/end_user/update", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["alias"] == "b" and got["allowed_model_region"] == "us"
    assert got["budget_id"] == budget_id  # the linked budget changed, no new one
    assert got["litellm_budget_table"]["max_budget"] == 20.0
    assert got["litellm_budget_table"]["rpm_limit"] == 5
    assert len(cp.events.seen) == before + 1
    event = cp.events.seen[-1]
    policy = event.customers[user_id]
    assert policy is not None and policy.budget is not None
    assert (policy.budget.max_budget, policy.budget.rpm_limit) == (20.0, 5)
    assert event.budgets[budget_id] is not None
    assert await actions(db, user_id) == ["created", "updated"]
    assert await actions(db, budget_id) == ["created", "updated"]


async def test_update_unblocks_and_creates_a_budget_when_none_is_linked(cp: Any) -> None:
    out = await new_customer(cp, blocked=True)
    body = {"user_id": out["user_id"], "blocked": False, "tpm_limit": 77}
    r = await cp.client.post("/customer/update", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["blocked"] is False and got["budget_id"]
    assert got["litellm_budget_table"]["tpm_limit"] == 77
    policy = cp.events.seen[-1].customers[out["user_id"]]
    assert policy is not None and not policy.blocked
    assert policy.budget is not None and policy.budget.tpm_limit == 77


async def test_update_relinks_and_unlinks(cp: Any) -> None:
    gold = await new_budget(cp, max_budget=100.0)
    out = await new_customer(cp, max_budget=1.0)
    body = {"user_id": out["user_id"], "budget_id": gold["budget_id"]}
    r = await cp.client.post("/customer/update", json=body, headers=cp.admin)
    assert r.status_code == 200 and r.json()["litellm_budget_table"]["max_budget"] == 100.0
    r = await cp.client.post(
        "/customer/update", json={"user_id": out["user_id"], "budget_id": None}, headers=cp.admin
    )
    assert r.status_code == 200 and r.json()["litellm_budget_table"] is None
    policy = cp.events.seen[-1].customers[out["user_id"]]
    assert policy is not None and policy.budget is None


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"user_id": "nobody", "alias": "x"}, 404, "user_id"),
        ({"alias": "x"}, 422, "user_id"),
        ({"user_id": "nobody", "allowed_model_region": "apac"}, 422, "allowed_model_region"),
    ],
)
async def test_update_errors(cp: Any, body: dict[str, Any], status: int, param: str) -> None:
    before = len(cp.events.seen)
    r = await cp.client.post("/customer/update", json=body, headers=cp.admin)
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param
    assert len(cp.events.seen) == before


async def test_update_to_an_unknown_budget_changes_nothing(cp: Any) -> None:
    out = await new_customer(cp, alias="keep")
    body = {"user_id": out["user_id"], "alias": "lost", "budget_id": "no-such-budget"}
    r = await cp.client.post("/customer/update", json=body, headers=cp.admin)
    assert r.status_code == 400 and r.json()["error"]["param"] == "budget_id"
    assert (await info(cp, out["user_id"])).json()["alias"] == "keep"


async def test_list_shows_every_customer_with_its_budget(cp: Any) -> None:
    a = await new_customer(cp, max_budget=4.0)
    b = await new_customer(cp)
    for prefix in ("/customer", "/end_user"):
        r = await cp.client.get(f"{prefix}/list", headers=cp.admin)
        assert r.status_code == 200, r.text
        by_id = {c["user_id"]: c for c in r.json()}
        assert by_id[a["user_id"]]["litellm_budget_table"]["max_budget"] == 4.0
        assert by_id[b["user_id"]]["litellm_budget_table"] is None


async def test_delete_is_all_or_nothing(cp: Any, db: Db) -> None:
    a, b = await new_customer(cp), await new_customer(cp)
    before = len(cp.events.seen)
    body = {"user_ids": [a["user_id"], "ghost"]}
    r = await cp.client.post("/customer/delete", json=body, headers=cp.admin)
    assert r.status_code == 404 and r.json()["error"]["param"] == "user_ids"
    assert "ghost" in r.json()["error"]["message"]
    assert len(cp.events.seen) == before
    assert (await info(cp, a["user_id"])).status_code == 200
    ids = [a["user_id"], b["user_id"]]
    r = await cp.client.post("/end_user/delete", json={"user_ids": ids}, headers=cp.admin)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "deleted_customers": 2,
        "message": f"Successfully deleted customers with ids: {ids!r}",
    }
    assert cp.events.seen[-1].customers == {ids[0]: None, ids[1]: None}
    assert (await info(cp, a["user_id"])).status_code == 404
    assert await actions(db, a["user_id"]) == ["created", "deleted"]
    r = await cp.client.post("/customer/delete", json={"user_ids": []}, headers=cp.admin)
    assert r.status_code == 400 and r.json()["error"]["param"] == "user_ids"


async def test_block_upserts_and_unblock_needs_known_ids(cp: Any, db: Db) -> None:
    known = await new_customer(cp, alias="k")
    fresh = cid()
    body = {"user_ids": [known["user_id"], fresh]}
    r = await cp.client.post("/customer/block", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    blocked = {c["user_id"]: c for c in r.json()["blocked_users"]}
    assert blocked[known["user_id"]]["blocked"] and blocked[known["user_id"]]["alias"] == "k"
    assert blocked[fresh]["blocked"]  # created, as LiteLLM's upsert does
    event = cp.events.seen[-1]
    assert all(p is not None and p.blocked for p in event.customers.values())
    assert set(event.customers) == {known["user_id"], fresh}
    assert await actions(db, fresh) == ["created"]

    r = await cp.client.post(
        "/end_user/unblock", json={"user_ids": [fresh, "ghost"]}, headers=cp.admin
    )
    assert r.status_code == 404 and r.json()["error"]["param"] == "user_ids"
    assert (await info(cp, fresh)).json()["blocked"] is True  # nothing half-written
    r = await cp.client.post("/customer/unblock", json={"user_ids": [fresh]}, headers=cp.admin)
    assert r.status_code == 200, r.text
    assert [c["blocked"] for c in r.json()["unblocked_users"]] == [False]
    policy = cp.events.seen[-1].customers[fresh]
    assert policy is not None and not policy.blocked
    r = await cp.client.post("/customer/block", json={}, headers=cp.admin)
    assert r.status_code == 422 and r.json()["error"]["param"] == "user_ids"


async def test_routes_need_the_admin(cp: Any) -> None:
    r = await cp.client.get("/customer/list")
    assert r.status_code == 401
    r = await cp.client.post("/end_user/new", json={"user_id": cid()})
    assert r.status_code == 401
