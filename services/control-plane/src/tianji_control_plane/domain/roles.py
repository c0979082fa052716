"""Who calls the management API, and which rows they may touch.

Roles are LiteLLM's: a user's `user_role` (proxy_admin, proxy_admin_viewer, org_admin,
internal_user, internal_user_viewer), a role in each team (`members_with_roles`:
admin / user) and in each org (`tianji_organization_membership`: org_admin, ...).
The route allow-list (`api/rbac.py`) decides whether a caller may call a route at all;
the checks here decide, row by row, what the handler may show or change (an internal
user sees and manages only their own keys, a team admin their team's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from tianji_control_plane.repo import callers as caller_repo
from tianji_control_plane.repo.teams import get_team
from tianji_control_plane.repo.users import get_user

if TYPE_CHECKING:
    from tianji_control_plane.repo.db import Db
    from tianji_control_plane.repo.records import KeyRecord

__all__ = [
    "ADMIN_ACTOR",
    "ANY_CALLER",
    "INTERNAL_USER",
    "INTERNAL_USER_VIEWER",
    "MASTER_CALLER",
    "ORG_ADMIN",
    "PROXY_ADMIN",
    "PROXY_ADMIN_VIEWER",
    "TEAM_ADMIN",
    "TEAM_MEMBER",
    "Caller",
    "caller_for_key",
]

ADMIN_ACTOR: Final = "default_user_id"  # LiteLLM's user id for the master key

# A user's `user_role` (LiteLLM's LitellmUserRoles values).
PROXY_ADMIN: Final = "proxy_admin"
PROXY_ADMIN_VIEWER: Final = "proxy_admin_viewer"
ORG_ADMIN: Final = "org_admin"
INTERNAL_USER: Final = "internal_user"
INTERNAL_USER_VIEWER: Final = "internal_user_viewer"
# Derived from memberships: admin (member) of at least one team; any valid caller.
TEAM_ADMIN: Final = "team_admin"
TEAM_MEMBER: Final = "team_member"
ANY_CALLER: Final = "any"

_USER_ROLES: Final = frozenset(
    {PROXY_ADMIN, PROXY_ADMIN_VIEWER, ORG_ADMIN, INTERNAL_USER, INTERNAL_USER_VIEWER}
)
_READ_ONLY: Final = frozenset({PROXY_ADMIN_VIEWER, INTERNAL_USER_VIEWER})
_TEAM_ADMIN_ROLE: Final = "admin"  # in members_with_roles
_ORG_ADMIN_ROLE: Final = "org_admin"  # in the org membership row


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller: user, role, key, and roles in teams and orgs.

    `key_hash` is None for the master key. `team_roles` maps team_id → "admin" or
    "user"; `org_roles` maps organization_id → the role in that org.
    """

    user_id: str | None
    role: str | None
    key_hash: str | None = None
    team_roles: Mapping[str, str] = field(default_factory=dict)
    org_roles: Mapping[str, str] = field(default_factory=dict)
    master: bool = False

    @property
    def actor(self) -> str:
        """Who the audit log names: the user, else the key's hash."""
        return self.user_id or self.key_hash or ADMIN_ACTOR

    @property
    def is_admin(self) -> bool:
        """A proxy admin (the master key, or a user with that role)."""
        return self.role == PROXY_ADMIN

    @property
    def reads_all(self) -> bool:
        """Proxy admins and proxy admin viewers see every row."""
        return self.role in (PROXY_ADMIN, PROXY_ADMIN_VIEWER)

    @property
    def writes(self) -> bool:
        """False for the read-only roles (viewers write nothing of their own)."""
        return self.role not in _READ_ONLY

    def roles(self) -> frozenset[str]:
        """Every role name the allow-list may grant this caller."""
        names = {ANY_CALLER}
        if self.role in _USER_ROLES:
            names.add(self.role)
        if self.team_roles:
            names.add(TEAM_MEMBER)
        if any(r == _TEAM_ADMIN_ROLE for r in self.team_roles.values()):
            names.add(TEAM_ADMIN)
        if any(r == _ORG_ADMIN_ROLE for r in self.org_roles.values()):
            names.add(ORG_ADMIN)
        return frozenset(names)

    def admins_team(self, team_id: str | None) -> bool:
        """Admin of this team (proxy admins administer every team)."""
        if self.is_admin:
            return True
        return team_id is not None and self.team_roles.get(team_id) == _TEAM_ADMIN_ROLE

    def in_team(self, team_id: str | None) -> bool:
        """A member of this team, in any role."""
        return self.is_admin or (team_id is not None and team_id in self.team_roles)

    def admins_org(self, organization_id: str | None) -> bool:
        """Org admin of this org (proxy admins administer every org)."""
        if self.is_admin:
            return True
        role = None if organization_id is None else self.org_roles.get(organization_id)
        return role == _ORG_ADMIN_ROLE

    def owns_key(self, key: KeyRecord) -> bool:
        """The key is the caller's own: issued to their user, or the very key calling."""
        if self.key_hash is not None and key.token == self.key_hash:
            return True
        return self.user_id is not None and key.user_id == self.user_id

    def may_manage_key(self, key: KeyRecord) -> bool:
        """Update, delete, regenerate: own keys (not for viewers), team or org admins."""
        if self.is_admin or self.admins_team(key.team_id) or self.admins_org(key.organization_id):
            return True
        return self.writes and self.user_id is not None and key.user_id == self.user_id

    def may_read_key(self, key: KeyRecord) -> bool:
        """Info: what the caller may manage, their own keys, or everything for viewers."""
        return self.reads_all or self.owns_key(key) or self.may_manage_key(key)

    def key_owner(self, user_id: str | None, team_id: str | None) -> str | None:
        """The `user_id` a new key gets when the body names none.

        Proxy admins and a team's admins may issue a key owned by nobody (a team
        key); anyone else's keys are theirs, so that they can manage them later.
        """
        if user_id is not None or self.is_admin:
            return user_id
        if team_id is not None and self.admins_team(team_id):
            return None
        return self.user_id


MASTER_CALLER: Final = Caller(user_id=ADMIN_ACTOR, role=PROXY_ADMIN, master=True)


async def caller_for_key(db: Db, key: KeyRecord) -> Caller:
    """The caller behind a valid virtual key: its user's role and memberships."""
    if key.user_id is None:
        return Caller(user_id=None, role=None, key_hash=key.token)
    user = await get_user(db, key.user_id)
    if user is None:
        return Caller(user_id=key.user_id, role=None, key_hash=key.token)
    team_ids = dict.fromkeys([*user.teams, *await caller_repo.team_ids_of(db, user.user_id)])
    team_roles: dict[str, str] = {}
    for team_id in team_ids:
        team = await get_team(db, team_id)
        if team is None:
            continue
        for member in team.members_with_roles:
            if member.get("user_id") == user.user_id:
                team_roles[team_id] = str(member.get("role") or "user")
    return Caller(
        user_id=user.user_id,
        role=user.user_role,
        key_hash=key.token,
        team_roles=team_roles,
        org_roles=await caller_repo.org_roles_of(db, user.user_id),
    )
