"""The Structs `repo/` returns: one per table row we expose, decoded at the edge."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

__all__ = [
    "AuditEntry",
    "KeyRecord",
    "OrgMemberRecord",
    "OrgRecord",
    "TeamRecord",
    "UserRecord",
]


class KeyRecord(msgspec.Struct, kw_only=True):
    """A `tianji_verification_token` row (LiteLLM's `LiteLLM_VerificationToken`)."""

    token: str
    key_name: str = ""
    key_alias: str | None = None
    spend: float = 0.0
    max_budget: float | None = None
    budget_duration: str | None = None
    budget_reset_at: datetime | None = None
    expires: datetime | None = None
    models: list[str] = msgspec.field(default_factory=list)
    aliases: dict[str, str] = msgspec.field(default_factory=dict)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    user_id: str | None = None
    team_id: str | None = None
    organization_id: str | None = None
    max_parallel_requests: int | None = None
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    blocked: bool | None = None
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None
    soft_budget: float | None = None
    # Nullable JSON columns (NULL in rows imported from LiteLLM).
    model_max_budget: dict[str, Any] | None = None  # model -> {"max_budget", ...} or USD
    model_spend: dict[str, Any] | None = None  # model -> spend
    allowed_routes: list[str] | None = None


class TeamRecord(msgspec.Struct, kw_only=True):
    """A `tianji_team` row (LiteLLM's `LiteLLM_TeamTable`, the columns used so far)."""

    team_id: str
    team_alias: str | None = None
    organization_id: str | None = None
    models: list[str] = msgspec.field(default_factory=list)
    max_budget: float | None = None
    spend: float = 0.0
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    max_parallel_requests: int | None = None
    budget_duration: str | None = None
    blocked: bool = False
    members_with_roles: list[dict[str, Any]] = msgspec.field(default_factory=list)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    soft_budget: float | None = None
    budget_reset_at: datetime | None = None
    model_max_budget: dict[str, Any] = msgspec.field(default_factory=dict)
    model_spend: dict[str, Any] = msgspec.field(default_factory=dict)  # text Decimals
    model_aliases: dict[str, str] = msgspec.field(default_factory=dict)
    team_member_permissions: list[str] = msgspec.field(default_factory=list)
    team_member_budget_id: str | None = None
    created_by: str | None = None
    updated_by: str | None = None
    # Not a column: the max_budget of the `team_member_budget_id` budget row, joined
    # in by `repo/teams.py` (LiteLLM's `team_member_budget`).
    team_member_budget: float | None = None


class AuditEntry(msgspec.Struct, kw_only=True):
    """A `tianji_audit_log` row."""

    id: str
    changed_by: str
    action: str
    table_name: str
    object_id: str
    before_value: dict[str, Any] | None = None
    updated_values: dict[str, Any] | None = None
    at: datetime | None = None


class UserRecord(msgspec.Struct, kw_only=True):
    """A `tianji_user` row (LiteLLM's `LiteLLM_UserTable`, the columns kept so far)."""

    user_id: str
    user_alias: str | None = None
    user_email: str | None = None
    user_role: str | None = None
    models: list[str] = msgspec.field(default_factory=list)
    max_budget: float | None = None
    spend: float = 0.0
    budget_duration: str | None = None
    budget_reset_at: datetime | None = None
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    max_parallel_requests: int | None = None
    teams: list[str] = msgspec.field(default_factory=list)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    organization_id: str | None = None


class OrgRecord(msgspec.Struct, kw_only=True):
    """A `tianji_organization` row (LiteLLM's org plus its budget row's limits)."""

    organization_id: str
    organization_alias: str = ""
    models: list[str] = msgspec.field(default_factory=list)
    max_budget: float | None = None
    spend: float = 0.0
    budget_duration: str | None = None
    budget_reset_at: datetime | None = None
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    max_parallel_requests: int | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None
    soft_budget: float | None = None


class OrgMemberRecord(msgspec.Struct, kw_only=True):
    """A `tianji_organization_membership` row (LiteLLM's `LiteLLM_OrganizationMembership`)."""

    id: str
    organization_id: str
    user_id: str
    user_role: str = "internal_user"
    spend: float = 0.0
    max_budget: float | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
