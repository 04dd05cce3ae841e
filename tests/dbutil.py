"""Raw SQL for tests that check what the database holds (loratui's own code goes through repositories)."""

from __future__ import annotations

import sqlite3
from typing import Any, Sequence


def _rows(conn: sqlite3.Connection, query: str, params: Sequence[Any] | dict) -> list[sqlite3.Row]:
    return conn.execute(query, params).fetchall()


def _write(conn: sqlite3.Connection, query: str, params: Sequence[Any] | dict) -> int:
    cursor = conn.execute(query, params)
    return cursor.lastrowid if query.lstrip().upper().startswith("INSERT") else cursor.rowcount


async def rows(store, query: str, params: Sequence[Any] | dict = ()) -> list[sqlite3.Row]:
    """All rows of a query, through the store's connection."""
    return await store.run(_rows, query, params)


async def row(store, query: str, params: Sequence[Any] | dict = ()) -> sqlite3.Row | None:
    """The first row of a query, or None."""
    found = await rows(store, query, params)
    return found[0] if found else None


async def scalar(store, query: str, params: Sequence[Any] | dict = ()) -> Any:
    """The first column of the first row, or None."""
    found = await row(store, query, params)
    return None if found is None else found[0]


async def execute(store, query: str, params: Sequence[Any] | dict = ()) -> int:
    """Run one statement (lastrowid for an INSERT, else rowcount)."""
    return await store.run(_write, query, params)
