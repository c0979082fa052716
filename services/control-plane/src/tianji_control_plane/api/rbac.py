"""Who may call which management route: one explicit allow-list, deny by default.

`ROUTES` maps (method, route template as registered) to a `Rule`: the roles, besides
proxy admins, that may call the route and how each grant is scoped. A route missing
from the table answers 403 to everyone but proxy admins, so a route added without a
rule is safe. The table also lists routes not served yet: it is the contract their
handlers are written against.

Scopes follow LiteLLM (`RouteChecks.non_proxy_admin_allowed_routes_check`,
`LiteLLMRoutes.internal_user_routes`, `org_admin_only_routes`,
`_check_proxy_admin_viewer_access`, `_is_allowed_to_make_key_request`):

* ANY: the role suffices.
* OWN: the handler shows or changes only the caller's rows, through `ctx.caller`
  (`may_read_key`, `may_manage_key`, `owns_key`); the route itself is open to the role.
* SELF: the request names a `user_id` and it is the caller's.
* TEAM / TEAM_MEMBER: the request names teams (`team_id`, `team_ids`, in the path,
  query or JSON body) and the caller is admin / member of each; any organization
  named must be one the caller administers (a team admin cannot move a team).
* ORG: the organizations named, and those of the teams named, are all ones the
  caller is org admin of.
* ORG_USER: the users named are all members of an org the caller administers.
* KEY: key fields: `team_id` a team the caller is in, `organization_id` an org they
  belong to, `user_id` the caller or (for that team's admins) a member of the team;
  `spend` and `blocked` only for that team's admins. The handler checks the key's row.

Whatever the route, only proxy admins may grant the proxy admin (viewer) roles.

Proxy admin viewers read (info, list, spend) but write nothing; `/internal/policy/
snapshot` and `/global/spend/reset` take the master key only.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import msgspec
from tianji_common.errors import PermissionDenied

from tianji_control_plane.domain.roles import (
    ANY_CALLER,
    INTERNAL_USER,
    INTERNAL_USER_VIEWER,
    ORG_ADMIN,
    PROXY_ADMIN,
    PROXY_ADMIN_VIEWER,
    TEAM_ADMIN,
    TEAM_MEMBER,
)
from tianji_control_plane.repo.orgs import get_member
from tianji_control_plane.repo.teams import get_team

if TYPE_CHECKING:
    from litestar import Request

    from tianji_control_plane.domain.roles import Caller
    from tianji_control_plane.repo.db import Db

__all__ = ["ROUTES", "Rule", "Scope", "check_route", "rule_for"]


class Scope(enum.Enum):
    """How a grant is narrowed to the caller's own rows (see the module docstring)."""

    ANY = "any"
    OWN = "own"
    SELF = "self"
    TEAM = "team"
    TEAM_MEMBER = "team_member"
    ORG = "org"
    ORG_USER = "org_user"
    KEY = "key"


@dataclass(frozen=True, slots=True)
class Rule:
    """The roles (besides proxy admin) granted a route, each with its scope."""

    grants: Mapping[str, Scope]
    master_only: bool = False


def _rule(*grants: tuple[str, Scope]) -> Rule:
    return Rule(MappingProxyType(dict(grants)))


_ADMIN: Final = _rule()
_MASTER: Final = Rule(MappingProxyType({}), master_only=True)
_VIEW: Final = (PROXY_ADMIN_VIEWER, Scope.ANY)
_VIEWER: Final = _rule(_VIEW)
_EVERYONE: Final = _rule((ANY_CALLER, Scope.ANY))
_KEY_WRITE: Final = _rule(
    (INTERNAL_USER, Scope.KEY), (ORG_ADMIN, Scope.KEY), (TEAM_ADMIN, Scope.KEY)
)
_KEY_OWN_WRITE: Final = _rule(
    (INTERNAL_USER, Scope.OWN), (ORG_ADMIN, Scope.OWN), (TEAM_ADMIN, Scope.OWN)
)
_TEAM_WRITE: Final = _rule((TEAM_ADMIN, Scope.TEAM), (ORG_ADMIN, Scope.ORG))
_TEAM_READ: Final = _rule(_VIEW, (TEAM_MEMBER, Scope.TEAM_MEMBER), (ORG_ADMIN, Scope.ORG))
_ORG_WRITE: Final = _rule((ORG_ADMIN, Scope.ORG))
_ORG_READ: Final = _rule(_VIEW, (ORG_ADMIN, Scope.ORG))
_SELF_READ: Final = _rule(_VIEW, (ANY_CALLER, Scope.SELF))
_TEAM_LIST: Final = _rule(_VIEW, (ANY_CALLER, Scope.SELF), (ORG_ADMIN, Scope.ORG))
# The handler replaces the user filter with the caller's own (`api/spend.scoped_user`).
_OWN_READ: Final = _rule(_VIEW, (ANY_CALLER, Scope.OWN))


def _customers() -> dict[tuple[str, str], Rule]:
    """`/customer/*` and their hidden `/end_user/*` twins: admins write, viewers read."""
    out: dict[tuple[str, str], Rule] = {}
    for prefix in ("/customer", "/end_user"):
        for name in ("new", "update", "delete", "block", "unblock"):
            out["POST", f"{prefix}/{name}"] = _ADMIN
        for name in ("info", "list", "daily/activity"):
            out["GET", f"{prefix}/{name}"] = _VIEWER
    return out


def _spend() -> dict[tuple[str, str], Rule]:
    """Issue 4's spend API: proxy-wide figures for admins and viewers only."""
    out: dict[tuple[str, str], Rule] = {
        ("GET", "/spend/logs"): _OWN_READ,
        ("GET", "/spend/logs/v2"): _OWN_READ,
        ("POST", "/spend/calculate"): _EVERYONE,  # a price calculator, no data
        ("POST", "/global/spend/reset"): _MASTER,  # LiteLLM: master key only
        ("POST", "/global/spend/refresh"): _ADMIN,
        ("POST", "/global/spend/end_users"): _VIEWER,
    }
    for path in (
        "/spend/keys",
        "/spend/users",
        "/spend/tags",
        "/spend/logs/ui",
        "/spend/logs/ui/{request_id}",
        "/spend/logs/session/ui",
        "/global/spend",
        "/global/spend/logs",
        "/global/spend/keys",
        "/global/spend/teams",
        "/global/spend/models",
        "/global/spend/tags",
        "/global/spend/report",
        "/global/spend/provider",
        "/global/spend/all_tag_names",
        "/global/all_end_users",
        "/global/activity",
        "/global/activity/model",
        "/global/activity/cache_hits",
        "/global/activity/exceptions",
        "/global/activity/exceptions/deployment",
        "/provider/budgets",
        "/tag/daily/activity",
    ):
        out["GET", path] = _VIEWER
    return out


def _models() -> dict[tuple[str, str], Rule]:
    """DB models, model groups, access groups and credentials: admins write."""
    out: dict[tuple[str, str], Rule] = {
        ("POST", "/model/new"): _ADMIN,
        ("POST", "/model/update"): _ADMIN,
        ("PATCH", "/model/{model_id}/update"): _ADMIN,
        ("POST", "/model/delete"): _ADMIN,
        ("POST", "/model_group/make_public"): _ADMIN,
        ("POST", "/access_group/new"): _ADMIN,
        ("PUT", "/access_group/{access_group}/update"): _ADMIN,
        ("DELETE", "/access_group/{access_group}/delete"): _ADMIN,
        ("GET", "/access_group/list"): _VIEWER,
        ("GET", "/access_group/{access_group}/info"): _VIEWER,
        # The same handlers under the name issue 3 used (LiteLLM serves /access_group/*).
        ("POST", "/model_access_group/new"): _ADMIN,
        ("PUT", "/model_access_group/{access_group}/update"): _ADMIN,
        ("DELETE", "/model_access_group/{access_group}/delete"): _ADMIN,
        ("GET", "/model_access_group/list"): _VIEWER,
        ("GET", "/model_access_group/{access_group}/info"): _VIEWER,
        ("POST", "/v1/access_group"): _ADMIN,
        ("GET", "/v1/access_group"): _VIEWER,
        ("GET", "/v1/access_group/{access_group_id}"): _VIEWER,
        ("PUT", "/v1/access_group/{access_group_id}"): _ADMIN,
        ("DELETE", "/v1/access_group/{access_group_id}"): _ADMIN,
        ("POST", "/credentials"): _ADMIN,
        ("GET", "/credentials"): _VIEWER,
        ("GET", "/credentials/by_name/{credential_name}"): _VIEWER,
        ("GET", "/credentials/by_model/{model_id}"): _VIEWER,
        ("PATCH", "/credentials/{credential_name}"): _ADMIN,
        ("DELETE", "/credentials/{credential_name}"): _ADMIN,
    }
    # Any caller: LiteLLM's info routes; the handler lists what the caller may use.
    for path in ("/model/info", "/v1/model/info", "/v2/model/info", "/model_group/info"):
        out["GET", path] = _EVERYONE
    for path in (
        "/model/streaming_metrics",
        "/model/metrics",
        "/model/metrics/slow_responses",
        "/model/metrics/exceptions",
        "/model/settings",
        "/model/cost_map/source",
    ):
        out["GET", path] = _VIEWER
    return out


_TABLE: Final[dict[tuple[str, str], Rule]] = {
    # --- keys (LiteLLM key_management_routes: internal users, own keys only) ---
    ("POST", "/key/generate"): _KEY_WRITE,
    ("POST", "/key/service-account/generate"): _TEAM_WRITE,
    ("POST", "/key/update"): _KEY_WRITE,
    ("POST", "/key/bulk_update"): _ADMIN,
    ("POST", "/key/delete"): _KEY_OWN_WRITE,
    ("GET", "/key/info"): _rule((ANY_CALLER, Scope.OWN)),
    ("POST", "/v2/key/info"): _rule((ANY_CALLER, Scope.OWN)),
    ("POST", "/key/regenerate"): _KEY_WRITE,
    ("POST", "/key/{key}/regenerate"): _KEY_WRITE,
    ("POST", "/key/{key}/reset_spend"): _ADMIN,
    ("GET", "/key/list"): _rule(
        _VIEW,
        (INTERNAL_USER, Scope.OWN),
        (INTERNAL_USER_VIEWER, Scope.OWN),
        (ORG_ADMIN, Scope.OWN),
        (TEAM_MEMBER, Scope.OWN),
    ),
    ("GET", "/key/aliases"): _VIEWER,
    ("POST", "/key/block"): _ADMIN,
    ("POST", "/key/unblock"): _ADMIN,
    ("POST", "/key/health"): _rule((ANY_CALLER, Scope.OWN)),
    # --- users ---
    ("POST", "/user/new"): _ORG_WRITE,
    ("GET", "/user/available_roles"): _EVERYONE,
    ("GET", "/user/info"): _rule(_VIEW, (ANY_CALLER, Scope.SELF), (ORG_ADMIN, Scope.ORG_USER)),
    ("POST", "/user/update"): _rule((ORG_ADMIN, Scope.ORG_USER)),
    ("POST", "/user/bulk_update"): _ADMIN,
    ("GET", "/user/list"): _VIEWER,
    ("POST", "/user/delete"): _rule((ORG_ADMIN, Scope.ORG_USER)),
    ("GET", "/user/filter/ui"): _VIEWER,
    ("GET", "/user/daily/activity"): _OWN_READ,
    ("GET", "/user/daily/activity/aggregated"): _OWN_READ,
    ("GET", "/user/available_users"): _VIEWER,
    # --- teams (a team admin manages their team; an org admin their org's teams) ---
    ("POST", "/team/{team_id}/callback"): _TEAM_WRITE,
    ("GET", "/team/{team_id}/callback"): _TEAM_READ,
    ("POST", "/team/{team_id}/disable_logging"): _TEAM_WRITE,
    ("POST", "/team/new"): _ORG_WRITE,
    ("POST", "/team/update"): _TEAM_WRITE,
    ("POST", "/team/member_add"): _TEAM_WRITE,
    ("POST", "/team/member_delete"): _TEAM_WRITE,
    ("POST", "/team/member_update"): _TEAM_WRITE,
    ("POST", "/team/bulk_member_add"): _TEAM_WRITE,
    ("POST", "/team/delete"): _ORG_WRITE,
    ("GET", "/team/info"): _TEAM_READ,
    ("POST", "/team/block"): _ORG_WRITE,
    ("POST", "/team/unblock"): _ORG_WRITE,
    ("GET", "/team/available"): _EVERYONE,
    # Others name themselves (`user_id`: the teams they are in) or an org they administer.
    ("GET", "/v2/team/list"): _TEAM_LIST,
    ("GET", "/team/list"): _TEAM_LIST,
    ("GET", "/team/filter/ui"): _VIEWER,
    ("POST", "/team/model/add"): _TEAM_WRITE,
    ("POST", "/team/model/delete"): _TEAM_WRITE,
    ("GET", "/team/permissions_list"): _TEAM_READ,
    ("POST", "/team/permissions_update"): _TEAM_WRITE,
    ("GET", "/team/daily/activity"): _TEAM_READ,
    # --- organizations (LiteLLM org_admin_only_routes) ---
    ("POST", "/organization/new"): _ADMIN,
    ("PATCH", "/organization/update"): _ADMIN,
    ("DELETE", "/organization/delete"): _ORG_WRITE,
    ("GET", "/organization/list"): _VIEWER,
    ("GET", "/organization/info"): _ORG_READ,
    ("POST", "/organization/info"): _ORG_READ,
    ("POST", "/organization/member_add"): _ORG_WRITE,
    ("PATCH", "/organization/member_update"): _ORG_WRITE,
    ("DELETE", "/organization/member_delete"): _ORG_WRITE,
    ("GET", "/organization/daily/activity"): _ORG_READ,
    # --- budgets ---
    ("POST", "/budget/new"): _ADMIN,
    ("POST", "/budget/update"): _ADMIN,
    ("POST", "/budget/delete"): _ADMIN,
    ("POST", "/budget/info"): _VIEWER,
    ("GET", "/budget/list"): _VIEWER,
    ("GET", "/budget/settings"): _VIEWER,
    # --- the gateways' snapshot: it holds every key hash and sealed secret ---
    ("GET", "/internal/policy/snapshot"): _MASTER,
    **_customers(),
    **_spend(),
    **_models(),
}

ROUTES: Final[Mapping[tuple[str, str], Rule]] = MappingProxyType(_TABLE)

_PARAM: Final = re.compile(r"\{[^}]*\}")
# Only proxy admins grant these user roles (an org admin cannot make a proxy admin).
_ADMIN_ROLES: Final = frozenset({PROXY_ADMIN, PROXY_ADMIN_VIEWER})
# Key fields only proxy admins, or the admins of the team named, may set.
_ADMIN_KEY_FIELDS: Final = ("spend", "blocked")


def _shape(template: str) -> str:
    """The template with its parameters unnamed: `/key/{key:str}/x` → `/key/{}/x`."""
    return _PARAM.sub("{}", template.rstrip("/") or "/")


_BY_SHAPE: Final[Mapping[tuple[str, str], Rule]] = MappingProxyType(
    {(method, _shape(path)): rule for (method, path), rule in _TABLE.items()}
)


def rule_for(method: str, template: str) -> Rule | None:
    """The route's rule; None (proxy admins only) for a route missing from the table."""
    return _BY_SHAPE.get((method.upper(), _shape(template)))


def _template(request: Request[Any, Any, Any]) -> str:
    template = request.scope.get("path_template")
    return template if isinstance(template, str) and template else request.scope["path"]


def _masked(user_id: str | None) -> str:
    """LiteLLM masks the user id in this message: six characters, stars, two."""
    if not user_id or len(user_id) <= 4:
        return "***"
    if len(user_id) <= 8:
        return user_id[:2] + "*" * (len(user_id) - 2)
    return user_id[:6] + "*" * (len(user_id) - 8) + user_id[-2:]


def _denied(caller: Caller, route: str) -> PermissionDenied:
    return PermissionDenied(
        "Only proxy admin can be used to generate, delete, update info for new "
        f"keys/users/teams. Route={route}. Your role={caller.role or 'unknown'}. "
        f"Your user_id={_masked(caller.user_id)}"
    )


def _out_of_scope(caller: Caller, route: str) -> PermissionDenied:
    return PermissionDenied(
        f"user not allowed to access this route, role= {caller.role or 'unknown'}. "
        f"Trying to access: {route} for a team, organization, user or key that is "
        "not the caller's"
    )


async def check_route(request: Request[Any, Any, Any], caller: Caller, db: Db) -> None:
    """Raise 403 unless `caller` may call this request's route with these arguments."""
    template = _template(request)
    rule = rule_for(request.method, template)
    if rule is not None and rule.master_only:
        if not caller.master:
            raise _denied(caller, template)
        return
    if caller.is_admin:
        return
    granted = sorted(caller.roles() & rule.grants.keys()) if rule is not None else []
    if rule is None or not granted:
        raise _denied(caller, template)
    args = _Args(request)
    if (await args.body()).get("user_role") in _ADMIN_ROLES:
        raise _out_of_scope(caller, template)
    for role in granted:
        if await _in_scope(rule.grants[role], args, caller, db):
            return
    raise _out_of_scope(caller, template)


class _Args:
    """The ids a request names, from its path, query string and JSON body (read once)."""

    def __init__(self, request: Request[Any, Any, Any]) -> None:
        self._request = request
        self._body: Mapping[str, Any] | None = None

    async def body(self) -> Mapping[str, Any]:
        if self._body is None:
            self._body = {}
            if self._request.method not in ("GET", "HEAD"):
                raw = await self._request.body()
                try:
                    value = msgspec.json.decode(raw) if raw else None
                except msgspec.DecodeError:
                    value = None  # the handler answers the malformed body with 400
                if isinstance(value, dict):
                    self._body = value
        return self._body

    async def named(self, *names: str) -> list[str]:
        """Every string given under these names (lists and comma-separated values split)."""
        out: list[str] = []
        body = await self.body()
        for name in names:
            path_value = self._request.path_params.get(name)
            if isinstance(path_value, str):
                out.append(path_value)
            for raw in self._request.query_params.getall(name, []):
                out.extend(part.strip() for part in str(raw).split(",") if part.strip())
            value = body.get(name)
            if isinstance(value, str):
                out.append(value)
            elif isinstance(value, list):
                out.extend(item for item in value if isinstance(item, str))
        return out

    async def teams(self) -> list[str]:
        return await self.named("team_id", "team_ids")

    async def orgs(self) -> list[str]:
        return await self.named("organization_id", "organization_ids", "organizations")

    async def users(self) -> list[str]:
        return await self.named("user_id", "user_ids")


async def _in_scope(scope: Scope, args: _Args, caller: Caller, db: Db) -> bool:
    match scope:
        case Scope.ANY | Scope.OWN:
            return True
        case Scope.SELF:
            users = await args.users()
            return bool(users) and caller.user_id is not None and set(users) == {caller.user_id}
        case Scope.TEAM | Scope.TEAM_MEMBER:
            teams = await args.teams()
            allowed = caller.admins_team if scope is Scope.TEAM else caller.in_team
            orgs_ok = all(caller.admins_org(o) for o in await args.orgs())
            return bool(teams) and all(allowed(t) for t in teams) and orgs_ok
        case Scope.ORG:
            return await _org_scope(args, caller, db)
        case Scope.ORG_USER:
            return await _org_user_scope(args, caller, db)
        case Scope.KEY:
            return await _key_scope(args, caller, db)


async def _org_scope(args: _Args, caller: Caller, db: Db) -> bool:
    orgs = await args.orgs()
    for team_id in await args.teams():
        team = await get_team(db, team_id)
        if team is not None:  # an id not taken yet (`/team/new`) belongs to no org
            orgs.append(team.organization_id or "")
    return bool(orgs) and all(caller.admins_org(o) for o in orgs)


async def _org_user_scope(args: _Args, caller: Caller, db: Db) -> bool:
    users = await args.users()
    admin_of = [o for o in caller.org_roles if caller.admins_org(o)]
    for user_id in users:
        if not any([await get_member(db, org, user_id) is not None for org in admin_of]):
            return False
    return bool(users) and bool(admin_of)


async def _key_scope(args: _Args, caller: Caller, db: Db) -> bool:
    """LiteLLM: "User can only create keys for themselves", in teams they belong to."""
    teams = await args.teams()
    team_admin = bool(teams) and all(caller.admins_team(t) for t in teams)
    if not (caller.writes or team_admin):
        return False  # a viewer writes keys only as a team's admin
    if not all(caller.in_team(t) for t in teams):
        return False
    if not all(o in caller.org_roles for o in await args.orgs()):
        return False
    body = await args.body()
    if not team_admin and any(body.get(name) is not None for name in _ADMIN_KEY_FIELDS):
        return False
    for user_id in await args.users():
        if user_id == caller.user_id:
            continue
        team = await get_team(db, teams[0]) if len(teams) == 1 else None
        if team is None or not caller.admins_team(team.team_id):
            return False
        if not any(m.get("user_id") == user_id for m in team.members_with_roles):
            return False
    return True
