"""The control plane's request-time state and the admin check every route runs.

Auth (this slice): the master key only, compared with `hmac.compare_digest`. A valid
virtual key is a caller without the right (403); anything else is 401, with LiteLLM's
messages. Per-role allow-lists (RBAC) come with the rest of issue 3.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from litestar import Request, Response
from tianji_common.errors import AuthError, PermissionDenied, ServiceUnavailable

from tianji_control_plane.domain.common import Ctx, Notifier, token_of
from tianji_control_plane.repo.db import Db
from tianji_control_plane.repo.keys import get_key

__all__ = ["ADMIN_ACTOR", "ControlState", "json_response"]

ADMIN_ACTOR: Final = "default_user_id"  # LiteLLM's user id for the master key
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

        Every management route calls this first (deny by default). This slice: proxy
        admins only; RBAC (roles, team/org scoping) replaces the body, not the calls.
        """
        return await self.admin(request.headers)

    async def admin(self, headers: Mapping[str, str]) -> Ctx:
        """The write context for a proxy admin; 401 bad credentials, 403 a virtual key."""
        db = self.database()
        if self.master_key is None:
            return Ctx(db, ADMIN_ACTOR, self.notifier)
        key = _presented(headers)
        if not key:
            raise AuthError("Authentication Error, No api key passed in.")
        if hmac.compare_digest(key.encode(), self.master_key.encode()):
            return Ctx(db, ADMIN_ACTOR, self.notifier)
        if key.startswith("sk-") and await get_key(db, token_of(key)) is not None:
            raise PermissionDenied(
                "Only proxy admins can call this route. This key is not a proxy admin key."
            )
        raise AuthError("Authentication Error, Invalid proxy server token passed.")
