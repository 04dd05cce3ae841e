"""Backups of the database, in ``backups/`` beside it (``Paths.backups`` for the home's database).

When loratui makes one:

* before it migrates an existing database to a newer schema (``db.connect``): the one moment loratui itself
  rewrites the schema, and the copy is exactly what the older loratui could read;
* before ``loratui doctor --repair`` touches a damaged database: the damaged file (with its WAL) is copied as it
  is, so the repair can be redone or done by hand with ``sqlite3 .recover``;
* before ``doctor --repair --from-backup`` replaces the database.

A backup is a consistent snapshot (SQLite's online backup API), named ``<db>-<YYYYmmdd-HHMMSS>-<why>.db``. The
newest ``KEEP`` snapshots are kept; copies of damaged databases are never deleted by loratui.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from loratui.config import Paths

KEEP = 3
"""Snapshots kept per database (older ones are deleted when a new one is made)."""

DAMAGED = "damaged"
_NAME = re.compile(r"^(?P<stem>.+)-(?P<stamp>\d{8}-\d{6})(?:-\d+)?-(?P<why>[a-z0-9-]+)\.db$")


@dataclass(frozen=True)
class Backup:
    """One backup file: where it is, when it was made and why."""

    path: Path
    when: str
    """Local time, ``YYYY-mm-dd HH:MM:SS``."""
    why: str
    """``v60-to-v70`` (before a migration), ``before-restore``, ``damaged`` (a damaged database kept as it was)."""

    @property
    def reason(self) -> str:
        """Why it was made, in words."""
        migration = re.fullmatch(r"v(\d+)-to-v(\d+)", self.why)
        if migration:
            return f"before the migration from schema {int(migration[1])} to {int(migration[2])}"
        return {"before-restore": "before a backup was restored", DAMAGED: "a damaged database, kept as it was",
                "manual": "on request"}.get(self.why, self.why)


def backup_folder(db: Path) -> Path:
    """Where the backups of `db` go."""
    return Paths(Path(db).parent).backups


def list_backups(db: Path, *, damaged: bool = False) -> list[Backup]:
    """Backups of `db`, newest first: snapshots, or with ``damaged=True`` the kept damaged copies."""
    folder = backup_folder(db)
    found = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    for entry in entries:
        match = _NAME.match(entry.name)
        if not match or match["stem"] != Path(db).stem or (match["why"] == DAMAGED) != damaged:
            continue
        stamp = match["stamp"]
        when = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}"
        found.append(Backup(entry, when, match["why"]))
    found.sort(key=lambda b: b.path.name, reverse=True)
    return found


def newest_backup(db: Path) -> Backup | None:
    """The newest snapshot of `db` (not counting damaged copies), or None."""
    backups = list_backups(db)
    return backups[0] if backups else None


def _target(db: Path, why: str) -> Path:
    folder = backup_folder(db)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = folder / f"{Path(db).stem}-{stamp}-{why}.db"
    counter = 1
    while target.exists() or target.with_name(target.name + "-wal").exists():
        target = folder / f"{Path(db).stem}-{stamp}-{counter}-{why}.db"
        counter += 1
    return target


def snapshot(conn: sqlite3.Connection, db: Path, why: str) -> Path:
    """Copy the database open on `conn` (whose file is `db`) into a new backup; prune old ones; its path."""
    target = _target(db, why)
    copy_database(conn, target)
    for old in list_backups(db)[KEEP:]:
        old.path.unlink(missing_ok=True)
    return target


def copy_database(conn: sqlite3.Connection, target: Path) -> None:
    """Copy the database open on `conn` to a new file `target` with SQLite's backup API (consistent while others
    write). It is written beside the target and renamed, so a full disk leaves no half copy behind."""
    partial = target.with_name(target.name + ".part")
    try:
        dest = sqlite3.connect(partial)
        try:
            conn.backup(dest)
        finally:
            dest.close()
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def keep_damaged(db: Path) -> Path:
    """Copy a damaged database file and its WAL, byte for byte, into the backups; the copy's path."""
    target = _target(db, DAMAGED)
    try:
        shutil.copyfile(db, target)
        wal = Path(f"{db}-wal")
        if wal.exists():
            shutil.copyfile(wal, f"{target}-wal")
    except BaseException:
        target.unlink(missing_ok=True)
        Path(f"{target}-wal").unlink(missing_ok=True)
        raise
    return target
