"""Caption writes and file moves that are atomic, reflected in the store, and journaled for undo.

Every change to a caption file made by loratui — an edit in the TUI, a tagger run, a batch operation — goes
through ``apply_caption_changes``; duplicate removal goes through ``move_images``. Each first records the
operation and each change (text before and after, or the two paths of a move) as ``pending`` in one
transaction, then writes the files atomically in batches (temp file + rename: a caption is the old text or the
new, never a mix), updates the images rows and tags, marks each change ``done`` (or ``skipped``/``failed`` with
the reason) and the operation ``applied``. A crash in between leaves a ``pending`` operation whose journal, read
against the files, says exactly what was written: ``loratui.datasets.history.recover`` finishes or rolls it back.

A caption that changed on disk since loratui last read it is never overwritten silently: such an image is
skipped (batch) or raises ConflictError (``save_caption``) unless forced.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from loratui.datasets.captions import caption_path_for
from loratui.datasets.service import Dataset
from loratui.errors import ConflictError, InputError, NotFoundError
from loratui.datasets.bulkwrite import atomic_write_batch
from loratui.datasets.ops import split_tags
from loratui.fsutil import fsync_dir
from loratui.jobs.procinfo import proc_key
from loratui.store import Store

BATCH = 10_000
DUPLICATES_DIR = "_duplicates"


@dataclass(frozen=True)
class CaptionChange:
    """Replace the caption of one image with `text`."""

    image_id: int
    text: str


@dataclass
class ApplyResult:
    """What an apply did; `skipped` lists (image path, reason) for images left alone."""

    operation_id: int | None
    changed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    """Paths (of `skipped`) left alone because their caption changed on disk since it was read."""


@dataclass
class CaptionWrite:
    """One caption file to bring to `new_text` (None: remove the file), within a journaled change."""

    change_id: int
    image_id: int | None
    caption_rel: str
    """The caption file, relative to the dataset."""
    old_text: str | None
    """What the store holds now (the image's tag rows are diffed against it)."""
    new_text: str | None
    label: str = ""
    """What to call it in reports (the image path)."""


_MISSING = object()


def begin_operation(conn: sqlite3.Connection, dataset_id: int, kind: str, params: Mapping, description: str,
                    action: str = "apply") -> int:
    """Insert a pending operation owned by this process (caller holds the transaction); returns its id."""
    return conn.execute(
        "INSERT INTO operations (dataset_id, kind, params, description, state, created_at, action, pid, proc_key) "
        "VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
        (dataset_id, kind, json.dumps(dict(params), sort_keys=True), description, time.time(), action,
         os.getpid(), proc_key(os.getpid())),
    ).lastrowid


def finish_operation(conn: sqlite3.Connection, dataset_id: int, op_id: int, state: str) -> None:
    """Close a newly applied operation; an applied one ends the redo chain (undone operations before it)."""
    def record() -> None:
        conn.execute("UPDATE operations SET state = ?, applied_at = ?, action = 'apply', pid = NULL, "
                     "proc_key = NULL WHERE id = ?", (state, time.time(), op_id))
        if state == "applied":
            conn.execute("UPDATE operations SET discarded = 1 WHERE dataset_id = ? AND state = 'undone' AND id < ?",
                         (dataset_id, op_id))

    _in_transaction(conn, record)


def _in_transaction(conn: sqlite3.Connection, fn: Callable[[], Any]) -> Any:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn()
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def caption_file(dataset: Dataset, rel_image: str) -> Path:
    """Absolute caption path of an image given relative to the dataset."""
    return caption_path_for(dataset.path / rel_image, dataset.caption_ext)


def caption_rel(dataset: Dataset, rel_image: str) -> str:
    """The caption path of an image, both relative to the dataset (as ``caption_path_for`` builds it)."""
    return os.path.splitext(rel_image)[0] + dataset.caption_ext


def _tag_rows(image_id: int, old: list[str], new: list[str], deletes: list, upserts: list) -> None:
    """Collect the minimal image_tags edits turning `old` into `new` (positions that differ)."""
    for position, tag in enumerate(new):
        if position >= len(old) or old[position] != tag:
            upserts.append((image_id, position, tag))
    if len(new) < len(old):
        deletes.append((image_id, len(new)))


def write_captions(
    conn: sqlite3.Connection,
    dataset: Dataset,
    writes: list[CaptionWrite],
    *,
    done_state: str,
    mtime_column: str,
) -> list[tuple[CaptionWrite, str]]:
    """Write (or remove) caption files in one atomic batch and record the result in one transaction.

    Each successful write updates the image row and its tags and sets the change to `done_state` with the new
    file mtime in `mtime_column`; failures set the change's error and are returned as (write, reason).
    """
    root = str(dataset.path)
    to_write = [(f"{root}/{w.caption_rel}", w.new_text.encode("utf-8")) for w in writes if w.new_text is not None]
    outcomes = iter(atomic_write_batch(to_write))
    failures: list[tuple[CaptionWrite, str]] = []
    image_rows, change_rows, tag_deletes, tag_upserts, clear_rows = [], [], [], [], []
    now = time.time()
    for write in writes:
        try:
            if write.new_text is None:
                st = None
                path = f"{root}/{write.caption_rel}"
                try:
                    os.unlink(path)
                    fsync_dir(os.path.dirname(path))
                except FileNotFoundError:
                    pass
            else:
                st = next(outcomes)
                if isinstance(st, OSError):
                    raise st
        except OSError as exc:
            failures.append((write, f"cannot write caption: {exc.strerror or exc}"))
            continue
        mtime = None if st is None else st.st_mtime_ns
        change_rows.append((done_state, mtime, write.change_id))
        if write.image_id is None:
            continue
        new_tags = split_tags(write.new_text)
        if st is None:
            clear_rows.append((now, write.image_id))
        else:
            image_rows.append((write.new_text, st.st_mtime_ns, st.st_size, len(new_tags), now, write.image_id))
        _tag_rows(write.image_id, split_tags(write.old_text), new_tags, tag_deletes, tag_upserts)

    def record() -> None:
        conn.executemany(
            "UPDATE images SET caption = ?, caption_mtime_ns = ?, caption_size = ?, caption_encoding = 'utf-8', "
            "caption_warning = NULL, tag_count = ?, edited_at = ? WHERE id = ?", image_rows)
        conn.executemany(
            "UPDATE images SET caption = NULL, caption_mtime_ns = NULL, caption_size = NULL, caption_encoding = "
            "NULL, caption_warning = NULL, tag_count = 0, edited_at = ? WHERE id = ?", clear_rows)
        conn.executemany("DELETE FROM image_tags WHERE image_id = ? AND position >= ?", tag_deletes)
        conn.executemany("INSERT OR REPLACE INTO image_tags (image_id, position, tag) VALUES (?, ?, ?)", tag_upserts)
        conn.executemany(f"UPDATE changes SET state = ?, {mtime_column} = ?, error = NULL WHERE id = ?", change_rows)
        conn.executemany("UPDATE changes SET error = ? WHERE id = ?",
                         [(reason, w.change_id) for w, reason in failures])

    _in_transaction(conn, record)
    return failures


def disk_mtime(path: Path | str) -> int | None:
    """mtime_ns of a file, None when it does not exist."""
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None


def _load_rows(conn: sqlite3.Connection, dataset: Dataset, ids: list[int]) -> dict[int, sqlite3.Row]:
    rows: dict[int, sqlite3.Row] = {}
    if len(ids) > 5000:  # one pass over the dataset beats many IN (...) lookups
        wanted = set(ids)
        for row in conn.execute("SELECT id, rel_path, caption, caption_mtime_ns, caption_size FROM images "
                                "WHERE dataset_id = ?", (dataset.id,)):
            if row[0] in wanted:
                rows[row[0]] = row
        return rows
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        for row in conn.execute(
            f"SELECT id, rel_path, caption, caption_mtime_ns, caption_size FROM images "
            f"WHERE dataset_id = ? AND id IN ({', '.join('?' for _ in chunk)})",
            (dataset.id, *chunk),
        ):
            rows[row["id"]] = row
    return rows


def _apply_sync(
    conn: sqlite3.Connection,
    dataset: Dataset,
    changes: list[CaptionChange],
    kind: str,
    params: dict[str, Any],
    description: str,
    expected: Mapping[int, int | None] | None,
    force: bool,
) -> ApplyResult:
    rows = _load_rows(conn, dataset, [c.image_id for c in changes])
    result = ApplyResult(operation_id=None)
    todo: list[tuple[CaptionChange, sqlite3.Row]] = []
    for change in changes:
        row = rows.get(change.image_id)
        if row is None:
            raise NotFoundError(f"image {change.image_id} is not in dataset {dataset.name!r}")
        if row["caption"] is None and row["caption_size"] is not None:
            result.skipped.append((row["rel_path"], "caption file is too large to edit"))
            continue
        if row["caption"] == change.text:
            continue
        todo.append((change, row))
    if not todo:
        return result

    def record() -> int:
        op_id = begin_operation(conn, dataset.id, kind, params, description)
        conn.executemany(
            "INSERT INTO changes (operation_id, image_id, kind, path_before, text_before, text_after, state) "
            "VALUES (?, ?, 'caption', ?, ?, ?, 'pending')",
            [(op_id, row["id"], caption_rel(dataset, row["rel_path"]), row["caption"], change.text)
             for change, row in todo],
        )
        return op_id

    op_id = _in_transaction(conn, record)
    change_ids = [r[0] for r in conn.execute("SELECT id FROM changes WHERE operation_id = ? ORDER BY id", (op_id,))]
    result.operation_id = op_id

    root = str(dataset.path)
    for start in range(0, len(todo), BATCH):
        writes: list[CaptionWrite] = []
        skipped_rows = []
        for (change, row), change_id in zip(todo[start:start + BATCH], change_ids[start:start + BATCH]):
            rel_caption = caption_rel(dataset, row["rel_path"])
            on_disk = disk_mtime(f"{root}/{rel_caption}")
            if expected is not None and change.image_id in expected:
                known = expected[change.image_id]
            else:
                known = row["caption_mtime_ns"]
            if not force and on_disk != known:
                if on_disk is None:
                    reason = "caption file was deleted since loratui read it"
                elif known is None:
                    reason = "a caption file appeared since loratui read it"
                else:
                    reason = "caption file changed on disk since loratui read it (rescan to pick it up)"
                result.conflicts.append(row["rel_path"])
                result.skipped.append((row["rel_path"], reason))
                skipped_rows.append(("skipped", reason, change_id))
                continue
            writes.append(CaptionWrite(change_id, row["id"], rel_caption, row["caption"], change.text,
                                       row["rel_path"]))
        failures = write_captions(conn, dataset, writes, done_state="done", mtime_column="mtime_ns_after")
        for write, reason in failures:
            result.skipped.append((write.label, reason))
            skipped_rows.append(("failed", reason, write.change_id))
        result.changed += len(writes) - len(failures)
        if skipped_rows:
            _in_transaction(conn, lambda: conn.executemany(
                "UPDATE changes SET state = ?, error = ? WHERE id = ?", skipped_rows))
    finish_operation(conn, dataset.id, op_id, "applied" if result.changed else "failed")
    return result


async def apply_caption_changes(
    store: Store,
    dataset: Dataset,
    changes: list[CaptionChange],
    *,
    kind: str,
    params: dict[str, Any] | None = None,
    description: str = "",
    expected: Mapping[int, int | None] | None = None,
    force: bool = False,
) -> ApplyResult:
    """Write new caption texts atomically, update the store and journal the operation.

    `expected` maps image id -> the caption mtime_ns the caller based its change on (None: no file); by default
    the store's last known state is used. Images whose caption changed on disk since then are skipped with a
    reason (unless `force`). Changes that do not alter the text are dropped; nothing at all -> operation_id None.
    """
    return await store.run_sync(
        _apply_sync, dataset, list(changes), kind, params or {}, description, expected, force
    )


async def save_caption(
    store: Store,
    dataset: Dataset,
    image_id: int,
    text: str,
    *,
    expected_mtime_ns: int | None | object = _MISSING,
    force: bool = False,
) -> ApplyResult:
    """Save one edited caption. Raises ConflictError if the file changed on disk since `expected_mtime_ns`."""
    expected = None if expected_mtime_ns is _MISSING else {image_id: expected_mtime_ns}
    result = await apply_caption_changes(
        store, dataset, [CaptionChange(image_id, text)], kind="edit", description="caption edited",
        expected=expected, force=force,
    )
    if result.skipped and not result.changed:
        path, reason = result.skipped[0]
        if result.conflicts:
            raise ConflictError(f"{path}: {reason}", hint="reload it, or save again to overwrite")
        raise InputError(f"{path}: {reason}")
    return result


# --- file moves (duplicates) -------------------------------------------------------------------------------


def move_target(dataset: Dataset, rel_path: str, folder: str = DUPLICATES_DIR) -> str:
    """A free path for `rel_path` under `folder` inside the dataset (a numbered name when taken)."""
    base = f"{folder}/{rel_path}"
    stem, ext = os.path.splitext(base)
    candidate, n = base, 1
    while (dataset.path / candidate).exists() or (dataset.path / caption_path_for(Path(candidate),
                                                                                  dataset.caption_ext)).exists():
        candidate = f"{stem}.{n}{ext}"
        n += 1
    return candidate


def rename_file(root: Path, src_rel: str, dst_rel: str) -> None:
    """Move a file inside the dataset (atomic rename; refuses to replace an existing file)."""
    src, dst = root / src_rel, root / dst_rel
    if dst.exists():
        raise FileExistsError(17, "a file already exists there", str(dst))
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.rename(src, dst)
    fsync_dir(dst.parent)
    fsync_dir(src.parent)


def _move_sync(conn: sqlite3.Connection, dataset: Dataset, image_ids: list[int], description: str) -> ApplyResult:
    rows = _load_rows(conn, dataset, image_ids)
    missing = [i for i in image_ids if i not in rows]
    if missing:
        raise NotFoundError(f"image {missing[0]} is not in dataset {dataset.name!r}")
    planned: list[tuple[int, str, str]] = []
    taken: set[str] = set()
    for image_id in image_ids:
        rel = rows[image_id]["rel_path"]
        target = move_target(dataset, rel)
        while target in taken:
            stem, ext = os.path.splitext(target)
            target = f"{stem}.x{ext}"
        taken.add(target)
        planned.append((image_id, rel, target))
        caption_rel = caption_path_for(Path(rel), dataset.caption_ext).as_posix()
        if (dataset.path / caption_rel).exists():
            planned.append((image_id, caption_rel, caption_path_for(Path(target), dataset.caption_ext).as_posix()))

    def record() -> int:
        op_id = begin_operation(conn, dataset.id, "move", {"folder": DUPLICATES_DIR, "images": len(image_ids)},
                                description)
        conn.executemany(
            "INSERT INTO changes (operation_id, image_id, kind, path_before, path_after, state) "
            "VALUES (?, ?, 'move', ?, ?, 'pending')",
            [(op_id, image_id, src, dst) for image_id, src, dst in planned])
        return op_id

    op_id = _in_transaction(conn, record)
    result = ApplyResult(operation_id=op_id)
    changes = list(conn.execute("SELECT id, path_before, path_after FROM changes WHERE operation_id = ? ORDER BY id",
                                (op_id,)))
    updates = []
    for change in changes:
        try:
            rename_file(dataset.path, change["path_before"], change["path_after"])
        except OSError as exc:
            reason = f"cannot move: {exc.strerror or exc}"
            result.skipped.append((change["path_before"], reason))
            updates.append(("failed", reason, change["id"]))
            continue
        updates.append(("done", None, change["id"]))
        result.changed += 1
    _in_transaction(conn, lambda: conn.executemany("UPDATE changes SET state = ?, error = ? WHERE id = ?", updates))
    finish_operation(conn, dataset.id, op_id, "applied" if result.changed else "failed")
    return result


async def move_images(store: Store, dataset: Dataset, image_ids: list[int], *,
                      description: str = "moved duplicates to _duplicates/") -> ApplyResult:
    """Move images (and their captions) into ``_duplicates/`` inside the dataset, journaled and undoable.

    Nothing is deleted. The index is refreshed afterwards (the scanner skips ``_duplicates``).
    """
    from loratui.datasets.history import ensure_no_interrupted, refresh_index

    await ensure_no_interrupted(store, dataset)
    if not image_ids:
        return ApplyResult(operation_id=None)
    result = await store.run_sync(_move_sync, dataset, list(dict.fromkeys(image_ids)), description)
    await refresh_index(store, dataset)
    return result
