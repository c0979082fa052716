"""Request bodies of `/team/*`, as LiteLLM names their fields.

Same rules as `bodies.py`: unknown fields are ignored (LiteLLM accepts many we do
not act on), updates use `UNSET` so that "absent" leaves a column alone and `null`
clears it. Types and ranges are checked by msgspec (422 naming the field);
cross-field and format checks in the domain (400).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "Member",
    "NewTeam",
    "TeamMemberAdd",
    "TeamMemberRef",
    "TeamMemberUpdate",
    "TeamModels",
    "TeamRole",
    "TeamsRef",
    "UpdateTeam",
]

TeamRole = Literal["admin", "user"]
Count = Annotated[int, msgspec.Meta(ge=0)]
Money = Annotated[float, msgspec.Meta(ge=0)]


class Member(msgspec.Struct, kw_only=True):
    """LiteLLM's `Member`: a user by id or email, with a team role."""

    role: TeamRole
    user_id: str | None = None
    user_email: str | None = None


class NewTeam(msgspec.Struct, kw_only=True):
    """`POST /team/new` (LiteLLM's `NewTeamRequest`, the fields we act on)."""

    team_id: str | None = None
    team_alias: str | None = None
    organization_id: str | None = None
    models: list[str] = msgspec.field(default_factory=list)
    blocked: bool = False
    max_budget: Money | None = None
    soft_budget: Money | None = None
    tpm_limit: Count | None = None
    rpm_limit: Count | None = None
    max_parallel_requests: Count | None = None
    budget_duration: str | None = None
    members_with_roles: list[Member] = msgspec.field(default_factory=list)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    model_aliases: dict[str, str] = msgspec.field(default_factory=dict)
    model_max_budget: dict[str, Any] = msgspec.field(default_factory=dict)
    team_member_permissions: list[str] = msgspec.field(default_factory=list)
    team_member_budget: Money | None = None


class UpdateTeam(msgspec.Struct, kw_only=True):
    """`POST /team/update` (LiteLLM's `UpdateTeamRequest`): only the fields present change."""

    team_id: str
    team_alias: str | UnsetType | None = UNSET
    organization_id: str | UnsetType | None = UNSET
    models: list[str] | UnsetType | None = UNSET
    blocked: bool | UnsetType | None = UNSET
    max_budget: Money | UnsetType | None = UNSET
    soft_budget: Money | UnsetType | None = UNSET
    tpm_limit: Count | UnsetType | None = UNSET
    rpm_limit: Count | UnsetType | None = UNSET
    max_parallel_requests: Count | UnsetType | None = UNSET
    budget_duration: str | UnsetType | None = UNSET
    metadata: dict[str, Any] | UnsetType | None = UNSET
    model_aliases: dict[str, str] | UnsetType | None = UNSET
    model_max_budget: dict[str, Any] | UnsetType | None = UNSET
    team_member_permissions: list[str] | UnsetType | None = UNSET
    team_member_budget: Money | UnsetType | None = UNSET


class TeamsRef(msgspec.Struct, kw_only=True):
    """`POST /team/delete`: LiteLLM requires `team_ids`."""

    team_ids: list[str]


class TeamMemberAdd(msgspec.Struct, kw_only=True):
    """`POST /team/member_add`: one member or a list."""

    team_id: str
    member: Member | list[Member]
    max_budget_in_team: Money | None = None


class TeamMemberRef(msgspec.Struct, kw_only=True):
    """`POST /team/member_delete`: a member by id or email."""

    team_id: str
    user_id: str | None = None
    user_email: str | None = None


class TeamMemberUpdate(msgspec.Struct, kw_only=True):
    """`POST /team/member_update`: role and/or the member's own budget in the team."""

    team_id: str
    user_id: str | None = None
    user_email: str | None = None
    role: TeamRole | None = None
    max_budget_in_team: Money | None = None
    tpm_limit: Count | None = None
    rpm_limit: Count | None = None


class TeamModels(msgspec.Struct, kw_only=True):
    """`POST /team/model/add` and `/team/model/delete`."""

    team_id: str
    models: list[str]
