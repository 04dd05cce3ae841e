"""The database connection: pragmas, migrations and a small async query API.

Every connection gets WAL journaling, foreign keys, a busy timeout (other loratui processes — a training
supervisor, a CLI call — write to the same file) and ``synchronous=NORMAL`` (safe with WAL).
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any, AsyncIterator, Iterable, Sequence

import aiosqlite

from loratui.store.migrations import MIGRATIONS, SCHEMA_VERSION

BUSY_TIMEOUT_MS = 30_000

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA synchronous=NORMAL",
)


def _apply_migrations(conn: sqlite3.Connection) -> None:
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > SCHEMA_VERSION:
        from loratui.errors import ConfigError

        raise ConfigError(
            f"the database is schema version {current}, newer than this loratui ({SCHEMA_VERSION})",
            hint="upgrade loratui",
        )
    for number, _name, sql in MIGRATIONS:
        if number <= current:
            continue
        # executescript commits first; run the file and the version bump in one explicit transaction.
        conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version={number};\nCOMMIT;")


def migrate_sync(conn: sqlite3.Connection) -> None:
    """Bring a synchronous connection's database up to the current schema."""
    _apply_migrations(conn)


def connect_sync(path: Path | str) -> sqlite3.Connection:
    """A plain sqlite3 connection with loratui's pragmas, migrated (for worker processes)."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.row_factory = sqlite3.Row
    for pragma in _PRAGMAS:
        conn.execute(pragma)
    _apply_migrations(conn)
    return conn


class Store:
    """Async access to loratui.db. Use ``async with Store.open(path) as store``.

    Statements run in autocommit mode; ``transaction()`` groups writes atomically.
    """

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, path: Path | str) -> AsyncIterator["Store"]:
        """Open (creating and migrating if needed) the database at `path`."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            for pragma in _PRAGMAS:
                await conn.execute(pragma)
            await conn._execute(_apply_migrations, conn._conn)  # run on aiosqlite's own thread
            yield cls(conn, path)
        finally:
            await conn.close()

    async def execute(self, sql: str, params: Sequence[Any] | dict = ()) -> int:
        """Run one statement; returns lastrowid (inserts) or rowcount."""
        cursor = await self.conn.execute(sql, params)
        try:
            return cursor.lastrowid if sql.lstrip().upper().startswith("INSERT") else cursor.rowcount
        finally:
            await cursor.close()

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for many parameter rows."""
        await self.conn.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Sequence[Any] | dict = ()) -> list[sqlite3.Row]:
        """All rows of a query."""
        async with self.conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: Sequence[Any] | dict = ()) -> sqlite3.Row | None:
        """The first row of a query, or None."""
        async with self.conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def scalar(self, sql: str, params: Sequence[Any] | dict = ()) -> Any:
        """The first column of the first row, or None."""
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator["Store"]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on error."""
        await self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            await self.conn.execute("ROLLBACK")
            raise
        else:
            await self.conn.execute("COMMIT")

    async def run_sync(self, fn, *args) -> Any:
        """Run ``fn(sqlite3_connection, *args)`` on the connection's thread (bulk work without round trips)."""
        return await self.conn._execute(fn, self.conn._conn, *args)
