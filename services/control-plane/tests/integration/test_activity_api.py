"""The daily activity routes over HTTP on SQLite and Postgres.

Ledger rows with known amounts go straight into `tianji_spend_log`; each route's
`SpendAnalyticsPaginatedResponse` is checked: per-day metrics, the breakdowns (models,
model groups, providers, api keys, entities with their metadata), the entity and key
and model filters, pagination, and validation errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from tianji_common.db.engine import bound_table, close_engine, open_engine
from tianji_common.db.tables import SpendLog

_D1 = datetime.now(UTC).date() - timedelta(days=50)
_D2 = _D1 + timedelta(days=1)
_D3 = _D1 + timedelta(days=2)
_RANGE = {"start_date": _D1.isoformat(), "end_date": _D3.isoformat()}


def at(day: date, hh: int = 0, mm: int = 0, ss: int = 0, us: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm, ss, us), UTC)


@dataclass(frozen=True)
class World:
    key_a: str
    hash_a: str
    hash_b: str
    org: str


def ledger_row(request_id: str, start: datetime, **values: Any) -> dict[str, Any]:
    tags = values.pop("tags", [])
    return {
        "request_id": request_id,
        "event_id": f"ev-{request_id}",
        "request_tags": json.dumps(tags),
        "start_time": start,
        "end_time": start + timedelta(seconds=1),
        **values,
    }


@pytest.fixture(scope="module")
async def world(cp: Any, db_url: str) -> World:
    r = await cp.client.post(
        "/organization/new", json={"organization_alias": "Org One"}, headers=cp.admin
    )
    assert r.status_code == 200, r.text
    org = r.json()["organization_id"]
    r = await cp.client.post(
        "/team/new", json={"team_id": "t-red", "team_alias": "Red"}, headers=cp.admin
    )
    assert r.status_code == 200, r.text
    r = await cp.client.post(
        "/key/generate", json={"key_alias": "alpha", "team_id": "t-red"}, headers=cp.admin
    )
    assert r.status_code == 200, r.text
    key_a, hash_a, hash_b = r.json()["key"], r.json()["token_id"], "b" * 64
    gpt = {"model": "openai/gpt-4o", "model_group": "gpt-4o"}
    claude = {"model": "claude-3", "model_group": "claude"}
    rows = [
        ledger_row(
            "req-1", at(_D1, 10), api_key=hash_a, user="u1", team_id="t-red",
            organization_id=org, end_user="c1", spend=Decimal("0.5"), prompt_tokens=100,
            completion_tokens=50, total_tokens=150, cached_tokens=10, tags=["t1", "t2"], **gpt,
        ),
        ledger_row(
            "req-2", at(_D1, 23, 59, 59, 500000), api_key=hash_a, user="u1", team_id="t-red",
            organization_id=org, end_user="c1", spend=Decimal("0.25"), prompt_tokens=40,
            completion_tokens=20, total_tokens=60, tags=["t1"], **gpt,
        ),
        ledger_row(
            "req-3", at(_D2), api_key=hash_b, user="u2", end_user="c2", spend=Decimal("1"),
            prompt_tokens=200, completion_tokens=100, total_tokens=300, status="failure",
            http_status=500, **claude,
        ),
        ledger_row(
            "req-4", at(_D3, 12), api_key=hash_b, user="u2", team_id="t-blue",
            spend=Decimal("2"), prompt_tokens=10, completion_tokens=5, total_tokens=15,
            tags=["t2"], **claude,
        ),
        ledger_row(  # the day after the range
            "req-5", at(_D3 + timedelta(days=1)), api_key=hash_a, user="u1", team_id="t-red",
            spend=Decimal("8"), **gpt,
        ),
    ]  # fmt: skip
    engine = await open_engine(db_url, pool=False)
    log = bound_table(SpendLog, engine)
    await log.insert(*[log(**row) for row in rows])
    await close_engine(engine)
    return World(key_a, hash_a, hash_b, org)


async def get(cp: Any, path: str, status: int = 200, /, **params: Any) -> Any:
    r = await cp.client.get(path, params=params, headers=cp.admin)
    assert r.status_code == status, r.text
    return r.json()


def metrics(
    spend: float,
    prompt: int,
    completion: int,
    requests: int,
    *,
    failed: int = 0,
    cached: int = 0,
) -> dict[str, Any]:
    return {
        "spend": spend,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": 0,
        "total_tokens": prompt + completion,
        "successful_requests": requests - failed,
        "failed_requests": failed,
        "api_requests": requests,
    }


def days(body: dict[str, Any]) -> list[str]:
    return [day["date"] for day in body["results"]]


async def test_team_activity_days_metrics_and_breakdowns(cp: Any, world: World) -> None:
    body = await get(cp, "/team/daily/activity", **_RANGE)
    assert days(body) == [_D3.isoformat(), _D2.isoformat(), _D1.isoformat()]
    d3, d2, d1 = body["results"]
    d1_metrics = metrics(0.75, 140, 70, 2, cached=10)
    assert d1["metrics"] == d1_metrics
    assert d2["metrics"] == metrics(1.0, 200, 100, 1, failed=1)
    key_view = {"metrics": d1_metrics, "metadata": {"key_alias": "alpha", "team_id": "t-red"}}
    red = d1["breakdown"]["entities"]["t-red"]
    assert red == {
        "metrics": d1_metrics,
        "metadata": {"team_alias": "Red"},
        "api_key_breakdown": {world.hash_a: key_view},
    }
    assert d1["breakdown"]["api_keys"] == {world.hash_a: key_view}
    assert list(d1["breakdown"]["models"]) == ["openai/gpt-4o"]
    assert list(d1["breakdown"]["model_groups"]) == ["gpt-4o"]
    assert list(d1["breakdown"]["providers"]) == ["openai"]
    assert d1["breakdown"]["mcp_servers"] == {} and d1["breakdown"]["endpoints"] == {}
    # No team: "Unassigned"; an unknown key has no alias.
    assert list(d2["breakdown"]["entities"]) == ["Unassigned"]
    assert d2["breakdown"]["api_keys"][world.hash_b]["metadata"] == {
        "key_alias": None,
        "team_id": None,
    }
    assert list(d2["breakdown"]["providers"]) == ["unknown"]
    assert d3["breakdown"]["entities"]["t-blue"]["metadata"] == {}
    assert body["metadata"] == {
        "total_spend": 3.75,
        "total_prompt_tokens": 350,
        "total_completion_tokens": 175,
        "total_tokens": 525,
        "total_api_requests": 4,
        "total_successful_requests": 3,
        "total_failed_requests": 1,
        "total_cache_read_input_tokens": 10,
        "total_cache_creation_input_tokens": 0,
        "page": 1,
        "total_pages": 1,
        "has_more": False,
    }


async def test_team_filters(cp: Any, world: World) -> None:
    only_red = await get(cp, "/team/daily/activity", team_ids="t-red", **_RANGE)
    assert days(only_red) == [_D1.isoformat()]
    several = await get(cp, "/team/daily/activity", team_ids="t-red, t-blue", **_RANGE)
    assert days(several) == [_D3.isoformat(), _D1.isoformat()]
    excluded = await get(cp, "/team/daily/activity", exclude_team_ids="t-red", **_RANGE)
    assert days(excluded) == [_D3.isoformat(), _D2.isoformat()]
    by_key = await get(cp, "/team/daily/activity", api_key=world.key_a, **_RANGE)
    assert days(by_key) == [_D1.isoformat()]
    assert await get(cp, "/team/daily/activity", api_key=world.hash_a, **_RANGE) == by_key
    by_group = await get(cp, "/team/daily/activity", model="claude", **_RANGE)
    by_model = await get(cp, "/team/daily/activity", model="claude-3", **_RANGE)
    assert days(by_group) == days(by_model) == [_D3.isoformat(), _D2.isoformat()]


async def test_pages_are_groups_of_day_entity_key_and_model(cp: Any, world: World) -> None:
    page = await get(cp, "/team/daily/activity", page=2, page_size=1, **_RANGE)
    assert days(page) == [_D2.isoformat()]
    assert page["metadata"]["total_spend"] == 1.0  # the page's totals, as LiteLLM
    assert page["metadata"]["page"] == 2
    assert page["metadata"]["total_pages"] == 3
    assert page["metadata"]["has_more"] is True
    last = await get(cp, "/team/daily/activity", page=3, page_size=1, **_RANGE)
    assert last["metadata"]["has_more"] is False
    beyond = await get(cp, "/team/daily/activity", page=4, page_size=1, **_RANGE)
    assert beyond["results"] == [] and beyond["metadata"]["total_spend"] == 0.0


async def test_user_activity(cp: Any, world: World) -> None:
    body = await get(cp, "/user/daily/activity", user_id="u2", **_RANGE)
    assert days(body) == [_D3.isoformat(), _D2.isoformat()]
    assert body["metadata"]["total_spend"] == 3.0
    everyone = await get(cp, "/user/daily/activity", **_RANGE)
    assert list(everyone["results"][2]["breakdown"]["entities"]) == ["u1"]
    assert everyone["metadata"]["total_api_requests"] == 4


async def test_organization_activity_names_the_org(cp: Any, world: World) -> None:
    body = await get(cp, "/organization/daily/activity", organization_ids=world.org, **_RANGE)
    assert days(body) == [_D1.isoformat()]
    org = body["results"][0]["breakdown"]["entities"][world.org]
    assert org["metadata"] == {"organization_alias": "Org One"}
    assert org["metrics"]["spend"] == 0.75


@pytest.mark.parametrize("path", ["/customer/daily/activity", "/end_user/daily/activity"])
async def test_customer_activity(cp: Any, world: World, path: str) -> None:
    body = await get(cp, path, end_user_ids="c1,c2", **_RANGE)
    assert days(body) == [_D2.isoformat(), _D1.isoformat()]
    spend = {
        name: entity["metrics"]["spend"]
        for day in body["results"]
        for name, entity in day["breakdown"]["entities"].items()
    }
    assert spend == {"c1": 0.75, "c2": 1.0}


async def test_tag_activity_counts_a_request_under_each_of_its_tags(cp: Any, world: World) -> None:
    body = await get(cp, "/tag/daily/activity", **_RANGE)
    assert days(body) == [_D3.isoformat(), _D1.isoformat()]  # req-3 has no tags
    d3, d1 = body["results"]
    entities = d1["breakdown"]["entities"]
    assert {tag: e["metrics"]["spend"] for tag, e in entities.items()} == {"t1": 0.75, "t2": 0.5}
    assert entities["t1"]["metrics"]["api_requests"] == 2
    assert d3["breakdown"]["entities"]["t2"]["metrics"]["spend"] == 2.0
    only = await get(cp, "/tag/daily/activity", tags="t2", **_RANGE)
    assert only["metadata"]["total_spend"] == 2.5


@pytest.mark.parametrize(
    ("path", "params", "status", "param"),
    [
        ("/team/daily/activity", {"end_date": "2026-01-01"}, 400, "start_date"),
        ("/team/daily/activity", {"start_date": "2026-01-01"}, 400, "end_date"),
        ("/user/daily/activity", {**_RANGE, "start_date": "01/02/2026"}, 400, "start_date"),
        ("/tag/daily/activity", {**_RANGE, "page": "0"}, 422, "page"),
        ("/user/daily/activity", {**_RANGE, "page_size": "1001"}, 422, "page_size"),
        ("/organization/daily/activity", {**_RANGE, "page_size": "x"}, 422, "page_size"),
    ],
)
async def test_validation_names_the_field(
    cp: Any, path: str, params: dict[str, str], status: int, param: str
) -> None:
    body = await get(cp, path, status, **params)
    assert body["error"]["param"] == param


async def test_user_activity_aggregated_is_one_page(cp: Any, world: World) -> None:
    body = await get(cp, "/user/daily/activity/aggregated", page_size=1, page=3, **_RANGE)
    assert days(body) == [_D3.isoformat(), _D2.isoformat(), _D1.isoformat()]
    meta = body["metadata"]
    assert (meta["page"], meta["total_pages"], meta["has_more"]) == (1, 1, False)
    assert meta["total_spend"] == 3.75
    paged = await get(cp, "/user/daily/activity", page_size=1000, **_RANGE)
    assert paged["results"] == body["results"]


def label(day: date) -> str:
    return day.strftime("%b %d")


async def test_global_activity_charts(cp: Any, world: World) -> None:
    body = await get(cp, "/global/activity", **_RANGE)
    assert body == {
        "daily_data": [
            {"date": label(_D1), "api_requests": 2, "total_tokens": 210},
            {"date": label(_D2), "api_requests": 1, "total_tokens": 300},
            {"date": label(_D3), "api_requests": 1, "total_tokens": 15},
        ],
        "sum_api_requests": 4,
        "sum_total_tokens": 525,
    }
    per_model = {m["model"]: m for m in await get(cp, "/global/activity/model", **_RANGE)}
    assert set(per_model) == {"gpt-4o", "claude"}
    assert per_model["claude"]["daily_data"] == [
        {"date": label(_D2), "api_requests": 1, "total_tokens": 300},
        {"date": label(_D3), "api_requests": 1, "total_tokens": 15},
    ]
    assert (per_model["gpt-4o"]["sum_api_requests"], per_model["gpt-4o"]["sum_total_tokens"]) == (
        2,
        210,
    )
    body = await get(cp, "/global/activity", 400, start_date=_D1.isoformat())
    assert body["error"]["message"] == "Please provide start_date and end_date"
