"""`/access_group/*` over HTTP on both engines: names checked, events, snapshot."""

from __future__ import annotations

import secrets
from typing import Any


def gname() -> str:
    return f"ag-{secrets.token_hex(4)}"


async def models(cp: Any, *names: str) -> list[str]:
    ids = []
    for n in names:
        body = {"model_name": n, "litellm_params": {"model": "ollama/llama3"}}
        r = await cp.client.post("/model/new", json=body, headers=cp.admin)
        assert r.status_code == 200, r.text
        ids.append(r.json()["model_id"])
    return ids


async def test_create_info_list_and_snapshot(cp: Any) -> None:
    m1, m2, group = gname(), gname(), gname()
    await models(cp, m1, m2, m2)
    before = len(cp.events.seen)
    body = {"access_group": group, "model_names": [m2, m1]}
    r = await cp.client.post("/access_group/new", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "access_group": group,
        "model_names": [m2, m1],
        "model_ids": None,
        "models_updated": 3,
    }
    assert cp.events.seen[before].access_groups == {group: [m2, m1]}
    r = await cp.client.get(f"/access_group/{group}/info", headers=cp.admin)
    assert r.json() == {
        "access_group": group,
        "model_names": sorted([m1, m2]),
        "deployment_count": 3,
        "spend": 0.0,
        "budget": None,
    }
    r = await cp.client.get("/access_group/list", headers=cp.admin)
    assert group in {g["access_group"] for g in r.json()["access_groups"]}
    r = await cp.client.get("/internal/policy/snapshot", headers=cp.admin)
    assert r.json()["access_groups"][group] == [m2, m1]


async def test_validation_errors(cp: Any) -> None:
    m1, group = gname(), gname()
    await models(cp, m1)
    cases = [
        ({"access_group": " ", "model_names": [m1]}, 400, "access_group"),
        ({"access_group": group}, 400, "model_names"),
        ({"access_group": group, "model_names": [m1, "ghost-model"]}, 400, "model_names"),
        ({"access_group": group, "model_ids": ["ghost-id"]}, 400, "model_ids"),
    ]
    for body, status, param in cases:
        r = await cp.client.post("/access_group/new", json=body, headers=cp.admin)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]["param"] == param
    assert (
        "ghost-model"
        in (await cp.client.post("/access_group/new", json=cases[2][0], headers=cp.admin)).json()[
            "error"
        ]["message"]
    )
    ok = {"access_group": group, "model_names": [m1]}
    assert (await cp.client.post("/access_group/new", json=ok, headers=cp.admin)).status_code == 200
    r = await cp.client.post("/access_group/new", json=ok, headers=cp.admin)
    assert r.status_code == 409 and f"/access_group/{group}/update" in r.json()["error"]["message"]
    r = await cp.client.get(f"/access_group/{gname()}/info", headers=cp.admin)
    assert r.status_code == 404


async def test_update_by_ids_and_delete(cp: Any) -> None:
    m1, m2, group = gname(), gname(), gname()
    _, id2 = await models(cp, m1, m2)
    body = {"access_group": group, "model_names": [m1]}
    assert (
        await cp.client.post("/access_group/new", json=body, headers=cp.admin)
    ).status_code == 200
    before = len(cp.events.seen)
    r = await cp.client.put(
        f"/access_group/{group}/update", json={"model_ids": [id2]}, headers=cp.admin
    )
    assert r.status_code == 200, r.text
    assert r.json()["model_names"] == [m2] and r.json()["model_ids"] == [id2]
    assert cp.events.seen[before].access_groups == {group: [m2]}
    r = await cp.client.put(
        f"/access_group/{gname()}/update", json={"model_names": [m1]}, headers=cp.admin
    )
    assert r.status_code == 404
    r = await cp.client.delete(f"/access_group/{group}/delete", headers=cp.admin)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "access_group": group,
        "models_updated": 1,
        "message": f"Access group '{group}' deleted successfully",
    }
    assert cp.events.seen[-1].access_groups == {group: None}
    r = await cp.client.get(f"/access_group/{group}/info", headers=cp.admin)
    assert r.status_code == 404
    assert (await cp.client.get("/access_group/list")).status_code == 401


async def test_model_access_group_paths_serve_the_same_routes(cp: Any) -> None:
    model, group = gname(), gname()
    await models(cp, model)
    body = {"access_group": group, "model_names": [model]}
    r = await cp.client.post("/model_access_group/new", json=body, headers=cp.admin)
    assert r.status_code == 200, r.text
    r = await cp.client.get(f"/model_access_group/{group}/info", headers=cp.admin)
    assert r.status_code == 200 and r.json()["model_names"] == [model]
    r = await cp.client.get("/model_access_group/list", headers=cp.admin)
    assert group in {g["access_group"] for g in r.json()["access_groups"]}
    r = await cp.client.delete(f"/model_access_group/{group}/delete", headers=cp.admin)
    assert r.status_code == 200, r.text
    r = await cp.client.get(f"/access_group/{group}/info", headers=cp.admin)
    assert r.status_code == 404
