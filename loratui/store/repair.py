"""Checking and repairing a damaged database (``loratui doctor`` and ``loratui doctor --repair``).

``check(db)`` opens the file read-only and runs ``PRAGMA quick_check`` (``integrity_check`` with ``full=True``).

``repair(db)`` on a damaged database:

1. keeps the damaged file and its WAL byte for byte in ``backups/`` (``backup.keep_damaged``);
2. builds a new database with the current schema beside it and copies every table's rows that can still be
   read from a scratch copy of the damaged file: whole tables where a full scan works, else page by page in
   key order, stepping over the unreadable parts (a damaged index costs nothing: tables are read without
   it). Columns are matched by name, so a damaged file of an older schema is carried over too. Rows that point
   at rows that were lost (foreign keys) are dropped;
3. replaces the database with the new one (the damaged WAL and shared-memory files are removed first, so SQLite
   never applies them to the new file) and reports, per table, the rows recovered and lost.

What the loss means for the user: caption files are the source of truth and are never touched; lost image rows
come back with ``loratui dataset scan NAME``; a lost dataset row must be added again (``dataset add``); lost
journal rows mean those operations can no longer be undone; lost job rows are history only.

``repair(db, from_backup=path)`` keeps the damaged file the same way, then restores a backup (migrated to the
current schema): what changed since the backup was made is lost, caption files excepted.

Other loratui processes must not have the database open meanwhile (the command says so before it starts).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from loratui.errors import NotFoundError, StorageError
from loratui.store import backup
from loratui.store.db import connect, open_readonly_file
from loratui.store.failures import is_damaged, storage_error

PAGE = 500
"""Rows read per step when a table is read in key order."""
MAX_SKIP = 1 << 62
"""The largest jump over unreadable rowids (rowids are 64-bit)."""
AFTER_LOSS = {
    "datasets": "add the lost datasets again: loratui dataset add PATH",
    "workspaces": "datasets whose workspace was lost are dropped with it: add them again",
    "subsets": "rescan the datasets: loratui dataset scan NAME",
    "images": "rescan the datasets: loratui dataset scan NAME; caption files on disk are untouched",
    "image_tags": "rescan the datasets: loratui dataset scan NAME",
    "orphan_captions": "rescan the datasets: loratui dataset scan NAME",
    "thumbnails": "nothing to do: thumbnails are made again when shown",
    "operations": "those batch operations can no longer be undone",
    "changes": "those batch operations can no longer be undone",
    "jobs": "only the history of those jobs is lost",
    "change_log": "nothing to do",
}
"""What to do about rows lost from a table."""


@dataclass
class TableResult:
    """Rows of one table: recovered into the new database, and lost (unreadable, or their parent lost)."""

    name: str
    recovered: int = 0
    lost: int | None = 0
    """None when the damaged table cannot say how many rows it had (part of it was unreadable)."""
    estimated: bool = False
    """True when `lost` is counted from what the damaged file still says (an index), not from rows read."""

    @property
    def complete(self) -> bool:
        """True when nothing of the table was lost."""
        return self.lost == 0


@dataclass
class RepairReport:
    """What ``repair`` did."""

    action: str
    """``healthy`` (nothing done), ``rebuilt`` (rows copied into a new database) or ``restored`` (a backup)."""
    problems: list[str] = field(default_factory=list)
    """What the integrity check found."""
    damaged_copy: Path | None = None
    restored_from: Path | None = None
    tables: list[TableResult] = field(default_factory=list)

    def losses(self) -> list[str]:
        """One line per table that lost rows, saying what to do about it."""
        lines = []
        for table in self.tables:
            if table.complete:
                continue
            lost = ("some rows" if table.lost is None else
                    f"about {table.lost} rows" if table.estimated else f"{table.lost} rows")
            advice = AFTER_LOSS.get(table.name, "")
            lines.append(f"{table.name}: {lost} lost" + (f" ({advice})" if advice else ""))
        return lines


def check(db: Path, *, full: bool = False) -> list[str]:
    """Problems SQLite finds in the database at `db` (empty when it is healthy)."""
    db = Path(db)
    if not db.is_file():
        raise NotFoundError(f"there is no database at {db}")
    try:
        conn, _version = open_readonly_file(db)
    except sqlite3.Error as exc:
        if not is_damaged(exc):
            raise
        return [str(exc)]
    try:
        rows = conn.execute("PRAGMA integrity_check(20)" if full else "PRAGMA quick_check(20)").fetchall()
    except sqlite3.Error as exc:
        if not is_damaged(exc):
            raise
        return [str(exc)]
    finally:
        conn.close()
    problems = [row[0] for row in rows]
    return [] if problems == ["ok"] else problems


def repair(db: Path, *, from_backup: Path | None = None, force: bool = False) -> RepairReport:
    """Repair the database at `db` (see the module docstring); a healthy one is left alone unless `force`."""
    db = Path(db)
    problems = check(db, full=True)
    if not problems and not force and from_backup is None:
        return RepairReport("healthy")
    if from_backup is not None and not Path(from_backup).is_file():
        raise NotFoundError(f"there is no backup at {from_backup}")
    kept = backup.keep_damaged(db)
    work = Path(tempfile.mkdtemp(prefix=".repair-", dir=db.parent))
    try:
        new = work / db.name
        if from_backup is not None:
            report = RepairReport("restored", problems, kept, restored_from=Path(from_backup))
            _restore(Path(from_backup), new)
        else:
            report = RepairReport("rebuilt", problems, kept)
            scratch = work / "damaged.db"
            shutil.copyfile(kept, scratch)
            if Path(f"{kept}-wal").exists():
                shutil.copyfile(f"{kept}-wal", f"{scratch}-wal")
            report.tables = _rebuild(scratch, new)
        _replace(db, new)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _restore(source: Path, new: Path) -> None:
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        backup.copy_database(src, new)
    finally:
        src.close()
    connect(new).close()  # migrates a backup made by an older loratui


def _replace(db: Path, new: Path) -> None:
    # The damaged database's WAL and shared memory must not survive: SQLite would apply them to the new file.
    for side in ("-wal", "-shm"):
        Path(f"{db}{side}").unlink(missing_ok=True)
    os.replace(new, db)


def _rebuild(scratch: Path, new: Path) -> list[TableResult]:
    target = connect(new)
    try:
        target.execute("PRAGMA foreign_keys=OFF")
        tables = [row[0] for row in target.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
        source = sqlite3.connect(scratch, isolation_level=None)
        try:
            results = [_copy_table(source, target, name) for name in tables]
        finally:
            source.close()
        _drop_orphans(target, {result.name: result for result in results})
        target.execute("PRAGMA foreign_keys=ON")
    finally:
        target.close()
    return results


def _columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, int]]:
    """(name, primary-key position) of a table's columns."""
    return [(row[1], row[5]) for row in conn.execute(f'PRAGMA table_info("{table}")')]


def _copy_table(source: sqlite3.Connection, target: sqlite3.Connection, table: str) -> TableResult:
    result = TableResult(table)
    try:
        old = _columns(source, table)
    except sqlite3.DatabaseError:
        old = []
    new_names = {name for name, _ in _columns(target, table)}
    names = [name for name, _ in old if name in new_names]
    if not names:
        result.lost = None  # the table (or the schema that describes it) is unreadable
        return result
    quoted = ", ".join(f'"{name}"' for name in names)
    insert = f'INSERT OR IGNORE INTO "{table}" ({quoted}) VALUES ({", ".join("?" for _ in names)})'
    try:
        rows = source.execute(f'SELECT {quoted} FROM "{table}"').fetchall()
    except sqlite3.DatabaseError:
        rows = None
    if rows is not None:
        _insert(target, insert, rows, result)
        return result
    result.lost = None
    try:
        # Often still answered from an index when the table's pages are damaged.
        total = source.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    except sqlite3.DatabaseError:
        total = None
    if _without_rowid(source, table):
        key = [f'"{name}"' for name, position in sorted(old, key=lambda c: c[1]) if position]
        _copy_both_ends(source, target, f'SELECT {quoted} FROM "{table}"', key, insert, result)
    else:
        _copy_by_rowid(source, target, table, quoted, insert, result)
    if total is not None:
        result.lost, result.estimated = max(0, total - result.recovered), True
    return result


def _without_rowid(conn: sqlite3.Connection, table: str) -> bool:
    try:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    except sqlite3.DatabaseError:
        return True
    return bool(sql and sql[0] and "WITHOUT ROWID" in sql[0].upper())


def _copy_both_ends(source: sqlite3.Connection, target: sqlite3.Connection, select: str, key: list[str],
                    insert: str, result: TableResult) -> None:
    """A table without rowids: read in key order up to the damage, then backwards from the end up to it."""
    for direction in ("ASC", "DESC"):
        rows = []
        try:
            for row in source.execute(f"{select} ORDER BY {', '.join(f'{k} {direction}' for k in key)}"):
                rows.append(row)
        except sqlite3.DatabaseError:
            pass
        _insert(target, insert, rows, result)


def _copy_by_rowid(source: sqlite3.Connection, target: sqlite3.Connection, table: str, quoted: str, insert: str,
                   result: TableResult) -> None:
    """Read the table in rowid order, a page at a time; near damage one row at a time up to it, then jump
    over the rowids that cannot be read."""
    after, page = -(1 << 63), PAGE
    select = f'SELECT rowid, {quoted} FROM "{table}" WHERE rowid > ? ORDER BY rowid LIMIT ?'
    while True:
        try:
            rows = source.execute(select, (after, page)).fetchall()
        except sqlite3.DatabaseError:
            if page > 1:
                page = 1
                continue
            after = _skip(source, table, after)
            if after is None:
                return
            page = PAGE
            continue
        if not rows:
            return
        _insert(target, insert, [row[1:] for row in rows], result)
        after = rows[-1][0]


def _readable_after(source: sqlite3.Connection, table: str, rowid: int) -> bool:
    try:
        source.execute(f'SELECT rowid FROM "{table}" WHERE rowid > ? ORDER BY rowid LIMIT 1', (rowid,)).fetchall()
        return True
    except sqlite3.DatabaseError:
        return False


def _skip(source: sqlite3.Connection, table: str, after: int) -> int | None:
    """The smallest rowid beyond `after` from which reading works again (found by doubling jumps, then a binary
    search back), or None when nothing further can be read."""
    bad, step = after, 1
    while step < MAX_SKIP:
        good = after + step
        if _readable_after(source, table, good):
            while good - bad > 1:
                middle = (bad + good) // 2
                if _readable_after(source, table, middle):
                    good = middle
                else:
                    bad = middle
            return good
        bad, step = good, step * 2
    return None


def _insert(target: sqlite3.Connection, insert: str, rows: list, result: TableResult) -> None:
    """Insert `rows`; those refused (a constraint, a duplicate read from both ends) are not counted."""
    before = target.total_changes
    target.execute("BEGIN")
    target.executemany(insert, [tuple(row) for row in rows])
    target.execute("COMMIT")
    inserted = target.total_changes - before
    result.recovered += inserted
    if result.lost is not None:
        result.lost += len(rows) - inserted


def _drop_orphans(target: sqlite3.Connection, results: dict[str, TableResult]) -> None:
    """Delete rows whose parent row was lost, round after round (a deleted parent orphans its children)."""
    while True:
        orphaned = {row[0] for row in target.execute("PRAGMA foreign_key_check")}
        if not orphaned:
            return
        progress = 0
        target.execute("BEGIN")
        for table in orphaned:
            removed = 0
            keys: dict[int, list] = {}
            for fk in target.execute(f'PRAGMA foreign_key_list("{table}")'):
                keys.setdefault(fk[0], []).append(fk)
            for columns in keys.values():
                parent = columns[0][2]
                parent_key = [name for name, position in sorted(_columns(target, parent), key=lambda c: c[1])
                              if position]
                pairs = [(fk[3], fk[4] or parent_key[fk[1]]) for fk in columns]
                present = " AND ".join(f'"{child}" IS NOT NULL' for child, _ in pairs)
                match = " AND ".join(f'p."{up}" = "{table}"."{child}"' for child, up in pairs)
                removed += target.execute(f'DELETE FROM "{table}" WHERE {present} AND NOT EXISTS '
                                          f'(SELECT 1 FROM "{parent}" p WHERE {match})').rowcount
            progress += removed
            result = results.get(table)
            if result is not None:
                result.recovered -= removed
                if result.lost is not None:
                    result.lost += removed
        target.execute("COMMIT")
        if not progress:  # what is left is not a missing parent (never expected): leave it rather than loop
            return


def describe(report: RepairReport) -> list[str]:
    """The report as lines for a terminal."""
    if report.action == "healthy":
        return ["the database is healthy: nothing to repair"]
    lines = [f"found: {problem}" for problem in report.problems[:5]]
    lines.append(f"the damaged database is kept as {report.damaged_copy}")
    if report.action == "restored":
        lines.append(f"restored {report.restored_from}; changes made after it was taken are lost "
                     "(rescan datasets to pick up caption edits made since: the caption files are the truth)")
        return lines
    recovered = sum(table.recovered for table in report.tables)
    lines.append(f"rebuilt the database: {recovered} rows recovered")
    losses = report.losses()
    lines.extend(losses or ["nothing was lost"])
    return lines


def repair_error(exc: BaseException, db: Path) -> StorageError:
    """A failure during the repair itself (a full disk, say): the cause, and that the database was not replaced."""
    cause = storage_error(exc)
    reason = cause.message if cause is not None else f"{type(exc).__name__}: {exc}"
    fix = f"{cause.hint}; " if cause is not None and cause.hint else ""
    return StorageError(f"the repair of {db} stopped: {reason}",
                        hint=f"{fix}the database was left as it was; run the repair again")
