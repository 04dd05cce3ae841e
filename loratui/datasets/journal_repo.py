"""Repository of the journal: the ``operations`` and ``changes`` tables (see ``loratui.datasets.journal``).

Plain functions on a ``sqlite3.Connection``; run them with ``await store.run(fn, ...)``. The journal's file work
(reading, writing and moving files) happens elsewhere, off the database thread.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from typing import Mapping

from loratui.datasets import caption_set_repo
from loratui.datasets.image_repo import CaptionUpdate
from loratui.jobs.procinfo import proc_key
from loratui.store import transaction


@dataclass(frozen=True)
class WriteOutcome:
    """What happened to one journaled caption write: done (`mtime_ns`/`size`/`sha256`/`encoding` of the new file,
    None when the file was removed), `skipped` (changed by someone else: left alone, with the reason) or `failed`
    (an OS error, a link, text the file's encoding cannot hold: with the reason)."""

    change_id: int
    image_id: int | None
    old_text: str | None
    new_text: str | None
    mtime_ns: int | None = None
    size: int | None = None
    skipped: str | None = None
    failed: str | None = None
    sha256: str | None = None
    encoding: str = "utf-8"
    warning: str | None = None


@dataclass(frozen=True)
class Captured:
    """A caption change's exact bytes, read from its file right before it is replaced: the text and bytes the
    file held (bytes None: absent or the text in UTF-8) and the bytes about to be written (None: the text after
    in UTF-8)."""

    change_id: int
    text_before: str | None
    bytes_before: bytes | None
    bytes_after: bytes | None


def _begin(conn: sqlite3.Connection, dataset_id: int, kind: str, params: Mapping, description: str) -> int:
    return conn.execute(
        "INSERT INTO operations (dataset_id, kind, params, description, state, created_at, action, pid, proc_key) "
        "VALUES (?, ?, ?, ?, 'pending', ?, 'apply', ?, ?)",
        (dataset_id, kind, json.dumps(dict(params), sort_keys=True), description, time.time(), os.getpid(),
         proc_key(os.getpid())),
    ).lastrowid


def start_caption_operation(conn: sqlite3.Connection, dataset_id: int, kind: str, params: Mapping,
                            description: str, items: list[tuple[int, str, str | None, str]], *,
                            caption_set: str | None = None) -> tuple[int, list[int]]:
    """Record a pending operation owned by this process and its changes (image id, caption path relative to the
    dataset, text before, text after) to captions of one caption set (None: the primary set); returns the
    operation id and the change ids in `items` order."""
    with transaction(conn):
        op_id = _begin(conn, dataset_id, kind, params, description)
        conn.executemany(
            "INSERT INTO changes (operation_id, image_id, kind, path_before, text_before, text_after, state, "
            "caption_set) VALUES (?, ?, 'caption', ?, ?, ?, 'pending', ?)",
            [(op_id, image_id, rel, before, after, caption_set) for image_id, rel, before, after in items])
        ids = [r[0] for r in conn.execute("SELECT id FROM changes WHERE operation_id = ? ORDER BY id", (op_id,))]
    return op_id, ids


def start_move_operation(conn: sqlite3.Connection, dataset_id: int, description: str, params: Mapping,
                         planned: list[tuple[int, str, str]]) -> tuple[int, list[sqlite3.Row]]:
    """Record a pending move operation: (image id, path before, path after) per file; returns the operation id
    and its change rows (id, path_before, path_after) in order."""
    with transaction(conn):
        op_id = _begin(conn, dataset_id, "move", params, description)
        conn.executemany(
            "INSERT INTO changes (operation_id, image_id, kind, path_before, path_after, state) "
            "VALUES (?, ?, 'move', ?, ?, 'pending')", [(op_id, image_id, src, dst) for image_id, src, dst in planned])
        rows = conn.execute("SELECT id, path_before, path_after FROM changes WHERE operation_id = ? ORDER BY id",
                            (op_id,)).fetchall()
    return op_id, rows


def record_writes(conn: sqlite3.Connection, dataset_id: int, outcomes: list[WriteOutcome], *, done_state: str,
                  mtime_column: str, failed_state: str | None, caption_set: str | None = None) -> None:
    """Record a batch of caption writes of one caption set (None: the primary set) in one transaction: the set's
    caption rows and tags for the files written, each
    change's state (`done_state` with the new mtime in `mtime_column`; 'skipped' and `failed_state` with the
    reason, or with `failed_state` None the state left as it is and the reason recorded)."""
    if mtime_column not in ("mtime_ns_after", "mtime_ns_before"):
        raise ValueError(mtime_column)
    done = [o for o in outcomes if o.skipped is None and o.failed is None]
    with transaction(conn):
        caption_set_repo.set_captions(conn, dataset_id, [
            CaptionUpdate(o.image_id, o.old_text, o.new_text, o.mtime_ns, o.size, o.encoding, o.sha256, o.warning)
            for o in done if o.image_id is not None], caption_set)
        conn.executemany(f"UPDATE changes SET state = ?, {mtime_column} = ?, error = NULL WHERE id = ?",
                         [(done_state, o.mtime_ns, o.change_id) for o in done])
        failed = [o for o in outcomes if o.failed is not None]
        if failed_state is None:  # undo, redo, recovery: the change stays where it is, to be retried
            conn.executemany("UPDATE changes SET error = ? WHERE id = ?",
                             [(o.failed or o.skipped, o.change_id) for o in outcomes
                              if o.failed is not None or o.skipped is not None])
        else:
            conn.executemany("UPDATE changes SET state = 'skipped', error = ? WHERE id = ?",
                             [(o.skipped, o.change_id) for o in outcomes if o.skipped is not None])
            conn.executemany("UPDATE changes SET state = ?, error = ? WHERE id = ?",
                             [(failed_state, o.failed, o.change_id) for o in failed])


def record_captured(conn: sqlite3.Connection, captured: list[Captured]) -> None:
    """Record the exact bytes of changes about to be written (before any of them is renamed into place), so that
    undo and recovery restore byte-identical files."""
    with transaction(conn):
        conn.executemany(
            "UPDATE changes SET text_before = ?, bytes_before = ?, bytes_after = ?, exact = 1 WHERE id = ?",
            [(c.text_before, c.bytes_before, c.bytes_after, c.change_id) for c in captured])


def mark_changes(conn: sqlite3.Connection, updates: list[tuple[str, str | None, int]]) -> None:
    """Set (state, error) of changes by id."""
    with transaction(conn):
        conn.executemany("UPDATE changes SET state = ?, error = ? WHERE id = ?", updates)


def skip_pending(conn: sqlite3.Connection, reasons: list[tuple[str, int]]) -> None:
    """Mark still-pending changes (reason, id) as skipped: someone else changed their files."""
    with transaction(conn):
        conn.executemany("UPDATE changes SET state = 'skipped', error = ? WHERE id = ? AND state = 'pending'",
                         reasons)


def set_operation(conn: sqlite3.Connection, op_id: int, *, owned: bool = False, **values) -> None:
    """Set columns of an operation; `owned` records this process as the one running it (pid + proc_key)."""
    if owned:
        values.update(pid=os.getpid(), proc_key=proc_key(os.getpid()))
    allowed = {"state", "action", "pid", "proc_key", "applied_at", "undone_at"}
    if not set(values) <= allowed:
        raise ValueError(f"unknown operation columns: {sorted(set(values) - allowed)}")
    sets = ", ".join(f"{k} = ?" for k in values)
    with transaction(conn):
        conn.execute(f"UPDATE operations SET {sets} WHERE id = ?", (*values.values(), op_id))


def finish_operation(conn: sqlite3.Connection, dataset_id: int, op_id: int, state: str, *,
                     new: bool = True) -> None:
    """Close an operation run by this process. A `new` operation (not an undo or redo) that ends applied ends
    the redo chain: operations undone before it can no longer be redone."""
    stamp = "undone_at" if state == "undone" else "applied_at"
    with transaction(conn):
        conn.execute(f"UPDATE operations SET state = ?, {stamp} = ?, action = 'apply', pid = NULL, proc_key = NULL "
                     "WHERE id = ?", (state, time.time(), op_id))
        if state == "applied" and new:
            conn.execute("UPDATE operations SET discarded = 1 WHERE dataset_id = ? AND state = 'undone' AND id < ?",
                         (dataset_id, op_id))


def pending_operations(conn: sqlite3.Connection, dataset_id: int) -> list[dict]:
    """Operations of a dataset still marked pending (running now, or interrupted by a crash)."""
    return [dict(r) for r in conn.execute(
        "SELECT id, kind, description, action, pid, proc_key, created_at FROM operations "
        "WHERE dataset_id = ? AND state = 'pending' ORDER BY id", (dataset_id,))]


def operation_to_undo(conn: sqlite3.Connection, dataset_id: int) -> sqlite3.Row | None:
    """The newest applied operation of a dataset."""
    return conn.execute("SELECT * FROM operations WHERE dataset_id = ? AND state = 'applied' ORDER BY id DESC "
                        "LIMIT 1", (dataset_id,)).fetchone()


def operation_to_redo(conn: sqlite3.Connection, dataset_id: int) -> sqlite3.Row | None:
    """The operation undone first among those still redoable."""
    return conn.execute("SELECT * FROM operations WHERE dataset_id = ? AND state = 'undone' AND discarded = 0 "
                        "ORDER BY id LIMIT 1", (dataset_id,)).fetchone()


def changes_of(conn: sqlite3.Connection, op_id: int, states: tuple[str, ...]) -> list[sqlite3.Row]:
    """An operation's changes in some states, in order."""
    marks = ", ".join("?" for _ in states)
    return conn.execute(
        f"SELECT id, image_id, kind, path_before, path_after, text_before, text_after, bytes_before, bytes_after, "
        f"exact, mtime_ns_after, mtime_ns_before, state, caption_set FROM changes WHERE operation_id = ? AND state IN ({marks}) "
        f"ORDER BY id",
        (op_id, *states)).fetchall()


def caption_paths(conn: sqlite3.Connection, op_id: int) -> list[str]:
    """Caption files (relative to the dataset) an operation changes."""
    return [r[0] for r in conn.execute("SELECT path_before FROM changes WHERE operation_id = ? AND kind = 'caption'",
                                       (op_id,))]


def has_moves(conn: sqlite3.Connection, op_id: int) -> bool:
    """True when the operation moved files (the index must be refreshed after it)."""
    return conn.execute("SELECT 1 FROM changes WHERE operation_id = ? AND kind = 'move' LIMIT 1",
                        (op_id,)).fetchone() is not None


def has_done_changes(conn: sqlite3.Connection, op_id: int) -> bool:
    """True when at least one change of the operation is done."""
    return conn.execute("SELECT 1 FROM changes WHERE operation_id = ? AND state = 'done' LIMIT 1",
                        (op_id,)).fetchone() is not None


def history_rows(conn: sqlite3.Connection, dataset_id: int, limit: int) -> list[dict]:
    """The newest operations of a dataset with their file and skip counts, newest first."""
    return [dict(r) for r in conn.execute(
        """SELECT o.id, o.kind, o.description, o.state, o.action, o.discarded, o.created_at, o.applied_at,
                  o.undone_at, o.pid, o.proc_key,
                  COALESCE(SUM(c.state IN ('done', 'undone')), 0) AS files,
                  COALESCE(SUM(c.state IN ('skipped', 'failed')), 0) AS skipped
           FROM operations o LEFT JOIN changes c ON c.operation_id = o.id
           WHERE o.dataset_id = ? GROUP BY o.id ORDER BY o.id DESC LIMIT ?""", (dataset_id, limit))]
