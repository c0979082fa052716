"""The piccolo schema: one definition for SQLite and Postgres.

Why: one migration history (STYLE section 8) needs one set of tables. Columns follow
LiteLLM's `LiteLLM_SpendLogs` and daily-spend tables so that people moving over find
the same facts under familiar names. Tables carry no engine here: an engine is bound
at runtime from a URL (see `tianji_common.db.engine.bind_tables`).

`spend` is `Numeric`: exact on Postgres. On SQLite, piccolo adapts `Decimal` to
`float`, so sums there are binary floating point; SQLite is for development and
single-node use.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from piccolo.columns import (
    JSON,
    BigInt,
    BigSerial,
    Boolean,
    Date,
    Integer,
    Numeric,
    Text,
    Timestamptz,
)
from piccolo.table import Table

__all__ = [
    "TABLES",
    "AuditLog",
    "DailySpend",
    "Organization",
    "OrganizationMembership",
    "PolicyVersion",
    "SpendLog",
    "Team",
    "User",
    "VerificationToken",
]


class SpendLog(Table, tablename="tianji_spend_log"):
    """One row per request outcome, written once per `event_id` (the ledger)."""

    id = BigSerial(primary_key=True)
    request_id = Text(default="")
    event_id = Text(unique=True)
    call_type = Text(default="")
    api_key = Text(null=True, default=None, index=True)  # the key's hash, never the key
    model = Text(default="")
    model_group = Text(default="")
    model_id = Text(default="")  # the deployment
    api_base = Text(default="")
    user = Text(null=True, default=None)
    team_id = Text(null=True, default=None, index=True)
    organization_id = Text(null=True, default=None)
    end_user = Text(null=True, default=None)
    request_tags = JSON(default="[]")
    spend = Numeric()
    prompt_tokens = Integer(default=0)
    completion_tokens = Integer(default=0)
    total_tokens = Integer(default=0)
    cached_tokens = Integer(default=0)
    start_time = Timestamptz(index=True)
    end_time = Timestamptz()
    status = Text(default="success")
    http_status = Integer(default=200)


class DailySpend(Table, tablename="tianji_daily_spend"):
    """Spend per UTC day, per dimension (key, team, user, ...) and model.

    Why: dashboards and budget checks read a few rows instead of scanning the ledger.
    Rows only ever grow by `spend = spend + excluded.spend`, never read-modify-write.
    """

    id = BigSerial(primary_key=True)
    date = Date()
    kind = Text()  # key | team | org | user | end_user | tag
    value = Text()
    model = Text(default="")
    spend = Numeric()
    prompt_tokens = BigInt(default=0)
    completion_tokens = BigInt(default=0)
    total_tokens = BigInt(default=0)
    requests = BigInt(default=0)
    failed_requests = BigInt(default=0)

    # UNIQUE (date, kind, value, model) is a unique index made by a raw migration step
    # (`tianji_daily_spend_key`): piccolo adds table constraints with
    # `ALTER TABLE ... ADD CONSTRAINT`, which SQLite cannot run. The index serves
    # `ON CONFLICT (date, kind, value, model)` on both engines.


class VerificationToken(Table, tablename="tianji_verification_token"):
    """One virtual key, as LiteLLM's `LiteLLM_VerificationToken`: only its hash is stored.

    Lists and maps are JSON (SQLite has no arrays); `token` is sha256 hex of the whole
    `sk-…` key, so a key imported from LiteLLM keeps working.
    """

    token = Text(primary_key=True)
    key_name = Text(default="")
    key_alias = Text(null=True, default=None, index=True)
    spend = Numeric(default=Decimal(0))
    max_budget = Numeric(null=True, default=None)
    budget_duration = Text(null=True, default=None)
    budget_reset_at = Timestamptz(null=True, default=None)
    expires = Timestamptz(null=True, default=None)
    models = JSON(default="[]")
    aliases = JSON(default="{}")
    metadata = JSON(default="{}")
    user_id = Text(null=True, default=None, index=True)
    team_id = Text(null=True, default=None, index=True)
    organization_id = Text(null=True, default=None)
    max_parallel_requests = Integer(null=True, default=None)
    tpm_limit = BigInt(null=True, default=None)
    rpm_limit = BigInt(null=True, default=None)
    blocked = Boolean(null=True, default=None)
    created_at = Timestamptz()
    created_by = Text(null=True, default=None)
    updated_at = Timestamptz()
    updated_by = Text(null=True, default=None)


class Team(Table, tablename="tianji_team"):
    """A team, as LiteLLM's `LiteLLM_TeamTable`; keys inherit its models and block."""

    team_id = Text(primary_key=True)
    team_alias = Text(null=True, default=None)
    organization_id = Text(null=True, default=None, index=True)
    models = JSON(default="[]")
    max_budget = Numeric(null=True, default=None)
    spend = Numeric(default=Decimal(0))
    tpm_limit = BigInt(null=True, default=None)
    rpm_limit = BigInt(null=True, default=None)
    max_parallel_requests = Integer(null=True, default=None)
    budget_duration = Text(null=True, default=None)
    blocked = Boolean(default=False)
    members_with_roles = JSON(default="[]")
    metadata = JSON(default="{}")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class User(Table, tablename="tianji_user"):
    """An internal user, as LiteLLM's `LiteLLM_UserTable` (the columns used so far)."""

    user_id = Text(primary_key=True)
    user_email = Text(null=True, default=None)
    user_role = Text(null=True, default=None)
    models = JSON(default="[]")
    max_budget = Numeric(null=True, default=None)
    spend = Numeric(default=Decimal(0))
    teams = JSON(default="[]")
    metadata = JSON(default="{}")
    created_at = Timestamptz()
    updated_at = Timestamptz()
    # Added by migration 2026-11-26T21:40 (additive, nullable: SQLite can add them).
    user_alias = Text(null=True, default=None)
    tpm_limit = BigInt(null=True, default=None)
    rpm_limit = BigInt(null=True, default=None)
    max_parallel_requests = Integer(null=True, default=None)
    budget_duration = Text(null=True, default=None)
    budget_reset_at = Timestamptz(null=True, default=None)


class Organization(Table, tablename="tianji_organization"):
    """An organization, as LiteLLM's `LiteLLM_OrganizationTable`."""

    organization_id = Text(primary_key=True)
    organization_alias = Text(default="")
    models = JSON(default="[]")
    max_budget = Numeric(null=True, default=None)
    spend = Numeric(default=Decimal(0))
    metadata = JSON(default="{}")
    created_at = Timestamptz()
    updated_at = Timestamptz()
    # Added by migration 2026-11-26T21:40. LiteLLM keeps these in a linked
    # `LiteLLM_BudgetTable` row; here they sit on the org until `/budget/*` exists.
    tpm_limit = BigInt(null=True, default=None)
    rpm_limit = BigInt(null=True, default=None)
    max_parallel_requests = Integer(null=True, default=None)
    budget_duration = Text(null=True, default=None)
    budget_reset_at = Timestamptz(null=True, default=None)
    created_by = Text(null=True, default=None)
    updated_by = Text(null=True, default=None)


class OrganizationMembership(Table, tablename="tianji_organization_membership"):
    """A user's role in one org, as LiteLLM's `LiteLLM_OrganizationMembership`.

    `id` is `"{organization_id}/{user_id}"`: LiteLLM's composite key as one text key,
    since piccolo tables have a single-column primary key.
    """

    id = Text(primary_key=True)
    organization_id = Text(index=True)
    user_id = Text(index=True)
    user_role = Text(default="internal_user")
    spend = Numeric(default=Decimal(0))
    max_budget = Numeric(null=True, default=None)  # LiteLLM's max_budget_in_organization
    created_at = Timestamptz()
    updated_at = Timestamptz()


class AuditLog(Table, tablename="tianji_audit_log"):
    """One row per management change, written in the change's own transaction."""

    id = Text(primary_key=True)
    changed_by = Text(default="")
    action = Text()  # created | updated | deleted | blocked | unblocked | regenerated
    table_name = Text()
    object_id = Text(index=True)
    before_value = JSON(null=True, default=None)
    updated_values = JSON(null=True, default=None)
    at = Timestamptz(index=True)


class PolicyVersion(Table, tablename="tianji_policy_version"):
    """One row (`id = 1`): the policy snapshot's version, bumped in every management write.

    Why a row: the bump takes the row lock inside the write's transaction, so versions
    are handed out in commit order and gateways can tell a missed change from a late one.
    """

    id = Integer(primary_key=True)
    version = BigInt(default=0)


TABLES: Final[tuple[type[Table], ...]] = (
    SpendLog,
    DailySpend,
    VerificationToken,
    Team,
    User,
    Organization,
    OrganizationMembership,
    AuditLog,
    PolicyVersion,
)
