"""SQLite store: schema, migrations, connections, the transaction helper, the async `Store`, the change log."""

from loratui.store.db import Store, ThreadConnections, connect, transaction
from loratui.store.migrations import MIGRATIONS, SCHEMA_VERSION

__all__ = ["Store", "ThreadConnections", "connect", "transaction", "MIGRATIONS", "SCHEMA_VERSION"]
