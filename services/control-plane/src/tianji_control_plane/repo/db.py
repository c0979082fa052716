"""The control plane's database handle: one engine and the tables bound to it.

Why bound subclasses instead of `bind_tables`: in `tianji up` the spend-worker opens
its own engine on the same database in the same process; binding per handle keeps
each component's engine its own (no process-wide table state).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec
from tianji_common.db.engine import bound_table, write_transaction
from tianji_common.db.tables import (
    AuditLog,
    Budget,
    Credential,
    EndUser,
    ModelAccessGroup,
    Organization,
    OrganizationMembership,
    ProxyModel,
    Team,
    TeamMembership,
    User,
    VerificationToken,
)

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from piccolo.engine.base import Engine

__all__ = ["Db", "from_row", "json_text", "numeric"]

_JSON_COLUMNS = frozenset(
    {
        "models",
        "aliases",
        "metadata",
        "members_with_roles",
        "teams",
        "before_value",
        "model_max_budget",
        "model_spend",
        "model_aliases",
        "permissions",
        "allowed_routes",
        "team_member_permissions",
        "litellm_params",
        "model_info",
        "credential_info",
        "model_names",
        "updated_values",
    }
)


@dataclass(frozen=True, slots=True)
class Db:
    """The engine plus the control plane's tables, bound to it."""

    engine: Engine[Any]
    keys: type[VerificationToken]
    teams: type[Team]
    audit: type[AuditLog]
    users: type[User]
    orgs: type[Organization]
    org_members: type[OrganizationMembership]
    team_members: type[TeamMembership]
    budgets: type[Budget]
    end_users: type[EndUser]
    models: type[ProxyModel]
    credentials: type[Credential]
    access_groups: type[ModelAccessGroup]

    @classmethod
    def bind(cls, engine: Engine[Any]) -> Db:
        """Bind once at startup (piccolo registers every table class it creates)."""
        return cls(
            engine,
            bound_table(VerificationToken, engine),
            bound_table(Team, engine),
            bound_table(AuditLog, engine),
            bound_table(User, engine),
            bound_table(Organization, engine),
            bound_table(OrganizationMembership, engine),
            bound_table(TeamMembership, engine),
            bound_table(Budget, engine),
            bound_table(EndUser, engine),
            bound_table(ProxyModel, engine),
            bound_table(Credential, engine),
            bound_table(ModelAccessGroup, engine),
        )

    def transaction(self) -> AbstractAsyncContextManager[Any]:
        """A write transaction (`BEGIN IMMEDIATE` on SQLite)."""
        return write_transaction(self.engine)


def from_row(row: dict[str, Any], typ: type[Any]) -> Any:
    """A row dict as `typ`: JSON text decoded, Decimals as floats (edge of `repo/`)."""
    clean: dict[str, Any] = {}
    for name, value in row.items():
        if name in _JSON_COLUMNS and isinstance(value, str | bytes):
            value = msgspec.json.decode(value)
        elif isinstance(value, Decimal):
            value = float(value)
        clean[name] = value
    return msgspec.convert(clean, typ)


def json_text(value: object) -> str:
    """JSON text for a JSON column: the same bytes on SQLite and Postgres."""
    return msgspec.json.encode(value).decode()


def numeric(value: float | None) -> Decimal | None:
    """A float as an exact Decimal for a Numeric column (via its shortest repr)."""
    return None if value is None else Decimal(repr(value))
