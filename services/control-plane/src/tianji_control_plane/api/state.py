"""The control plane's request-time state and the check every management route runs.

`authorize(request)` resolves the caller and checks the route's allow-list
(`api/rbac.py`): the master key (compared with `hmac.compare_digest`) is a proxy
admin; a virtual key (`sk-…`, looked up by its SHA-256) stands for its user, with the
user's `user_role` and roles in teams and orgs (`domain/roles.py`). Missing, unknown,
blocked or expired keys are 401 with LiteLLM's messages; a valid caller without the
right is 403.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import msgspec
from litestar import Request, Response
from tianji_common.errors import AuthError, PermissionDenied, ServiceUnavailable

from tianji_control_plane.api.rbac import check_route
from tianji_control_plane.domain.common import Ctx, Notifier, hash_token
from tianji_control_plane.domain.roles import ADMIN_ACTOR, MASTER_CALLER, Caller, caller_for_key
from tianji_control_plane.repo.db import Db
from tianji_control_plane.repo.keys import get_key
from tianji_control_plane.repo.teams import get_team

__all__ = ["ADMIN_ACTOR", "ControlState", "json_response"]

_HEADERS: Final = ("x-litellm-api-key", "api-key", "x-api-key")
_encoder = msgspec.json.Encoder()


def json_response(value: object, status: int = 200) -> Response[bytes]:
    """Encode once with msgspec (Structs, dicts, datetimes as ISO 8601)."""
    return Response(_encoder.encode(value), status_code=status, media_type="application/json")


def _presented(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else auth.strip()
        if token:
            return token
    for name in _HEADERS:
        value = headers.get(name)
        if value:
            return value.strip()
    return None


@dataclass(slots=True)
class ControlState:
    """The master key, the notifier, and the database once startup opened it."""

    master_key: str | None
    notifier: Notifier
    db: Db | None = field(default=None)

    def database(self) -> Db:
        """The database handle, or 503 before startup finished."""
        if self.db is None:
            raise ServiceUnavailable("control plane is starting", headers={"retry-after": "1"})
        return self.db

    async def authorize(self, request: Request[Any, Any, Any]) -> Ctx:
        """The write context for the caller of `request`, checked against the route's allow-list.

        Every management route calls this first (deny by default, `api/rbac.py`);
        row-level checks then go through `ctx.caller`.
        """
        db = self.database()
        caller = await self.caller(request.headers)
        await check_route(request, caller, db)
        return Ctx(db, caller.actor, self.notifier, caller)

    async def admin(self, headers: Mapping[str, str]) -> Ctx:
        """The write context for a proxy admin; 401 bad credentials, 403 anyone else."""
        caller = await self.caller(headers)
        if not caller.is_admin:
            raise PermissionDenied(
                "Only proxy admins can call this route. This key is not a proxy admin key."
            )
        return Ctx(self.database(), caller.actor, self.notifier, caller)

    async def caller(self, headers: Mapping[str, str]) -> Caller:
        """Who presents these headers: 401 for no, unknown, blocked or expired keys."""
        db = self.database()
        if self.master_key is None:
            return MASTER_CALLER  # no master key configured: no auth (as LiteLLM)
        key = _presented(headers)
        if not key:
            raise AuthError("Authentication Error, No api key passed in.")
        if hmac.compare_digest(key.encode(), self.master_key.encode()):
            return MASTER_CALLER
        record = await get_key(db, hash_token(key)) if key.startswith("sk-") else None
        if record is None:
            raise AuthError("Authentication Error, Invalid proxy server token passed.")
        if record.blocked:
            raise AuthError(
                "Authentication Error, Key is blocked. Update via `/key/unblock` "
                "if you're an admin."
            )
        now = datetime.now(UTC)
        expires = record.expires
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)  # stored in UTC
        if expires is not None and expires < now:
            raise AuthError(
                "Authentication Error - Expired Key. Key Expiry time "
                f"{record.expires} and current time {now}"
            )
        team = None if record.team_id is None else await get_team(db, record.team_id)
        if team is not None and team.blocked:
            raise AuthError(
                f"Authentication Error, Team={team.team_id} is blocked. Update via "
                "`/team/unblock` if you're an admin."
            )
        return await caller_for_key(db, record)
