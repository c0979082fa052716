"""`/team/*` (but members: see test_team_members_api.py) and keys in teams, on both engines."""

from __future__ import annotations

import secrets
from typing import Any

import pytest


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


async def test_update_changes_only_the_fields_sent(cp: Any) -> None:
    team = await new_team(cp, team_alias="before", models=["a"], tpm_limit=10)
    before = len(cp.events.seen)
    body = {
        "team_id": team["team_id"],
        "max_budget": 20.0,
        "soft_budget": 15.0,
        "rpm_limit": 5,
        "budget_duration": "30d",
        "model_aliases": {"fast": "gpt-4o-mini"},
        "model_max_budget": {"gpt-4o": {"max_budget": 3}},
        "metadata": {"cost_center": "42"},
    }
    r = await cp.client.post("/team/update", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["team_id"] == team["team_id"]
    data = out["data"]
    assert data["team_alias"] == "before" and data["models"] == ["a"] and data["tpm_limit"] == 10
    assert data["max_budget"] == 20.0 and data["soft_budget"] == 15.0 and data["rpm_limit"] == 5
    assert data["budget_duration"] == "30d" and data["budget_reset_at"]
    assert data["model_aliases"] == {"fast": "gpt-4o-mini"}
    assert data["metadata"] == {"cost_center": "42"}
    [event] = cp.events.seen[before:]
    policy = event.teams[team["team_id"]]
    assert policy is not None
    assert (policy.max_budget, policy.soft_budget, policy.budget_duration) == (20.0, 15.0, "30d")
    assert policy.model_aliases == {"fast": "gpt-4o-mini"}
    assert policy.model_max_budget == {"gpt-4o": 3.0}
    # null clears; the snapshot agrees with the event.
    body = {"team_id": team["team_id"], "max_budget": None, "models": None, "blocked": True}
    r = await cp.client.post("/team/update", json=body, headers=cp.admin)
    data = r.json()["data"]
    assert data["max_budget"] is None and data["models"] == [] and data["blocked"] is True
    snap = (await cp.client.get("/internal/policy/snapshot", headers=cp.admin)).json()
    assert snap["teams"][team["team_id"]]["blocked"] is True
    assert "max_budget" not in snap["teams"][team["team_id"]]


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"max_budget": -1}, 422, "max_budget"),
        ({"tpm_limit": "many"}, 422, "tpm_limit"),
        ({"budget_duration": "soon"}, 400, "budget_duration"),
        ({"model_max_budget": {"m": "lots"}}, 400, "model_max_budget"),
        ({"organization_id": "no-such-org"}, 400, "organization_id"),
        ({"team_member_budget": -2}, 422, "team_member_budget"),
    ],
)
async def test_update_validation_names_the_field_and_writes_nothing(
    cp: Any, body: dict[str, Any], status: int, param: str
) -> None:
    team = await new_team(cp, max_budget=1.0)
    before = len(cp.events.seen)
    r = await cp.client.post(
        "/team/update", json={"team_id": team["team_id"], **body}, headers=cp.admin
    )
    assert r.status_code == status, r.text
    assert r.json()["error"]["param"] == param
    assert len(cp.events.seen) == before
    r = await cp.client.get("/team/info", params={"team_id": team["team_id"]}, headers=cp.admin)
    assert r.json()["team_info"]["max_budget"] == 1.0


async def test_update_of_unknown_team_is_404_and_team_id_required(cp: Any) -> None:
    r = await cp.client.post("/team/update", json={"team_id": "nope"}, headers=cp.admin)
    assert r.status_code == 404 and r.json()["error"]["param"] == "team_id"
    r = await cp.client.post("/team/update", json={"max_budget": 1}, headers=cp.admin)
    assert r.status_code == 422 and r.json()["error"]["param"] == "team_id"


async def test_team_member_budget_update_keeps_one_budget_row(cp: Any) -> None:
    team = await new_team(cp)
    body = {"team_id": team["team_id"], "team_member_budget": 4.0}
    first = (await cp.client.post("/team/update", json=body, headers=cp.admin)).json()["data"]
    body["team_member_budget"] = 6.0
    second = (await cp.client.post("/team/update", json=body, headers=cp.admin)).json()["data"]
    assert first["team_member_budget_id"] == second["team_member_budget_id"]
    assert second["team_member_budget"] == 6.0
    policy = cp.events.seen[-1].teams[team["team_id"]]
    assert policy is not None and policy.member_budget is not None
    assert policy.member_budget.max_budget == 6.0


async def test_model_add_and_delete(cp: Any) -> None:
    team = await new_team(cp, models=["a"])
    url = "/team/model/add"
    body = {"team_id": team["team_id"], "models": ["b", "a", "c"]}
    r = await cp.client.post(url, json=body, headers=cp.admin)
    assert r.status_code == 200 and r.json()["models"] == ["a", "b", "c"]
    assert cp.events.seen[-1].teams[team["team_id"]].models == ["a", "b", "c"]  # type: ignore[union-attr]
    body = {"team_id": team["team_id"], "models": ["a", "zzz"]}
    r = await cp.client.post("/team/model/delete", json=body, headers=cp.admin)
    assert r.status_code == 200 and r.json()["models"] == ["b", "c"]
    r = await cp.client.post(url, json={"team_id": "nope", "models": ["x"]}, headers=cp.admin)
    assert r.status_code == 404
    r = await cp.client.post(url, json={"team_id": team["team_id"]}, headers=cp.admin)
    assert r.status_code == 422 and r.json()["error"]["param"] == "models"


async def test_delete_removes_teams_keys_and_memberships(cp: Any) -> None:
    team = await new_team(cp)
    other = await new_team(cp)
    user_id = f"u-{secrets.token_hex(4)}"
    body = {"team_id": team["team_id"], "member": {"role": "user", "user_id": user_id}}
    r = await cp.client.post("/team/member_add", json=body, headers=cp.admin)
    assert r.status_code == 200
    r = await cp.client.post("/key/generate", json={"team_id": team["team_id"]}, headers=cp.admin)
    token = r.json()["token"]
    r = await cp.client.post("/key/generate", json={"team_id": other["team_id"]}, headers=cp.admin)
    other_token = r.json()["token"]
    before = len(cp.events.seen)
    r = await cp.client.post("/team/delete", json={"team_ids": [team["team_id"]]}, headers=cp.admin)
    assert r.status_code == 200, r.text
    assert r.json() == {"deleted_teams": [team["team_id"]]}
    [event] = cp.events.seen[before:]
    assert event.teams == {team["team_id"]: None}
    assert event.keys == {token: None}
    assert event.users[user_id].teams == []  # type: ignore[union-attr]
    r = await cp.client.get("/team/info", params={"team_id": team["team_id"]}, headers=cp.admin)
    assert r.status_code == 404
    r = await cp.client.get("/key/info", params={"key": token}, headers=cp.admin)
    assert r.status_code == 404
    r = await cp.client.get("/key/info", params={"key": other_token}, headers=cp.admin)
    assert r.status_code == 200


async def test_delete_is_all_or_nothing(cp: Any) -> None:
    team = await new_team(cp)
    before = len(cp.events.seen)
    body = {"team_ids": [team["team_id"], "no-such-team"]}
    r = await cp.client.post("/team/delete", json=body, headers=cp.admin)
    assert r.status_code == 404 and r.json()["error"]["param"] == "team_ids"
    assert len(cp.events.seen) == before
    r = await cp.client.get("/team/info", params={"team_id": team["team_id"]}, headers=cp.admin)
    assert r.status_code == 200
    r = await cp.client.post("/team/delete", json={"team_ids": []}, headers=cp.admin)
    assert r.status_code == 400 and r.json()["error"]["param"] == "team_ids"
    r = await cp.client.post("/team/delete", json={}, headers=cp.admin)
    assert r.status_code == 422 and r.json()["error"]["param"] == "team_ids"


async def test_list_filters_by_member_and_organization(cp: Any) -> None:
    r = await cp.client.post(
        "/organization/new", json={"organization_alias": "o"}, headers=cp.admin
    )
    org_id = r.json()["organization_id"]
    in_org = await new_team(cp, team_alias="zz-in-org", organization_id=org_id)
    loose = await new_team(cp, team_alias="aa-loose")
    user_id = f"u-{secrets.token_hex(4)}"
    body = {"team_id": loose["team_id"], "member": {"role": "user", "user_id": user_id}}
    await cp.client.post("/team/member_add", json=body, headers=cp.admin)

    async def listed(**params: str) -> list[str]:
        r = await cp.client.get("/team/list", params=params, headers=cp.admin)
        assert r.status_code == 200, r.text
        return [t["team_id"] for t in r.json()]

    assert await listed(organization_id=org_id) == [in_org["team_id"]]
    assert await listed(user_id=user_id) == [loose["team_id"]]
    no_org = await listed(organization_id="default_organization")
    assert loose["team_id"] in no_org and in_org["team_id"] not in no_org
    r = await cp.client.get("/team/list", params={"user_id": user_id}, headers=cp.admin)
    [entry] = r.json()
    assert [m["user_id"] for m in entry["team_memberships"]] == [user_id]
    assert entry["keys"] == []
    aliases = [
        t["team_alias"] or "" for t in (await cp.client.get("/team/list", headers=cp.admin)).json()
    ]
    assert aliases == sorted(aliases)


async def test_key_info_without_key_describes_the_callers_key(cp: Any) -> None:
    user_id = f"u-{secrets.token_hex(4)}"
    r = await cp.client.post("/user/new", json={"user_id": user_id}, headers=cp.admin)
    assert r.status_code == 200, r.text
    key = r.json()["key"]
    r = await cp.client.get("/key/info", headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["info"]["user_id"] == user_id
    assert body["key"] != key and "token" not in body["info"]  # the hash, never the key
    r = await cp.client.get("/key/info", headers=cp.admin)
    assert r.status_code == 422 and r.json()["error"]["param"] == "key"
    assert "master key" in r.json()["error"]["message"]
