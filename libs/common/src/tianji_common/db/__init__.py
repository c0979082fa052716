"""The piccolo schema, engine helpers and migration runner (extra `tianji-common[db]`).

Why a separate package: the gateway never opens a database connection (STYLE
section 8), so it never imports this package and never installs piccolo.
The migration runner is `tianji_common.db.migrate`, imported only where migrations
run: it pulls in piccolo's code generators (about 10 MB), which a serving process
should not carry.
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
from tianji_common.db.tables import TABLES, DailySpend, SpendLog

__all__ = [
    "TABLES",
    "DailySpend",
    "SpendLog",
    "bind_tables",
    "bound_table",
    "close_engine",
    "engine_from_url",
    "open_engine",
    "run_sql",
    "write_transaction",
]
