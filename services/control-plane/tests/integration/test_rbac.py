"""RBAC of the management API, route by route: a table of role x route -> status.

Every caller is a real virtual key of a user created through the API (as the master
key) with that role: proxy admin, proxy admin viewer, internal user (and viewer), an
org admin of org A, a team admin and a team member of team A, and a key with no user.
Ids in paths and bodies are placeholders (`{team_a}`, `{self_key}`, ...) filled from
the world the module builds, so each row reads like the request it sends.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from tianji_control_plane.api.rbac import ROUTES, rule_for

ROLES = (
    "admin",
    "viewer",
    "internal",
    "internal_viewer",
    "org_admin",
    "team_admin",
    "team_member",
    "no_user",
)
_USER_ROLES = {
    "admin": "proxy_admin",
    "viewer": "proxy_admin_viewer",
    "internal": "internal_user",
    "internal_viewer": "internal_user_viewer",
    "org_admin": "org_admin",
    "team_admin": "internal_user",
    "team_member": "internal_user_viewer",
}


@dataclass
class World:
    keys: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def fill(self, value: Any, role: str) -> Any:
        """Placeholders replaced, for the caller `role`."""
        names = {**self.ids, "self_user": self.users.get(role, ""), "self_key": self.keys[role]}
        if isinstance(value, str):
            return value.format_map(names)
        if isinstance(value, list):
            return [self.fill(v, role) for v in value]
        if isinstance(value, dict):
            return {k: self.fill(v, role) for k, v in value.items()}
        return value


async def _post(cp: Any, path: str, body: dict[str, Any], method: str = "POST") -> Any:
    r = await cp.client.request(method, path, json=body, headers=cp.admin)
    assert r.status_code == 200, (path, r.text)
    return r.json()


async def _user(cp: Any, user_id: str, role: str, **extra: Any) -> str | None:
    body = {"user_id": user_id, "user_role": role, **extra}
    key = (await _post(cp, "/user/new", body)).get("key")
    return None if key is None else str(key)


@pytest.fixture(scope="module")
async def world(cp: Any) -> World:
    w = World()
    for name in ("a", "b"):
        org = await _post(cp, "/organization/new", {"organization_alias": f"rbac-{name}"})
        w.ids[f"org_{name}"] = org["organization_id"]
        team = await _post(
            cp,
            "/team/new",
            {"team_alias": f"rbac-{name}", "organization_id": org["organization_id"]},
        )
        w.ids[f"team_{name}"] = team["team_id"]
    for role, user_role in _USER_ROLES.items():
        extra: dict[str, Any] = {}
        if role in ("team_admin", "team_member"):
            member_role = "admin" if role == "team_admin" else "user"
            extra["teams"] = [{"team_id": w.ids["team_a"], "user_role": member_role}]
        w.users[role] = f"rbac-{role}"
        key = await _user(cp, w.users[role], user_role, **extra)
        assert key is not None
        w.keys[role] = key
    member = {"role": "org_admin", "user_id": w.users["org_admin"]}
    await _post(
        cp, "/organization/member_add", {"organization_id": w.ids["org_a"], "member": member}
    )
    w.keys["no_user"] = (await _post(cp, "/key/generate", {}))["key"]
    victim_key = await _user(cp, "rbac-victim", "internal_user")
    assert victim_key is not None
    w.ids |= {"victim": "rbac-victim", "victim_key": victim_key, "org_member": "rbac-org-member"}
    w.ids["team_member_user"] = w.users["team_member"]
    await _user(cp, "rbac-org-member", "internal_user", auto_create_key=False)
    member = {"role": "internal_user", "user_id": "rbac-org-member"}
    await _post(
        cp, "/organization/member_add", {"organization_id": w.ids["org_a"], "member": member}
    )
    for n in range(1, 4):
        await _user(cp, f"rbac-spare-{n}", "internal_user", auto_create_key=False)
        w.ids[f"spare{n}"] = f"rbac-spare-{n}"
    team_b_key = await _post(cp, "/key/generate", {"team_id": w.ids["team_b"]})
    w.ids["team_b_key"] = team_b_key["key"]
    return w


ALL_200 = dict.fromkeys(ROLES, 200)
# (method, path, body, {role: status}); roles left out are not called for that row.
TABLE: list[tuple[str, str, dict[str, Any] | None, dict[str, int]]] = [
    # --- keys: internal users manage only their own ---
    (
        "POST",
        "/key/generate",
        {},
        {
            "admin": 200,
            "viewer": 403,
            "internal": 200,
            "internal_viewer": 403,
            "org_admin": 200,
            "team_admin": 200,
            "team_member": 403,
            "no_user": 403,
        },
    ),
    (
        "POST",
        "/key/generate",
        {"user_id": "{victim}"},
        {"admin": 200, "internal": 403, "org_admin": 403, "team_admin": 403},
    ),
    (
        "POST",
        "/key/generate",
        {"team_id": "{team_a}"},
        {"team_admin": 200, "internal": 403, "team_member": 403, "viewer": 403},
    ),
    ("POST", "/key/generate", {"team_id": "{team_b}"}, {"team_admin": 403, "org_admin": 403}),
    ("GET", "/key/info?key={self_key}", None, ALL_200),
    (
        "GET",
        "/key/info?key={victim_key}",
        None,
        {
            "admin": 200,
            "viewer": 200,
            "internal": 403,
            "internal_viewer": 403,
            "org_admin": 403,
            "team_admin": 403,
            "team_member": 403,
            "no_user": 403,
        },
    ),
    ("GET", "/key/info?key=sk-does-not-exist", None, {"admin": 404, "internal": 403}),
    ("GET", "/key/list", None, {**ALL_200, "no_user": 403}),
    (
        "POST",
        "/key/update",
        {"key": "{self_key}", "metadata": {"touched": True}},
        {
            "admin": 200,
            "viewer": 403,
            "internal": 200,
            "internal_viewer": 403,
            "team_member": 403,
            "no_user": 403,
        },
    ),
    (
        "POST",
        "/key/update",
        {"key": "{victim_key}", "metadata": {"touched": True}},
        {"admin": 200, "viewer": 403, "internal": 403, "org_admin": 403, "team_admin": 403},
    ),
    (
        "POST",
        "/key/update",
        {"key": "{self_key}", "user_id": "{victim}"},
        {"internal": 403, "team_admin": 403},
    ),
    (
        "POST",
        "/key/update",
        {"key": "{self_key}", "spend": 0},
        {"admin": 200, "internal": 403, "org_admin": 403},
    ),
    ("POST", "/key/generate", {"blocked": False}, {"internal": 403, "admin": 200}),
    ("POST", "/key/generate", {"organization_id": "{org_b}"}, {"internal": 403, "org_admin": 403}),
    ("POST", "/key/generate", {"organization_id": "{org_a}"}, {"org_admin": 200}),
    (
        "POST",
        "/key/generate",
        {"team_id": "{team_a}", "user_id": "{team_member_user}", "spend": 0},
        {"team_admin": 200},
    ),
    (
        "POST",
        "/key/generate",
        {"team_id": "{team_a}", "user_id": "{victim}"},
        {"team_admin": 403},
    ),
    (
        "POST",
        "/key/delete",
        {"keys": ["{victim_key}"]},
        {"viewer": 403, "internal": 403, "org_admin": 403, "team_admin": 403, "no_user": 403},
    ),
    ("POST", "/key/delete", {"keys": ["{team_b_key}"]}, {"team_admin": 403, "org_admin": 403}),
    (
        "POST",
        "/key/block",
        {"key": "{victim_key}"},
        {"viewer": 403, "internal": 403, "org_admin": 403, "team_admin": 403},
    ),
    ("POST", "/key/unblock", {"key": "{victim_key}"}, {"viewer": 403, "internal": 403}),
    (
        "POST",
        "/key/regenerate",
        {"key": "{victim_key}"},
        {"viewer": 403, "internal": 403, "team_admin": 403},
    ),
    ("POST", "/key/{victim_key}/regenerate", {}, {"viewer": 403, "internal": 403}),
    # --- users: own info; org admins their org's members ---
    ("GET", "/user/info?user_id={self_user}", None, {**ALL_200, "no_user": 403}),
    (
        "GET",
        "/user/info?user_id={victim}",
        None,
        {
            "admin": 200,
            "viewer": 200,
            "internal": 403,
            "internal_viewer": 403,
            "org_admin": 403,
            "team_admin": 403,
        },
    ),
    ("GET", "/user/info?user_id={org_member}", None, {"org_admin": 200, "team_admin": 403}),
    (
        "GET",
        "/user/list",
        None,
        {"admin": 200, "viewer": 200, "internal": 403, "org_admin": 403, "team_admin": 403},
    ),
    ("POST", "/user/new", {}, {"viewer": 403, "internal": 403, "org_admin": 403}),
    (
        "POST",
        "/user/update",
        {"user_id": "{org_member}", "user_alias": "member"},
        {"org_admin": 200, "viewer": 403, "internal": 403, "team_admin": 403},
    ),
    ("POST", "/user/update", {"user_id": "{victim}", "user_alias": "x"}, {"org_admin": 403}),
    (
        "POST",
        "/user/update",
        {"user_id": "{org_member}", "user_role": "proxy_admin"},
        {"org_admin": 403},
    ),
    (
        "POST",
        "/user/new",
        {"organization_id": "{org_a}", "user_role": "proxy_admin_viewer"},
        {"org_admin": 403},
    ),
    ("POST", "/user/delete", {"user_ids": ["{victim}"]}, {"viewer": 403, "org_admin": 403}),
    # --- teams: team admins their team, org admins their org's teams ---
    (
        "GET",
        "/team/info?team_id={team_a}",
        None,
        {
            "admin": 200,
            "viewer": 200,
            "internal": 403,
            "internal_viewer": 403,
            "org_admin": 200,
            "team_admin": 200,
            "team_member": 200,
            "no_user": 403,
        },
    ),
    (
        "GET",
        "/team/info?team_id={team_b}",
        None,
        {"viewer": 200, "org_admin": 403, "team_admin": 403, "team_member": 403},
    ),
    (
        "GET",
        "/team/list",
        None,
        {"admin": 200, "viewer": 200, "internal": 403, "team_admin": 403, "org_admin": 403},
    ),
    ("GET", "/team/list?user_id={self_user}", None, {**ALL_200, "no_user": 403}),
    ("GET", "/team/list?user_id={victim}", None, {"internal": 403, "team_admin": 403}),
    ("GET", "/team/list?organization_id={org_a}", None, {"org_admin": 200, "internal": 403}),
    ("GET", "/team/list?organization_id={org_b}", None, {"org_admin": 403}),
    (
        "POST",
        "/team/new",
        {"team_alias": "by-org-admin", "organization_id": "{org_a}"},
        {"org_admin": 200, "viewer": 403, "internal": 403, "team_admin": 403},
    ),
    ("POST", "/team/new", {"organization_id": "{org_b}"}, {"org_admin": 403}),
    ("POST", "/team/new", {}, {"org_admin": 403, "team_admin": 403}),
    (
        "POST",
        "/team/update",
        {"team_id": "{team_a}", "team_alias": "rbac-a"},
        {"admin": 200, "team_admin": 200, "org_admin": 200, "team_member": 403, "viewer": 403},
    ),
    (
        "POST",
        "/team/update",
        {"team_id": "{team_b}", "team_alias": "rbac-b"},
        {"team_admin": 403, "org_admin": 403},
    ),
    (
        "POST",
        "/team/update",
        {"team_id": "{team_a}", "organization_id": "{org_b}"},
        {"team_admin": 403, "org_admin": 403},
    ),
    (
        "POST",
        "/team/member_add",
        {"team_id": "{team_a}", "member": {"role": "user", "user_id": "{spare1}"}},
        {"team_admin": 200, "team_member": 403, "internal": 403, "viewer": 403},
    ),
    (
        "POST",
        "/team/member_add",
        {"team_id": "{team_a}", "member": {"role": "user", "user_id": "{spare2}"}},
        {"org_admin": 200},
    ),
    (
        "POST",
        "/team/member_add",
        {"team_id": "{team_b}", "member": {"role": "user", "user_id": "{spare1}"}},
        {"team_admin": 403, "org_admin": 403},
    ),
    (
        "POST",
        "/team/member_delete",
        {"team_id": "{team_b}", "user_id": "{spare1}"},
        {"team_admin": 403, "org_admin": 403, "viewer": 403},
    ),
    (
        "POST",
        "/team/block",
        {"team_id": "{team_b}"},
        {"org_admin": 403, "team_admin": 403, "viewer": 403},
    ),
    (
        "POST",
        "/team/model/add",
        {"team_id": "{team_b}", "models": ["gpt-4o"]},
        {"team_admin": 403, "viewer": 403},
    ),
    # --- organizations: org admins only their own ---
    (
        "GET",
        "/organization/info?organization_id={org_a}",
        None,
        {"admin": 200, "viewer": 200, "org_admin": 200, "internal": 403, "team_admin": 403},
    ),
    ("GET", "/organization/info?organization_id={org_b}", None, {"org_admin": 403}),
    ("POST", "/organization/info", {"organizations": ["{org_b}"]}, {"org_admin": 403}),
    (
        "GET",
        "/organization/list",
        None,
        {"admin": 200, "viewer": 200, "org_admin": 403, "internal": 403},
    ),
    (
        "POST",
        "/organization/new",
        {"organization_alias": "by-role"},
        {"admin": 200, "viewer": 403, "org_admin": 403, "internal": 403},
    ),
    (
        "PATCH",
        "/organization/update",
        {"organization_id": "{org_a}", "organization_alias": "x"},
        {"org_admin": 403, "viewer": 403},
    ),
    (
        "POST",
        "/organization/member_add",
        {"organization_id": "{org_a}", "member": {"role": "internal_user", "user_id": "{spare3}"}},
        {"org_admin": 200, "internal": 403, "team_admin": 403, "viewer": 403},
    ),
    (
        "POST",
        "/organization/member_add",
        {"organization_id": "{org_b}", "member": {"role": "internal_user", "user_id": "{spare3}"}},
        {"org_admin": 403},
    ),
    (
        "DELETE",
        "/organization/member_delete",
        {"organization_id": "{org_b}", "user_id": "{spare3}"},
        {"org_admin": 403},
    ),
    ("DELETE", "/organization/delete", {"organization_ids": ["{org_b}"]}, {"org_admin": 403}),
    # --- the gateways' snapshot: the master key only, not even a proxy admin's key ---
    ("GET", "/internal/policy/snapshot", None, {"admin": 403, "viewer": 403, "internal": 403}),
    # --- customers, budgets, models, credentials, access groups, spend ---
    (
        "POST",
        "/customer/new",
        {"user_id": "rbac-customer"},
        {"viewer": 403, "internal": 403, "org_admin": 403},
    ),
    ("POST", "/end_user/new", {"user_id": "rbac-customer-2"}, {"viewer": 403, "team_admin": 403}),
    ("GET", "/customer/list", None, {"admin": 200, "viewer": 200, "internal": 403}),
    ("POST", "/budget/new", {"max_budget": 1.0}, {"viewer": 403, "internal": 403}),
    ("GET", "/budget/list", None, {"admin": 200, "viewer": 200, "internal": 403}),
    (
        "POST",
        "/model/new",
        {"model_name": "m", "litellm_params": {"model": "openai/gpt-4o"}},
        {"viewer": 403, "internal": 403, "team_admin": 403},
    ),
    ("GET", "/model/info", None, {"admin": 200, "viewer": 200, "internal": 200}),
    ("POST", "/credentials", {"credential_name": "c"}, {"viewer": 403, "internal": 403}),
    ("GET", "/credentials", None, {"admin": 200, "viewer": 200, "internal": 403}),
    ("GET", "/access_group/list", None, {"viewer": 200, "internal": 403}),
    ("POST", "/access_group/new", {"access_group": "g"}, {"viewer": 403, "internal": 403}),
    # Spend logs: non-viewers see their own (the handler replaces user_id with theirs).
    ("GET", "/spend/logs", None, {**ALL_200, "no_user": 403}),
    ("GET", "/spend/logs?user_id={victim}", None, {"internal": 200, "no_user": 403}),
    (
        "GET",
        "/user/daily/activity?start_date=2026-01-01&end_date=2026-12-31",
        None,
        {"viewer": 200, "internal": 200, "no_user": 403},
    ),
    (
        "GET",
        "/team/daily/activity?start_date=2026-01-01&end_date=2026-12-31&team_ids={team_a}",
        None,
        {"viewer": 200, "team_member": 200, "org_admin": 200, "internal": 403},
    ),
    (
        "GET",
        "/team/daily/activity?start_date=2026-01-01&end_date=2026-12-31&team_ids={team_a},{team_b}",
        None,
        {"team_member": 403, "org_admin": 403},
    ),
    (
        "GET",
        "/team/daily/activity?start_date=2026-01-01&end_date=2026-12-31",
        None,
        {"viewer": 200, "team_member": 403},
    ),
    (
        "GET",
        "/organization/daily/activity?start_date=2026-01-01&end_date=2026-12-31"
        "&organization_ids={org_b}",
        None,
        {"viewer": 200, "org_admin": 403},
    ),
    (
        "GET",
        "/global/spend/report?start_date=2026-01-01&end_date=2026-12-31",
        None,
        {"viewer": 200, "internal": 403, "org_admin": 403},
    ),
    ("GET", "/global/spend/keys", None, {"viewer": 200, "internal": 403}),
    ("POST", "/global/spend/reset", {}, {"admin": 403, "viewer": 403, "internal": 403}),
]

CASES = [
    pytest.param(method, path, body, role, status, id=f"{role}-{method}-{path}-{n}")
    for n, (method, path, body, statuses) in enumerate(TABLE)
    for role, status in statuses.items()
]


@pytest.mark.parametrize(("method", "path", "body", "role", "status"), CASES)
async def test_role_route_status(
    cp: Any,
    world: World,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    role: str,
    status: int,
) -> None:
    headers = {"authorization": f"Bearer {world.keys[role]}"}
    r = await cp.client.request(
        method, world.fill(path, role), json=world.fill(body, role), headers=headers
    )
    if r.status_code == 501 and status != 501:
        pytest.skip(f"{method} {path} is not served yet (501 from the route catalog)")
    assert r.status_code == status, r.text
    if status == 403:
        assert r.json()["error"]["type"] == "permission_error"


def test_every_table_row_names_a_route_of_the_allow_list() -> None:
    for method, path, _, _ in TABLE:
        template = path.split("?")[0].replace("{victim_key}", "{key}")
        assert rule_for(method, template) is not None, (method, path)
    assert ("GET", "/internal/policy/snapshot") in ROUTES


async def test_a_route_missing_from_the_table_is_proxy_admin_only(
    cp: Any, db_url: str, world: World
) -> None:
    """Deny by default: a handler whose route has no rule admits proxy admins only."""
    from litestar import Litestar, Request, get
    from litestar.testing import AsyncTestClient
    from tianji_common.db.engine import close_engine, open_engine
    from tianji_common.http import exception_handlers

    from tianji_control_plane.api.state import ControlState
    from tianji_control_plane.domain.snapshot import BusNotifier
    from tianji_control_plane.repo.db import Db

    assert rule_for("GET", "/rbac/unlisted") is None
    assert rule_for("PUT", "/key/generate") is None  # another method is another route
    master_key = cp.admin["authorization"].removeprefix("Bearer ")
    state = ControlState(master_key=master_key, notifier=BusNotifier(None))

    async def startup() -> None:  # the engine lives on the app's event loop
        state.db = Db.bind(await open_engine(db_url, max_size=2))

    async def shutdown() -> None:
        await close_engine(state.database().engine)

    @get("/rbac/unlisted")
    async def unlisted(request: Request[Any, Any, Any]) -> dict[str, str]:
        return {"actor": (await state.authorize(request)).actor}

    app = Litestar(
        route_handlers=[unlisted],
        on_startup=[startup],
        on_shutdown=[shutdown],
        exception_handlers=exception_handlers(),
    )
    async with AsyncTestClient(app=app) as client:
        for role in ("viewer", "internal", "org_admin", "team_admin", "no_user"):
            r = await client.get("/rbac/unlisted", headers=_as(world, role))
            assert r.status_code == 403, (role, r.text)
            assert "Route=/rbac/unlisted" in r.json()["error"]["message"]
        r = await client.get("/rbac/unlisted", headers=_as(world, "admin"))
        assert r.json() == {"actor": world.users["admin"]}
        r = await client.get("/rbac/unlisted", headers=cp.admin)
        assert r.json() == {"actor": "default_user_id"}


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Authentication Error, No api key passed in."),
        (
            {"authorization": "Bearer sk-not-a-key"},
            "Authentication Error, Invalid proxy server token passed.",
        ),
        (
            {"x-api-key": "not-even-sk"},
            "Authentication Error, Invalid proxy server token passed.",
        ),
    ],
)
async def test_bad_credentials_are_401(
    cp: Any, world: World, headers: dict[str, str], message: str
) -> None:
    for method, path in (("GET", "/key/list"), ("POST", "/team/new"), ("GET", "/user/list")):
        r = await cp.client.request(method, path, json={}, headers=headers)
        assert r.status_code == 401
        assert r.json()["error"]["message"] == message


async def test_blocked_and_expired_keys_are_401(cp: Any, world: World) -> None:
    blocked = (await _post(cp, "/key/generate", {"user_id": world.users["internal"]}))["key"]
    await _post(cp, "/key/block", {"key": blocked})
    r = await cp.client.get("/key/list", headers={"authorization": f"Bearer {blocked}"})
    assert r.status_code == 401
    assert "Key is blocked" in r.json()["error"]["message"]
    team = await _post(cp, "/team/new", {"team_alias": "rbac-blocked"})
    team_key = (await _post(cp, "/key/generate", {"team_id": team["team_id"]}))["key"]
    await _post(cp, "/team/block", {"team_id": team["team_id"]})
    r = await cp.client.get("/key/info", headers={"authorization": f"Bearer {team_key}"})
    assert r.status_code == 401
    assert f"Team={team['team_id']} is blocked" in r.json()["error"]["message"]
    expiring = await _post(
        cp, "/key/generate", {"user_id": world.users["internal"], "duration": "1s"}
    )
    await asyncio.sleep(1.2)
    r = await cp.client.get("/key/list", headers={"authorization": f"Bearer {expiring['key']}"})
    assert r.status_code == 401
    assert "Expired Key" in r.json()["error"]["message"]


def _as(world: World, role: str) -> dict[str, str]:
    return {"authorization": f"Bearer {world.keys[role]}"}


async def test_internal_user_manages_only_own_keys(cp: Any, world: World) -> None:
    me = _as(world, "internal")
    r = await cp.client.post("/key/generate", json={"key_alias": "mine"}, headers=me)
    assert r.status_code == 200, r.text
    mine = r.json()
    # A key generated without user_id is the caller's; the audit names the caller.
    assert mine["user_id"] == world.users["internal"]
    assert mine["created_by"] == world.users["internal"]
    r = await cp.client.get("/key/list", params={"return_full_object": "true"}, headers=me)
    owners = {k["user_id"] for k in r.json()["keys"]}
    assert owners == {world.users["internal"]}
    # Asking for someone else's keys still lists only the caller's.
    r = await cp.client.get(
        "/key/list", params={"user_id": world.ids["victim"], "size": "100"}, headers=me
    )
    assert mine["token"] in r.json()["keys"]
    r = await cp.client.post("/key/regenerate", json={"key": mine["key"]}, headers=me)
    assert r.status_code == 200, r.text
    regenerated = r.json()["key"]
    r = await cp.client.post("/key/delete", json={"keys": [regenerated]}, headers=me)
    assert r.status_code == 200, r.text
    # The victim's key is untouched by everything above.
    r = await cp.client.get("/key/info", params={"key": world.ids["victim_key"]}, headers=cp.admin)
    assert r.status_code == 200


async def test_team_admin_manages_team_keys_only_of_their_team(cp: Any, world: World) -> None:
    team_key = (await _post(cp, "/key/generate", {"team_id": world.ids["team_a"]}))["key"]
    admin = _as(world, "team_admin")
    r = await cp.client.get("/key/info", params={"key": team_key}, headers=admin)
    assert r.status_code == 200
    body = {"key": team_key, "metadata": {"by": "team admin"}}
    r = await cp.client.post("/key/update", json=body, headers=admin)
    assert r.status_code == 200, r.text
    r = await cp.client.get("/key/list", params={"team_id": world.ids["team_a"]}, headers=admin)
    assert r.json()["total_count"] >= 1
    assert (
        await cp.client.get(
            "/key/info", params={"key": team_key}, headers=_as(world, "team_member")
        )
    ).status_code == 403
    body = {"key": world.ids["team_b_key"], "metadata": {"by": "team admin"}}
    r = await cp.client.post("/key/update", json=body, headers=admin)
    assert r.status_code == 403
    r = await cp.client.post("/key/delete", json={"keys": [team_key]}, headers=admin)
    assert r.status_code == 200, r.text


async def test_a_role_change_applies_to_the_next_request(cp: Any, world: World) -> None:
    key = await _user(cp, "rbac-promoted", "internal_user")
    headers = {"authorization": f"Bearer {key}"}
    assert (await cp.client.get("/user/list", headers=headers)).status_code == 403
    await _post(cp, "/user/update", {"user_id": "rbac-promoted", "user_role": "proxy_admin_viewer"})
    assert (await cp.client.get("/user/list", headers=headers)).status_code == 200
    r = await cp.client.post("/user/new", json={}, headers=headers)
    assert r.status_code == 403


async def test_team_roles_follow_member_add_and_member_delete(cp: Any, world: World) -> None:
    key = await _user(cp, "rbac-joiner", "internal_user_viewer")
    headers = {"authorization": f"Bearer {key}"}
    update = {"team_id": world.ids["team_a"], "team_alias": "rbac-a"}
    assert (await cp.client.post("/team/update", json=update, headers=headers)).status_code == 403
    member = {"role": "admin", "user_id": "rbac-joiner"}
    await _post(cp, "/team/member_add", {"team_id": world.ids["team_a"], "member": member})
    r = await cp.client.post("/team/update", json=update, headers=headers)
    assert r.status_code == 200, r.text
    # A viewer who admins a team issues that team's keys, and only that team's.
    r = await cp.client.post(
        "/key/generate", json={"team_id": world.ids["team_a"]}, headers=headers
    )
    assert r.status_code == 200, r.text
    r = await cp.client.post("/key/generate", json={}, headers=headers)
    assert r.status_code == 403
    await _post(
        cp, "/team/member_delete", {"team_id": world.ids["team_a"], "user_id": "rbac-joiner"}
    )
    assert (await cp.client.post("/team/update", json=update, headers=headers)).status_code == 403


async def test_team_list_by_user_shows_only_their_teams(cp: Any, world: World) -> None:
    params = {"user_id": world.users["team_member"]}
    r = await cp.client.get("/team/list", params=params, headers=_as(world, "team_member"))
    assert r.status_code == 200, r.text
    assert [t["team_id"] for t in r.json()] == [world.ids["team_a"]]
