"""Repository of the ``models`` table: base models and other files loratui downloaded.

Plain functions on a ``sqlite3.Connection``; run them with ``await store.run(fn, ...)``.
"""

from __future__ import annotations

import sqlite3
import time

from loratui.store import changes, transaction


def record_download(conn: sqlite3.Connection, source: str, ref: str, path: str, size: int,
                    sha256: str | None) -> None:
    """Remember a downloaded file (replacing what was known about the same path)."""
    with transaction(conn):
        conn.execute(
            """INSERT INTO models (source, ref, path, size, sha256, downloaded_at) VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT(path) DO UPDATE SET source = excluded.source, ref = excluded.ref, size = excluded.size,
                   sha256 = excluded.sha256, downloaded_at = excluded.downloaded_at""",
            (source, ref, path, size, sha256, time.time()))
        changes.models_changed(conn, "downloaded")


def list_downloads(conn: sqlite3.Connection) -> list[dict]:
    """Every recorded download, newest first."""
    return [dict(r) for r in conn.execute("SELECT * FROM models ORDER BY downloaded_at DESC")]
