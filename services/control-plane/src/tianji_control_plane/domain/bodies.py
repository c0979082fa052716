"""Request bodies of the management API, as LiteLLM names their fields.

Unknown fields are ignored (LiteLLM accepts many we do not act on yet, and scripts
written against it must keep working). Update bodies use `UNSET` so "absent" and
"null" differ: absent leaves a column alone, null clears it.
"""

from __future__ import annotations

import re
from typing import Any, Final, TypeVar

import msgspec
from msgspec import UNSET, UnsetType
from tianji_common.errors import InvalidRequest

__all__ = [
    "GenerateKey",
    "KeyRef",
    "KeysRef",
    "NewTeam",
    "RegenerateKey",
    "TeamRef",
    "UpdateKey",
    "decode_body",
]

_T = TypeVar("_T")
_PATH: Final = re.compile(r"`\$\.([A-Za-z0-9_]+)")
_MISSING: Final = re.compile(r"missing required field `([A-Za-z0-9_]+)`")


class GenerateKey(msgspec.Struct, kw_only=True):
    """`POST /key/generate`."""

    key: str | None = None
    key_alias: str | None = None
    duration: str | None = None
    models: list[str] = msgspec.field(default_factory=list)
    aliases: dict[str, str] = msgspec.field(default_factory=dict)
    max_budget: float | None = None
    budget_duration: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    organization_id: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    max_parallel_requests: int | None = None
    blocked: bool | None = None
    soft_budget: float | None = None
    model_max_budget: dict[str, Any] | None = None
    allowed_routes: list[str] | None = None
    # LiteLLM keeps these in the key's metadata; accepted top-level as its API does.
    tags: list[str] | None = None
    guardrails: list[str] | None = None
    model_rpm_limit: dict[str, int] | None = None
    model_tpm_limit: dict[str, int] | None = None


class UpdateKey(msgspec.Struct, kw_only=True):
    """`POST /key/update`: only the fields present change."""

    key: str
    key_alias: str | UnsetType | None = UNSET
    duration: str | UnsetType | None = UNSET
    models: list[str] | UnsetType | None = UNSET
    aliases: dict[str, str] | UnsetType | None = UNSET
    max_budget: float | UnsetType | None = UNSET
    budget_duration: str | UnsetType | None = UNSET
    user_id: str | UnsetType | None = UNSET
    team_id: str | UnsetType | None = UNSET
    organization_id: str | UnsetType | None = UNSET
    metadata: dict[str, Any] | UnsetType | None = UNSET
    tpm_limit: int | UnsetType | None = UNSET
    rpm_limit: int | UnsetType | None = UNSET
    max_parallel_requests: int | UnsetType | None = UNSET
    blocked: bool | UnsetType | None = UNSET
    spend: float | UnsetType = UNSET
    soft_budget: float | UnsetType | None = UNSET
    model_max_budget: dict[str, Any] | UnsetType | None = UNSET
    allowed_routes: list[str] | UnsetType | None = UNSET
    tags: list[str] | UnsetType | None = UNSET
    guardrails: list[str] | UnsetType | None = UNSET
    model_rpm_limit: dict[str, int] | UnsetType | None = UNSET
    model_tpm_limit: dict[str, int] | UnsetType | None = UNSET


class RegenerateKey(msgspec.Struct, kw_only=True):
    """`POST /key/regenerate` (`key` in the body) or `/key/{key}/regenerate`."""

    key: str | None = None
    new_key: str | None = None
    key_alias: str | UnsetType | None = UNSET
    duration: str | UnsetType | None = UNSET
    models: list[str] | UnsetType | None = UNSET
    max_budget: float | UnsetType | None = UNSET
    metadata: dict[str, Any] | UnsetType | None = UNSET
    tpm_limit: int | UnsetType | None = UNSET
    rpm_limit: int | UnsetType | None = UNSET


class KeyRef(msgspec.Struct, kw_only=True):
    """`{"key": ...}` (block, unblock): a key or its hash."""

    key: str


class KeysRef(msgspec.Struct, kw_only=True):
    """`POST /key/delete`: keys or hashes."""

    keys: list[str] = msgspec.field(default_factory=list)


class NewTeam(msgspec.Struct, kw_only=True):
    """`POST /team/new`."""

    team_id: str | None = None
    team_alias: str | None = None
    organization_id: str | None = None
    models: list[str] = msgspec.field(default_factory=list)
    blocked: bool = False
    max_budget: float | None = None
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    max_parallel_requests: int | None = None
    budget_duration: str | None = None
    members_with_roles: list[dict[str, Any]] = msgspec.field(default_factory=list)
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class TeamRef(msgspec.Struct, kw_only=True):
    """`{"team_id": ...}` (block, unblock)."""

    team_id: str


def decode_body(raw: bytes, typ: type[_T]) -> _T:
    """Decode a JSON body: 400 if it is not JSON, 422 naming the field if a type is wrong."""
    try:
        return msgspec.json.decode(raw or b"{}", type=typ)
    except msgspec.ValidationError as exc:
        message = str(exc)
        found = _PATH.search(message) or _MISSING.search(message)
        raise InvalidRequest(message, param=found.group(1) if found else None, status=422) from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None
