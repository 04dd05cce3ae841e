"""A journaled, undoable trash for LoRA checkpoints: the other checkpoints of a run, once its winner is kept.

A trash operation is one folder ``<checkpoint folder>/.trash/<op id>/`` holding the moved files (``files/``) and
``journal.json``. The journal lists every file with its original path, where it went, its size and mtime, and is
written (atomically) with every file ``pending`` before the first file moves; each move is recorded right after
it. A move is a rename on the same file system (the bytes are never rewritten); across file systems the file is
copied, synced and compared byte for byte with the original before the original is removed. Undo moves every
file back the same way, so restored files are byte-identical; a file that is back in its place (or whose place
is taken by another file) is left alone and reported. An operation interrupted half way (kill -9) is undone the
same way: a ``pending`` file is restored when it is found in the trash and not at its original path.
"""

from __future__ import annotations

import errno
import filecmp
import json
import os
import secrets
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from loratui.errors import LoraError, NotFoundError
from loratui.fsutil import atomic_write_text

TRASH_DIR = ".trash"
JOURNAL_NAME = "journal.json"
FILES_DIR = "files"
VERSION = 1

ProgressFn = Callable[[int, int], None]


@dataclass
class TrashedFile:
    """One file of a trash operation."""

    original: str
    trashed: str
    size: int
    mtime_ns: int
    state: str = "pending"
    """pending (journaled, not moved yet), moved (in the trash), restored (back in its place)."""


@dataclass
class TrashOp:
    """A trash operation and its journal."""

    id: str
    folder: str
    """The operation's folder (``.../.trash/<id>``)."""
    sweep: str
    chosen: str
    reason: str
    created: str
    files: list[TrashedFile] = field(default_factory=list)
    state: str = "pending"
    """pending (files moving), done (all moved), undone (all restored or left alone)."""
    version: int = VERSION

    def as_dict(self) -> dict:
        """JSON-ready dict (what the journal holds)."""
        return asdict(self)

    @property
    def moved(self) -> list[TrashedFile]:
        """The files currently in the trash."""
        return [f for f in self.files if f.state == "moved"]


@dataclass
class UndoReport:
    """What an undo did."""

    op: TrashOp
    restored: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(original path, why it was left in the trash)."""

    def as_dict(self) -> dict:
        """JSON-ready dict."""
        return {"op": self.op.id, "folder": self.op.folder, "restored": self.restored,
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped]}


def _write_journal(op: TrashOp) -> None:
    atomic_write_text(Path(op.folder) / JOURNAL_NAME, json.dumps(op.as_dict(), indent=2, ensure_ascii=False) + "\n")


def read_journal(folder: Path | str) -> TrashOp:
    """The trash operation recorded in `folder` (LoraError when it holds no readable journal)."""
    path = Path(folder) / JOURNAL_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = [TrashedFile(**item) for item in data.pop("files")]
        if data.get("version") != VERSION:
            raise LoraError(f"{path} has version {data.get('version')!r}; this loratui reads {VERSION}",
                            title="Unsupported trash journal")
        return TrashOp(files=files, **data)
    except FileNotFoundError:
        raise NotFoundError(f"{folder} is not a LoRA trash operation (no {JOURNAL_NAME})") from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LoraError(f"{path} cannot be read: {exc}", title="Broken trash journal") from None


def _move(source: Path, target: Path) -> None:
    """Rename `source` to `target`; across file systems copy, sync, compare byte for byte, then remove."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(source, target)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:  # another file system: copy
            raise
    partial = target.with_name(f".{target.name}.part")
    shutil.copy2(source, partial)
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    if not filecmp.cmp(source, partial, shallow=False):
        partial.unlink()
        raise LoraError(f"copying {source} to {target} changed its bytes; nothing was moved", title="Trash failed")
    os.rename(partial, target)
    source.unlink()


def trash_files(paths: list[Path], *, sweep: str, chosen: str, reason: str,
                progress: ProgressFn | None = None) -> TrashOp:
    """Move `paths` into a new trash operation beside the first of them; returns the journaled operation."""
    if not paths:
        raise LoraError("there is nothing to move to the trash", title="Nothing to trash")
    paths = [Path(p).resolve() for p in paths]
    for path in paths:
        if not path.is_file() or path.is_symlink():
            raise NotFoundError(f"{path} is not a regular file")
    op_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
    folder = paths[0].parent / TRASH_DIR / op_id
    (folder / FILES_DIR).mkdir(parents=True)
    op = TrashOp(id=op_id, folder=str(folder), sweep=str(sweep), chosen=chosen, reason=reason,
                 created=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    for number, path in enumerate(paths):
        stat = path.stat()
        op.files.append(TrashedFile(original=str(path), trashed=str(folder / FILES_DIR / f"{number:03d}-{path.name}"),
                                    size=stat.st_size, mtime_ns=stat.st_mtime_ns))
    _write_journal(op)
    for number, item in enumerate(op.files, 1):
        _move(Path(item.original), Path(item.trashed))
        item.state = "moved"
        _write_journal(op)
        if progress:
            progress(number, len(op.files))
    op.state = "done"
    _write_journal(op)
    return op


def undo(folder: Path | str, progress: ProgressFn | None = None) -> UndoReport:
    """Move every file of a trash operation back where it was (byte-identical); the journal records it."""
    op = read_journal(folder)
    if op.state == "undone":
        raise LoraError(f"trash operation {op.id} was already undone", title="Nothing to undo")
    report = UndoReport(op)
    for number, item in enumerate(op.files, 1):
        original, trashed = Path(item.original), Path(item.trashed)
        if item.state == "restored":
            pass
        elif not trashed.exists():
            if item.state == "moved":
                report.skipped.append((item.original, "no longer in the trash"))
            # pending and not in the trash: it never moved
        elif original.exists() or original.is_symlink():
            report.skipped.append((item.original, "another file now has its name"))
        else:
            stat = trashed.stat()
            if (stat.st_size, stat.st_mtime_ns) != (item.size, item.mtime_ns):
                report.skipped.append((item.original, "the file in the trash was changed"))
            else:
                _move(trashed, original)
                item.state = "restored"
                report.restored.append(item.original)
                _write_journal(op)
        if progress:
            progress(number, len(op.files))
    op.state = "undone" if not any(f.state == "moved" and Path(f.trashed).exists() for f in op.files) else op.state
    _write_journal(op)
    files = Path(op.folder) / FILES_DIR
    if files.is_dir() and not any(files.iterdir()):
        files.rmdir()
    return report


def operations_for(folders: list[Path], sweep: str | None = None) -> list[TrashOp]:
    """The trash operations in the ``.trash`` of each of `folders` (those of `sweep` only, when given), newest
    first; unreadable journals are left out."""
    found: dict[str, TrashOp] = {}
    for folder in folders:
        trash = Path(folder) / TRASH_DIR
        if not trash.is_dir():
            continue
        for entry in sorted(trash.iterdir()):
            if (entry / JOURNAL_NAME).is_file():
                try:
                    op = read_journal(entry)
                except LoraError:
                    continue
                if sweep is None or Path(op.sweep) == Path(sweep):
                    found[op.folder] = op
    return sorted(found.values(), key=lambda op: op.id, reverse=True)
