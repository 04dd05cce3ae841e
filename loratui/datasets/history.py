"""Undo, redo, history and crash recovery over the operation journal (see ``journal``).

Operations are undone newest first and redone in the order they were undone; applying a new operation ends
the redo chain. Before touching a file, undo (and redo) reads it: a caption whose text is no longer what the
operation left there was changed outside loratui, and is never clobbered unless the user forces it.

Each journaled change can be brought to its ``before`` or ``after`` side. An undo brings ``done`` changes to
``before``; a redo brings ``undone`` changes to ``after``. While one runs, the operation is ``pending`` with its
``action`` and the process's pid recorded, so after a crash (kill -9, power loss) the next loratui finds it and
``recover`` can finish or roll it back by comparing every file with the journal. Writes are atomic, so a
caption is always either one side or the other. Files are read and written on worker threads; the database
work runs through the store.
"""

from __future__ import annotations

import asyncio
import glob
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from loratui.datasets import image_repo, journal_repo
from loratui.datasets.captions import read_caption
from loratui.datasets.dataset_repo import Dataset
from loratui.datasets.journal import (
    CaptionWrite, ensure_idle, interrupted_operations, is_interrupted, refresh_index, rename_file, write_journaled,
)
from loratui.errors import ConflictError, InputError, NotFoundError
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


def _sides(dataset: Dataset, changes: list[sqlite3.Row]) -> list[str | None]:
    return [_side_of(dataset, change) for change in changes]


def _bring_moves(root: Path, moves: list[sqlite3.Row], side: str, new_state: str
                 ) -> tuple[list[tuple[str, str | None, int]], list[tuple[str, str]]]:
    updates, failures = [], []
    for change in moves:
        src, dst = ((change["path_before"], change["path_after"]) if side == "after"
                    else (change["path_after"], change["path_before"]))
        if os.path.lexists(root / dst) and not os.path.lexists(root / src):
            updates.append((new_state, None, change["id"]))
            continue
        try:
            rename_file(root, src, dst)
        except OSError as exc:
            reason = f"cannot move: {exc.strerror or exc}"
            failures.append((src, reason))
            updates.append((change["state"], reason, change["id"]))
            continue
        updates.append((new_state, None, change["id"]))
    return updates, failures


async def _bring(store: Store, dataset: Dataset, changes: list[sqlite3.Row], side: str,
                 new_state: str) -> list[tuple[str, str]]:
    """Bring changes' files to `side` and mark them `new_state`; returns failures (path, reason)."""
    captions = [c for c in changes if c["kind"] == "caption"]
    moves = [c for c in changes if c["kind"] == "move"]
    mtime_column = "mtime_ns_after" if side == "after" else "mtime_ns_before"
    rows = await store.run(image_repo.caption_rows, dataset.id,
                           [c["image_id"] for c in captions if c["image_id"] is not None])
    writes = []
    for change in captions:
        row = rows.get(change["image_id"])
        writes.append(CaptionWrite(change["id"], row.id if row else None, change["path_before"],
                                   row.caption if row else None, change[f"text_{side}"], change["path_before"]))
    failures = [(write.label, outcome.failed)
                for write, outcome in await write_journaled(store, dataset, writes, done_state=new_state,
                                                            mtime_column=mtime_column, failed_state=None)
                if outcome.failed is not None]
    if moves:
        updates, move_failures = await asyncio.to_thread(_bring_moves, dataset.path, moves, side, new_state)
        failures += move_failures
        await store.run(journal_repo.mark_changes, updates)
    return failures


async def _run_action(store: Store, dataset: Dataset, op: sqlite3.Row, action: str, *, force: bool,
                      skip_changed: bool) -> HistoryResult:
    spec = _ACTIONS[action]
    result = HistoryResult(op["id"], op["description"] or op["kind"])
    todo = await store.run(journal_repo.changes_of, op["id"], (spec["todo"],))
    sides = await asyncio.to_thread(_sides, dataset, todo)
    ready = [c for c, side in zip(todo, sides) if side is not None]
    conflicts = [c for c, side in zip(todo, sides) if side is None]
    result.conflicts = [(c["path_before"], _conflict_reason(c)) for c in conflicts]
    if conflicts and not (force or skip_changed):
        shown = ", ".join(c["path_before"] for c in conflicts[:5]) + (" ..." if len(conflicts) > 5 else "")
        raise ConflictError(
            f"{action} of operation {op['id']} ({result.description}) refused: {len(conflicts)} file(s) changed "
            f"outside loratui since it ran, and would be overwritten: {shown}",
            hint="--force overwrites them, --skip-changed leaves them and does the rest")
    if force:
        ready += conflicts
    await store.run(journal_repo.set_operation, op["id"], state="pending", action=action, owned=True)
    result.failures = await _bring(store, dataset, ready, spec["side"], spec["complete"])
    result.changed = len(ready) - len(result.failures)
    # A failed write leaves the operation where it was, so the same command can be retried.
    result.state = spec["finished"] if not result.failures else spec["rolled_back"]
    await store.run(journal_repo.finish_operation, dataset.id, op["id"], result.state, new=False)
    return result


async def _step(store: Store, dataset: Dataset, action: str, *, force: bool, skip_changed: bool) -> HistoryResult:
    await ensure_idle(store, dataset)
    find = journal_repo.operation_to_undo if action == "undo" else journal_repo.operation_to_redo
    op = await store.run(find, dataset.id)
    if op is None:
        raise InputError(f"nothing to {action} in dataset {dataset.name!r}")
    result = await _run_action(store, dataset, op, action, force=force, skip_changed=skip_changed)
    if await store.run(journal_repo.has_moves, result.operation_id):
        await refresh_index(store, dataset)
    return result


async def undo(store: Store, dataset: Dataset, *, force: bool = False, skip_changed: bool = False) -> HistoryResult:
    """Undo the newest applied operation of a dataset.

    Refuses (ConflictError) when a file it would restore was changed outside loratui since the operation,
    unless `force` (overwrite) or `skip_changed` (leave those, undo the rest).
    """
    return await _step(store, dataset, "undo", force=force, skip_changed=skip_changed)


async def redo(store: Store, dataset: Dataset, *, force: bool = False, skip_changed: bool = False) -> HistoryResult:
    """Redo the operation undone first among those still redoable (same conflict rules as undo)."""
    return await _step(store, dataset, "redo", force=force, skip_changed=skip_changed)


async def history(store: Store, dataset: Dataset, limit: int = 50) -> list[dict]:
    """The newest operations of a dataset with their change counts, newest first."""
    rows = await store.run(journal_repo.history_rows, dataset.id, limit)
    return [
        {"id": r["id"], "kind": r["kind"], "description": r["description"],
         "state": "interrupted" if r["state"] == "pending" and is_interrupted(r) else r["state"],
         "action": r["action"], "redoable": r["state"] == "undone" and not r["discarded"],
         "files": r["files"], "skipped": r["skipped"], "created_at": r["created_at"],
         "applied_at": r["applied_at"], "undone_at": r["undone_at"]}
        for r in rows
    ]


def _remove_stray_temps(dataset: Dataset, caption_paths: list[str]) -> None:
    """Delete temp files an interrupted atomic write left next to these captions."""
    for rel in caption_paths:
        path = dataset.path / rel
        for stray in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
            try:
                stray.unlink()
            except OSError:
                pass


async def recover(store: Store, dataset: Dataset, *, finish: bool, operation_id: int | None = None
                  ) -> list[HistoryResult]:
    """Finish (``finish=True``) or roll back interrupted operations, reading every file against the journal.

    Files changed by someone else in the meantime are left alone and reported as conflicts.
    """
    targets = await interrupted_operations(store, dataset)
    if operation_id is not None:
        targets = [t for t in targets if t["id"] == operation_id]
        if not targets:
            raise NotFoundError(f"operation {operation_id} of dataset {dataset.name!r} is not interrupted")
    results = []
    for op in reversed(targets):
        paths = await store.run(journal_repo.caption_paths, op["id"])
        await asyncio.to_thread(_remove_stray_temps, dataset, paths)
        spec = _ACTIONS[op["action"]]
        result = HistoryResult(op["id"], op["description"] or op["kind"])
        if finish:
            states, side, new_state = (spec["todo"],), spec["side"], spec["complete"]
        else:
            states, side, new_state = (spec["todo"], spec["complete"]), _other(spec["side"]), spec["rollback_state"]
        changes = await store.run(journal_repo.changes_of, op["id"], states)
        sides = await asyncio.to_thread(_sides, dataset, changes)
        ready = [c for c, found in zip(changes, sides) if found is not None]
        conflicts = [c for c, found in zip(changes, sides) if found is None]
        result.conflicts = [(c["path_before"], _conflict_reason(c)) for c in conflicts]
        if conflicts and op["action"] == "apply":
            # Never written by this operation, and someone else changed it: leave it alone, say so.
            await store.run(journal_repo.skip_pending, [(_conflict_reason(c), c["id"]) for c in conflicts])
        result.failures = await _bring(store, dataset, ready, side, new_state)
        result.changed = len(ready) - len(result.failures)
        state = spec["finished"] if finish else spec["rolled_back"]
        if op["action"] == "apply" and finish and not await store.run(journal_repo.has_done_changes, op["id"]):
            state = "failed"
        await store.run(journal_repo.finish_operation, dataset.id, op["id"], state, new=op["action"] == "apply")
        result.state = state
        results.append(result)
    for result in results:
        if await store.run(journal_repo.has_moves, result.operation_id):
            await refresh_index(store, dataset)
            break
    return results
