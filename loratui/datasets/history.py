"""Undo, redo, history and crash recovery over the operation journal (see ``journal``).

Operations are undone newest first and redone in the order they were undone; applying a new operation ends
the redo chain. Each runs under the dataset's writer lock (``writelock``). Before touching a file, undo (and
redo) reads it: a caption whose bytes are no longer what the operation left there was changed outside
loratui, and is never clobbered unless the user forces it; a caption that became a link is never written
through or replaced, even when forced.

Each journaled change can be brought to its ``before`` or ``after`` side. An undo brings ``done`` changes to
``before``; a redo brings ``undone`` changes to ``after``. A side is the exact bytes the file held (a BOM, UTF-16,
cp1252 and line endings included): changes journaled before migration 0080 kept only the text, and are compared
and restored by text, as they always were. While one runs, the operation is ``pending`` with its ``action`` and
the process's pid recorded, so after a crash (kill -9, power loss) the next loratui finds it and ``recover`` can
finish or roll it back by comparing every file with the journal. Writes are atomic, so a caption is always
either one side or the other. Files are read and written on worker threads; the database work runs through
the store.
"""

from __future__ import annotations

import asyncio
import glob
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from loratui.datasets import caption_set_repo, journal_repo, writelock
from loratui.datasets.caption_state import ABSENT, FILE, LINK, Snapshot, read_snapshot
from loratui.datasets.dataset_repo import Dataset
from loratui.datasets.journal import (
    ENCODE, CaptionWrite, ensure_idle, interrupted_operations, is_interrupted, refresh_index, rename_file,
    write_journaled,
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


@dataclass
class _Found:
    """A change and what its file holds now: `side` 'before', 'after' or None (changed by someone else)."""

    change: sqlite3.Row
    side: str | None
    snapshot: Snapshot | None = None
    """The caption file as read (None for moves)."""


def _other(side: str) -> str:
    return "before" if side == "after" else "after"


def side_bytes(change: sqlite3.Row, side: str) -> bytes | None | object:
    """The exact bytes of a caption change's side: None (no file), bytes, or ENCODE when only the text is known
    (journaled before migration 0080, or not yet captured)."""
    text = change[f"text_{side}"]
    if text is None:
        return None
    raw = change[f"bytes_{side}"]
    if raw is not None:
        return raw
    return text.encode("utf-8") if change["exact"] else ENCODE


def _holds(change: sqlite3.Row, side: str, snapshot: Snapshot) -> bool:
    expected = side_bytes(change, side)
    if expected is None:
        return snapshot.state == ABSENT
    if snapshot.state != FILE:
        return False
    if expected is ENCODE:
        return snapshot.text == change[f"text_{side}"]
    return snapshot.data == expected


def _find(dataset: Dataset, change: sqlite3.Row) -> _Found:
    """Which side of a change the files are on now (file work: a worker thread)."""
    root = str(dataset.path)
    if change["kind"] == "move":
        at_before = os.path.lexists(f"{root}/{change['path_before']}")
        at_after = os.path.lexists(f"{root}/{change['path_after']}")
        if at_after and not at_before:
            return _Found(change, "after")
        if at_before and not at_after:
            return _Found(change, "before")
        return _Found(change, None)
    snapshot = read_snapshot(f"{root}/{change['path_before']}")
    for side in ("after", "before"):
        if _holds(change, side, snapshot):
            return _Found(change, side, snapshot)
    return _Found(change, None, snapshot)


def _conflict_reason(found: _Found) -> str:
    if found.change["kind"] == "move":
        return "the file was moved, replaced or deleted since"
    if found.snapshot is not None and found.snapshot.state == LINK:
        return "caption became a symbolic link since: left alone"
    return "caption changed outside loratui since"


def _find_all(dataset: Dataset, changes: list[sqlite3.Row]) -> list[_Found]:
    return [_find(dataset, change) for change in changes]


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


async def _bring(store: Store, dataset: Dataset, found: list[_Found], side: str,
                 new_state: str) -> list[tuple[str, str]]:
    """Bring changes' files to `side` and mark them `new_state`; returns failures (path, reason).

    A caption already on `side` is left as it is; one on the other side (or forced, on neither) is replaced if
    it still holds what was read. Call with the dataset's writer lock held.
    """
    moves = [f.change for f in found if f.change["kind"] == "move"]
    failures: list[tuple[str, str]] = []
    by_set: dict[str | None, list[_Found]] = {}
    for item in found:
        if item.change["kind"] == "caption":
            by_set.setdefault(item.change["caption_set"], []).append(item)
    for caption_set, captions in by_set.items():
        failures += await _bring_captions(store, dataset, captions, side, new_state, caption_set)
    if moves:
        updates, move_failures = await asyncio.to_thread(_bring_moves, dataset.path, moves, side, new_state)
        failures += move_failures
        await store.run(journal_repo.mark_changes, updates)
    return failures


async def _bring_captions(store: Store, dataset: Dataset, captions: list[_Found], side: str, new_state: str,
                          caption_set: str | None) -> list[tuple[str, str]]:
    """``_bring`` for the caption changes of one caption set."""
    mtime_column = "mtime_ns_after" if side == "after" else "mtime_ns_before"
    rows = await store.run(caption_set_repo.caption_rows, dataset.id,
                           [f.change["image_id"] for f in captions if f.change["image_id"] is not None], caption_set)
    writes = []
    for item in captions:
        change = item.change
        row = rows.get(change["image_id"])
        target = side_bytes(change, side)
        if item.side == side and item.snapshot.data is not None:
            target = item.snapshot.data  # there already, byte for byte or (old journal) by text: no write
        writes.append(CaptionWrite(
            change["id"], row.id if row else None, change["path_before"], row.caption if row else None,
            change[f"text_{side}"], change["path_before"], new_bytes=target,
            capture=side == "after" and item.side == "before" and not change["exact"], snapshot=item.snapshot))
    return [(write.label, outcome.failed or outcome.skipped)
            for write, outcome in await write_journaled(store, dataset, writes, done_state=new_state,
                                                        mtime_column=mtime_column, failed_state=None,
                                                        caption_set=caption_set)
            if outcome.failed is not None or outcome.skipped is not None]


async def _run_action(store: Store, dataset: Dataset, op: sqlite3.Row, action: str, *, force: bool,
                      skip_changed: bool) -> HistoryResult:
    spec = _ACTIONS[action]
    result = HistoryResult(op["id"], op["description"] or op["kind"])
    todo = await store.run(journal_repo.changes_of, op["id"], (spec["todo"],))
    found = await asyncio.to_thread(_find_all, dataset, todo)
    ready = [f for f in found if f.side is not None]
    conflicts = [f for f in found if f.side is None]
    result.conflicts = [(f.change["path_before"], _conflict_reason(f)) for f in conflicts]
    if conflicts and not (force or skip_changed):
        shown = ", ".join(f.change["path_before"] for f in conflicts[:5]) + (" ..." if len(conflicts) > 5 else "")
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
    async with writelock.writer(store, dataset, action):
        return await _step_locked(store, dataset, action, force=force, skip_changed=skip_changed)


async def _step_locked(store: Store, dataset: Dataset, action: str, *, force: bool,
                       skip_changed: bool) -> HistoryResult:
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

    Files changed by someone else in the meantime are left alone and reported as conflicts. Runs under the
    dataset's writer lock.
    """
    async with writelock.writer(store, dataset, "recover"):
        return await _recover(store, dataset, finish, operation_id)


async def _recover(store: Store, dataset: Dataset, finish: bool, operation_id: int | None) -> list[HistoryResult]:
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
        found = await asyncio.to_thread(_find_all, dataset, changes)
        ready = [f for f in found if f.side is not None]
        conflicts = [f for f in found if f.side is None]
        result.conflicts = [(f.change["path_before"], _conflict_reason(f)) for f in conflicts]
        if conflicts and op["action"] == "apply":
            # Never written by this operation, and someone else changed it: leave it alone, say so.
            await store.run(journal_repo.skip_pending, [(_conflict_reason(f), f.change["id"]) for f in conflicts])
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
