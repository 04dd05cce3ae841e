"""Caption writes and file moves that are atomic, reflected in the store, and journaled for undo.

Every change to a caption file made by loratui — an edit in the TUI, a tagger run, a batch operation — goes
through ``apply_caption_changes``; duplicate removal goes through ``move_images``. Each first records the
operation and each change (text before and after, or the two paths of a move) as ``pending`` in one
transaction, then writes the files atomically in batches (temp file + rename: a caption is the old text or the
new, never a mix) on a worker thread, then records the images rows, tags and each change ``done`` (or
``skipped``/``failed`` with the reason) and the operation ``applied``. A crash in between leaves a ``pending``
operation whose journal, read against the files, says exactly what was written:
``loratui.datasets.history.recover`` finishes or rolls it back.

A caption that changed on disk since loratui last read it is never overwritten silently: such an image is
skipped (batch) or raises ConflictError (``save_caption``) unless forced. The check runs on the file thread
right before the batch is written.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from loratui.datasets import image_repo, journal_repo
from loratui.datasets.bulkwrite import atomic_write_batch
from loratui.datasets.captions import caption_path_for
from loratui.datasets.dataset_repo import Dataset
from loratui.datasets.journal_repo import WriteOutcome
from loratui.datasets.scan import scan_dataset
from loratui.errors import ConflictError, InputError, JobError, NotFoundError
from loratui.fsutil import fsync_dir
from loratui.jobs.procinfo import is_alive
from loratui.store import Store

BATCH = 10_000
DUPLICATES_DIR = "_duplicates"
NO_CHECK = object()
"""``CaptionWrite.expected_mtime`` for writes whose target side was already established (undo, redo, recover)."""


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
    expected_mtime: Any = NO_CHECK
    """The caption file's mtime_ns the change was based on (None: no file); a file that differs is skipped."""


_MISSING = object()


def caption_rel(dataset: Dataset, rel_image: str) -> str:
    """The caption path of an image, both relative to the dataset (as ``caption_path_for`` builds it)."""
    return os.path.splitext(rel_image)[0] + dataset.caption_ext


def disk_mtime(path: Path | str) -> int | None:
    """mtime_ns of a file, None when it does not exist."""
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None


def _conflict(on_disk: int | None, known: int | None) -> str:
    if on_disk is None:
        return "caption file was deleted since loratui read it"
    if known is None:
        return "a caption file appeared since loratui read it"
    return "caption file changed on disk since loratui read it (rescan to pick it up)"


def write_caption_files(root: Path, writes: list[CaptionWrite]) -> list[WriteOutcome]:
    """Bring caption files to their new text in one atomic batch (file work only: runs on a worker thread).

    A write whose file no longer has its `expected_mtime` is skipped with the reason; OS errors become failures.
    """
    base = str(root)
    outcomes: dict[int, WriteOutcome] = {}
    to_write: list[tuple[CaptionWrite, str]] = []
    for write in writes:
        path = f"{base}/{write.caption_rel}"
        if write.expected_mtime is not NO_CHECK:
            on_disk = disk_mtime(path)
            if on_disk != write.expected_mtime:
                outcomes[write.change_id] = _outcome(write, skipped=_conflict(on_disk, write.expected_mtime))
                continue
        if write.new_text is None:
            try:
                os.unlink(path)
                fsync_dir(os.path.dirname(path))
            except FileNotFoundError:
                pass
            except OSError as exc:
                outcomes[write.change_id] = _outcome(write, failed=f"cannot write caption: {exc.strerror or exc}")
                continue
            outcomes[write.change_id] = _outcome(write)
        else:
            to_write.append((write, path))
    results = atomic_write_batch([(path, write.new_text.encode("utf-8")) for write, path in to_write])
    for (write, _path), st in zip(to_write, results):
        if isinstance(st, OSError):
            outcomes[write.change_id] = _outcome(write, failed=f"cannot write caption: {st.strerror or st}")
        else:
            outcomes[write.change_id] = _outcome(write, mtime_ns=st.st_mtime_ns, size=st.st_size)
    return [outcomes[w.change_id] for w in writes]


def _outcome(write: CaptionWrite, **fields) -> WriteOutcome:
    return WriteOutcome(write.change_id, write.image_id, write.old_text, write.new_text, **fields)


async def write_journaled(store: Store, dataset: Dataset, writes: list[CaptionWrite], *, done_state: str,
                          mtime_column: str, failed_state: str | None) -> list[tuple[CaptionWrite, WriteOutcome]]:
    """Write caption files in batches (worker thread) and record each batch (database thread); returns every
    write with its outcome."""
    done: list[tuple[CaptionWrite, WriteOutcome]] = []
    for start in range(0, len(writes), BATCH):
        batch = writes[start:start + BATCH]
        outcomes = await asyncio.to_thread(write_caption_files, dataset.path, batch)
        await store.run(journal_repo.record_writes, dataset.id, outcomes, done_state=done_state,
                        mtime_column=mtime_column, failed_state=failed_state)
        done.extend(zip(batch, outcomes))
    return done


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
    changes = list(changes)
    rows = await store.run(image_repo.caption_rows, dataset.id, [c.image_id for c in changes])
    result = ApplyResult(operation_id=None)
    todo: list[tuple[CaptionChange, image_repo.CaptionRow]] = []
    for change in changes:
        row = rows.get(change.image_id)
        if row is None:
            raise NotFoundError(f"image {change.image_id} is not in dataset {dataset.name!r}")
        if row.caption is None and row.caption_size is not None:
            result.skipped.append((row.rel_path, "caption file is too large to edit"))
            continue
        if row.caption == change.text:
            continue
        todo.append((change, row))
    if not todo:
        return result
    op_id, change_ids = await store.run(
        journal_repo.start_caption_operation, dataset.id, kind, params or {}, description,
        [(row.id, caption_rel(dataset, row.rel_path), row.caption, change.text) for change, row in todo])
    result.operation_id = op_id
    writes = []
    for (change, row), change_id in zip(todo, change_ids):
        known = expected[change.image_id] if expected is not None and change.image_id in expected \
            else row.caption_mtime_ns
        writes.append(CaptionWrite(change_id, row.id, caption_rel(dataset, row.rel_path), row.caption, change.text,
                                   row.rel_path, NO_CHECK if force else known))
    for write, outcome in await write_journaled(store, dataset, writes, done_state="done",
                                                mtime_column="mtime_ns_after", failed_state="failed"):
        if outcome.skipped is not None:
            result.conflicts.append(write.label)
            result.skipped.append((write.label, outcome.skipped))
        elif outcome.failed is not None:
            result.skipped.append((write.label, outcome.failed))
        else:
            result.changed += 1
    await store.run(journal_repo.finish_operation, dataset.id, op_id, "applied" if result.changed else "failed")
    return result


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


# --- interrupted operations -----------------------------------------------------------------------------------


def is_interrupted(operation: Mapping) -> bool:
    """True when the process that was running a pending operation is gone (a crash)."""
    return not is_alive(operation["pid"], operation["proc_key"])


async def interrupted_operations(store: Store, dataset: Dataset) -> list[dict]:
    """Operations left ``pending`` by a process that is gone (a crash): they need ``history.recover``."""
    return [op for op in await store.run(journal_repo.pending_operations, dataset.id) if is_interrupted(op)]


def _interrupted_error(dataset: Dataset, op: Mapping) -> JobError:
    return JobError(
        f"operation {op['id']} ({op['description'] or op['kind']}, {op['action']}) was interrupted before "
        f"it finished", title="Interrupted operation",
        hint=f"run `loratui tags {dataset.name} recover --finish` or `--rollback` first")


async def ensure_no_interrupted(store: Store, dataset: Dataset) -> None:
    """Raise JobError if an interrupted operation of this dataset waits for recovery."""
    found = await interrupted_operations(store, dataset)
    if found:
        raise _interrupted_error(dataset, found[0])


async def ensure_idle(store: Store, dataset: Dataset) -> None:
    """Raise JobError if an operation of this dataset is interrupted or running in another process."""
    for op in await store.run(journal_repo.pending_operations, dataset.id):
        if is_interrupted(op):
            raise _interrupted_error(dataset, op)
        raise JobError(f"another loratui process (pid {op['pid']}) is running operation {op['id']} "
                       f"({op['action']}); wait for it to finish", title="Busy")


async def refresh_index(store: Store, dataset: Dataset) -> None:
    """Rescan after files moved (incremental: only moved images are read again)."""
    await scan_dataset(store, dataset.id, dataset.path, dataset.caption_ext)


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


def _plan_moves(dataset: Dataset, image_ids: list[int], rel_paths: dict[int, str]) -> list[tuple[int, str, str]]:
    """(image id, from, to) for each image and each caption file that exists (file checks: a worker thread)."""
    planned: list[tuple[int, str, str]] = []
    taken: set[str] = set()
    for image_id in image_ids:
        rel = rel_paths[image_id]
        target = move_target(dataset, rel)
        while target in taken:
            stem, ext = os.path.splitext(target)
            target = f"{stem}.x{ext}"
        taken.add(target)
        planned.append((image_id, rel, target))
        caption = caption_path_for(Path(rel), dataset.caption_ext).as_posix()
        if (dataset.path / caption).exists():
            planned.append((image_id, caption, caption_path_for(Path(target), dataset.caption_ext).as_posix()))
    return planned


def _move_files(root: Path, rows) -> tuple[list[tuple[str, str | None, int]], list[tuple[str, str]]]:
    """Rename each change's file; returns the change updates and the failures (path, reason)."""
    updates, failures = [], []
    for change in rows:
        try:
            rename_file(root, change["path_before"], change["path_after"])
        except OSError as exc:
            reason = f"cannot move: {exc.strerror or exc}"
            failures.append((change["path_before"], reason))
            updates.append(("failed", reason, change["id"]))
            continue
        updates.append(("done", None, change["id"]))
    return updates, failures


async def move_images(store: Store, dataset: Dataset, image_ids: list[int], *,
                      description: str = "moved duplicates to _duplicates/") -> ApplyResult:
    """Move images (and their captions) into ``_duplicates/`` inside the dataset, journaled and undoable.

    Nothing is deleted. The index is refreshed afterwards (the scanner skips ``_duplicates``).
    """
    await ensure_no_interrupted(store, dataset)
    image_ids = list(dict.fromkeys(image_ids))
    if not image_ids:
        return ApplyResult(operation_id=None)
    rows = await store.run(image_repo.caption_rows, dataset.id, image_ids)
    missing = [i for i in image_ids if i not in rows]
    if missing:
        raise NotFoundError(f"image {missing[0]} is not in dataset {dataset.name!r}")
    planned = await asyncio.to_thread(_plan_moves, dataset, image_ids, {i: r.rel_path for i, r in rows.items()})
    op_id, change_rows = await store.run(journal_repo.start_move_operation, dataset.id, description,
                                         {"folder": DUPLICATES_DIR, "images": len(image_ids)}, planned)
    updates, failures = await asyncio.to_thread(_move_files, dataset.path, change_rows)
    await store.run(journal_repo.mark_changes, updates)
    result = ApplyResult(operation_id=op_id, skipped=failures)
    result.changed = sum(1 for state, _, _ in updates if state == "done")
    await store.run(journal_repo.finish_operation, dataset.id, op_id, "applied" if result.changed else "failed")
    await refresh_index(store, dataset)
    return result
