"""The piccolo app holding TianjiLLM's one migration history.

Why: piccolo's CLI (`piccolo migrations new tianji --auto`) diffs `table_classes`
against the migrations folder to write the next migration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from piccolo.conf.apps import AppConfig

from tianji_common.db.tables import TABLES

__all__ = ["APP_CONFIG", "APP_NAME", "MIGRATIONS_DIR"]

APP_NAME: Final = "tianji"
MIGRATIONS_DIR: Final = Path(__file__).parent / "migrations"

APP_CONFIG: Final = AppConfig(
    app_name=APP_NAME,
    migrations_folder_path=MIGRATIONS_DIR,
    table_classes=list(TABLES),
    migration_dependencies=[],
    commands=[],
)
