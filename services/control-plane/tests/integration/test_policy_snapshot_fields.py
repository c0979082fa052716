"""The new key/user/org policy fields, from the rows into the snapshot (both engines)."""

from __future__ import annotations

from typing import Any

from tianji_common.policy import decode_snapshot

from tianji_control_plane.domain.common import hash_token
from tianji_control_plane.domain.snapshot import key_policy, org_policy
from tianji_control_plane.repo.records import KeyRecord, OrgRecord


async def _snapshot(cp: Any) -> Any:
    r = await cp.client.get("/internal/policy/snapshot", headers=cp.admin)
    assert r.status_code == 200, r.text
    return decode_snapshot(r.content)


async def test_key_metadata_settings_reach_the_snapshot(cp: Any) -> None:
    metadata = {
        "tags": ["prod", 7],
        "guardrails": ["pii"],
        "model_rpm_limit": {"gpt-4o": 5},
        "model_tpm_limit": {"gpt-4o": 1000},
    }
    r = await cp.client.post(
        "/key/generate",
        json={"metadata": metadata, "budget_duration": "30d", "max_budget": 3.5},
        headers=cp.admin,
    )
    assert r.status_code == 200, r.text
    token = hash_token(r.json()["key"])
    policy = (await _snapshot(cp)).keys[token]
    assert policy.tags == ["prod"]
    assert policy.guardrails == ["pii"]
    assert policy.model_rpm_limit == {"gpt-4o": 5}
    assert policy.model_tpm_limit == {"gpt-4o": 1000}
    assert policy.budget_duration == "30d"
    assert policy.budget_reset_at is not None
    assert policy.spend == 0.0
    info = await cp.client.get("/key/info", params={"key": token}, headers=cp.admin)
    assert info.status_code == 200, info.text


async def test_user_organization_reaches_the_snapshot(cp: Any) -> None:
    r = await cp.client.post(
        "/organization/new", json={"organization_alias": "snap-org"}, headers=cp.admin
    )
    assert r.status_code == 200, r.text
    org_id = r.json()["organization_id"]
    snapshot = await _snapshot(cp)
    assert snapshot.orgs[org_id].spend == 0.0


def test_budget_and_spend_columns_map_to_policy_fields() -> None:
    rec = KeyRecord(
        token="t",
        spend=1.25,
        soft_budget=2.0,
        model_max_budget={"gpt-4o": {"max_budget": 4.0, "budget_duration": "1d"}, "bad": {}},
        model_spend={"gpt-4o": "0.75", "junk": "x"},
        allowed_routes=["/chat/completions"],
    )
    policy = key_policy(rec)
    assert policy.spend == 1.25 and policy.soft_budget == 2.0
    assert policy.model_max_budget == {"gpt-4o": 4.0}
    assert policy.model_spend == {"gpt-4o": 0.75}
    assert policy.allowed_routes == ["/chat/completions"]
    assert key_policy(KeyRecord(token="n")).model_max_budget == {}
    org = org_policy(OrgRecord(organization_id="o", spend=9.5, soft_budget=1.0))
    assert (org.spend, org.soft_budget) == (9.5, 1.0)
