"""SQLite store: schema, migrations and the async `Store` (aiosqlite, WAL)."""

from loratui.store.db import Store, connect_sync, migrate_sync
from loratui.store.migrations import MIGRATIONS, SCHEMA_VERSION

__all__ = ["Store", "connect_sync", "migrate_sync", "MIGRATIONS", "SCHEMA_VERSION"]
