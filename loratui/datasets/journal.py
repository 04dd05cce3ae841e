"""Caption writes and file moves that are atomic, reflected in the store, journaled for undo, and serialised.

Every change to a caption file made by loratui — an edit in the TUI, a tagger run, a batch operation — goes
through ``apply_caption_changes``; duplicate removal goes through ``move_images``. Each holds the dataset's
writer lock (``writelock``) from the moment it reads the store until its last file is recorded, so two writers
of one dataset, in one process or two, run one after the other and the second builds on the first.

Each first records the operation and each change (text before and after, or the two paths of a move) as
``pending`` in one transaction. Then, per batch, on a worker thread, every caption file is read as it is now
(``caption_state``: never through a link) and compared by content with what the change was based on; the exact
bytes it holds and the bytes about to replace it (in the file's own encoding: ``codec``) are journaled before
any file of the batch is touched; the files are replaced atomically (temp file + rename: a caption is the old
bytes or the new, never a mix), each checked once more right before its rename; then the images rows, tags and
each change ``done`` (or ``skipped``/``failed`` with the reason) and the operation ``applied`` are recorded. A
crash in between leaves a ``pending`` operation whose journal, read against the files, says exactly what was
written: ``loratui.datasets.history.recover`` finishes or rolls it back, byte for byte.

A caption that changed on disk since the change was computed is never overwritten silently: such an image is
skipped (batch) or raises ConflictError (``save_caption``) unless forced. A caption that is a symbolic link or
not a regular file is never written through or replaced, even when forced.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from loratui.datasets import caption_set_repo, journal_repo, writelock
from loratui.datasets.bulkwrite import Refused, atomic_write_batch
from loratui.datasets.caption_state import ABSENT, FILE, Basis, Snapshot, read_snapshot
from loratui.datasets.captions import caption_path_for
from loratui.datasets.codec import UTF8, EncodingRefused, decode_caption, encode_caption, utf8_or_none
from loratui.datasets.dataset_repo import Dataset
from loratui.datasets.image_repo import CaptionRow
from loratui.datasets.journal_repo import Captured, WriteOutcome
from loratui.datasets.scan import scan_dataset
from loratui.errors import ConflictError, InputError, JobError, NotFoundError
from loratui.fsutil import fsync_dir
from loratui.jobs.procinfo import is_alive
from loratui.store import Store

BATCH = 10_000
DUPLICATES_DIR = "_duplicates"
ENCODE = object()
"""``CaptionWrite.new_bytes`` for "the new text in the encoding the file has now" (UTF-8 for a new file)."""


@dataclass(frozen=True)
class CaptionChange:
    """Replace the caption of one image with `text`.

    `basis`: the content `text` was computed from (None: what the store holds when the change is applied).
    """

    image_id: int
    text: str
    basis: Basis | None = None


@dataclass
class ApplyResult:
    """What an apply did; `skipped` lists (image path, reason) for images left alone."""

    operation_id: int | None
    changed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    """Paths (of `skipped`) left alone because their caption changed on disk since it was read."""
    sha256: dict[int, str | None] = field(default_factory=dict)
    """Image id -> sha256 of the bytes its caption file holds now, for each caption written."""


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
    basis: Basis | None = None
    """The content the file must hold for the write to go ahead (None: no check, e.g. forced)."""
    new_bytes: Any = ENCODE
    """The exact bytes of `new_text` (undo and redo restore journaled bytes), or ENCODE."""
    capture: bool = False
    """Journal the file's bytes and the new bytes before renaming (the change goes from its before side)."""
    snapshot: Snapshot | None = None
    """The file as the caller already read it under the lock (read here when None)."""


@dataclass
class _Prepared:
    write: CaptionWrite
    path: str
    snapshot: Snapshot
    data: bytes | None
    """The bytes to write (None: remove the file)."""

    @property
    def in_place(self) -> bool:
        """The file already holds `data`: nothing to write."""
        if self.data is None:
            return self.snapshot.state == ABSENT
        return self.snapshot.state == FILE and self.snapshot.data == self.data

    def guard(self) -> str | None:
        """Run right before the rename: why the file may no longer be replaced, or None."""
        return self.snapshot.changed_since(self.path)


def caption_rel(dataset: Dataset, rel_image: str, caption_set: str | None = None) -> str:
    """The caption path of an image in a caption set (None: the primary set), both relative to the dataset (as
    ``caption_path_for`` builds it)."""
    return os.path.splitext(rel_image)[0] + (caption_set or dataset.caption_ext)


def prepare_writes(root: Path, writes: list[CaptionWrite]) -> tuple[list[_Prepared], dict[int, WriteOutcome]]:
    """Read each caption as it is now, check it against the write's basis and encode the new text (file work
    only: a worker thread). Returns the writes that may go ahead and the outcomes of those that may not."""
    base = str(root)
    prepared: list[_Prepared] = []
    outcomes: dict[int, WriteOutcome] = {}
    for write in writes:
        path = f"{base}/{write.caption_rel}"
        try:
            snapshot = write.snapshot or read_snapshot(path)
        except OSError as exc:
            outcomes[write.change_id] = _outcome(write, failed=f"cannot read caption: {exc.strerror or exc}")
            continue
        refusal = snapshot.refusal()
        if refusal is not None:
            outcomes[write.change_id] = _outcome(write, failed=refusal)
            continue
        if write.basis is not None and not write.basis.matches(snapshot):
            outcomes[write.change_id] = _outcome(write, skipped=write.basis.mismatch(snapshot))
            continue
        data = None
        if write.new_text is not None:
            try:
                data = (encode_caption(write.new_text, snapshot.encoding or UTF8) if write.new_bytes is ENCODE
                        else write.new_bytes)
            except EncodingRefused as exc:
                outcomes[write.change_id] = _outcome(write, failed=str(exc))
                continue
        prepared.append(_Prepared(write, path, snapshot, data))
    return prepared, outcomes


def captured_bytes(prepared: list[_Prepared]) -> list[Captured]:
    """The journal's exact bytes for the prepared writes that capture them."""
    return [Captured(p.write.change_id, p.snapshot.text, utf8_or_none(p.snapshot.text, p.snapshot.data),
                     utf8_or_none(p.write.new_text, p.data))
            for p in prepared if p.write.capture]


def commit_writes(prepared: list[_Prepared]) -> dict[int, WriteOutcome]:
    """Replace (or remove) the prepared files atomically, each only if unchanged since it was read (file work
    only: a worker thread)."""
    outcomes: dict[int, WriteOutcome] = {}
    to_write: list[_Prepared] = []
    for item in prepared:
        write = item.write
        if item.in_place:
            outcomes[write.change_id] = _done(write, item.data, item.snapshot.mtime_ns, item.snapshot.size)
        elif item.data is None:
            outcomes[write.change_id] = _remove(item)
        else:
            to_write.append(item)
    results = atomic_write_batch([(item.path, item.data) for item in to_write],
                                 [item.guard for item in to_write])
    for item, st in zip(to_write, results):
        write = item.write
        if isinstance(st, Refused):
            outcomes[write.change_id] = _outcome(write, skipped=st.reason)
        elif isinstance(st, OSError):
            outcomes[write.change_id] = _outcome(write, failed=f"cannot write caption: {st.strerror or st}")
        else:
            outcomes[write.change_id] = _done(write, item.data, st.st_mtime_ns, st.st_size)
    return outcomes


def _remove(item: _Prepared) -> WriteOutcome:
    reason = item.guard()
    if reason is not None:
        return _outcome(item.write, skipped=reason)
    try:
        os.unlink(item.path)
        fsync_dir(os.path.dirname(item.path))
    except FileNotFoundError:
        pass
    except OSError as exc:
        return _outcome(item.write, failed=f"cannot write caption: {exc.strerror or exc}")
    return _outcome(item.write)


def _done(write: CaptionWrite, data: bytes | None, mtime_ns: int | None, size: int | None) -> WriteOutcome:
    if data is None:
        return _outcome(write)
    _, encoding, warning = decode_caption(data)
    return _outcome(write, mtime_ns=mtime_ns, size=size, sha256=hashlib.sha256(data).hexdigest(),
                    encoding=encoding, warning=warning)


def _outcome(write: CaptionWrite, **fields) -> WriteOutcome:
    return WriteOutcome(write.change_id, write.image_id, write.old_text, write.new_text, **fields)


async def write_journaled(store: Store, dataset: Dataset, writes: list[CaptionWrite], *, done_state: str,
                          mtime_column: str, failed_state: str | None, caption_set: str | None = None
                          ) -> list[tuple[CaptionWrite, WriteOutcome]]:
    """Write caption files of one caption set (None: the primary set) in batches (worker threads) and record each
    batch (database thread); returns every write with its outcome. Call with the dataset's writer lock held."""
    done: list[tuple[CaptionWrite, WriteOutcome]] = []
    for start in range(0, len(writes), BATCH):
        batch = writes[start:start + BATCH]
        prepared, outcomes = await asyncio.to_thread(prepare_writes, dataset.path, batch)
        captured = captured_bytes(prepared)
        if captured:
            await store.run(journal_repo.record_captured, captured)
        outcomes.update(await asyncio.to_thread(commit_writes, prepared))
        ordered = [outcomes[write.change_id] for write in batch]
        await store.run(journal_repo.record_writes, dataset.id, ordered, done_state=done_state,
                        mtime_column=mtime_column, failed_state=failed_state, caption_set=caption_set)
        done.extend(zip(batch, ordered))
    return done


async def apply_caption_changes(
    store: Store,
    dataset: Dataset,
    changes: list[CaptionChange],
    *,
    kind: str,
    params: dict[str, Any] | None = None,
    description: str = "",
    force: bool = False,
    caption_set: str | None = None,
) -> ApplyResult:
    """Write new caption texts atomically, update the store and journal the operation (under the dataset's
    writer lock: waits for another writer as the current ``writelock.wait_policy`` says).

    `caption_set`: the set written, as ``caption_sets.set_key`` gives it (None, the default: the dataset's own
    extension, `.txt`); the set's sidecars are written and its index updated, everything else is the same.

    A change goes ahead only while its caption file holds the content the change was based on (its `basis`, by
    default what the store holds); others are skipped with a reason (unless `force`). Files that are links,
    not regular files, or in an encoding that cannot hold the new text are skipped whatever `force` says.
    Changes that do not alter the text are dropped; nothing at all -> operation_id None.
    """
    async with writelock.writer(store, dataset, description or kind):
        return await _apply(store, dataset, list(changes), kind, params or {}, description, force, caption_set)


async def _apply(store: Store, dataset: Dataset, changes: list[CaptionChange], kind: str, params: dict[str, Any],
                 description: str, force: bool, caption_set: str | None) -> ApplyResult:
    rows = await store.run(caption_set_repo.caption_rows, dataset.id, [c.image_id for c in changes], caption_set)
    result = ApplyResult(operation_id=None)
    todo: list[tuple[CaptionChange, CaptionRow]] = []
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
    if caption_set is not None:
        params = {**params, "caption_set": caption_set}
    op_id, change_ids = await store.run(
        journal_repo.start_caption_operation, dataset.id, kind, params, description,
        [(row.id, caption_rel(dataset, row.rel_path, caption_set), row.caption, change.text) for change, row in todo],
        caption_set=caption_set)
    result.operation_id = op_id
    writes = []
    for (change, row), change_id in zip(todo, change_ids):
        basis = change.basis or Basis.of_row(row.caption, row.caption_size, row.caption_sha256)
        writes.append(CaptionWrite(change_id, row.id, caption_rel(dataset, row.rel_path, caption_set), row.caption,
                                   change.text, row.rel_path, basis=None if force else basis, capture=True))
    for write, outcome in await write_journaled(store, dataset, writes, done_state="done",
                                                mtime_column="mtime_ns_after", failed_state="failed",
                                                caption_set=caption_set):
        if outcome.skipped is not None:
            result.conflicts.append(write.label)
            result.skipped.append((write.label, outcome.skipped))
        elif outcome.failed is not None:
            result.skipped.append((write.label, outcome.failed))
        else:
            result.changed += 1
            result.sha256[write.image_id] = outcome.sha256
    await store.run(journal_repo.finish_operation, dataset.id, op_id, "applied" if result.changed else "failed")
    return result


_MISSING = object()


async def save_caption(
    store: Store,
    dataset: Dataset,
    image_id: int,
    text: str,
    *,
    expected_sha256: str | None | object = _MISSING,
    force: bool = False,
    caption_set: str | None = None,
) -> ApplyResult:
    """Save one edited caption (of the caption set `caption_set`, None: the primary set).

    `expected_sha256`: of the caption file's bytes when the editor read it (None: there was no file); by default
    what the store holds. Raises ConflictError if the file holds something else now (unless `force`), InputError
    when it cannot be written (a link, text its encoding cannot hold).
    """
    basis = None if expected_sha256 is _MISSING else Basis.of_sha256(expected_sha256)
    result = await apply_caption_changes(
        store, dataset, [CaptionChange(image_id, text, basis)], kind="edit",
        description="caption edited" if caption_set is None else f"caption edited ({caption_set})", force=force,
        caption_set=caption_set,
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
    """Rescan after files moved (incremental: only moved images are read again), under the writer lock."""
    async with writelock.writer(store, dataset, "index refresh"):
        await scan_dataset(store, dataset.id, dataset.path, dataset.caption_ext)


# --- file moves (duplicates) -------------------------------------------------------------------------------


def move_target(dataset: Dataset, rel_path: str, folder: str = DUPLICATES_DIR) -> str:
    """A free path for `rel_path` under `folder` inside the dataset (a numbered name when taken)."""
    base = f"{folder}/{rel_path}"
    stem, ext = os.path.splitext(base)
    candidate, n = base, 1
    while os.path.lexists(dataset.path / candidate) or os.path.lexists(
            dataset.path / caption_path_for(Path(candidate), dataset.caption_ext)):
        candidate = f"{stem}.{n}{ext}"
        n += 1
    return candidate


def rename_file(root: Path, src_rel: str, dst_rel: str) -> None:
    """Move a file inside the dataset (atomic rename; refuses to replace an existing file)."""
    src, dst = root / src_rel, root / dst_rel
    if os.path.lexists(dst):
        raise FileExistsError(17, "a file already exists there", str(dst))
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.rename(src, dst)
    fsync_dir(dst.parent)
    fsync_dir(src.parent)


def _plan_moves(dataset: Dataset, image_ids: list[int], rel_paths: dict[int, str], extra_exts: list[str] = ()
                ) -> list[tuple[int, str, str]]:
    """(image id, from, to) for each image and each caption file that exists, of every caption set (file checks:
    a worker thread)."""
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
        for ext in (dataset.caption_ext, *extra_exts):
            caption = caption_path_for(Path(rel), ext).as_posix()
            if os.path.lexists(dataset.path / caption):  # a linked caption moves as a link, never read
                planned.append((image_id, caption, caption_path_for(Path(target), ext).as_posix()))
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
    """Move images (and their captions) into ``_duplicates/`` inside the dataset, journaled and undoable, under the
    dataset's writer lock.

    Nothing is deleted. The index is refreshed afterwards (the scanner skips ``_duplicates``).
    """
    async with writelock.writer(store, dataset, description):
        return await _move(store, dataset, image_ids, description)


async def _move(store: Store, dataset: Dataset, image_ids: list[int], description: str) -> ApplyResult:
    await ensure_no_interrupted(store, dataset)
    image_ids = list(dict.fromkeys(image_ids))
    if not image_ids:
        return ApplyResult(operation_id=None)
    rows = await store.run(caption_set_repo.caption_rows, dataset.id, image_ids)
    missing = [i for i in image_ids if i not in rows]
    if missing:
        raise NotFoundError(f"image {missing[0]} is not in dataset {dataset.name!r}")
    extra_exts = await store.run(caption_set_repo.set_exts, dataset.id)
    planned = await asyncio.to_thread(_plan_moves, dataset, image_ids, {i: r.rel_path for i, r in rows.items()},
                                      extra_exts)
    op_id, change_rows = await store.run(journal_repo.start_move_operation, dataset.id, description,
                                         {"folder": DUPLICATES_DIR, "images": len(image_ids)}, planned)
    updates, failures = await asyncio.to_thread(_move_files, dataset.path, change_rows)
    await store.run(journal_repo.mark_changes, updates)
    result = ApplyResult(operation_id=op_id, skipped=failures)
    result.changed = sum(1 for state, _, _ in updates if state == "done")
    await store.run(journal_repo.finish_operation, dataset.id, op_id, "applied" if result.changed else "failed")
    await refresh_index(store, dataset)
    return result
