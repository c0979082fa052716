"""LiteLLM rows to our rows: one pure function per table, no I/O.

Why pure: the mapping is where a migration goes wrong quietly (a hash re-hashed, a
budget dropped), so it is kept apart from the reading and the writing and tested
on its own. Key hashes are copied byte for byte: LiteLLM's `token` already is
sha256 hex of the whole `sk-…` key, which is exactly what we store.

Secrets: LiteLLM encrypts every string in a DB model's `litellm_params` and every
credential value. Each is decrypted with LiteLLM's salt key and re-encrypted with
ours (`tianji_common.crypto`); values that do not decrypt were stored in clear and
are encrypted as they are, when their name says they are secret.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tianji_common.crypto import SecretBox

    from tianji_control_plane.importer.litellm_secrets import LiteLLMSecrets

__all__ = [
    "is_secret_param",
    "map_budget",
    "map_credential",
    "map_end_user",
    "map_key",
    "map_model",
    "map_org",
    "map_org_member",
    "map_team",
    "map_team_member",
    "map_user",
]

_SECRET_WORDS: Final = ("key", "secret", "token", "password", "credential")
_NOT_SECRET: Final = frozenset(
    {"max_tokens", "max_completion_tokens", "tokenizer", "api_key_name", "use_in_pass_through"}
)


def is_secret_param(name: str) -> bool:
    """Whether a `litellm_params` entry holds a secret (api_key, aws_secret_access_key…)."""
    lowered = name.lower()
    return lowered not in _NOT_SECRET and any(word in lowered for word in _SECRET_WORDS)


def _json(value: object, default: object) -> str:
    """A JSON column's text from LiteLLM's json (text from asyncpg) or array value."""
    if value is None:
        value = default
    elif isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = default
    return json.dumps(value if value is not None else default)


def _money(value: object) -> Decimal | None:
    if value is None:
        return None
    return Decimal(repr(float(value))) if not isinstance(value, Decimal) else value  # type: ignore[arg-type]


def _spend(value: object) -> Decimal:
    return _money(value) or Decimal(0)


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def _now() -> datetime:
    return datetime.now(UTC)


def _opt_when(value: object) -> datetime | None:
    """LiteLLM's columns are `TIMESTAMP(3)` without zone, written in UTC by Prisma."""
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _when(value: object) -> datetime:
    return _opt_when(value) or _now()


def _limits(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "max_budget": _money(row.get("max_budget")),
        "tpm_limit": _int(row.get("tpm_limit")),
        "rpm_limit": _int(row.get("rpm_limit")),
        "max_parallel_requests": _int(row.get("max_parallel_requests")),
        "budget_duration": row.get("budget_duration"),
        "budget_reset_at": _opt_when(row.get("budget_reset_at")),
    }


def map_budget(row: Mapping[str, Any]) -> dict[str, Any]:
    """`LiteLLM_BudgetTable` → `tianji_budget`."""
    return {
        "budget_id": str(row["budget_id"]),
        **_limits(row),
        "soft_budget": _money(row.get("soft_budget")),
        "model_max_budget": _json(row.get("model_max_budget"), {}),
        "created_at": _when(row.get("created_at")),
        "created_by": row.get("created_by"),
        "updated_at": _when(row.get("updated_at")),
        "updated_by": row.get("updated_by"),
    }


def map_org(row: Mapping[str, Any], budgets: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """`LiteLLM_OrganizationTable` → `tianji_organization`, its budget row's limits inlined."""
    budget = budgets.get(str(row.get("budget_id") or ""), {})
    return {
        "organization_id": str(row["organization_id"]),
        "organization_alias": row.get("organization_alias") or "",
        "models": _json(row.get("models"), []),
        "spend": _spend(row.get("spend")),
        "metadata": _json(row.get("metadata"), {}),
        **_limits(budget),
        "soft_budget": _money(budget.get("soft_budget")),
        "budget_id": row.get("budget_id"),
        "model_spend": _json(row.get("model_spend"), {}),
        "created_at": _when(row.get("created_at")),
        "created_by": row.get("created_by"),
        "updated_at": _when(row.get("updated_at")),
        "updated_by": row.get("updated_by"),
    }


def _member_budget_id(metadata: object) -> str | None:
    """LiteLLM keeps a team's default member budget in `metadata.team_member_budget_id`."""
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            return None
    value = metadata.get("team_member_budget_id") if isinstance(metadata, dict) else None
    return str(value) if isinstance(value, str | int) and value != "" else None


def map_team(row: Mapping[str, Any], aliases: Mapping[int, object]) -> dict[str, Any]:
    """`LiteLLM_TeamTable` → `tianji_team`; team model aliases come from `LiteLLM_ModelTable`.

    LiteLLM has no column for the team's member budget: it is `metadata.
    team_member_budget_id`. We have one (the gateway reads it); `metadata` is kept whole.
    """
    model_id = row.get("model_id")
    return {
        "team_id": str(row["team_id"]),
        "team_alias": row.get("team_alias"),
        "organization_id": row.get("organization_id"),
        "models": _json(row.get("models"), []),
        "spend": _spend(row.get("spend")),
        **_limits(row),
        "soft_budget": _money(row.get("soft_budget")),
        "blocked": bool(row.get("blocked") or False),
        "members_with_roles": _json(row.get("members_with_roles"), []),
        "metadata": _json(row.get("metadata"), {}),
        "model_spend": _json(row.get("model_spend"), {}),
        "model_max_budget": _json(row.get("model_max_budget"), {}),
        "model_aliases": _json(aliases.get(model_id) if isinstance(model_id, int) else None, {}),
        "team_member_permissions": _json(row.get("team_member_permissions"), []),
        "team_member_budget_id": _member_budget_id(row.get("metadata")),
        "created_at": _when(row.get("created_at")),
        "updated_at": _when(row.get("updated_at")),
    }


def map_user(row: Mapping[str, Any]) -> dict[str, Any]:
    """`LiteLLM_UserTable` → `tianji_user` (the UI password is not copied)."""
    return {
        "user_id": str(row["user_id"]),
        "user_alias": row.get("user_alias"),
        "user_email": row.get("user_email"),
        "user_role": row.get("user_role"),
        "models": _json(row.get("models"), []),
        "spend": _spend(row.get("spend")),
        "teams": _json(row.get("teams"), []),
        "metadata": _json(row.get("metadata"), {}),
        **_limits(row),
        "model_spend": _json(row.get("model_spend"), {}),
        "model_max_budget": _json(row.get("model_max_budget"), {}),
        "organization_id": row.get("organization_id"),
        "sso_user_id": row.get("sso_user_id"),
        "created_at": _when(row.get("created_at")),
        "updated_at": _when(row.get("updated_at")),
    }


def map_key(row: Mapping[str, Any]) -> dict[str, Any]:
    """`LiteLLM_VerificationToken` → `tianji_verification_token`, the hash unchanged."""
    return {
        "token": str(row["token"]),
        "key_name": row.get("key_name") or "",
        "key_alias": row.get("key_alias"),
        "spend": _spend(row.get("spend")),
        **_limits(row),
        "expires": _opt_when(row.get("expires")),
        "models": _json(row.get("models"), []),
        "aliases": _json(row.get("aliases"), {}),
        "metadata": _json(row.get("metadata"), {}),
        "user_id": row.get("user_id"),
        "team_id": row.get("team_id"),
        "organization_id": row.get("organization_id"),
        "blocked": row.get("blocked"),
        "budget_id": row.get("budget_id"),
        "model_max_budget": _json(row.get("model_max_budget"), {}),
        "model_spend": _json(row.get("model_spend"), {}),
        "permissions": _json(row.get("permissions"), {}),
        "allowed_routes": _json(row.get("allowed_routes"), []),
        "last_active": _opt_when(row.get("last_active")),
        "created_at": _when(row.get("created_at")),
        "created_by": row.get("created_by"),
        "updated_at": _when(row.get("updated_at")),
        "updated_by": row.get("updated_by"),
    }


def map_team_member(row: Mapping[str, Any]) -> dict[str, Any]:
    """`LiteLLM_TeamMembership` → `tianji_team_membership`."""
    team_id, user_id = str(row["team_id"]), str(row["user_id"])
    return {
        "id": f"{team_id}/{user_id}",
        "team_id": team_id,
        "user_id": user_id,
        "spend": _spend(row.get("spend")),
        "budget_id": row.get("budget_id"),
        "created_at": _now(),
        "updated_at": _now(),
    }


def map_org_member(row: Mapping[str, Any]) -> dict[str, Any]:
    """`LiteLLM_OrganizationMembership` → `tianji_organization_membership`."""
    org_id, user_id = str(row["organization_id"]), str(row["user_id"])
    return {
        "id": f"{org_id}/{user_id}",
        "organization_id": org_id,
        "user_id": user_id,
        "user_role": row.get("user_role") or "internal_user",
        "spend": _spend(row.get("spend")),
        "budget_id": row.get("budget_id"),
        "created_at": _when(row.get("created_at")),
        "updated_at": _when(row.get("updated_at")),
    }


def map_end_user(row: Mapping[str, Any]) -> dict[str, Any]:
    """`LiteLLM_EndUserTable` → `tianji_end_user`."""
    return {
        "user_id": str(row["user_id"]),
        "alias": row.get("alias"),
        "spend": _spend(row.get("spend")),
        "allowed_model_region": row.get("allowed_model_region"),
        "default_model": row.get("default_model"),
        "budget_id": row.get("budget_id"),
        "blocked": bool(row.get("blocked") or False),
        "metadata": "{}",
        "created_at": _now(),
        "updated_at": _now(),
    }


def _params(value: object, theirs: LiteLLMSecrets, ours: SecretBox) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(value) if isinstance(value, str) else dict(value or {})  # type: ignore[call-overload]
    out: dict[str, Any] = {}
    for name, item in raw.items():
        clear = theirs.maybe_decrypt(item)
        if isinstance(clear, str) and is_secret_param(name):
            out[name] = ours.encrypt(clear)
        else:
            out[name] = clear
    return out


def map_model(row: Mapping[str, Any], theirs: LiteLLMSecrets, ours: SecretBox) -> dict[str, Any]:
    """`LiteLLM_ProxyModelTable` → `tianji_proxy_model`, secrets re-encrypted with ours."""
    return {
        "model_id": str(row["model_id"]),
        "model_name": str(row["model_name"]),
        "litellm_params": json.dumps(_params(row.get("litellm_params"), theirs, ours)),
        "model_info": _json(row.get("model_info"), {}),
        "created_at": _when(row.get("created_at")),
        "created_by": row.get("created_by"),
        "updated_at": _when(row.get("updated_at")),
        "updated_by": row.get("updated_by"),
    }


def map_credential(
    row: Mapping[str, Any], theirs: LiteLLMSecrets, ours: SecretBox
) -> dict[str, Any]:
    """`LiteLLM_CredentialsTable` → `tianji_credential`: the whole value map sealed as one."""
    raw = row.get("credential_values")
    values: dict[str, Any] = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
    clear = {name: theirs.maybe_decrypt(item) for name, item in values.items()}
    return {
        "credential_name": str(row["credential_name"]),
        "credential_values": ours.encrypt(json.dumps(clear)),
        "credential_info": _json(row.get("credential_info"), {}),
        "created_at": _when(row.get("created_at")),
        "created_by": row.get("created_by"),
        "updated_at": _when(row.get("updated_at")),
        "updated_by": row.get("updated_by"),
    }
