"""The piccolo schema, engine helpers and migration runner (extra `tianji-common[db]`).

Why a separate package: the gateway never opens a database connection (STYLE
section 8), so it never imports this package and never installs piccolo.
"""

from __future__ import annotations

from tianji_common.db.engine import (
    bind_tables,
    bound_table,
    close_engine,
    engine_from_url,
    open_engine,
    run_sql,
    write_transaction,
)
from tianji_common.db.migrate import migrate
from tianji_common.db.tables import TABLES, DailySpend, SpendLog

__all__ = [
    "TABLES",
    "DailySpend",
    "SpendLog",
    "bind_tables",
    "bound_table",
    "close_engine",
    "engine_from_url",
    "migrate",
    "open_engine",
    "run_sql",
    "write_transaction",
]
