"""Records to policy: the full snapshot and the per-change event the gateways read."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from tianji_common.nats_names import POLICY_CHANGED_SUBJECT
from tianji_common.policy import (
    KeyPolicy,
    OrgPolicy,
    PolicyChanged,
    PolicySnapshot,
    TeamPolicy,
    UserPolicy,
    encode_policy,
)

from tianji_control_plane.domain.access_groups import access_group_map
from tianji_control_plane.domain.budgets import budget_policies
from tianji_control_plane.domain.credentials import credential_policies
from tianji_control_plane.domain.customers import customer_policies
from tianji_control_plane.domain.models import model_policies
from tianji_control_plane.domain.teams import team_member_budget, team_model_budgets
from tianji_control_plane.repo.keys import all_keys
from tianji_control_plane.repo.orgs import all_orgs
from tianji_control_plane.repo.teams import all_teams
from tianji_control_plane.repo.users import all_users
from tianji_control_plane.repo.version import current_version

if TYPE_CHECKING:
    from tianji_common.bus.base import EventBus

    from tianji_control_plane.domain.common import Changes
    from tianji_control_plane.repo.db import Db
    from tianji_control_plane.repo.records import KeyRecord, OrgRecord, TeamRecord, UserRecord

__all__ = [
    "BusNotifier",
    "build_snapshot",
    "change_event",
    "key_policy",
    "org_policy",
    "team_policy",
    "user_policy",
]


def key_policy(rec: KeyRecord) -> KeyPolicy:
    """What the gateway needs of one key."""
    return KeyPolicy(
        token=rec.token,
        key_name=rec.key_name,
        key_alias=rec.key_alias,
        models=rec.models,
        aliases=rec.aliases,
        expires=rec.expires,
        blocked=bool(rec.blocked),
        user_id=rec.user_id,
        team_id=rec.team_id,
        org_id=rec.organization_id,
        tpm_limit=rec.tpm_limit,
        rpm_limit=rec.rpm_limit,
        max_parallel_requests=rec.max_parallel_requests,
        max_budget=rec.max_budget,
        soft_budget=rec.soft_budget,
        spend=rec.spend,
        budget_duration=rec.budget_duration,
        budget_reset_at=rec.budget_reset_at,
        model_max_budget=_model_budgets(rec.model_max_budget),
        model_spend=_floats(rec.model_spend),
        model_rpm_limit=_ints(rec.metadata.get("model_rpm_limit")),
        model_tpm_limit=_ints(rec.metadata.get("model_tpm_limit")),
        tags=_strings(rec.metadata.get("tags")),
        guardrails=_strings(rec.metadata.get("guardrails")),
        allowed_routes=list(rec.allowed_routes or ()),
    )


def _number(value: object) -> float | None:
    """A JSON number or numeric text (spend is stored as text Decimals), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _model_budgets(value: dict[str, Any] | None) -> dict[str, float]:
    """LiteLLM's `model_max_budget`: model -> {"max_budget": x, ...} (or a bare number)."""
    out: dict[str, float] = {}
    for model, budget in (value or {}).items():
        amount = _number(budget.get("max_budget") if isinstance(budget, dict) else budget)
        if amount is not None:
            out[model] = amount
    return out


def _floats(value: dict[str, Any] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, raw in (value or {}).items():
        amount = _number(raw)
        if amount is not None:
            out[name] = amount
    return out


def _ints(value: object) -> dict[str, int]:
    """`metadata.model_rpm_limit` / `model_tpm_limit`: model -> limit."""
    if not isinstance(value, dict):
        return {}
    return {
        str(k): int(v)
        for k, v in value.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _strings(value: object) -> list[str]:
    """`metadata.tags` / `metadata.guardrails`: a list of names."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def team_policy(rec: TeamRecord) -> TeamPolicy:
    """What the gateway needs of one team."""
    return TeamPolicy(
        team_id=rec.team_id,
        team_alias=rec.team_alias,
        org_id=rec.organization_id,
        models=rec.models,
        blocked=rec.blocked,
        tpm_limit=rec.tpm_limit,
        rpm_limit=rec.rpm_limit,
        max_parallel_requests=rec.max_parallel_requests,
        max_budget=rec.max_budget,
        soft_budget=rec.soft_budget,
        spend=rec.spend,
        budget_duration=rec.budget_duration,
        model_aliases=rec.model_aliases,
        model_max_budget=team_model_budgets(rec.model_max_budget),
        member_budget=team_member_budget(rec),
    )


def user_policy(rec: UserRecord) -> UserPolicy:
    """What the gateway needs of one user."""
    return UserPolicy(
        user_id=rec.user_id,
        user_role=rec.user_role,
        models=rec.models,
        teams=rec.teams,
        tpm_limit=rec.tpm_limit,
        rpm_limit=rec.rpm_limit,
        max_parallel_requests=rec.max_parallel_requests,
        max_budget=rec.max_budget,
        spend=rec.spend,
        org_id=rec.organization_id,
    )


def org_policy(rec: OrgRecord) -> OrgPolicy:
    """What the gateway needs of one organization."""
    return OrgPolicy(
        org_id=rec.organization_id,
        org_alias=rec.organization_alias,
        models=rec.models,
        tpm_limit=rec.tpm_limit,
        rpm_limit=rec.rpm_limit,
        max_parallel_requests=rec.max_parallel_requests,
        max_budget=rec.max_budget,
        soft_budget=rec.soft_budget,
        spend=rec.spend,
    )


async def build_snapshot(db: Db) -> PolicySnapshot:
    """Everything, labelled with a version no newer than its contents.

    The version is read first: rows committed after it are newer still, and every
    change event carries whole entities, so re-applying those events is harmless.
    """
    version = await current_version(db)
    keys = {rec.token: key_policy(rec) for rec in await all_keys(db)}
    teams = {rec.team_id: team_policy(rec) for rec in await all_teams(db)}
    users = {rec.user_id: user_policy(rec) for rec in await all_users(db)}
    orgs = {rec.organization_id: org_policy(rec) for rec in await all_orgs(db)}
    return PolicySnapshot(
        version=version,
        keys=keys,
        teams=teams,
        users=users,
        orgs=orgs,
        # Sections owned by later modules: each adds `name=await its_loader(db),` here.
        customers=await customer_policies(db),
        budgets=await budget_policies(db),
        models=await model_policies(db),
        credentials=await credential_policies(db),
        access_groups=await access_group_map(db),
    )


def change_event(changes: Changes) -> PolicyChanged:
    """The bus event for one committed write."""
    return PolicyChanged(
        event_id=uuid.uuid4().hex,
        occurred_at=time.time(),
        version=changes.version,
        keys={t: None if r is None else key_policy(r) for t, r in changes.keys.items()},
        teams={t: None if r is None else team_policy(r) for t, r in changes.teams.items()},
        users={u: None if r is None else user_policy(r) for u, r in changes.users.items()},
        orgs={o: None if r is None else org_policy(r) for o, r in changes.orgs.items()},
        customers=dict(changes.customers),
        budgets=dict(changes.budgets),
        access_groups=dict(changes.access_groups),
        models=dict(changes.models),
        credentials=dict(changes.credentials),
    )


class BusNotifier:
    """Broadcasts each committed change on `POLICY_CHANGED_SUBJECT` (fan-out)."""

    def __init__(self, bus: EventBus | None) -> None:
        self._bus = bus

    async def changed(self, changes: Changes) -> None:
        """Fan the change out; the bus never raises (a lost event shows as a gap)."""
        if self._bus is not None:
            payload = encode_policy(change_event(changes))
            await self._bus.broadcast(POLICY_CHANGED_SUBJECT, payload)
