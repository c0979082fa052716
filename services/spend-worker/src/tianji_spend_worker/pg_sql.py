"""The Postgres writer's statements: a batch's sums are computed by Postgres itself.

Why in SQL: measured with `just bench-spend` on 2 cores, the worker process is CPU
bound while Postgres idles at a fraction of a core; grouping the batch by day,
dimension and model in Python cost more than the whole ledger insert. So a batch
arrives by binary COPY into a per-connection staging table, the new ledger rows are
kept in a second one, and every total (daily rows, entity spend, per-model spend) is
`GROUP BY` over those, in the batch's transaction.

Identifiers come from our own table definitions, never from input; values are bound
parameters or rows of the staging tables. The f-strings only build statement shapes.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from tianji_common.db.tables import (
    AlertLog,
    Budget,
    DailySpend,
    EndUser,
    Organization,
    OrganizationMembership,
    SpendLog,
    Team,
    TeamMembership,
    User,
    VerificationToken,
)

from tianji_spend_worker.handlers import DAILY_COLUMNS, DAILY_KEY, SPEND_LOG_COLUMNS

__all__ = [
    "BUDGETS",
    "CREATE_STAGING",
    "ENTITIES",
    "INSERT_ALERTS",
    "INSERT_NEW",
    "MEMBERS",
    "SEQ",
    "TMP_LOG",
    "UPSERT_DAILY",
    "UPSERT_END_USERS",
    "Entity",
    "q",
    "reset_due",
    "reset_linked",
    "reset_rows",
    "update_entities",
]


def q(name: str) -> str:
    """A quoted identifier (ours only)."""
    return f'"{name}"'


class Entity(NamedTuple):
    """A table whose `spend` a usage event moves."""

    kind: str
    table: str
    pk: str
    source: str  # SQL over the staging row `n` giving the entity id
    model_spend: bool  # keeps a per-model spend map (and budgets)


ENTITIES: Final = (
    Entity("key", VerificationToken._meta.tablename, "token", 'n."api_key"', True),
    Entity("user", User._meta.tablename, "user_id", 'n."user"', True),
    Entity("team", Team._meta.tablename, "team_id", 'n."team_id"', True),
    Entity("org", Organization._meta.tablename, "organization_id", 'n."organization_id"', True),
)
MEMBERS: Final = (
    Entity(
        "team_member",
        TeamMembership._meta.tablename,
        "id",
        """n."team_id" || '/' || n."user\"""",
        False,
    ),
    Entity(
        "org_member",
        OrganizationMembership._meta.tablename,
        "id",
        """n."organization_id" || '/' || n."user\"""",
        False,
    ),
)

TMP_LOG: Final = "tianji_tmp_spend_log"  # the batch, as COPYed
_TMP_NEW: Final = "tianji_tmp_spend_new"  # the rows that were new to the ledger
_LOG: Final = q(SpendLog._meta.tablename)
_DAILY: Final = q(DailySpend._meta.tablename)
_END_USER: Final = q(EndUser._meta.tablename)
_BUDGET: Final = q(Budget._meta.tablename)
_LOG_COLS: Final = ", ".join(map(q, SPEND_LOG_COLUMNS))
_MODEL: Final = 'coalesce(nullif(n."model_group", \'\'), n."model")'

CREATE_STAGING: Final = (
    f"CREATE TEMP TABLE IF NOT EXISTS {TMP_LOG} ON COMMIT DELETE ROWS AS "  # noqa: S608
    f"SELECT {_LOG_COLS} FROM {_LOG} WITH NO DATA; "
    f"CREATE TEMP TABLE IF NOT EXISTS {_TMP_NEW} ON COMMIT DELETE ROWS AS "
    f"SELECT {_LOG_COLS} FROM {_LOG} WITH NO DATA"
)
# The ledger insert, keeping only the rows that really went in (sorted: lock order).
INSERT_NEW: Final = (
    f"WITH ins AS (INSERT INTO {_LOG} ({_LOG_COLS}) "  # noqa: S608
    f'SELECT {_LOG_COLS} FROM {TMP_LOG} ORDER BY "event_id" '
    f'ON CONFLICT ("event_id") DO NOTHING RETURNING {_LOG_COLS}) '
    f"INSERT INTO {_TMP_NEW} ({_LOG_COLS}) SELECT {_LOG_COLS} FROM ins"
)
_DIMENSIONS: Final = (
    "SELECT * FROM (VALUES ('key', n.\"api_key\"), ('team', n.\"team_id\"), "  # noqa: S608
    "('org', n.\"organization_id\"), ('user', n.\"user\"), ('end_user', n.\"end_user\"), "
    f"('model', {_MODEL})) AS v(kind, value) "
    "UNION ALL SELECT DISTINCT 'tag', tg.v FROM json_array_elements_text("
    'CASE WHEN json_typeof(n."request_tags") = \'array\' THEN n."request_tags" '
    "ELSE '[]'::json END) AS tg(v)"
)
_SUMS: Final = tuple(c for c in DAILY_COLUMNS if c not in DAILY_KEY)
UPSERT_DAILY: Final = (
    f"INSERT INTO {_DAILY} AS d ({', '.join(map(q, DAILY_COLUMNS))}) "  # noqa: S608
    f"SELECT (n.\"end_time\" AT TIME ZONE 'UTC')::date, k.kind, k.value, {_MODEL}, "
    'sum(n."spend"), sum(n."prompt_tokens"), sum(n."completion_tokens"), '
    'sum(n."total_tokens"), count(*), count(*) FILTER (WHERE n."status" <> \'success\') '
    f"FROM {_TMP_NEW} AS n CROSS JOIN LATERAL ({_DIMENSIONS}) AS k(kind, value) "
    "WHERE k.value IS NOT NULL AND k.value <> '' "
    "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 "
    f"ON CONFLICT ({', '.join(map(q, DAILY_KEY))}) DO UPDATE SET "
    + ", ".join(f"{q(c)} = d.{q(c)} + excluded.{q(c)}" for c in _SUMS)
)
# model_spend += the batch's per-model spend, merged under the row lock. Values that
# are not numbers (never written by us) count as 0 rather than failing the batch.
_MERGE: Final = (
    "(SELECT coalesce(json_object_agg(m.k, m.v), '{}'::json) FROM ("
    "SELECT coalesce(a.key, b.key) AS k,"
    " coalesce(CASE WHEN a.value ~ '^-?[0-9.]+([eE][-+]?[0-9]+)?$' THEN a.value::numeric END, 0)"
    " + coalesce(b.value::numeric, 0) AS v"
    " FROM json_each_text(CASE WHEN json_typeof(t.model_spend) = 'object'"
    " THEN t.model_spend ELSE '{}'::json END) AS a"
    " FULL JOIN json_each_text(d.ms) AS b ON a.key = b.key) AS m)"
)


def update_entities(entity: Entity) -> str:
    """Add the batch's spend per id; rows are locked first, in primary-key order.

    Why the `locked` CTE: an UPDATE … FROM takes row locks in whatever order its plan
    visits rows; `ORDER BY … FOR UPDATE` locks in key order (LockRows sits above the
    sort), so concurrent batches queue on each other instead of deadlocking.
    """
    table, pk = q(entity.table), q(entity.pk)
    per_model = (
        f'SELECT {entity.source} AS id, {_MODEL} AS model, sum(n."spend") AS s '  # noqa: S608
        f"FROM {_TMP_NEW} AS n WHERE {entity.source} <> '' GROUP BY 1, 2"
    )
    totals = (
        "SELECT id, sum(s) AS inc, coalesce(json_object_agg(model, s) "
        "FILTER (WHERE model <> ''), '{}'::json) AS ms FROM per_model GROUP BY id"
    )
    sets = '"spend" = t."spend" + d.inc'
    returning = f't.{pk} AS id, t."spend"'
    if entity.model_spend:
        sets += f', "model_spend" = {_MERGE}'
        returning += ', t."model_spend"::text AS model_spend'
        returning += ', t."max_budget", t."soft_budget", t."budget_reset_at"'
    return (
        f"WITH per_model AS ({per_model}), d AS ({totals}), "  # noqa: S608
        f"locked AS (SELECT t.{pk} AS id FROM {table} AS t JOIN d ON t.{pk} = d.id "
        f"ORDER BY t.{pk} FOR UPDATE OF t) "
        f"UPDATE {table} AS t SET {sets} FROM d JOIN locked ON locked.id = d.id "
        f"WHERE t.{pk} = d.id RETURNING {returning}"
    )


# LiteLLM upserts end users on spend: the row exists from their first request on.
UPSERT_END_USERS: Final = (
    f'INSERT INTO {_END_USER} AS t ("user_id", "spend") '  # noqa: S608
    f'SELECT n."end_user", sum(n."spend") FROM {_TMP_NEW} AS n '
    "WHERE n.\"end_user\" <> '' GROUP BY 1 ORDER BY 1 "
    'ON CONFLICT ("user_id") DO UPDATE SET "spend" = t."spend" + excluded."spend" '
    'RETURNING t."user_id" AS id, t."spend", t."budget_id"'
)
BUDGETS: Final = (
    'SELECT "budget_id", "max_budget", "soft_budget", "budget_reset_at" '  # noqa: S608
    f'FROM {_BUDGET} WHERE "budget_id" = ANY($1::text[])'
)
INSERT_ALERTS: Final = (
    f"INSERT INTO {q(AlertLog._meta.tablename)} "  # noqa: S608
    '("id", "alert_type", "entity_kind", "entity_id", "sent_at") '
    "SELECT u.*, now() FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u "
    'ON CONFLICT ("id") DO NOTHING RETURNING "id"'
)
SEQ: Final = "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint"


def reset_due(table: str, pk: str) -> str:
    """Rows whose budget period ended, locked (skipping rows another worker holds)."""
    return (
        f'SELECT {q(pk)} AS id, "budget_duration" AS duration FROM {q(table)} '  # noqa: S608
        f'WHERE "budget_reset_at" <= $1 ORDER BY {q(pk)} FOR UPDATE SKIP LOCKED'
    )


def reset_rows(table: str, pk: str, *, zero: bool = True) -> str:
    """Zero spend (entities only) and move each row's period end to its next one."""
    sets = '"spend" = 0, "budget_reset_at" = u.next' if zero else '"budget_reset_at" = u.next'
    return (
        f"UPDATE {q(table)} AS t SET {sets} "  # noqa: S608
        "FROM unnest($1::text[], $2::timestamptz[]) AS u(id, next) "
        f"WHERE t.{q(pk)} = u.id"
    )


def reset_linked(table: str, pk: str) -> str:
    """Zero the spend of rows linked to due budget rows by `budget_id`."""
    return (
        f'UPDATE {q(table)} SET "spend" = 0 WHERE "budget_id" = ANY($1::text[]) '  # noqa: S608
        f"RETURNING {q(pk)} AS id"
    )
