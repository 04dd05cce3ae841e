"""Undo, redo, history and crash recovery over the operation journal (see ``journal``).

Operations are undone newest first and redone in the order they were undone; applying a new operation ends
the redo chain. Before touching a file, undo (and redo) reads it: a caption whose text is no longer what the
operation left there was changed outside loratui, and is never clobbered unless the user forces it.

Each journaled change can be brought to its ``before`` or ``after`` side. An undo brings ``done`` changes to
``before``; a redo brings ``undone`` changes to ``after``. While one runs, the operation is ``pending`` with its
``action`` and the process's pid recorded, so after a crash (kill -9, power loss) the next loratui finds it and
``recover`` can finish or roll it back by comparing every file with the journal. Writes are atomic, so a
caption is always either one side or the other.
"""

from __future__ import annotations

import glob
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from loratui.datasets.captions import read_caption
from loratui.datasets.journal import (
    BATCH, CaptionWrite, _in_transaction, _load_rows, rename_file, write_captions,
)
from loratui.datasets.service import Dataset
from loratui.errors import ConflictError, InputError, JobError, NotFoundError
from loratui.jobs.procinfo import is_alive, proc_key
from loratui.store import Store

# Per action: the change state still to do, the state when done, the side it brings files to, and the
# operation's state once finished or rolled back.
_ACTIONS = {
    "apply": {"todo": "pending", "complete": "done", "side": "after", "finished": "applied",
              "rolled_back": "rolled_back", "rollback_state": "undone"},
    "undo": {"todo": "done", "complete": "undone", "side": "before", "finished": "undone",
             "rolled_back": "applied", "rollback_state": "done"},
    "redo": {"todo": "undone", "complete": "done", "side": "after", "finished": "applied",
             "rolled_back": "undone", "rollback_state": "undone"},
}


@dataclass
class HistoryResult:
    """What an undo, redo or recovery did."""

    operation_id: int
    description: str
    changed: int = 0
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    state: str = ""


def _other(side: str) -> str:
    return "before" if side == "after" else "after"


def _side_of(dataset: Dataset, change: sqlite3.Row) -> str | None:
    """Which side of a change the files are on now: 'before', 'after', or None (changed by someone else)."""
    root = str(dataset.path)
    if change["kind"] == "move":
        at_before = os.path.lexists(f"{root}/{change['path_before']}")
        at_after = os.path.lexists(f"{root}/{change['path_after']}")
        if at_after and not at_before:
            return "after"
        if at_before and not at_after:
            return "before"
        return None
    path = f"{root}/{change['path_before']}"
    try:
        mtime = os.stat(path).st_mtime_ns
    except FileNotFoundError:
        mtime = None
    if mtime is not None:
        # Fast path: the file still has the mtime loratui recorded when it wrote that side.
        if mtime == change["mtime_ns_after"] and change["state"] == "done":
            return "after"
        if mtime == change["mtime_ns_before"] and change["state"] == "undone":
            return "before"
    caption = read_caption(Path(path)) if mtime is not None else None
    text = None if caption is None else caption.text
    if mtime is not None and text is None:
        return None  # present but too large to load: not ours
    if text == change["text_after"]:
        return "after"
    if text == change["text_before"]:
        return "before"
    return None


def _conflict_reason(change: sqlite3.Row) -> str:
    if change["kind"] == "move":
        return "the file was moved, replaced or deleted since"
    return "caption changed outside loratui since"


def _changes(conn: sqlite3.Connection, op_id: int, states: tuple[str, ...]) -> list[sqlite3.Row]:
    marks = ", ".join("?" for _ in states)
    return list(conn.execute(
        f"SELECT id, image_id, kind, path_before, path_after, text_before, text_after, mtime_ns_after, "
        f"mtime_ns_before, state FROM changes WHERE operation_id = ? AND state IN ({marks}) ORDER BY id",
        (op_id, *states)))


def _bring(conn: sqlite3.Connection, dataset: Dataset, changes: list[sqlite3.Row], side: str,
           new_state: str) -> list[tuple[str, str]]:
    """Bring changes' files to `side` and mark them `new_state`; returns failures (path, reason)."""
    failures: list[tuple[str, str]] = []
    captions = [c for c in changes if c["kind"] == "caption"]
    moves = [c for c in changes if c["kind"] == "move"]
    mtime_column = "mtime_ns_after" if side == "after" else "mtime_ns_before"
    rows = _load_rows(conn, dataset, [c["image_id"] for c in captions if c["image_id"] is not None])
    for start in range(0, len(captions), BATCH):
        batch = captions[start:start + BATCH]
        writes = []
        for change in batch:
            row = rows.get(change["image_id"])
            writes.append(CaptionWrite(
                change["id"], row["id"] if row else None, change["path_before"],
                row["caption"] if row else None, change[f"text_{side}"], change["path_before"]))
        for write, reason in write_captions(conn, dataset, writes, done_state=new_state, mtime_column=mtime_column):
            failures.append((write.label, reason))
    updates = []
    for change in moves:
        src, dst = ((change["path_before"], change["path_after"]) if side == "after"
                    else (change["path_after"], change["path_before"]))
        if os.path.lexists(dataset.path / dst) and not os.path.lexists(dataset.path / src):
            updates.append((new_state, None, change["id"]))
            continue
        try:
            rename_file(dataset.path, src, dst)
        except OSError as exc:
            reason = f"cannot move: {exc.strerror or exc}"
            failures.append((src, reason))
            updates.append((change["state"], reason, change["id"]))
            continue
        updates.append((new_state, None, change["id"]))
    if updates:
        _in_transaction(conn, lambda: conn.executemany(
            "UPDATE changes SET state = ?, error = ? WHERE id = ?", updates))
    return failures


def _mark(conn: sqlite3.Connection, op_id: int, **values) -> None:
    sets = ", ".join(f"{k} = ?" for k in values)
    conn.execute(f"UPDATE operations SET {sets} WHERE id = ?", (*values.values(), op_id))


def _pending(conn: sqlite3.Connection, dataset_id: int) -> list[sqlite3.Row]:
    return list(conn.execute(
        "SELECT id, kind, description, action, pid, proc_key, created_at FROM operations "
        "WHERE dataset_id = ? AND state = 'pending' ORDER BY id", (dataset_id,)))


def _is_interrupted(row: sqlite3.Row) -> bool:
    return not is_alive(row["pid"], row["proc_key"])


def _check_idle(conn: sqlite3.Connection, dataset: Dataset) -> None:
    for row in _pending(conn, dataset.id):
        if _is_interrupted(row):
            raise JobError(
                f"operation {row['id']} ({row['description'] or row['kind']}, {row['action']}) was interrupted "
                f"before it finished", title="Interrupted operation",
                hint=f"run `loratui tags {dataset.name} recover --finish` or `--rollback` first")
        raise JobError(f"another loratui process (pid {row['pid']}) is running operation {row['id']} "
                       f"({row['action']}); wait for it to finish", title="Busy")


def _run_action(conn: sqlite3.Connection, dataset: Dataset, op: sqlite3.Row, action: str, *, force: bool,
                skip_changed: bool) -> HistoryResult:
    spec = _ACTIONS[action]
    result = HistoryResult(op["id"], op["description"] or op["kind"])
    todo = _changes(conn, op["id"], (spec["todo"],))
    ready, conflicts = [], []
    for change in todo:
        side = _side_of(dataset, change)
        if side is None:
            conflicts.append(change)
        else:
            ready.append(change)
    result.conflicts = [(c["path_before"], _conflict_reason(c)) for c in conflicts]
    if conflicts and not (force or skip_changed):
        shown = ", ".join(c["path_before"] for c in conflicts[:5]) + (" ..." if len(conflicts) > 5 else "")
        raise ConflictError(
            f"{action} of operation {op['id']} ({result.description}) refused: {len(conflicts)} file(s) changed "
            f"outside loratui since it ran, and would be overwritten: {shown}",
            hint="--force overwrites them, --skip-changed leaves them and does the rest")
    if force:
        ready += conflicts
    _in_transaction(conn, lambda: _mark(conn, op["id"], state="pending", action=action, pid=os.getpid(),
                                        proc_key=proc_key(os.getpid())))
    result.failures = _bring(conn, dataset, ready, spec["side"], spec["complete"])
    result.changed = len(ready) - len(result.failures)
    # A failed write leaves the operation where it was, so the same command can be retried.
    state = spec["finished"] if not result.failures else spec["rolled_back"]
    stamp = {"undone_at": time.time()} if state == "undone" else {"applied_at": time.time()}
    _in_transaction(conn, lambda: _mark(conn, op["id"], state=state, action="apply", pid=None, proc_key=None,
                                        **stamp))
    result.state = state
    return result


def _undo_sync(conn, dataset: Dataset, force: bool, skip_changed: bool) -> HistoryResult:
    _check_idle(conn, dataset)
    op = conn.execute("SELECT * FROM operations WHERE dataset_id = ? AND state = 'applied' ORDER BY id DESC LIMIT 1",
                      (dataset.id,)).fetchone()
    if op is None:
        raise InputError(f"nothing to undo in dataset {dataset.name!r}")
    return _run_action(conn, dataset, op, "undo", force=force, skip_changed=skip_changed)


def _redo_sync(conn, dataset: Dataset, force: bool, skip_changed: bool) -> HistoryResult:
    _check_idle(conn, dataset)
    op = conn.execute("SELECT * FROM operations WHERE dataset_id = ? AND state = 'undone' AND discarded = 0 "
                      "ORDER BY id LIMIT 1", (dataset.id,)).fetchone()
    if op is None:
        raise InputError(f"nothing to redo in dataset {dataset.name!r}")
    return _run_action(conn, dataset, op, "redo", force=force, skip_changed=skip_changed)


def _has_moves(conn: sqlite3.Connection, op_id: int) -> bool:
    return conn.execute("SELECT 1 FROM changes WHERE operation_id = ? AND kind = 'move' LIMIT 1",
                        (op_id,)).fetchone() is not None


async def refresh_index(store: Store, dataset: Dataset) -> None:
    """Rescan after files moved (incremental: only moved images are read again)."""
    from loratui.datasets.scan import scan_dataset

    await scan_dataset(store, dataset.id, dataset.path, dataset.caption_ext)


async def undo(store: Store, dataset: Dataset, *, force: bool = False, skip_changed: bool = False) -> HistoryResult:
    """Undo the newest applied operation of a dataset.

    Refuses (ConflictError) when a file it would restore was changed outside loratui since the operation,
    unless `force` (overwrite) or `skip_changed` (leave those, undo the rest).
    """
    result = await store.run_sync(_undo_sync, dataset, force, skip_changed)
    if await store.run_sync(_has_moves, result.operation_id):
        await refresh_index(store, dataset)
    return result


async def redo(store: Store, dataset: Dataset, *, force: bool = False, skip_changed: bool = False) -> HistoryResult:
    """Redo the operation undone first among those still redoable (same conflict rules as undo)."""
    result = await store.run_sync(_redo_sync, dataset, force, skip_changed)
    if await store.run_sync(_has_moves, result.operation_id):
        await refresh_index(store, dataset)
    return result


async def history(store: Store, dataset: Dataset, limit: int = 50) -> list[dict]:
    """The newest operations of a dataset with their change counts, newest first."""
    rows = await store.fetchall(
        """SELECT o.id, o.kind, o.description, o.state, o.action, o.discarded, o.created_at, o.applied_at,
                  o.undone_at, o.pid, o.proc_key,
                  COALESCE(SUM(c.state IN ('done', 'undone')), 0) AS files,
                  COALESCE(SUM(c.state IN ('skipped', 'failed')), 0) AS skipped
           FROM operations o LEFT JOIN changes c ON c.operation_id = o.id
           WHERE o.dataset_id = ? GROUP BY o.id ORDER BY o.id DESC LIMIT ?""",
        (dataset.id, limit))
    return [
        {"id": r["id"], "kind": r["kind"], "description": r["description"],
         "state": "interrupted" if r["state"] == "pending" and _is_interrupted(r) else r["state"],
         "action": r["action"], "redoable": r["state"] == "undone" and not r["discarded"],
         "files": r["files"], "skipped": r["skipped"], "created_at": r["created_at"],
         "applied_at": r["applied_at"], "undone_at": r["undone_at"]}
        for r in rows
    ]


def _interrupted_sync(conn, dataset_id: int) -> list[dict]:
    return [dict(row) for row in _pending(conn, dataset_id) if _is_interrupted(row)]


async def interrupted_operations(store: Store, dataset: Dataset) -> list[dict]:
    """Operations left ``pending`` by a process that is gone (a crash): they need ``recover``."""
    return await store.run_sync(_interrupted_sync, dataset.id)


async def ensure_no_interrupted(store: Store, dataset: Dataset) -> None:
    """Raise JobError if an interrupted operation of this dataset waits for recovery."""
    found = await interrupted_operations(store, dataset)
    if found:
        op = found[0]
        raise JobError(
            f"operation {op['id']} ({op['description'] or op['kind']}, {op['action']}) was interrupted before "
            f"it finished", title="Interrupted operation",
            hint=f"run `loratui tags {dataset.name} recover --finish` or `--rollback` first")


def _remove_stray_temps(conn, dataset: Dataset, op_id: int) -> None:
    """Delete temp files an interrupted atomic write left next to this operation's captions."""
    for (rel,) in conn.execute("SELECT path_before FROM changes WHERE operation_id = ? AND kind = 'caption'",
                               (op_id,)):
        path = dataset.path / rel
        for stray in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
            try:
                stray.unlink()
            except OSError:
                pass


def _recover_sync(conn, dataset: Dataset, op_id: int | None, finish: bool) -> list[HistoryResult]:
    targets = _interrupted_sync(conn, dataset.id)
    if op_id is not None:
        targets = [t for t in targets if t["id"] == op_id]
        if not targets:
            raise NotFoundError(f"operation {op_id} of dataset {dataset.name!r} is not interrupted")
    results = []
    for op in reversed(targets):
        _remove_stray_temps(conn, dataset, op["id"])
        spec = _ACTIONS[op["action"]]
        result = HistoryResult(op["id"], op["description"] or op["kind"])
        if finish:
            changes = _changes(conn, op["id"], (spec["todo"],))
            side, new_state = spec["side"], spec["complete"]
        else:
            changes = _changes(conn, op["id"], (spec["todo"], spec["complete"]))
            side, new_state = _other(spec["side"]), spec["rollback_state"]
        ready, conflicts = [], []
        for change in changes:
            (ready if _side_of(dataset, change) is not None else conflicts).append(change)
        result.conflicts = [(c["path_before"], _conflict_reason(c)) for c in conflicts]
        if conflicts and op["action"] == "apply":
            # Never written by this operation, and someone else changed it: leave it alone, say so.
            _in_transaction(conn, lambda: conn.executemany(
                "UPDATE changes SET state = 'skipped', error = ? WHERE id = ? AND state = 'pending'",
                [(_conflict_reason(c), c["id"]) for c in conflicts]))
        result.failures = _bring(conn, dataset, ready, side, new_state)
        result.changed = len(ready) - len(result.failures)
        state = spec["finished"] if finish else spec["rolled_back"]
        if op["action"] == "apply" and finish and not conn.execute(
                "SELECT 1 FROM changes WHERE operation_id = ? AND state = 'done' LIMIT 1", (op["id"],)).fetchone():
            state = "failed"
        stamp = {"undone_at": time.time()} if state == "undone" else {"applied_at": time.time()}
        _in_transaction(conn, lambda: _mark(conn, op["id"], state=state, action="apply", pid=None,
                                            proc_key=None, **stamp))
        if state == "applied" and op["action"] == "apply":
            conn.execute("UPDATE operations SET discarded = 1 WHERE dataset_id = ? AND state = 'undone' AND id < ?",
                         (dataset.id, op["id"]))
        result.state = state
        results.append(result)
    return results


async def recover(store: Store, dataset: Dataset, *, finish: bool, operation_id: int | None = None
                  ) -> list[HistoryResult]:
    """Finish (``finish=True``) or roll back interrupted operations, reading every file against the journal.

    Files changed by someone else in the meantime are left alone and reported as conflicts.
    """
    results = await store.run_sync(_recover_sync, dataset, operation_id, finish)
    for result in results:
        if await store.run_sync(_has_moves, result.operation_id):
            await refresh_index(store, dataset)
            break
    return results
