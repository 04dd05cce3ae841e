"""Keep the winner of a checkpoint sweep: mark the chosen checkpoint, and move the run's other checkpoints away.

Choosing a row of a sweep (``sweep_manifest``) writes it as the manifest's ``chosen`` row, indexes the row's
checkpoint in the library and marks it chosen there (with the sweep folder, whose images become the model
card's previews on upload). The other checkpoints of the sweep (every other row's file) can then be moved to a
journaled trash (``sweep_trash``: undoable, byte-identical) or deleted; their library entries are dropped, and an
undo indexes the restored files again.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from loratui.errors import InputError, LoraError, NotFoundError
from loratui.loras import library, lora_repo, sweep_manifest, sweep_trash
from loratui.loras.sweep_manifest import SweepManifest
from loratui.store import Store

OTHERS = ("keep", "trash", "delete")
"""What to do with the other checkpoints of the run."""

ProgressFn = Callable[[int, int], None]


@dataclass
class KeepPlan:
    """What keeping one row means: the file kept, and the other checkpoint files of the sweep."""

    row: str
    chosen_file: Path
    others: list[Path] = field(default_factory=list)
    """The other rows' checkpoint files that are on disk (each once, never the chosen file)."""
    missing: list[str] = field(default_factory=list)
    """Other rows' checkpoint files that are already gone."""


@dataclass
class KeepResult:
    """What `keep` did."""

    plan: KeepPlan
    lora_id: int
    others: str
    trash: sweep_trash.TrashOp | None = None
    deleted: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """JSON-ready dict."""
        return {"row": self.plan.row, "chosen_file": str(self.plan.chosen_file), "lora_id": self.lora_id,
                "others": self.others, "other_files": [str(p) for p in self.plan.others],
                "missing": self.plan.missing, "trash": self.trash.folder if self.trash else None,
                "deleted": self.deleted}


def plan_keep(manifest: SweepManifest, row_key: str) -> KeepPlan:
    """The chosen row's checkpoint and the other rows' files (LoraError for the baseline or a missing file)."""
    row = manifest.row(row_key)
    if row.lora is None:
        raise InputError("the baseline row has no checkpoint to keep; choose a checkpoint row")
    chosen = Path(row.lora).expanduser().resolve()
    if not chosen.is_file():
        raise NotFoundError(f"the checkpoint of row {row.key} is not on disk: {chosen}")
    plan = KeepPlan(row.key, chosen)
    seen = {chosen}
    for other in manifest.rows:
        if other.lora is None:
            continue
        path = Path(other.lora).expanduser().resolve()
        if path in seen:
            continue
        seen.add(path)
        if path.is_file() and not path.is_symlink():
            plan.others.append(path)
        else:
            plan.missing.append(str(path))
    return plan


async def keep(store: Store, folder: Path | str, row_key: str, others: str = "keep",
               progress: ProgressFn | None = None) -> KeepResult:
    """Keep `row_key` of the sweep in `folder`; `others` says what happens to the other checkpoints.

    The manifest records the choice, the library marks the file chosen (indexing it first when needed), and the
    other checkpoints are moved to the trash (undo: ``undo_trash``) or deleted (the caller asks first).
    """
    if others not in OTHERS:
        raise InputError(f"others must be one of {', '.join(OTHERS)}")
    folder = Path(folder).expanduser().resolve()
    manifest = sweep_manifest.load(folder)
    plan = plan_keep(manifest, row_key)
    manifest.chosen = plan.row
    await asyncio.to_thread(sweep_manifest.save, folder, manifest)
    record = await store.run(lora_repo.get_by_path, str(plan.chosen_file))
    if record is None or (record.size, record.mtime_ns) != _stat(plan.chosen_file):
        record = await library.index_file(store, plan.chosen_file, job_id=manifest.job_id)
    await store.run(lora_repo.mark_chosen, record.id, str(folder))
    result = KeepResult(plan, record.id, others)
    if others == "trash" and plan.others:
        result.trash = await asyncio.to_thread(
            sweep_trash.trash_files, plan.others, sweep=str(folder), chosen=plan.row,
            reason=f"kept {plan.chosen_file.name} (row {plan.row})", progress=progress)
        await store.run(lora_repo.forget_paths, [f.original for f in result.trash.files])
    elif others == "delete" and plan.others:
        result.deleted = await asyncio.to_thread(_delete, plan.others, progress)
        await store.run(lora_repo.forget_paths, result.deleted)
    return result


def _stat(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _delete(paths: list[Path], progress: ProgressFn | None) -> list[str]:
    deleted = []
    for number, path in enumerate(paths, 1):
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise LoraError(f"{path} could not be deleted: {exc.strerror or exc}", title="Delete failed") from None
        deleted.append(str(path))
        if progress:
            progress(number, len(paths))
    return deleted


def trash_operations(folder: Path | str) -> list[sweep_trash.TrashOp]:
    """The trash operations made from the sweep in `folder` (beside any of its checkpoints), newest first."""
    folder = Path(folder).expanduser().resolve()
    manifest = sweep_manifest.load(folder)
    dirs = sorted({Path(row.lora).expanduser().resolve().parent for row in manifest.rows if row.lora})
    return sweep_trash.operations_for(dirs, sweep=str(folder))


def resolve_trash(path: Path | str) -> Path:
    """A trash operation's folder from `path`: the folder itself, or a sweep folder (its newest operation that
    still holds files)."""
    path = Path(path).expanduser().resolve()
    if (path / sweep_trash.JOURNAL_NAME).is_file():
        return path
    if (path / sweep_manifest.MANIFEST_NAME).is_file():
        pending = [op for op in trash_operations(path) if op.state != "undone"]
        if not pending:
            raise NotFoundError(f"the sweep in {path} has no trash operation to undo")
        return Path(pending[0].folder)
    raise NotFoundError(f"{path} is neither a sweep folder nor a LoRA trash operation")


async def undo_trash(store: Store, path: Path | str, progress: ProgressFn | None = None) -> sweep_trash.UndoReport:
    """Undo a trash operation (given by its folder, or a sweep folder for its newest); restored files are
    indexed in the library again."""
    folder = resolve_trash(path)
    report = await asyncio.to_thread(sweep_trash.undo, folder, progress)
    for restored in report.restored:
        await library.index_file(store, restored)
    return report


def chosen_images(folder: Path | str, manifest: SweepManifest, row_key: str | None = None) -> list[tuple[Path, str]]:
    """The rendered images of the chosen row (or `row_key`) with their prompts, for a model card."""
    key = row_key or manifest.chosen
    if key is None:
        return []
    row = manifest.row(key)
    found = []
    for column in manifest.columns:
        path = sweep_manifest.cell_path(Path(folder), row, column)
        if path.is_file():
            found.append((path, column.prompt))
    return found


def row_for_file(manifest: SweepManifest, path: Path | str) -> str | None:
    """The key of the first row rendered with checkpoint `path` (None when no row used it)."""
    target = os.path.realpath(path)
    for row in manifest.rows:
        if row.lora and os.path.realpath(os.path.expanduser(row.lora)) == target:
            return row.key
    return None
