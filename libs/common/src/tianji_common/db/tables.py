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
    "AlertLog",
    "AuditLog",
    "Budget",
    "Credential",
    "DailySpend",
    "EndUser",
    "ModelAccessGroup",
    "Organization",
    "OrganizationMembership",
    "PolicyVersion",
    "ProxyModel",
    "SpendLog",
    "Team",
    "TeamMembership",
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
    # Added by migration 2026-11-26T22:40 (additive, nullable).
    budget_id = Text(null=True, default=None)
    soft_budget = Numeric(null=True, default=None)
    model_max_budget = JSON(null=True, default="{}")  # model -> {"max_budget", "budget_duration"}
    model_spend = JSON(null=True, default="{}")  # model -> spend (text Decimal)
    permissions = JSON(null=True, default="{}")
    allowed_routes = JSON(null=True, default="[]")
    last_active = Timestamptz(null=True, default=None)


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
    # Added by migration 2026-11-26T22:40 (additive, nullable).
    soft_budget = Numeric(null=True, default=None)
    budget_reset_at = Timestamptz(null=True, default=None)
    model_max_budget = JSON(null=True, default="{}")
    model_spend = JSON(null=True, default="{}")
    model_aliases = JSON(null=True, default="{}")  # LiteLLM's LiteLLM_ModelTable, 1:1
    team_member_permissions = JSON(null=True, default="[]")
    team_member_budget_id = Text(null=True, default=None)  # budget for each member
    created_by = Text(null=True, default=None)
    updated_by = Text(null=True, default=None)


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
    # Added by migration 2026-11-26T22:40 (additive, nullable).
    soft_budget = Numeric(null=True, default=None)
    model_max_budget = JSON(null=True, default="{}")
    model_spend = JSON(null=True, default="{}")
    organization_id = Text(null=True, default=None)
    sso_user_id = Text(null=True, default=None)


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
    # Added by migration 2026-11-26T22:40 (additive, nullable).
    budget_id = Text(null=True, default=None)
    soft_budget = Numeric(null=True, default=None)
    model_spend = JSON(null=True, default="{}")


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
    budget_id = Text(null=True, default=None)  # added by migration 2026-11-26T22:40


class TeamMembership(Table, tablename="tianji_team_membership"):
    """A user's spend and budget inside one team, as LiteLLM's `LiteLLM_TeamMembership`.

    `id` is `"{team_id}/{user_id}"`; the role lives in the team's `members_with_roles`
    (as in LiteLLM), this row holds what is per member: spend and budget.
    """

    id = Text(primary_key=True)
    team_id = Text(index=True)
    user_id = Text(index=True)
    spend = Numeric(default=Decimal(0))
    budget_id = Text(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Budget(Table, tablename="tianji_budget"):
    """A reusable budget and limit profile, as LiteLLM's `LiteLLM_BudgetTable` (`/budget/*`).

    Linked by `budget_id` from end users, keys, org and team memberships.
    """

    budget_id = Text(primary_key=True)
    max_budget = Numeric(null=True, default=None)
    soft_budget = Numeric(null=True, default=None)
    max_parallel_requests = Integer(null=True, default=None)
    tpm_limit = BigInt(null=True, default=None)
    rpm_limit = BigInt(null=True, default=None)
    model_max_budget = JSON(null=True, default="{}")
    budget_duration = Text(null=True, default=None)
    budget_reset_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    created_by = Text(null=True, default=None)
    updated_at = Timestamptz()
    updated_by = Text(null=True, default=None)


class EndUser(Table, tablename="tianji_end_user"):
    """An end user (customer): the request's `user` field, as LiteLLM's `LiteLLM_EndUserTable`."""

    user_id = Text(primary_key=True)
    alias = Text(null=True, default=None)
    spend = Numeric(default=Decimal(0))
    allowed_model_region = Text(null=True, default=None)  # "eu" | "us" | ...
    default_model = Text(null=True, default=None)
    budget_id = Text(null=True, default=None, index=True)
    blocked = Boolean(default=False)
    metadata = JSON(null=True, default="{}")
    created_at = Timestamptz(null=True)
    updated_at = Timestamptz(null=True)


class ProxyModel(Table, tablename="tianji_proxy_model"):
    """A deployment added through `/model/new`, as LiteLLM's `LiteLLM_ProxyModelTable`.

    `litellm_params` holds secrets (`api_key`, ...) encrypted with the salt key
    (`tianji_common.crypto`); they are never returned in clear.
    """

    model_id = Text(primary_key=True)
    model_name = Text(index=True)
    litellm_params = JSON(default="{}")
    model_info = JSON(default="{}")
    created_at = Timestamptz()
    created_by = Text(null=True, default=None)
    updated_at = Timestamptz()
    updated_by = Text(null=True, default=None)


class Credential(Table, tablename="tianji_credential"):
    """A named provider credential (`/credentials`), values encrypted at rest."""

    credential_name = Text(primary_key=True)
    credential_values = Text(default="")  # tianji_common.crypto ciphertext of a JSON object
    credential_info = JSON(null=True, default="{}")
    created_at = Timestamptz()
    created_by = Text(null=True, default=None)
    updated_at = Timestamptz()
    updated_by = Text(null=True, default=None)


class ModelAccessGroup(Table, tablename="tianji_model_access_group"):
    """A named set of model names (`/model_access_group/*`); keys and teams list the name."""

    access_group = Text(primary_key=True)
    model_names = JSON(default="[]")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class AlertLog(Table, tablename="tianji_alert_log"):
    """One row per alert sent; `id` is the de-duplication key (one crossing, one alert)."""

    id = Text(primary_key=True)
    alert_type = Text()  # soft_budget | budget_exceeded | ...
    entity_kind = Text()
    entity_id = Text()
    sent_at = Timestamptz()


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
    TeamMembership,
    Budget,
    EndUser,
    ProxyModel,
    Credential,
    ModelAccessGroup,
    AlertLog,
)
