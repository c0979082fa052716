"""`/spend/logs` and `/global/spend/*` over HTTP on SQLite and Postgres.

Ledger and daily rows are written straight into the tables with known amounts (all
exact in binary, so SQLite's float sums are exact too), then every view's numbers,
filters, groupings and validation errors are checked against them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from tianji_common.db.engine import bound_table, close_engine, open_engine
from tianji_common.db.tables import DailySpend, SpendLog, Team

_NOW = datetime.now(UTC).replace(microsecond=0)
_D1 = _NOW.date() - timedelta(days=100)  # outside every "last 30 days" window
_D2 = _D1 + timedelta(days=1)
_D3 = _D1 + timedelta(days=2)


def at(day: date, hh: int = 0, mm: int = 0, ss: int = 0, us: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm, ss, us), UTC)


@dataclass(frozen=True)
class World:
    """What the module fixture wrote: the two keys (A known, B unknown) and its team."""

    key_a: str
    hash_a: str
    hash_b: str


def ledger_row(request_id: str, start: datetime, **values: Any) -> dict[str, Any]:
    tags = values.pop("tags", [])
    return {
        "request_id": request_id,
        "event_id": f"ev-{request_id}",
        "call_type": "acompletion",
        "request_tags": json.dumps(tags),
        "start_time": start,
        "end_time": start + timedelta(milliseconds=250),
        **values,
    }


@pytest.fixture(scope="module")
async def world(cp: Any, db_url: str) -> World:
    r = await cp.client.post(
        "/team/new", json={"team_id": "t-red", "team_alias": "Red"}, headers=cp.admin
    )
    assert r.status_code == 200, r.text
    r = await cp.client.post("/team/new", json={"team_id": "t-blue"}, headers=cp.admin)
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
            "req-1", at(_D1, 10), api_key=hash_a, user="u1", team_id="t-red", end_user="c1",
            spend=Decimal("0.5"), prompt_tokens=100, completion_tokens=50, total_tokens=150,
            tags=["t1", "t2"], **gpt,
        ),
        ledger_row(
            "req-2", at(_D1, 23, 59, 59, 500000), api_key=hash_a, user="u1", team_id="t-red",
            end_user="c1", spend=Decimal("0.25"), prompt_tokens=40, completion_tokens=20,
            total_tokens=60, **gpt,
        ),
        ledger_row(
            "req-3", at(_D2), api_key=hash_b, user="u2", end_user="c2", spend=Decimal("1"),
            prompt_tokens=200, completion_tokens=100, total_tokens=300, status="failure",
            http_status=500, **claude,
        ),
        ledger_row(
            "req-4", at(_D3, 12), api_key=hash_b, user="u2", team_id="t-blue",
            spend=Decimal("2"), prompt_tokens=10, completion_tokens=5, total_tokens=15, **claude,
        ),
        ledger_row(
            "req-5", _NOW, api_key=hash_a, user="u1", team_id="t-red", spend=Decimal("3"), **gpt
        ),
        ledger_row("req-6", _NOW, api_key=hash_b, user="u2", spend=Decimal("0.25"), **claude),
    ]  # fmt: skip
    daily = [
        (_D1, "tag", "t1", Decimal("0.75"), 2),
        (_D1, "tag", "t2", Decimal("0.5"), 1),
        (_D2, "tag", "t1", Decimal("1.5"), 3),
        (_D2, "key", "t2", Decimal("9"), 9),  # another kind: never a tag
        (_D3 + timedelta(days=5), "tag", "t2", Decimal("7"), 7),  # outside the range
    ]
    engine = await open_engine(db_url, pool=False)
    log, totals = bound_table(SpendLog, engine), bound_table(DailySpend, engine)
    await log.insert(*[log(**row) for row in rows])
    await totals.insert(
        *[
            totals(date=d, kind=k, value=v, model="gpt-4o", spend=s, requests=n)
            for d, k, v, s, n in daily
        ]
    )
    await close_engine(engine)
    return World(key_a, hash_a, hash_b)


async def get(cp: Any, path: str, status: int = 200, /, **params: Any) -> Any:
    r = await cp.client.get(path, params=params, headers=cp.admin)
    assert r.status_code == status, r.text
    return r.json()


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --- /spend/logs ---------------------------------------------------------------------------


async def test_logs_by_key_accept_the_key_or_its_hash(cp: Any, world: World) -> None:
    by_key = await get(cp, "/spend/logs", api_key=world.key_a)
    assert [row["request_id"] for row in by_key] == ["req-5", "req-2", "req-1"]
    assert await get(cp, "/spend/logs", api_key=world.hash_a) == by_key
    first = by_key[2]
    assert first["api_key"] == world.hash_a
    assert first["spend"] == 0.5
    assert (first["prompt_tokens"], first["completion_tokens"], first["total_tokens"]) == (
        100,
        50,
        150,
    )
    assert first["startTime"] == iso(at(_D1, 10))
    assert first["endTime"] == iso(at(_D1, 10) + timedelta(milliseconds=250))
    assert first["request_duration_ms"] == 250
    assert first["request_tags"] == ["t1", "t2"]
    assert (first["model"], first["model_group"], first["team_id"]) == (
        "openai/gpt-4o",
        "gpt-4o",
        "t-red",
    )
    assert first["user"] == "u1" and first["end_user"] == "c1"


async def test_logs_by_request_and_user(cp: Any, world: World) -> None:
    [row] = await get(cp, "/spend/logs", request_id="req-3")
    assert row["status"] == "failure" and row["spend"] == 1.0 and row["api_key"] == world.hash_b
    assert row["metadata"]["error_information"] == {"error_code": "500"}
    by_user = await get(cp, "/spend/logs", user_id="u2")
    assert [r["request_id"] for r in by_user] == ["req-6", "req-4", "req-3"]
    assert await get(cp, "/spend/logs", request_id="nope") == []
    both = await get(cp, "/spend/logs", user_id="u2", api_key=world.hash_a)
    assert both == []  # filters combine


async def test_logs_with_a_range_are_summarised_per_day(cp: Any, world: World) -> None:
    end = _D3 + timedelta(days=2)
    days = await get(cp, "/spend/logs", start_date=_D1.isoformat(), end_date=end.isoformat())
    assert [d["startTime"] for d in days] == [
        (_D1 + timedelta(days=n)).isoformat() for n in range(5)
    ]
    d1, d2, d3, zero, _ = days
    # 23:59:59.5 stays on its day; 00:00:00 the next day starts a new one.
    assert d1["spend"] == 0.75 and d1[world.hash_a] == 0.75
    assert d1["users"] == {"u1": 0.75} and d1["models"] == {"openai/gpt-4o": 0.75}
    assert d2["spend"] == 1.0 and d2["users"] == {"u2": 1.0} and d2["models"] == {"claude-3": 1.0}
    assert d3["spend"] == 2.0 and d3[world.hash_b] == 2.0
    assert zero == {"startTime": zero["startTime"], "spend": 0, "users": {}, "models": {}}


async def test_logs_range_without_summary_lists_rows(cp: Any, world: World) -> None:
    rows = await get(
        cp, "/spend/logs", start_date=_D1.isoformat(), end_date=_D1.isoformat(), summarize="false"
    )
    assert [r["request_id"] for r in rows] == ["req-2", "req-1"]
    narrowed = await get(
        cp,
        "/spend/logs",
        start_date=_D1.isoformat(),
        end_date=_D3.isoformat(),
        user_id="u2",
        summarize="false",
    )
    assert [r["request_id"] for r in narrowed] == ["req-4", "req-3"]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"start_date": "2026-13-01", "end_date": "2026-01-02"}, "start_date"),
        ({"start_date": "2026-01-01", "end_date": "yesterday"}, "end_date"),
        ({"start_date": "2026-1-1"}, "start_date"),
        ({"start_date": "2026-01-05", "end_date": "2026-01-01"}, "end_date"),
    ],
)
async def test_logs_reject_bad_dates_naming_the_field(
    cp: Any, params: dict[str, str], param: str
) -> None:
    body = await get(cp, "/spend/logs", 400, **params)
    assert body["error"]["param"] == param


async def test_spend_views_need_credentials(cp: Any) -> None:
    r = await cp.client.get("/spend/logs")
    assert r.status_code == 401
    r = await cp.client.get("/global/spend/keys", headers={"authorization": "Bearer sk-nope"})
    assert r.status_code == 401


# --- /global/spend/report --------------------------------------------------------------------


def report_range() -> dict[str, str]:
    return {"start_date": _D1.isoformat(), "end_date": _D3.isoformat()}


async def test_report_by_team_groups_days_and_names_teams_by_alias(cp: Any, world: World) -> None:
    days = await get(cp, "/global/spend/report", group_by="team", **report_range())
    assert [d["group_by_day"] for d in days] == [iso(at(_D1)), iso(at(_D2)), iso(at(_D3))]
    [red] = days[0]["teams"]
    assert red == {
        "team_name": "Red",
        "total_spend": 0.75,
        "metadata": [
            {"model": "openai/gpt-4o", "api_key": world.hash_a, "spend": 0.75, "total_tokens": 210}
        ],
    }
    # No team, and a team without an alias, are both "Unassigned Team" (as LiteLLM).
    assert [t["team_name"] for t in days[1]["teams"]] == ["Unassigned Team"]
    assert days[1]["teams"][0]["total_spend"] == 1.0
    assert days[2]["teams"][0]["team_name"] == "Unassigned Team"
    default = await get(cp, "/global/spend/report", **report_range())
    assert default == days


async def test_report_by_customer(cp: Any, world: World) -> None:
    days = await get(cp, "/global/spend/report", group_by="customer", **report_range())
    named = [[(c["customer"], c["total_spend"]) for c in d["customers"]] for d in days]
    assert named == [[("c1", 0.75)], [("c2", 1.0)], [(None, 2.0)]]


async def test_report_by_key_lists_model_details(cp: Any, world: World) -> None:
    keys = await get(cp, "/global/spend/report", group_by="api_key", **report_range())
    assert [k["api_key"] for k in keys] == [world.hash_b, world.hash_a]  # by cost, highest first
    b, a = keys
    assert (b["total_cost"], b["total_input_tokens"], b["total_output_tokens"]) == (3.0, 210, 105)
    assert b["model_details"] == [
        {
            "model": "claude-3",
            "total_cost": 3.0,
            "total_input_tokens": 210,
            "total_output_tokens": 105,
        }
    ]
    assert (a["total_cost"], a["total_input_tokens"], a["total_output_tokens"]) == (0.75, 140, 70)
    only_a = await get(cp, "/global/spend/report", api_key=world.key_a, **report_range())
    assert only_a == [a]
    by_user = await get(cp, "/global/spend/report", internal_user_id="u2", **report_range())
    assert by_user == [b]


async def test_report_validation(cp: Any) -> None:
    body = await get(cp, "/global/spend/report", 400, start_date=_D1.isoformat())
    assert body["error"]["message"] == "Please provide start_date and end_date"
    assert body["error"]["param"] == "end_date"
    body = await get(cp, "/global/spend/report", 422, group_by="model", **report_range())
    assert body["error"]["param"] == "group_by"


# --- the last-30-days views and /global/spend ------------------------------------------------


async def test_top_keys_over_the_last_30_days(cp: Any, world: World) -> None:
    keys = await get(cp, "/global/spend/keys")
    assert keys == [
        {
            "api_key": world.hash_a,
            "total_spend": 3.0,
            "team_id": "t-red",
            "key_alias": "alpha",
            "key_name": keys[0]["key_name"],
            "last_refreshed_at": None,
        },
        {
            "api_key": world.hash_b,
            "total_spend": 0.25,
            "team_id": "",
            "key_alias": "",
            "key_name": world.hash_b,  # an unknown key is named by its hash
            "last_refreshed_at": None,
        },
    ]
    assert keys[0]["key_name"].startswith("sk-...")
    assert [k["api_key"] for k in await get(cp, "/global/spend/keys", limit=1)] == [world.hash_a]
    for bad in ("0", "x"):
        body = await get(cp, "/global/spend/keys", 422, limit=bad)
        assert body["error"]["param"] == "limit"


async def test_top_models_over_the_last_30_days(cp: Any, world: World) -> None:
    models = await get(cp, "/global/spend/models")
    assert models == [
        {"model": "openai/gpt-4o", "total_spend": 3.0},
        {"model": "claude-3", "total_spend": 0.25},
    ]
    assert await get(cp, "/global/spend/models", limit=1) == models[:1]


async def test_daily_spend_per_team(cp: Any, world: World) -> None:
    teams = await get(cp, "/global/spend/teams")
    assert teams == {
        "daily_spend": [{"date": _NOW.date().isoformat(), "Red": 3.0, "Unassigned": 0.25}],
        "teams": ["Red", "Unassigned"],
        "total_spend_per_team": [
            {"team_id": "Red", "total_spend": 3.0},
            {"team_id": "Unassigned", "total_spend": 0.25},
        ],
    }


async def test_global_spend_is_this_month(cp: Any, world: World) -> None:
    assert await get(cp, "/global/spend") == {"spend": 3.25, "max_budget": 0.0}


async def test_spend_per_tag_from_daily_totals(cp: Any, world: World) -> None:
    span = {"start_date": _D1.isoformat(), "end_date": _D2.isoformat()}
    tags = await get(cp, "/global/spend/tags", **span)
    assert tags == {
        "spend_per_tag": [
            {"name": "t1", "spend": 2.25, "log_count": 5},
            {"name": "t2", "spend": 0.5, "log_count": 1},
        ]
    }
    assert await get(cp, "/global/spend/tags", tags="all-tags", **span) == tags
    only = await get(cp, "/global/spend/tags", tags="t2", **span)
    assert only == {"spend_per_tag": [{"name": "t2", "spend": 0.5, "log_count": 1}]}
    body = await get(cp, "/global/spend/tags", 400, end_date=_D2.isoformat())
    assert body["error"]["param"] == "start_date"


# --- /spend/logs/v2 ---------------------------------------------------------------------------


def v2_range(start: str = "00:00:00", end: str = "12:00:00") -> dict[str, str]:
    return {"start_date": f"{_D1} {start}", "end_date": f"{_D3} {end}"}


def ids(page: dict[str, Any]) -> list[str]:
    return [row["request_id"] for row in page["data"]]


async def test_logs_v2_pages_newest_first(cp: Any, world: World) -> None:
    page = await get(cp, "/spend/logs/v2", **v2_range())
    assert ids(page) == ["req-4", "req-3", "req-2", "req-1"]  # the end second is included
    assert (page["total"], page["page"], page["page_size"], page["total_pages"]) == (4, 1, 50, 1)
    second = await get(cp, "/spend/logs/v2", page=2, page_size=3, **v2_range())
    assert ids(second) == ["req-1"] and second["total_pages"] == 2 and second["total"] == 4
    before_noon = await get(cp, "/spend/logs/v2", **v2_range(end="11:59:59"))
    assert ids(before_noon) == ["req-3", "req-2", "req-1"]
    whole_day = await get(
        cp, "/spend/logs/v2", start_date=_D1.isoformat(), end_date=_D1.isoformat()
    )
    assert ids(whole_day) == ["req-2", "req-1"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"team_id": "t-red"}, ["req-2", "req-1"]),
        ({"min_spend": "1"}, ["req-4", "req-3"]),
        ({"max_spend": "0.5"}, ["req-2", "req-1"]),
        ({"min_spend": "0.3", "max_spend": "1.5"}, ["req-3", "req-1"]),
        ({"status_filter": "failure"}, ["req-3"]),
        ({"key_alias": "alp"}, ["req-2", "req-1"]),
        ({"key_alias": "zzz"}, []),
        ({"end_user": "c2"}, ["req-3"]),
        ({"model": "claude-3"}, ["req-4", "req-3"]),
        ({"user_id": "u1"}, ["req-2", "req-1"]),
        ({"request_id": "req-4"}, ["req-4"]),
    ],
)
async def test_logs_v2_filters(
    cp: Any, world: World, params: dict[str, str], expected: list[str]
) -> None:
    assert ids(await get(cp, "/spend/logs/v2", **v2_range(), **params)) == expected


async def test_logs_v2_filters_by_key(cp: Any, world: World) -> None:
    page = await get(cp, "/spend/logs/v2", api_key=world.key_a, **v2_range())
    assert ids(page) == ["req-2", "req-1"]


@pytest.mark.parametrize(
    ("params", "status", "param"),
    [
        ({"start_date": f"{_D1} 00:00:00"}, 400, "end_date"),
        ({"end_date": f"{_D1} 00:00:00"}, 400, "start_date"),
        ({**v2_range(), "start_date": f"{_D1}T00:00:00"}, 400, "start_date"),
        ({**v2_range(), "page_size": "101"}, 422, "page_size"),
        ({**v2_range(), "min_spend": "lots"}, 422, "min_spend"),
    ],
)
async def test_logs_v2_validation(cp: Any, params: dict[str, str], status: int, param: str) -> None:
    body = await get(cp, "/spend/logs/v2", status, **params)
    assert body["error"]["param"] == param


# --- /global/spend/report for a team and customer, /global/spend/end_users ---------------------


async def test_report_for_a_team_and_customer(cp: Any, world: World) -> None:
    days = await get(
        cp, "/global/spend/report", team_id="t-red", customer_id="c1", **report_range()
    )
    assert days == [
        {
            "group_by_day": iso(at(_D1)),
            "teams_customers": [
                {
                    "team_name": "Red",
                    "customer": "c1",
                    "total_spend": 0.75,
                    "metadata": [
                        {
                            "model": "openai/gpt-4o",
                            "api_key": world.hash_a,
                            "spend": 0.75,
                            "total_tokens": 210,
                        }
                    ],
                }
            ],
        }
    ]


async def test_top_end_users(cp: Any, world: World) -> None:
    r = await cp.client.post("/global/spend/end_users", headers=cp.admin)
    assert r.status_code == 200, r.text
    assert r.json() == [{"end_user": None, "total_count": 2, "total_spend": 3.25}]
    window = {"startTime": f"{_D1}T00:00:00", "endTime": f"{_D3 + timedelta(days=1)}T00:00:00"}
    r = await cp.client.post("/global/spend/end_users", json=window, headers=cp.admin)
    assert r.json() == [
        {"end_user": None, "total_count": 1, "total_spend": 2.0},
        {"end_user": "c2", "total_count": 1, "total_spend": 1.0},
        {"end_user": "c1", "total_count": 2, "total_spend": 0.75},
    ]
    one_key = {**window, "api_key": world.key_a}
    r = await cp.client.post("/global/spend/end_users", json=one_key, headers=cp.admin)
    assert r.json() == [{"end_user": "c1", "total_count": 2, "total_spend": 0.75}]
    r = await cp.client.post(
        "/global/spend/end_users", json={"startTime": "soon"}, headers=cp.admin
    )
    assert r.status_code == 422 and r.json()["error"]["param"] == "startTime"


async def test_an_internal_user_sees_only_their_own_spend(cp: Any, world: World) -> None:
    r = await cp.client.post(
        "/user/new", json={"user_id": "u2", "user_role": "internal_user"}, headers=cp.admin
    )
    assert r.status_code == 200, r.text
    r = await cp.client.post("/key/generate", json={"user_id": "u2"}, headers=cp.admin)
    assert r.status_code == 200, r.text
    own = {"authorization": f"Bearer {r.json()['key']}"}
    r = await cp.client.get("/spend/logs", params={"user_id": "u2"}, headers=own)
    assert r.status_code == 200, r.text
    assert [row["request_id"] for row in r.json()] == ["req-6", "req-4", "req-3"]
    r = await cp.client.get("/spend/logs", params={"api_key": world.hash_a}, headers=own)
    assert r.status_code in (200, 403), r.text
    assert r.status_code == 403 or r.json() == []  # never another user's rows
    r = await cp.client.get("/global/spend/keys", headers=own)
    assert r.status_code == 403


async def test_tag_and_end_user_listings(cp: Any, world: World) -> None:
    assert await get(cp, "/spend/tags") == [
        {"individual_request_tag": "t2", "log_count": 8, "total_spend": 7.5},
        {"individual_request_tag": "t1", "log_count": 5, "total_spend": 2.25},
    ]
    assert await get(cp, "/global/spend/all_tag_names") == {"tag_names": ["t1", "t2"]}
    assert await get(cp, "/global/all_end_users") == {"end_users": [None, "c1", "c2"]}


async def test_global_spend_reset_zeroes_keys_and_teams_and_publishes_them(
    cp: Any, db_url: str
) -> None:
    team = await cp.client.post("/team/new", json={"team_alias": "reset-me"}, headers=cp.admin)
    assert team.status_code == 200, team.text
    team_id = team.json()["team_id"]
    made = await cp.client.post("/key/generate", json={"team_id": team_id}, headers=cp.admin)
    key = made.json()["key"]
    r = await cp.client.post("/key/update", json={"key": key, "spend": 4.5}, headers=cp.admin)
    assert r.status_code == 200, r.text
    engine = await open_engine(db_url, pool=False)  # team spend has no API: the worker's
    try:
        teams = bound_table(Team, engine)
        await teams.update({teams.spend: Decimal("4.5")}).where(teams.team_id == team_id).run()
    finally:
        await close_engine(engine)
    spent = await cp.client.get("/team/info", params={"team_id": team_id}, headers=cp.admin)
    assert spent.json()["team_info"]["spend"] == 4.5
    before = len(cp.events.seen)

    r = await cp.client.post("/global/spend/reset", headers=cp.admin)

    assert r.status_code == 200, r.text
    assert r.json() == {
        "message": "Spend for all API Keys and Teams reset successfully",
        "status": "success",
    }
    info = await cp.client.get("/key/info", params={"key": key}, headers=cp.admin)
    assert info.json()["info"]["spend"] == 0.0
    team_info = await cp.client.get("/team/info", params={"team_id": team_id}, headers=cp.admin)
    assert team_info.json()["team_info"]["spend"] == 0.0
    (event,) = cp.events.seen[before:]
    assert event.teams[team_id] is not None and event.teams[team_id].spend == 0.0
    assert any(policy is not None and policy.spend == 0.0 for policy in event.keys.values())
