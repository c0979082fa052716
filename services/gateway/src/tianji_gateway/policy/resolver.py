"""`SnapshotKeyResolver`: virtual keys checked against the policy store.

LiteLLM's answers, kept word for word so clients that match on them keep working
(`litellm/proxy/auth/user_api_key_auth.py`, `auth_checks.py`):

* unknown key: 401 "Authentication Error, Unable to find token in cache or
  `LiteLLM_VerificationTokenTable`";
* expired key: 401 "Authentication Error - Expired Key. Key Expiry time {expires} and
  current time {now}" (type `expired_key`);
* blocked key: 401 "Authentication Error, Key is blocked. Update via `/key/unblock`
  if you're an admin.";
* blocked team: 401 "Authentication Error, Team={team_id} is blocked. Update via
  `/team/unblock` if you're an admin.".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tianji_common.errors import AuthError

from tianji_gateway.auth import Principal

if TYPE_CHECKING:
    from tianji_gateway.policy.store import PolicyStore

__all__ = ["ExpiredKey", "SnapshotKeyResolver", "TokenNotFound"]


class ExpiredKey(AuthError):
    """LiteLLM's `ProxyErrorTypes.expired_key`."""

    type = "expired_key"


class TokenNotFound(AuthError):
    """LiteLLM's `token_not_found_in_db`."""

    type = "token_not_found_in_db"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SnapshotKeyResolver:
    """Resolves a key hash to a `Principal`, or raises LiteLLM's refusal."""

    __slots__ = ("_now", "_store")

    def __init__(self, store: PolicyStore, now: Callable[[], datetime] = _utcnow) -> None:
        self._store = store
        self._now = now

    def resolve(self, key_hash: str) -> Principal | None:
        """One dict lookup, then the block and expiry checks."""
        store = self._store
        key = store.keys.get(key_hash)
        if key is None:
            raise TokenNotFound(
                "Authentication Error, Unable to find token in cache or "
                "`LiteLLM_VerificationTokenTable`",
                param="key",
            )
        if key.blocked:
            raise AuthError(
                "Authentication Error, Key is blocked. Update via `/key/unblock` "
                "if you're an admin."
            )
        if key.expires is not None:
            now = self._now()
            if key.expires < now:
                raise ExpiredKey(
                    "Authentication Error - Expired Key. Key Expiry time "
                    f"{key.expires} and current time {now}",
                    param=key.key_name,
                )
        if key.team_id is not None:
            team = store.teams.get(key.team_id)
            if team is not None and team.blocked:
                raise AuthError(
                    f"Authentication Error, Team={key.team_id} is blocked. Update via "
                    "`/team/unblock` if you're an admin."
                )
        return Principal(
            key_hash=key_hash,
            is_admin=False,
            user_id=key.user_id,
            team_id=key.team_id,
            org_id=key.org_id,
            key_alias=key.key_alias,
        )
