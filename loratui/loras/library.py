"""The LoRA library: LoRA files indexed in the ``loras`` table, by folder scans and by finished trainings.

File work (reading safetensors headers, hashing) runs on worker threads; the rows are written through
``loratui.loras.lora_repo``. The training supervisor, which has no event loop, indexes its outputs with
``index_file_sync`` on its own connection.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from loratui.errors import LoraError, LoratuiError, NotFoundError
from loratui.fsutil import sha256_file
from loratui.jobs import repo as job_repo
from loratui.loras import lora_repo
from loratui.loras.inspect import LoraInfo, inspect_file
from loratui.loras.lora_repo import LoraRecord
from loratui.store import Store

ProgressFn = Callable[[int, int], None]


@dataclass
class ScanReport:
    """What `lora scan` found (or, with dry_run, would change)."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> str:
        """One line for the terminal."""
        verb = "would add" if self.dry_run else "added"
        return (f"{verb} {len(self.added)}, {'would update' if self.dry_run else 'updated'} {len(self.updated)}, "
                f"unchanged {self.unchanged}, {'would remove' if self.dry_run else 'removed'} {len(self.removed)}, "
                f"skipped {len(self.errors)}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged,
                "removed": self.removed, "errors": [{"path": p, "error": e} for p, e in self.errors],
                "dry_run": self.dry_run}


def read_lora(path: str | os.PathLike) -> tuple[LoraInfo, str]:
    """Inspect and hash one LoRA file (file work only); LoraError for unreadable or non-LoRA files."""
    resolved = Path(path).expanduser().resolve()
    return inspect_file(resolved), sha256_file(resolved)


def index_file_sync(conn: sqlite3.Connection, path: str | os.PathLike, job_id: int | None = None) -> LoraRecord:
    """Add one LoRA to the library on a plain connection (the training supervisor's way)."""
    info, sha = read_lora(path)
    return lora_repo.upsert(conn, info, sha, job_id)


async def index_file(store: Store, path: str | os.PathLike, job_id: int | None = None) -> LoraRecord:
    """Add one LoRA to the library: the file is read in a worker thread, then one row is written."""
    info, sha = await asyncio.to_thread(read_lora, path)
    return await store.run(lora_repo.upsert, info, sha, job_id)


def _walk_safetensors(root: Path) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(folder) / f for f in sorted(files)
                     if f.endswith(".safetensors") and not f.startswith("."))
    return found


def _root(folder: str | os.PathLike) -> Path:
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise NotFoundError(f"no such folder: {root}")
    return root


def _read_changed(root: Path, known: dict[str, tuple[int, int, int]], force: bool,
                  progress: ProgressFn | None, report: ScanReport) -> list[tuple[LoraInfo, str]]:
    """File work only: stat every file, inspect and hash the new or changed ones, fill the report."""
    files = _walk_safetensors(root)
    read = []
    seen = set()
    for number, path in enumerate(files, 1):
        key = str(path)
        seen.add(key)
        row = known.get(key)
        try:
            stat = path.stat()
            if row is not None and not force and (row[1], row[2]) == (stat.st_size, stat.st_mtime_ns):
                report.unchanged += 1
            else:
                read.append((inspect_file(path), sha256_file(path)))
                (report.added if row is None else report.updated).append(key)
        except LoratuiError as exc:
            report.errors.append((key, exc.message))
        except OSError as exc:
            report.errors.append((key, str(exc)))
        if progress:
            progress(number, len(files))
    report.removed = [path for path in known if path not in seen and not Path(path).exists()]
    return read


async def scan_dir(store: Store, folder: str | os.PathLike, *, force: bool = False, dry_run: bool = False,
                   progress: ProgressFn | None = None) -> ScanReport:
    """Index every .safetensors under `folder`: new or changed files (size, mtime) are read, vanished ones dropped.

    `force` re-reads every file; `dry_run` only reports what would change. Files that are not LoRAs (base
    models, broken downloads) are listed in `errors` and left out.
    """
    root = _root(folder)
    report = ScanReport(dry_run=dry_run)
    known = await store.run(lora_repo.known_under, root)
    read = await asyncio.to_thread(_read_changed, root, known, force, progress, report)
    if not dry_run:
        await store.run(lora_repo.apply_scan, read, [known[path][0] for path in report.removed])
    return report


async def list_loras(store: Store) -> list[LoraRecord]:
    """Every library entry, newest file first."""
    return await store.run(lora_repo.list_all)


def on_disk(record: LoraRecord) -> bool:
    """True when the indexed file is still there (a deleted or moved file leaves a stale entry until the next
    scan of its folder)."""
    return os.path.isfile(record.path)


async def get_lora(store: Store, ref: str | int) -> LoraRecord | None:
    """A library entry by id or by path (None when the path is not indexed); NotFoundError for an unknown id."""
    text = str(ref)
    if text.isdigit() and not Path(text).exists():
        record = await store.run(lora_repo.get_by_id, int(text))
        if record is None:
            raise NotFoundError(f"no LoRA with id {text} in the library (see `loratui lora list`)")
        return record
    return await store.run(lora_repo.get_by_path, str(Path(text).expanduser().resolve()))


async def resolve_file(store: Store, ref: str | int) -> tuple[Path, LoraRecord | None]:
    """A FILE|ID argument as a path on disk plus its library row (if indexed)."""
    record = await get_lora(store, ref)
    path = Path(record.path) if record else Path(str(ref)).expanduser().resolve()
    if not path.exists():
        if record:
            raise NotFoundError(f"LoRA {record.id} was indexed at {record.path}, which no longer exists",
                                hint="run `loratui lora scan` on its folder")
        raise NotFoundError(f"no such file or library id: {ref}")
    if path.is_dir():
        raise LoraError(f"{path} is a folder; give a .safetensors file")
    return path, record


async def job_summary(store: Store, record: LoraRecord | None, path: Path) -> dict[str, Any] | None:
    """id, kind, title, status and finish time of the job that produced a LoRA (None when unknown or deleted)."""
    job_id = record.job_id if record else await store.run(job_repo.job_with_output, str(path))
    job = await store.run(job_repo.find_job, job_id) if job_id is not None else None
    if job is None:
        return None
    return {"id": job.id, "kind": job.kind, "title": job.title, "status": job.status.value,
            "finished_at": job.finished_at}
