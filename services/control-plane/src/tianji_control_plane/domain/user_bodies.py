"""Request bodies of `/user/*` and `/organization/*`, as LiteLLM names their fields.

Same rules as `bodies.py`: unknown fields are ignored, updates use `UNSET` so that
"absent" leaves a column alone and `null` clears it. Types and ranges are checked by
msgspec (422 naming the field); cross-field and format checks in the domain (400).
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, get_args

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "USER_ROLES",
    "NewOrg",
    "NewUser",
    "OrgMember",
    "OrgMemberAdd",
    "OrgMemberRef",
    "OrgMemberUpdate",
    "OrgRole",
    "OrgsRef",
    "UpdateOrg",
    "UpdateUser",
    "UserRole",
    "UserTeam",
    "UsersRef",
]

UserRole = Literal[
    "proxy_admin", "proxy_admin_viewer", "org_admin", "internal_user", "internal_user_viewer"
]
USER_ROLES: Final = frozenset(get_args(UserRole))
OrgRole = Literal["org_admin", "internal_user", "internal_user_viewer"]
Count = Annotated[int, msgspec.Meta(ge=0)]
Money = Annotated[float, msgspec.Meta(ge=0)]


class UserTeam(msgspec.Struct, kw_only=True):
    """LiteLLM's `NewUserRequestTeam`: a team to join, with a role in it."""

    team_id: str
    user_role: Literal["user", "admin"] = "user"
    max_budget_in_team: Money | None = None


class NewUser(msgspec.Struct, kw_only=True):
    """`POST /user/new`."""

    user_id: str | None = None
    user_alias: str | None = None
    user_email: str | None = None
    user_role: UserRole | None = None
    models: list[str] = msgspec.field(default_factory=list)
    max_budget: Money | None = None
    budget_duration: str | None = None
    tpm_limit: Count | None = None
    rpm_limit: Count | None = None
    max_parallel_requests: Count | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    teams: list[str | UserTeam] = msgspec.field(default_factory=list)
    auto_create_key: bool = True
    key_alias: str | None = None
    duration: str | None = None


class UpdateUser(msgspec.Struct, kw_only=True):
    """`POST /user/update`: by `user_id` or `user_email`; only the fields present change."""

    user_id: str | None = None
    user_email: str | UnsetType | None = UNSET
    user_alias: str | UnsetType | None = UNSET
    user_role: UserRole | UnsetType | None = UNSET
    models: list[str] | UnsetType | None = UNSET
    max_budget: Money | UnsetType | None = UNSET
    budget_duration: str | UnsetType | None = UNSET
    tpm_limit: Count | UnsetType | None = UNSET
    rpm_limit: Count | UnsetType | None = UNSET
    max_parallel_requests: Count | UnsetType | None = UNSET
    metadata: dict[str, Any] | UnsetType | None = UNSET
    spend: Money | UnsetType = UNSET


class UsersRef(msgspec.Struct, kw_only=True):
    """`POST /user/delete`."""

    user_ids: list[str] = msgspec.field(default_factory=list)


class NewOrg(msgspec.Struct, kw_only=True):
    """`POST /organization/new`: LiteLLM requires the alias."""

    organization_alias: str
    organization_id: str | None = None
    models: list[str] = msgspec.field(default_factory=list)
    max_budget: Money | None = None
    budget_duration: str | None = None
    tpm_limit: Count | None = None
    rpm_limit: Count | None = None
    max_parallel_requests: Count | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class UpdateOrg(msgspec.Struct, kw_only=True):
    """`PATCH /organization/update`: only the fields present change."""

    organization_id: str
    organization_alias: str | UnsetType = UNSET
    models: list[str] | UnsetType | None = UNSET
    max_budget: Money | UnsetType | None = UNSET
    budget_duration: str | UnsetType | None = UNSET
    tpm_limit: Count | UnsetType | None = UNSET
    rpm_limit: Count | UnsetType | None = UNSET
    max_parallel_requests: Count | UnsetType | None = UNSET
    metadata: dict[str, Any] | UnsetType | None = UNSET
    spend: Money | UnsetType = UNSET


class OrgsRef(msgspec.Struct, kw_only=True):
    """`DELETE /organization/delete`."""

    organization_ids: list[str] = msgspec.field(default_factory=list)


class OrgMember(msgspec.Struct, kw_only=True):
    """LiteLLM's `OrgMember`: a user by id or email, with an org role."""

    role: OrgRole
    user_id: str | None = None
    user_email: str | None = None


class OrgMemberAdd(msgspec.Struct, kw_only=True):
    """`POST /organization/member_add`: one member or a list."""

    organization_id: str
    member: OrgMember | list[OrgMember]
    max_budget_in_organization: Money | None = None


class OrgMemberUpdate(msgspec.Struct, kw_only=True):
    """`PATCH /organization/member_update`."""

    organization_id: str
    user_id: str | None = None
    user_email: str | None = None
    role: OrgRole | None = None
    max_budget_in_organization: Money | None = None


class OrgMemberRef(msgspec.Struct, kw_only=True):
    """`DELETE /organization/member_delete`."""

    organization_id: str
    user_id: str | None = None
    user_email: str | None = None
