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

from typing import Final

from piccolo.columns import (
    JSON,
    BigInt,
    BigSerial,
    Date,
    Integer,
    Numeric,
    Text,
    Timestamptz,
)
from piccolo.table import Table

__all__ = ["TABLES", "DailySpend", "SpendLog"]


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


TABLES: Final[tuple[type[Table], ...]] = (SpendLog, DailySpend)
