"""`/team/member_add|member_delete|member_update` over HTTP on SQLite and Postgres.

Memberships are checked three ways (the team's `members_with_roles`, the user's
`teams`, the `tianji_team_membership` row), plus audit rows and change events.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tianji_common.db.engine import close_engine, open_engine

from tianji_control_plane.domain.common import Ctx
from tianji_control_plane.domain.team_bodies import Member, TeamMemberAdd
from tianji_control_plane.domain.teams import add_members
from tianji_control_plane.repo.audit import audit_for
from tianji_control_plane.repo.budgets import get_budget
from tianji_control_plane.repo.db import Db
from tianji_control_plane.repo.memberships import memberships_of


@pytest.fixture(scope="module")
async def db(db_url: str) -> AsyncIterator[Db]:
    engine = await open_engine(db_url, pool=False)
    yield Db.bind(engine)
    await close_engine(engine)


def uid() -> str:
    return f"u-{secrets.token_hex(4)}"


async def new_team(cp: Any, **body: Any) -> dict[str, Any]:
    r = await cp.client.post("/team/new", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def member_add(cp: Any, team_id: str, member: Any, **extra: Any) -> Any:
    body = {"team_id": team_id, "member": member, **extra}
    return await cp.client.post("/team/member_add", json=body, headers=cp.admin)


async def user_info(cp: Any, user_id: str) -> dict[str, Any]:
    r = await cp.client.get("/user/info", params={"user_id": user_id}, headers=cp.admin)
    assert r.status_code == 200, r.text
    return dict(r.json()["user_info"])


async def team_info(cp: Any, team_id: str) -> dict[str, Any]:
    r = await cp.client.get("/team/info", params={"team_id": team_id}, headers=cp.admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_member_add_creates_the_user_membership_and_budget(cp: Any, db: Db) -> None:
    team = await new_team(cp, team_alias="crew")
    user_id = uid()
    before = len(cp.events.seen)
    r = await member_add(
        cp, team["team_id"], {"role": "admin", "user_id": user_id}, max_budget_in_team=7.5
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["team_id"] == team["team_id"] and out["team_alias"] == "crew"
    assert out["members_with_roles"] == [{"user_id": user_id, "user_email": None, "role": "admin"}]
    assert [u["user_id"] for u in out["updated_users"]] == [user_id]
    assert out["updated_users"][0]["user_role"] == "internal_user"
    assert out["updated_users"][0]["teams"] == [team["team_id"]]
    [tm] = out["updated_team_memberships"]
    assert tm["user_id"] == user_id and tm["team_id"] == team["team_id"] and tm["spend"] == 0
    assert tm["budget_id"] and tm["litellm_budget_table"]["max_budget"] == 7.5
    # Persisted, published in one event, audited.
    assert (await user_info(cp, user_id))["teams"] == [team["team_id"]]
    [event] = cp.events.seen[before:]
    assert event.users[user_id].teams == [team["team_id"]]  # type: ignore[union-attr]
    assert event.teams[team["team_id"]] is not None
    assert event.budgets[tm["budget_id"]].max_budget == 7.5  # type: ignore[union-attr]
    assert [a.action for a in await audit_for(db, f"{team['team_id']}/{user_id}")] == ["created"]


async def test_member_add_by_email_and_list_reuses_existing_users(cp: Any) -> None:
    existing = uid()
    r = await cp.client.post(
        "/user/new", json={"user_id": existing, "auto_create_key": False}, headers=cp.admin
    )
    assert r.status_code == 200, r.text
    team = await new_team(cp)
    email = f"{secrets.token_hex(3)}@example.com"
    members = [{"role": "user", "user_id": existing}, {"role": "user", "user_email": email}]
    r = await member_add(cp, team["team_id"], members)
    assert r.status_code == 200, r.text
    users = r.json()["updated_users"]
    assert users[0]["user_id"] == existing and users[1]["user_email"] == email
    by_email = users[1]["user_id"]
    info = await team_info(cp, team["team_id"])
    assert {m["user_id"] for m in info["team_info"]["members_with_roles"]} == {existing, by_email}
    assert {m["user_id"] for m in info["team_memberships"]} == {existing, by_email}
    assert all(m["litellm_budget_table"] is None for m in info["team_memberships"])
    assert (await user_info(cp, existing))["teams"] == [team["team_id"]]


async def test_duplicate_member_is_400_and_nothing_is_written(cp: Any, db: Db) -> None:
    team = await new_team(cp)
    first, fresh = uid(), uid()
    r = await member_add(cp, team["team_id"], {"role": "user", "user_id": first})
    assert r.status_code == 200
    before = len(cp.events.seen)
    # One new member, then a duplicate: the whole request fails, the new one is not added.
    members = [{"role": "user", "user_id": fresh}, {"role": "admin", "user_id": first}]
    r = await member_add(cp, team["team_id"], members, max_budget_in_team=3)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["param"] == "member" and first in err["message"]
    assert len(cp.events.seen) == before
    assert [m.user_id for m in await memberships_of(db, [team["team_id"]])] == [first]
    r = await cp.client.get("/user/info", params={"user_id": fresh}, headers=cp.admin)
    assert r.status_code == 404
    info = await team_info(cp, team["team_id"])
    assert [m["user_id"] for m in info["team_info"]["members_with_roles"]] == [first]


@pytest.mark.parametrize(
    ("member", "status", "param"),
    [
        ({"user_id": "x"}, 422, "member"),  # message: missing `role`
        ({"role": "owner", "user_id": "x"}, 422, "member"),
        ({"role": "user"}, 400, "member"),
        ({"role": "user", "user_email": "not-an-email"}, 400, "user_email"),
    ],
)
async def test_member_add_validation_names_the_field(
    cp: Any, member: dict[str, Any], status: int, param: str
) -> None:
    team = await new_team(cp)
    r = await member_add(cp, team["team_id"], member)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["param"] == param
    if status == 422:
        assert "role" in err["message"]


async def test_member_add_to_unknown_team_is_404_and_creates_no_user(cp: Any) -> None:
    user_id = uid()
    r = await member_add(cp, "no-such-team", {"role": "user", "user_id": user_id})
    assert r.status_code == 404 and r.json()["error"]["param"] == "team_id"
    r = await cp.client.get("/user/info", params={"user_id": user_id}, headers=cp.admin)
    assert r.status_code == 404
    r = await cp.client.post(
        "/team/member_add", json={"team_id": "t", "max_budget_in_team": -1}, headers=cp.admin
    )
    assert r.status_code == 422


async def test_team_member_budget_is_the_default_budget(cp: Any) -> None:
    team = await new_team(cp, team_member_budget=2.0)
    assert team["team_member_budget"] == 2.0 and team["team_member_budget_id"]
    event = cp.events.seen[-1]
    policy = event.teams[team["team_id"]]
    assert policy is not None and policy.member_budget is not None
    assert policy.member_budget.max_budget == 2.0
    r = await member_add(cp, team["team_id"], {"role": "user", "user_id": uid()})
    [tm] = r.json()["updated_team_memberships"]
    assert tm["budget_id"] == team["team_member_budget_id"]


async def test_member_delete_removes_it_everywhere(cp: Any, db: Db) -> None:
    team = await new_team(cp)
    keep, gone = uid(), uid()
    members = [{"role": "user", "user_id": keep}, {"role": "user", "user_id": gone}]
    r = await member_add(cp, team["team_id"], members, max_budget_in_team=1)
    budget_of_gone = r.json()["updated_team_memberships"][1]["budget_id"]
    before = len(cp.events.seen)
    body = {"team_id": team["team_id"], "user_id": gone}
    r = await cp.client.post("/team/member_delete", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    assert [m["user_id"] for m in r.json()["members_with_roles"]] == [keep]
    assert (await user_info(cp, gone))["teams"] == []
    assert [m.user_id for m in await memberships_of(db, [team["team_id"]])] == [keep]
    [event] = cp.events.seen[before:]
    assert event.users[gone].teams == []  # type: ignore[union-attr]
    assert event.budgets[budget_of_gone] is None
    assert await get_budget(db, budget_of_gone) is None
    membership = f"{team['team_id']}/{gone}"
    assert [a.action for a in await audit_for(db, membership)] == ["created", "deleted"]
    assert [a.action for a in await audit_for(db, budget_of_gone)] == ["created", "deleted"]


async def test_member_delete_by_email_and_errors(cp: Any) -> None:
    team = await new_team(cp)
    email = f"{secrets.token_hex(3)}@example.com"
    await member_add(cp, team["team_id"], {"role": "user", "user_email": email})
    url = "/team/member_delete"
    r = await cp.client.post(url, json={"team_id": team["team_id"]}, headers=cp.admin)
    assert r.status_code == 400 and r.json()["error"]["param"] == "user_id"
    r = await cp.client.post(url, json={"team_id": "nope", "user_id": "x"}, headers=cp.admin)
    assert r.status_code == 404 and r.json()["error"]["param"] == "team_id"
    body = {"team_id": team["team_id"], "user_id": "not-a-member"}
    r = await cp.client.post(url, json=body, headers=cp.admin)
    assert r.status_code == 404 and r.json()["error"]["param"] == "user_id"
    body = {"team_id": team["team_id"], "user_email": email}
    r = await cp.client.post(url, json=body, headers=cp.admin)
    assert r.status_code == 200 and r.json()["members_with_roles"] == []


async def test_member_update_role_and_own_budget(cp: Any, db: Db) -> None:
    team = await new_team(cp, team_member_budget=5.0)
    user_id = uid()
    await member_add(cp, team["team_id"], {"role": "user", "user_id": user_id})
    body = {
        "team_id": team["team_id"],
        "user_id": user_id,
        "role": "admin",
        "max_budget_in_team": 9.0,
        "rpm_limit": 3,
    }
    r = await cp.client.post("/team/member_update", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "team_id": team["team_id"],
        "user_id": user_id,
        "user_email": None,
        "max_budget_in_team": 9.0,
        "tpm_limit": None,
        "rpm_limit": 3,
    }
    info = await team_info(cp, team["team_id"])
    assert info["team_info"]["members_with_roles"][0]["role"] == "admin"
    [tm] = info["team_memberships"]
    # Its own budget row now; the team's shared member budget is untouched.
    assert tm["budget_id"] != team["team_member_budget_id"]
    assert tm["litellm_budget_table"]["max_budget"] == 9.0
    assert info["team_info"]["team_member_budget"] == 5.0
    # A second update changes the same row.
    body = {"team_id": team["team_id"], "user_id": user_id, "max_budget_in_team": 4.0}
    r = await cp.client.post("/team/member_update", json=body, headers=cp.admin)
    assert r.json()["max_budget_in_team"] == 4.0
    [again] = await memberships_of(db, [team["team_id"]])
    assert again.budget_id == tm["budget_id"]


async def test_member_update_errors(cp: Any) -> None:
    team = await new_team(cp)
    url = "/team/member_update"
    r = await cp.client.post(url, json={"team_id": team["team_id"]}, headers=cp.admin)
    assert r.status_code == 400 and r.json()["error"]["param"] == "user_id"
    body = {"team_id": team["team_id"], "user_id": "ghost", "role": "admin"}
    r = await cp.client.post(url, json=body, headers=cp.admin)
    assert r.status_code == 404
    body = {"team_id": team["team_id"], "user_id": "ghost", "role": "owner"}
    r = await cp.client.post(url, json=body, headers=cp.admin)
    assert r.status_code == 422 and r.json()["error"]["param"] == "role"
    r = await cp.client.post(url, json={"team_id": "nope", "user_id": "x"}, headers=cp.admin)
    assert r.status_code == 404 and r.json()["error"]["param"] == "team_id"


async def test_new_team_with_members_joins_them(cp: Any, db: Db) -> None:
    user_id = uid()
    team = await new_team(cp, members_with_roles=[{"role": "admin", "user_id": user_id}])
    assert team["members_with_roles"][0]["user_id"] == user_id
    assert (await user_info(cp, user_id))["teams"] == [team["team_id"]]
    assert [m.user_id for m in await memberships_of(db, [team["team_id"]])] == [user_id]


async def test_concurrent_member_adds_keep_every_member(cp: Any, db_url: str) -> None:
    """Read-modify-write of `members_with_roles` and `teams` must not lose an update.

    Driven through the domain on a pooled engine: the test client runs requests one
    at a time, so only this reaches real overlapping transactions.
    """
    team_a, team_b = await new_team(cp), await new_team(cp)
    shared = uid()
    others = [uid() for _ in range(12)]
    engine = await open_engine(db_url, max_size=8)
    try:
        ctx = Ctx(Db.bind(engine), "test", _Quiet())
        adds = [(team_a["team_id"], u) for u in others]
        adds += [(team_a["team_id"], shared), (team_b["team_id"], shared)]
        await asyncio.gather(
            *(
                add_members(ctx, TeamMemberAdd(team_id=t, member=Member(role="user", user_id=u)))
                for t, u in adds
            )
        )
    finally:
        await close_engine(engine)
    info = await team_info(cp, team_a["team_id"])
    assert {m["user_id"] for m in info["team_info"]["members_with_roles"]} == {*others, shared}
    assert sorted((await user_info(cp, shared))["teams"]) == sorted(
        [team_a["team_id"], team_b["team_id"]]
    )


class _Quiet:
    async def changed(self, changes: Any) -> None:
        return None
