"""`tianji import litellm`: copy a LiteLLM proxy's tenants into our database.

What moves: keys (hashes unchanged, so every existing `sk-…` key keeps working),
teams (with their model aliases), users, organizations (their budget row's limits
inlined), team and org memberships, budgets, end users, DB models and credentials
(secrets re-encrypted with our salt key), and each entity's spend total.

Safe to re-run: every row is an upsert on its primary key, all in ONE transaction
on the target, so a failure leaves the target as it was and a second run updates
rows to the source's current values (spend included: run it last, at cutover).
The policy version is bumped once, so running gateways reload the snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from tianji_common.db.engine import close_engine, open_engine
from tianji_common.db.migrate import migrate

from tianji_control_plane.importer import mapping
from tianji_control_plane.importer.source import LiteLLMSource, SourceRows
from tianji_control_plane.repo.audit import add_audit
from tianji_control_plane.repo.db import Db
from tianji_control_plane.repo.version import bump_version

if TYPE_CHECKING:
    from piccolo.table import Table
    from tianji_common.crypto import SecretBox

    from tianji_control_plane.importer.litellm_secrets import LiteLLMSecrets

__all__ = ["ImportReport", "MissingSaltKey", "import_litellm"]

_BATCH: Final = 500
_ACTOR: Final = "tianji-import"


class MissingSaltKey(RuntimeError):
    """The source holds secrets but no key to read or to seal them was given."""


@dataclass(slots=True)
class ImportReport:
    """Rows created and updated per target table, and the version it committed."""

    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    version: int = 0

    def lines(self) -> list[str]:
        """One human line per table, for the CLI."""
        names = sorted(set(self.created) | set(self.updated))
        out = [
            f"{name}: {self.created.get(name, 0)} created, {self.updated.get(name, 0)} updated"
            for name in names
        ]
        out.append(f"policy version now {self.version}")
        return out


@dataclass(frozen=True, slots=True)
class _Plan:
    """Mapped rows per target table, in dependency order."""

    tables: list[tuple[str, list[dict[str, Any]]]]


def _plan(src: SourceRows, theirs: LiteLLMSecrets | None, ours: SecretBox | None) -> _Plan:
    budgets = {str(r["budget_id"]): r for r in src.rows("LiteLLM_BudgetTable")}
    aliases = {int(r["id"]): r.get("aliases") for r in src.rows("LiteLLM_ModelTable")}
    secret_rows = src.rows("LiteLLM_ProxyModelTable") + src.rows("LiteLLM_CredentialsTable")
    if secret_rows and (theirs is None or ours is None):
        raise MissingSaltKey(
            "the LiteLLM database holds DB models or credentials: set LITELLM_SALT_KEY "
            "(or LITELLM_MASTER_KEY) to read them, and TIANJI_SALT_KEY to seal them"
        )
    plan: list[tuple[str, list[dict[str, Any]]]] = [
        ("budgets", [mapping.map_budget(r) for r in budgets.values()]),
        ("orgs", [mapping.map_org(r, budgets) for r in src.rows("LiteLLM_OrganizationTable")]),
        ("teams", [mapping.map_team(r, aliases) for r in src.rows("LiteLLM_TeamTable")]),
        ("users", [mapping.map_user(r) for r in src.rows("LiteLLM_UserTable")]),
        ("keys", [mapping.map_key(r) for r in src.rows("LiteLLM_VerificationToken")]),
        ("team_members", [mapping.map_team_member(r) for r in src.rows("LiteLLM_TeamMembership")]),
        (
            "org_members",
            [mapping.map_org_member(r) for r in src.rows("LiteLLM_OrganizationMembership")],
        ),
        ("end_users", [mapping.map_end_user(r) for r in src.rows("LiteLLM_EndUserTable")]),
    ]
    if theirs is not None and ours is not None:
        models = [mapping.map_model(r, theirs, ours) for r in src.rows("LiteLLM_ProxyModelTable")]
        creds = src.rows("LiteLLM_CredentialsTable")
        plan.append(("models", models))
        plan.append(("credentials", [mapping.map_credential(r, theirs, ours) for r in creds]))
    return _Plan(plan)


async def import_litellm(
    source_url: str,
    target_url: str,
    *,
    theirs: LiteLLMSecrets | None,
    ours: SecretBox | None,
    say: Callable[[str], None] = print,
) -> ImportReport:
    """Read the LiteLLM database at `source_url` and upsert it into `target_url`."""
    source = await LiteLLMSource.connect(source_url)
    try:
        rows = await source.read()
    finally:
        await source.close()
    plan = _plan(rows, theirs, ours)
    say("source read: " + ", ".join(f"{name} {len(items)}" for name, items in plan.tables))
    await migrate(target_url)
    engine = await open_engine(target_url, max_size=2)
    try:
        return await _write(Db.bind(engine), plan)
    finally:
        await close_engine(engine)


async def _write(db: Db, plan: _Plan) -> ImportReport:
    report = ImportReport()
    async with db.transaction():
        for name, items in plan.tables:
            table: type[Table] = getattr(db, name)
            created, updated = await _upsert(table, items)
            report.created[table._meta.tablename] = created
            report.updated[table._meta.tablename] = updated
        await add_audit(
            db,
            changed_by=_ACTOR,
            action="imported",
            table_name="litellm",
            object_id=datetime.now(UTC).isoformat(),
            before=None,
            after={"created": report.created, "updated": report.updated},
        )
        report.version = await bump_version(db)
    return report


async def _upsert(table: type[Table], items: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    if not items:
        return 0, 0
    pk = table._meta.primary_key
    existing = {row[pk._meta.name] for row in await table.select(pk).run()}
    columns = [table._meta.get_column_by_name(c) for c in items[0] if c != pk._meta.name]
    for start in range(0, len(items), _BATCH):
        chunk = [table(**dict(item)) for item in items[start : start + _BATCH]]
        query = table.insert(*chunk).on_conflict(target=pk, action="DO UPDATE", values=columns)
        await query.run()
    keys = [item[pk._meta.name] for item in items]
    created = sum(1 for key in keys if key not in existing)
    return created, len(keys) - created
