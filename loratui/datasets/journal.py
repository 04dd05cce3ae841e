"""Caption writes that are atomic, reflected in the store, and journaled for undo.

Every change to a caption file made by loratui — an edit in the TUI, a tagger run, a batch operation — goes
through ``apply_caption_changes``. It first records the operation and each change (text before and after) as
``pending`` in one transaction, then writes the files atomically, updates the images rows and tags, marks each
change ``done`` (or ``skipped``/``failed`` with the reason) and the operation ``applied``. A crash between the
two steps leaves a ``pending`` operation whose journal says exactly which files were written.

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
from typing import Any, Mapping

from loratui.datasets.captions import caption_path_for, parse_tags
from loratui.datasets.scan import replace_tags
from loratui.datasets.service import Dataset
from loratui.errors import ConflictError, InputError, NotFoundError
from loratui.fsutil import atomic_write_many
from loratui.store import Store

BATCH = 500


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


_MISSING = object()


def _disk_state(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size


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
    ids = [c.image_id for c in changes]
    rows: dict[int, sqlite3.Row] = {}
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        for row in conn.execute(
            f"SELECT id, rel_path, caption, caption_mtime_ns, caption_size FROM images "
            f"WHERE dataset_id = ? AND id IN ({', '.join('?' for _ in chunk)})",
            (dataset.id, *chunk),
        ):
            rows[row["id"]] = row
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

    now = time.time()
    conn.execute("BEGIN IMMEDIATE")
    try:
        op_id = conn.execute(
            "INSERT INTO operations (dataset_id, kind, params, description, state, created_at) "
            "VALUES (?, ?, ?, ?, 'pending', ?)",
            (dataset.id, kind, json.dumps(params, sort_keys=True), description, now),
        ).lastrowid
        change_ids = []
        for change, row in todo:
            rel_caption = caption_path_for(Path(row["rel_path"]), dataset.caption_ext).as_posix()
            change_ids.append(conn.execute(
                "INSERT INTO changes (operation_id, image_id, kind, path_before, text_before, text_after, state) "
                "VALUES (?, ?, 'caption', ?, ?, ?, 'pending')",
                (op_id, row["id"], rel_caption, row["caption"], change.text),
            ).lastrowid)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    result.operation_id = op_id

    for start in range(0, len(todo), BATCH):
        batch = list(zip(todo[start:start + BATCH], change_ids[start:start + BATCH]))
        writes: list[tuple[Path, bytes]] = []
        planned = []
        for (change, row), change_id in batch:
            path = caption_path_for(dataset.path / row["rel_path"], dataset.caption_ext)
            disk = _disk_state(path)
            if expected is not None and change.image_id in expected:
                known = expected[change.image_id]
            else:
                known = row["caption_mtime_ns"]
            on_disk = None if disk is None else disk[0]
            reason = None
            if not force and on_disk != known:
                if disk is None:
                    reason = "caption file was deleted since loratui read it"
                elif known is None:
                    reason = "a caption file appeared since loratui read it"
                else:
                    reason = "caption file changed on disk since loratui read it (rescan to pick it up)"
                result.conflicts.append(row["rel_path"])
            if reason:
                planned.append((change, row, change_id, None, reason))
            else:
                planned.append((change, row, change_id, len(writes), None))
                writes.append((path, change.text.encode("utf-8")))
        errors = atomic_write_many(writes)
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for change, row, change_id, write_index, reason in planned:
                if write_index is not None and errors[write_index] is not None:
                    error = errors[write_index]
                    reason = f"cannot write caption: {getattr(error, 'strerror', None) or error}"
                if reason:
                    state = "skipped" if write_index is None else "failed"
                    conn.execute("UPDATE changes SET state = ?, error = ? WHERE id = ?", (state, reason, change_id))
                    result.skipped.append((row["rel_path"], reason))
                    continue
                path = writes[write_index][0]
                st = os.stat(path)
                tags = parse_tags(change.text)
                conn.execute(
                    "UPDATE images SET caption = ?, caption_mtime_ns = ?, caption_size = ?, "
                    "caption_encoding = 'utf-8', caption_warning = NULL, tag_count = ?, edited_at = ? WHERE id = ?",
                    (change.text, st.st_mtime_ns, st.st_size, len(tags), now, row["id"]),
                )
                replace_tags(conn, row["id"], tags)
                conn.execute("UPDATE changes SET state = 'done', mtime_ns_after = ? WHERE id = ?",
                             (st.st_mtime_ns, change_id))
                result.changed += 1
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    state = "applied" if result.changed else "failed"
    conn.execute("UPDATE operations SET state = ?, applied_at = ? WHERE id = ?", (state, time.time(), op_id))
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
