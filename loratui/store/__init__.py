"""SQLite store: schema, migrations, connections, the transaction helper, the async `Store`, the change log."""

from loratui.store.db import Store, connect, connect_sync, transaction
from loratui.store.migrations import MIGRATIONS, SCHEMA_VERSION

__all__ = ["Store", "connect", "connect_sync", "transaction", "MIGRATIONS", "SCHEMA_VERSION"]
