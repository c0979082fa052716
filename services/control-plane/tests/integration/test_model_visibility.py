"""Who sees which model on `/model/info`, `/v1|v2/model/info` and `/model_group/info`.

LiteLLM's rules (`auth/model_checks.py`): proxy admins and viewers see everything;
any other key sees its `models`, else its team's, else everything, with access groups
expanded, `all-team-models` meaning the team's list and `*` / `all-proxy-models`
everything. Every caller is a real virtual key issued through the API, on both engines.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import pytest

_INFO_ROUTES = ("/model/info", "/v1/model/info", "/v2/model/info")


@dataclass
class World:
    """Deployments (by role in the test) and keys, all with fresh names."""

    stem: str = field(default_factory=lambda: f"vis-{secrets.token_hex(3)}")
    keys: dict[str, str] = field(default_factory=dict)

    def m(self, label: str) -> str:
        return f"{self.stem}-{label}"


async def _post(cp: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await cp.client.post(path, json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _key(cp: Any, **body: Any) -> str:
    return str((await _post(cp, "/key/generate", body))["key"])


@pytest.fixture(scope="module")
async def world(cp: Any) -> World:
    w = World()
    for label in ("a", "b", "c", "d"):
        await _post(
            cp, "/model/new", {"model_name": w.m(label), "litellm_params": {"model": "openai/x"}}
        )
    # A deployment in a config-style access group (model_info.access_groups).
    await _post(
        cp,
        "/model/new",
        {
            "model_name": w.m("tagged"),
            "litellm_params": {"model": "openai/x"},
            "model_info": {"access_groups": [w.m("info-group")]},
        },
    )
    await _post(
        cp, "/model/new", {"model_name": f"{w.stem}/p1", "litellm_params": {"model": "x/y"}}
    )
    await _post(
        cp, "/access_group/new", {"access_group": w.m("group"), "model_names": [w.m("c"), w.m("d")]}
    )
    team = await _post(cp, "/team/new", {"models": [w.m("b"), w.m("c")]})
    open_team = await _post(cp, "/team/new", {})
    w.keys["one"] = await _key(cp, models=[w.m("a")])
    w.keys["group"] = await _key(cp, models=[w.m("group")])
    w.keys["info_group"] = await _key(cp, models=[w.m("info-group")])
    w.keys["prefix"] = await _key(cp, models=[f"{w.stem}/*"])
    w.keys["team"] = await _key(cp, team_id=team["team_id"])
    w.keys["all_team"] = await _key(cp, team_id=team["team_id"], models=["all-team-models"])
    w.keys["open_team"] = await _key(cp, team_id=open_team["team_id"])
    w.keys["no_models"] = await _key(cp)
    w.keys["star"] = await _key(cp, models=["*"])
    w.keys["all_proxy"] = await _key(cp, models=["all-proxy-models"])
    w.keys["nothing"] = await _key(cp, models=["not-a-model"])
    viewer = await _post(cp, "/user/new", {"user_role": "proxy_admin_viewer", "models": ["zzz"]})
    w.keys["viewer"] = str(viewer["key"])
    internal = await _post(cp, "/user/new", {"user_role": "internal_user"})
    w.keys["internal"] = await _key(cp, user_id=internal["user_id"], models=[w.m("d")])
    return w


async def _names(cp: Any, path: str, key: str | None, stem: str) -> set[str]:
    headers = cp.admin if key is None else {"authorization": f"Bearer {key}"}
    params = {"size": "100"} if path.startswith("/v2") else {}
    r = await cp.client.get(path, params=params, headers=headers)
    assert r.status_code == 200, r.text
    rows = r.json()["data"]
    field_name = "model_group" if path == "/model_group/info" else "model_name"
    return {row[field_name] for row in rows if row[field_name].startswith(stem)}


def _all(w: World) -> set[str]:
    return {w.m("a"), w.m("b"), w.m("c"), w.m("d"), w.m("tagged"), f"{w.stem}/p1"}


@pytest.mark.parametrize("path", [*_INFO_ROUTES, "/model_group/info"])
@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("one", lambda w: {w.m("a")}),
        ("group", lambda w: {w.m("c"), w.m("d")}),
        ("info_group", lambda w: {w.m("tagged")}),
        ("prefix", lambda w: {f"{w.stem}/p1"}),
        ("team", lambda w: {w.m("b"), w.m("c")}),
        ("all_team", lambda w: {w.m("b"), w.m("c")}),
        ("internal", lambda w: {w.m("d")}),
        ("nothing", lambda w: set()),
        ("open_team", _all),
        ("no_models", _all),
        ("star", _all),
        ("all_proxy", _all),
        ("viewer", _all),
    ],
)
async def test_callers_see_only_the_models_their_key_may_call(
    cp: Any, world: World, path: str, who: str, expected: Any
) -> None:
    assert await _names(cp, path, world.keys[who], world.stem) == expected(world)


@pytest.mark.parametrize("path", [*_INFO_ROUTES, "/model_group/info"])
async def test_the_master_key_sees_every_model(cp: Any, world: World, path: str) -> None:
    assert await _names(cp, path, None, world.stem) == _all(world)


async def test_v2_counts_only_what_the_caller_sees(cp: Any, world: World) -> None:
    headers = {"authorization": f"Bearer {world.keys['team']}"}
    r = await cp.client.get("/v2/model/info", params={"search": world.stem}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["total_count"] == 2
    r = await cp.client.get(
        "/model_group/info", params={"model_group": world.m("a")}, headers=headers
    )
    assert r.json()["data"] == []  # named, but not the caller's
