"""The minimal `/team/*` routes, and keys referencing teams, on SQLite and Postgres."""

from __future__ import annotations

import secrets
from typing import Any


async def new_team(cp: Any, **body: Any) -> dict[str, Any]:
    r = await cp.client.post("/team/new", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_new_team_generates_an_id_and_announces_it(cp: Any) -> None:
    team = await new_team(cp, team_alias="A-team", models=["gpt-4o-mini"])
    assert team["team_id"] and team["team_alias"] == "A-team"
    assert team["models"] == ["gpt-4o-mini"] and team["blocked"] is False
    event = cp.events.seen[-1]
    assert event.teams[team["team_id"]].models == ["gpt-4o-mini"]  # type: ignore[union-attr]


async def test_duplicate_team_id_is_400(cp: Any) -> None:
    team_id = f"t-{secrets.token_hex(3)}"
    await new_team(cp, team_id=team_id)
    r = await cp.client.post("/team/new", json={"team_id": team_id}, headers=cp.admin)
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "team_id"


async def test_info_lists_the_team_and_its_keys(cp: Any) -> None:
    team = await new_team(cp)
    r = await cp.client.post("/key/generate", json={"team_id": team["team_id"]}, headers=cp.admin)
    assert r.status_code == 200
    token = r.json()["token"]
    r = await cp.client.get("/team/info", params={"team_id": team["team_id"]}, headers=cp.admin)
    assert r.status_code == 200
    body = r.json()
    assert body["team_id"] == team["team_id"]
    assert body["team_info"]["team_id"] == team["team_id"]
    assert [k["token"] for k in body["keys"]] == [token]


async def test_info_of_unknown_team_is_404(cp: Any) -> None:
    r = await cp.client.get("/team/info", params={"team_id": "nope"}, headers=cp.admin)
    assert r.status_code == 404
    r = await cp.client.get("/team/info", headers=cp.admin)
    assert r.status_code == 422


async def test_list_and_block(cp: Any) -> None:
    team = await new_team(cp)
    r = await cp.client.get("/team/list", headers=cp.admin)
    assert team["team_id"] in [t["team_id"] for t in r.json()]
    r = await cp.client.post("/team/block", json={"team_id": team["team_id"]}, headers=cp.admin)
    assert r.status_code == 200 and r.json()["blocked"] is True
    assert cp.events.seen[-1].teams[team["team_id"]].blocked is True  # type: ignore[union-attr]
    r = await cp.client.post("/team/unblock", json={"team_id": team["team_id"]}, headers=cp.admin)
    assert r.json()["blocked"] is False
    r = await cp.client.post("/team/block", json={"team_id": "nope"}, headers=cp.admin)
    assert r.status_code == 404


async def test_snapshot_holds_every_key_and_team_at_the_last_version(cp: Any) -> None:
    team = await new_team(cp, models=["m"], blocked=True)
    r = await cp.client.post(
        "/key/generate", json={"team_id": team["team_id"], "models": ["m"]}, headers=cp.admin
    )
    token = r.json()["token"]
    r = await cp.client.get("/internal/policy/snapshot", headers=cp.admin)
    assert r.status_code == 200
    snap = r.json()
    assert snap["version"] == cp.events.seen[-1].version
    assert snap["keys"][token]["team_id"] == team["team_id"]
    assert snap["teams"][team["team_id"]]["blocked"] is True
