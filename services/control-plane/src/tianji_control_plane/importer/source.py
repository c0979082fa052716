"""Read a LiteLLM proxy's Postgres database, whatever its version.

Why column discovery: LiteLLM adds columns often (96 migrations by 2026); an older
database lacks some and a newer one has more. Each table's columns are read from
`information_schema`, and only the columns we map and that exist are selected, so
one importer reads every version. A missing table reads as empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import asyncpg

__all__ = ["WANTED", "LiteLLMSource", "SourceRows"]

WANTED: Final[dict[str, tuple[str, ...]]] = {
    "LiteLLM_BudgetTable": (
        "budget_id", "max_budget", "soft_budget", "max_parallel_requests", "tpm_limit",
        "rpm_limit", "model_max_budget", "budget_duration", "budget_reset_at",
        "created_at", "created_by", "updated_at", "updated_by",
    ),
    "LiteLLM_OrganizationTable": (
        "organization_id", "organization_alias", "budget_id", "metadata", "models", "spend",
        "model_spend", "created_at", "created_by", "updated_at", "updated_by",
    ),
    "LiteLLM_TeamTable": (
        "team_id", "team_alias", "organization_id", "admins", "members", "members_with_roles",
        "metadata", "max_budget", "spend", "models", "max_parallel_requests", "tpm_limit",
        "rpm_limit", "budget_duration", "budget_reset_at", "blocked", "model_spend", "soft_budget",
        "model_max_budget", "model_id", "team_member_permissions", "created_at", "updated_at",
    ),
    "LiteLLM_ModelTable": ("id", "aliases"),
    "LiteLLM_UserTable": (
        "user_id", "user_alias", "team_id", "sso_user_id", "organization_id", "teams",
        "user_role", "max_budget", "spend", "user_email", "models", "metadata",
        "max_parallel_requests", "tpm_limit", "rpm_limit", "budget_duration", "budget_reset_at",
        "model_spend", "model_max_budget", "created_at", "updated_at",
    ),
    "LiteLLM_VerificationToken": (
        "token", "key_name", "key_alias", "spend", "expires", "models", "aliases", "user_id",
        "team_id", "organization_id", "budget_id", "permissions", "max_parallel_requests",
        "metadata", "blocked", "tpm_limit", "rpm_limit", "max_budget", "budget_duration",
        "budget_reset_at", "allowed_routes", "model_spend", "model_max_budget", "created_at",
        "created_by", "updated_at", "updated_by", "last_active",
    ),
    "LiteLLM_TeamMembership": ("user_id", "team_id", "spend", "budget_id"),
    "LiteLLM_OrganizationMembership": (
        "user_id", "organization_id", "user_role", "spend", "budget_id", "created_at",
        "updated_at",
    ),
    "LiteLLM_EndUserTable": (
        "user_id", "alias", "spend", "allowed_model_region", "default_model", "budget_id",
        "blocked",
    ),
    "LiteLLM_ProxyModelTable": (
        "model_id", "model_name", "litellm_params", "model_info", "created_at", "created_by",
        "updated_at", "updated_by",
    ),
    "LiteLLM_CredentialsTable": (
        "credential_name", "credential_values", "credential_info", "created_at", "created_by",
        "updated_at", "updated_by",
    ),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class SourceRows:
    """Every row we import, per LiteLLM table, as plain dicts."""

    tables: dict[str, list[dict[str, Any]]]

    def rows(self, table: str) -> list[dict[str, Any]]:
        """The rows of `table` (empty when the source has no such table)."""
        return self.tables.get(table, [])


class LiteLLMSource:
    """One connection to the LiteLLM database, read-only by intent (we only SELECT)."""

    def __init__(self, conn: Any) -> None:  # asyncpg.Connection (untyped)
        self._conn = conn

    @classmethod
    async def connect(cls, url: str) -> LiteLLMSource:
        """Connect; the URL is LiteLLM's own `DATABASE_URL`."""
        return cls(await asyncpg.connect(url))

    async def close(self) -> None:
        """Close the connection."""
        await self._conn.close()

    async def read(self) -> SourceRows:
        """Read every wanted table in one repeatable-read snapshot of the source."""
        out: dict[str, list[dict[str, Any]]] = {}
        async with self._conn.transaction(isolation="repeatable_read", readonly=True):
            for table, wanted in WANTED.items():
                present = await self._columns(table)
                columns = [c for c in wanted if c in present]
                if not columns:
                    continue
                select = ", ".join(f'"{c}"' for c in columns)  # names from WANTED only
                records = await self._conn.fetch(f'SELECT {select} FROM "{table}"')  # noqa: S608
                out[table] = [dict(r) for r in records]
        return SourceRows(out)

    async def _columns(self, table: str) -> set[str]:
        rows = await self._conn.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = $1 AND table_schema = current_schema()",
            table,
        )
        return {str(r["column_name"]) for r in rows}
