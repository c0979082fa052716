from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-26T20:00:36:074442"
VERSION = "1.38.0"
DESCRIPTION = "unique daily spend key"

# A unique index, not a table constraint: piccolo adds constraints with
# `ALTER TABLE ... ADD CONSTRAINT`, which SQLite cannot run. Both engines accept a
# unique index as the target of `ON CONFLICT (date, kind, value, model)`.
UNIQUE_DAILY_KEY = (
    'CREATE UNIQUE INDEX IF NOT EXISTS "tianji_daily_spend_key" '
    'ON "tianji_daily_spend" ("date", "kind", "value", "model")'
)


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="tianji", description=DESCRIPTION
    )

    async def create_unique_daily_key():
        engine = engine_finder()
        assert engine is not None, "piccolo_conf has no engine"
        await engine.run_ddl(UNIQUE_DAILY_KEY)

    manager.add_raw(create_unique_daily_key)

    return manager
