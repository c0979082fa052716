"""Caller authentication for LLM routes.

Why: the key may arrive in any header LiteLLM accepts (Bearer, `x-litellm-api-key`,
Azure `api-key`, Anthropic `x-api-key`, Google `x-goog-api-key`, Azure APIM, or a
configured header), and every comparison is constant-time (`hmac.compare_digest`).
Virtual keys plug in through `KeyResolver` (the tenancy issue); until then only the
master key exists.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from tianji_common.errors import AuthError

__all__ = [
    "Authenticator",
    "KeyResolver",
    "Principal",
    "WeakMasterKey",
    "check_master_key_strength",
    "hash_key",
]

_HEADERS = (
    "x-litellm-api-key",
    "api-key",
    "x-api-key",
    "x-goog-api-key",
    "ocp-apim-subscription-key",
)

# Publicly known example keys from LiteLLM's docs and quick-starts.
_WEAK_KEYS = frozenset(
    {
        "sk-1234",
        "sk-12345",
        "sk-123456",
        "sk-1234567890",
        "sk-admin",
        "sk-master",
        "sk-test",
        "sk-password",
        "sk-litellm",
        "sk-master-key",
        "sk-my-master-key",
        "sk-1234abcd",
        "sk-secret",
        "sk-changeme",
        "sk-xxx",
        "sk-example",
    }
)
_MIN_LENGTH = 16


class WeakMasterKey(ValueError):
    """Startup refusal: the master key is missing, public, or too short."""


def check_master_key_strength(key: str | None, *, permit_weak: bool) -> None:
    """Refuse weak or unset master keys unless LiteLLM's own opt-out is set."""
    if permit_weak:
        return
    fix = (
        "Set a long random key, e.g. TIANJI_MASTER_KEY=sk-$(openssl rand -hex 24), or "
        "opt out with general_settings.dangerously_permit_weak_or_unset_master_key: true "
        "(or LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY=true)."
    )
    if not key:
        raise WeakMasterKey("no master key is set: every route would be open. " + fix)
    if not key.startswith("sk-"):
        raise WeakMasterKey("the master key must start with 'sk-'. " + fix)
    if key.lower() in _WEAK_KEYS or len(key) < _MIN_LENGTH:
        raise WeakMasterKey("the master key is a publicly known or too short key. " + fix)


def hash_key(key: str) -> str:
    """SHA-256 hex of the whole `sk-…` key: LiteLLM's stored token format."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the master key (admin) or, later, a virtual key's owner."""

    key_hash: str | None
    is_admin: bool
    user_id: str | None = None
    team_id: str | None = None
    org_id: str | None = None
    key_alias: str | None = None


class KeyResolver(Protocol):
    """Looks a key hash up in the policy snapshot (virtual keys)."""

    def resolve(self, key_hash: str) -> Principal | None:
        """The principal for this key hash, or None if unknown."""
        ...


_ANONYMOUS = Principal(key_hash=None, is_admin=True)


class Authenticator:
    """Master key plus an optional virtual-key resolver."""

    def __init__(
        self,
        master_key: str | None,
        *,
        header_name: str | None = None,
        keys: KeyResolver | None = None,
    ) -> None:
        self._master = master_key.encode() if master_key else None
        self._master_principal = Principal(
            key_hash=hash_key(master_key) if master_key else None, is_admin=True
        )
        self._headers = ((header_name.lower(),) if header_name else ()) + _HEADERS
        self._keys = keys

    @property
    def enabled(self) -> bool:
        """False only when no master key is set and the operator opted out."""
        return self._master is not None

    def extract(self, headers: Mapping[str, str]) -> str | None:
        """The presented key from the first header that carries one."""
        auth = headers.get("authorization")
        if auth:
            scheme, _, token = auth.partition(" ")
            token = token.strip() if scheme.lower() == "bearer" else auth.strip()
            if token:
                return token
        for name in self._headers:
            value = headers.get(name)
            if value:
                return value.strip()
        return None

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        """Return the caller or raise 401 with LiteLLM's message (never echoing the key)."""
        if self._master is None:
            return _ANONYMOUS
        key = self.extract(headers)
        if not key:
            raise AuthError("Authentication Error, No api key passed in.")
        if hmac.compare_digest(key.encode(), self._master):
            return self._master_principal
        if self._keys is not None and key.startswith("sk-"):
            principal = self._keys.resolve(hash_key(key))
            if principal is not None:
                return principal
        raise AuthError("Authentication Error, Invalid proxy server token passed.")
