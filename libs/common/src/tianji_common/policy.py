"""The policy snapshot: what a gateway needs to authenticate and authorize a request.

Why a shared module: the control plane builds it from the database and the gateway
reads it (over HTTP, then change events on the bus); both must agree on the shape,
and the gateway never opens a database connection (STYLE section 8).

Versioning: every committed management change bumps one counter in the database.
A `PolicyChanged` event carries that version and the *whole* new state of each
changed entity (`None` for a deleted one), so applying an event twice, or after a
snapshot that already holds it, is harmless. A gateway at version `v` applies an
event `v + 1`, ignores `<= v`, and reloads the full snapshot on a gap.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

__all__ = [
    "BudgetPolicy",
    "CredentialPolicy",
    "CustomerPolicy",
    "DbModelPolicy",
    "KeyPolicy",
    "OrgPolicy",
    "PolicyChanged",
    "PolicySnapshot",
    "TeamPolicy",
    "UserPolicy",
    "decode_change",
    "decode_snapshot",
    "encode_policy",
]


class KeyPolicy(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One virtual key as the gateway sees it; `token` is the sha256 hex of the key."""

    token: str
    key_name: str = ""
    key_alias: str | None = None
    models: list[str] = msgspec.field(default_factory=list)
    aliases: dict[str, str] = msgspec.field(default_factory=dict)
    expires: datetime | None = None
    blocked: bool = False
    user_id: str | None = None
    team_id: str | None = None
    org_id: str | None = None
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    max_parallel_requests: int | None = None
    max_budget: float | None = None
    # Added with issues 3/4 (defaults keep older payloads decoding).
    soft_budget: float | None = None
    spend: float = 0.0  # at snapshot time; the gateway follows SpendUpdated events after
    budget_duration: str | None = None
    budget_reset_at: datetime | None = None
    model_max_budget: dict[str, float] = msgspec.field(default_factory=dict)  # model -> USD
    model_spend: dict[str, float] = msgspec.field(default_factory=dict)
    model_rpm_limit: dict[str, int] = msgspec.field(default_factory=dict)
    model_tpm_limit: dict[str, int] = msgspec.field(default_factory=dict)
    tags: list[str] = msgspec.field(default_factory=list)
    guardrails: list[str] = msgspec.field(default_factory=list)
    allowed_routes: list[str] = msgspec.field(default_factory=list)


class TeamPolicy(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One team: its models and block apply to every key in it."""

    team_id: str
    team_alias: str | None = None
    org_id: str | None = None
    models: list[str] = msgspec.field(default_factory=list)
    blocked: bool = False
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    max_parallel_requests: int | None = None
    max_budget: float | None = None
    soft_budget: float | None = None
    spend: float = 0.0
    budget_duration: str | None = None
    model_aliases: dict[str, str] = msgspec.field(default_factory=dict)
    model_max_budget: dict[str, float] = msgspec.field(default_factory=dict)
    member_budget: BudgetPolicy | None = None  # applies to each member's spend in the team
    guardrails: list[str] = msgspec.field(default_factory=list)
    tags: list[str] = msgspec.field(default_factory=list)


class UserPolicy(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One internal user: their role, models and limits apply to every key they own."""

    user_id: str
    user_role: str | None = None
    models: list[str] = msgspec.field(default_factory=list)
    teams: list[str] = msgspec.field(default_factory=list)
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    max_parallel_requests: int | None = None
    max_budget: float | None = None
    spend: float = 0.0
    org_id: str | None = None
    blocked: bool = False


class OrgPolicy(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One organization: its models and limits apply to every team (and key) in it."""

    org_id: str
    org_alias: str = ""
    models: list[str] = msgspec.field(default_factory=list)
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    max_parallel_requests: int | None = None
    max_budget: float | None = None
    soft_budget: float | None = None
    spend: float = 0.0


class BudgetPolicy(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A `/budget/*` profile as the gateway needs it (resolved into whoever links it)."""

    budget_id: str
    max_budget: float | None = None
    soft_budget: float | None = None
    tpm_limit: int | None = None
    rpm_limit: int | None = None
    max_parallel_requests: int | None = None
    model_max_budget: dict[str, float] = msgspec.field(default_factory=dict)
    budget_duration: str | None = None


class CustomerPolicy(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An end user (the request's `user` field): block, region, default model, budget."""

    user_id: str
    alias: str | None = None
    blocked: bool = False
    allowed_model_region: str | None = None
    default_model: str | None = None
    spend: float = 0.0
    budget: BudgetPolicy | None = None


class DbModelPolicy(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A deployment stored in the database (`/model/new`).

    Secret values in `litellm_params` stay encrypted as stored (`tianji_common.crypto`);
    the gateway decrypts them with the same salt key. Never sent in clear on the bus.
    """

    model_id: str
    model_name: str
    litellm_params: dict[str, Any] = msgspec.field(default_factory=dict)
    model_info: dict[str, Any] = msgspec.field(default_factory=dict)


class CredentialPolicy(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A named credential; `values` is the ciphertext as stored (decrypted by the gateway)."""

    credential_name: str
    values: str = ""
    credential_info: dict[str, Any] = msgspec.field(default_factory=dict)


class PolicySnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Everything at one version: keys by hash, teams, users and orgs by id.

    `users` and `orgs` came later; they default to empty so older payloads decode.
    """

    version: int
    keys: dict[str, KeyPolicy] = msgspec.field(default_factory=dict)
    teams: dict[str, TeamPolicy] = msgspec.field(default_factory=dict)
    users: dict[str, UserPolicy] = msgspec.field(default_factory=dict)
    orgs: dict[str, OrgPolicy] = msgspec.field(default_factory=dict)
    customers: dict[str, CustomerPolicy] = msgspec.field(default_factory=dict)
    access_groups: dict[str, list[str]] = msgspec.field(default_factory=dict)  # name -> models
    models: dict[str, DbModelPolicy] = msgspec.field(default_factory=dict)  # by model_id
    credentials: dict[str, CredentialPolicy] = msgspec.field(default_factory=dict)
    budgets: dict[str, BudgetPolicy] = msgspec.field(default_factory=dict)


class PolicyChanged(msgspec.Struct, frozen=True, kw_only=True, tag="policy_changed.v1"):
    """Published after a commit: the new version and the changed entities (None: deleted)."""

    event_id: str
    occurred_at: float
    version: int
    keys: dict[str, KeyPolicy | None] = msgspec.field(default_factory=dict)
    teams: dict[str, TeamPolicy | None] = msgspec.field(default_factory=dict)
    users: dict[str, UserPolicy | None] = msgspec.field(default_factory=dict)
    orgs: dict[str, OrgPolicy | None] = msgspec.field(default_factory=dict)
    customers: dict[str, CustomerPolicy | None] = msgspec.field(default_factory=dict)
    access_groups: dict[str, list[str] | None] = msgspec.field(default_factory=dict)
    models: dict[str, DbModelPolicy | None] = msgspec.field(default_factory=dict)
    credentials: dict[str, CredentialPolicy | None] = msgspec.field(default_factory=dict)
    budgets: dict[str, BudgetPolicy | None] = msgspec.field(default_factory=dict)


_encoder = msgspec.json.Encoder()
_snapshot_decoder = msgspec.json.Decoder(PolicySnapshot)
_change_decoder = msgspec.json.Decoder(PolicyChanged)


def encode_policy(value: PolicySnapshot | PolicyChanged) -> bytes:
    """JSON bytes for the HTTP body or the bus payload."""
    return _encoder.encode(value)


def decode_snapshot(data: bytes) -> PolicySnapshot:
    """Decode `GET /internal/policy/snapshot`; raises msgspec errors on a bad body."""
    return _snapshot_decoder.decode(data)


def decode_change(data: bytes) -> PolicyChanged:
    """Decode one change event; raises msgspec errors on a bad payload."""
    return _change_decoder.decode(data)
