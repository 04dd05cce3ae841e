"""The LoRA library: the ``loras`` table, filled by scanning folders and by finished training jobs.

All database work is done by plain functions on a ``sqlite3.Connection`` (``*_sync``). The public entry points
accept either that or a ``loratui.store.Store``:

* ``index_file(conn, path, job_id=None)`` with a ``sqlite3.Connection`` runs at once and returns a
  ``LoraRecord`` (the training supervisor calls it this way);
* ``index_file(store, path, job_id=None)`` with a ``Store`` returns an awaitable: ``await index_file(store, ...)``.

``scan_dir``, ``list_loras`` and ``get_lora`` follow the same rule.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from loratui.errors import LoraError, LoratuiError, NotFoundError
from loratui.fsutil import sha256_file
from loratui.loras.inspect import LoraInfo, inspect_file

ProgressFn = Callable[[int, int], None]


@dataclass
class LoraRecord:
    """One row of the library."""

    id: int
    path: str
    size: int
    mtime_ns: int
    sha256: str | None
    tensor_count: int | None
    network_module: str | None
    dim: int | None
    alpha: float | None
    base_model: str | None
    architecture: str | None
    trigger_words: list[str]
    metadata: dict[str, str]
    job_id: int | None
    indexed_at: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "LoraRecord":
        """Build from a `SELECT * FROM loras` row."""
        data = dict(row)
        data["trigger_words"] = json.loads(data.get("trigger_words") or "[]")
        data["metadata"] = json.loads(data.get("metadata") or "{}")
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})

    @property
    def name(self) -> str:
        """The file name."""
        return Path(self.path).name

    def as_dict(self, metadata: bool = False) -> dict[str, Any]:
        """JSON-ready dict (raw metadata only when asked)."""
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        if not metadata:
            data.pop("metadata")
        return data


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


def _is_conn(target: Any) -> bool:
    return isinstance(target, sqlite3.Connection)


def _dispatch(target, fn, *args, **kwargs):
    """Run `fn(conn, ...)` now for a Connection, or return an awaitable for a Store."""
    if _is_conn(target):
        return fn(target, *args, **kwargs)
    return target.run_sync(lambda conn: fn(conn, *args, **kwargs))


def _select(conn: sqlite3.Connection, sql: str, params=()) -> sqlite3.Cursor:
    """A query whose rows are sqlite3.Row whatever the connection's row_factory is."""
    cursor = conn.cursor()
    cursor.row_factory = sqlite3.Row
    return cursor.execute(sql, params)


def job_for_path(conn: sqlite3.Connection, path: str) -> int | None:
    """The newest job whose output or outputs name `path` (None if none)."""
    row = _select(
        conn, "SELECT j.id FROM jobs j WHERE j.output = ? OR EXISTS (SELECT 1 FROM json_each(j.outputs) o "
        "WHERE o.value = ?) ORDER BY j.id DESC LIMIT 1", (path, path)).fetchone()
    return row[0] if row else None


def _upsert(conn: sqlite3.Connection, info: LoraInfo, sha: str, job_id: int | None) -> LoraRecord:
    path = str(info.path)
    if job_id is None:
        job_id = job_for_path(conn, path)
    conn.execute(
        """INSERT INTO loras (path, size, mtime_ns, sha256, tensor_count, network_module, dim, alpha, base_model,
                              architecture, trigger_words, metadata, job_id, indexed_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
               sha256 = excluded.sha256, tensor_count = excluded.tensor_count,
               network_module = excluded.network_module, dim = excluded.dim, alpha = excluded.alpha,
               base_model = excluded.base_model, architecture = excluded.architecture,
               trigger_words = excluded.trigger_words, metadata = excluded.metadata,
               job_id = COALESCE(excluded.job_id, loras.job_id), indexed_at = excluded.indexed_at""",
        (path, info.size, info.mtime_ns, sha, info.tensor_count, info.network_module, info.dim, info.alpha,
         info.base_model, info.summary.architecture, json.dumps(info.summary.trigger_words, ensure_ascii=False),
         json.dumps(info.metadata, ensure_ascii=False), job_id, time.time()),
    )
    return LoraRecord.from_row(_select(conn, "SELECT * FROM loras WHERE path = ?", (path,)).fetchone())


def index_file_sync(conn: sqlite3.Connection, path: str | os.PathLike, job_id: int | None = None) -> LoraRecord:
    """Read one LoRA file and add or refresh its library row; LoraError for unreadable or non-LoRA files."""
    info, sha = _read_one(path)
    return _upsert(conn, info, sha, job_id)


def _read_one(path: str | os.PathLike) -> tuple[LoraInfo, str]:
    resolved = Path(path).expanduser().resolve()
    return inspect_file(resolved), sha256_file(resolved)


async def index_file_async(store, path: str | os.PathLike, job_id: int | None = None) -> LoraRecord:
    """index_file for a Store: the file is read in a worker thread, then one row is written."""
    import asyncio

    info, sha = await asyncio.to_thread(_read_one, path)
    return await store.run_sync(lambda conn: _upsert(conn, info, sha, job_id))


def index_file(store_or_conn, path: str | os.PathLike, job_id: int | None = None):
    """Add one LoRA to the library. Sync for a sqlite3.Connection, awaitable for a Store (see module doc)."""
    if _is_conn(store_or_conn):
        return index_file_sync(store_or_conn, path, job_id)
    return index_file_async(store_or_conn, path, job_id)


def _walk_safetensors(root: Path) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(folder) / f for f in sorted(files)
                     if f.endswith(".safetensors") and not f.startswith("."))
    return found


@dataclass
class _ReadResult:
    """One changed file read off the database thread."""

    path: str
    known_id: int | None
    info: LoraInfo | None = None
    sha256: str | None = None
    error: str | None = None


def _root(folder: str | os.PathLike) -> Path:
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise NotFoundError(f"no such folder: {root}")
    return root


def _known_rows(conn: sqlite3.Connection, root: Path) -> dict[str, tuple[int, int, int]]:
    """path -> (id, size, mtime_ns) of library rows under `root`."""
    rows = _select(conn, "SELECT id, path, size, mtime_ns FROM loras WHERE path = ? OR path LIKE ? ESCAPE '\\'",
                   (str(root), _like_prefix(str(root) + os.sep)))
    return {row["path"]: (row["id"], row["size"], row["mtime_ns"]) for row in rows}


def _read_changed(root: Path, known: dict[str, tuple[int, int, int]], force: bool,
                  progress: ProgressFn | None, report: ScanReport) -> list[_ReadResult]:
    """File work only (no database): stat every file, inspect and hash the new or changed ones."""
    files = _walk_safetensors(root)
    results = []
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
                results.append(_ReadResult(key, row[0] if row else None, inspect_file(path), sha256_file(path)))
        except LoratuiError as exc:
            results.append(_ReadResult(key, row[0] if row else None, error=exc.message))
        except OSError as exc:
            results.append(_ReadResult(key, row[0] if row else None, error=str(exc)))
        if progress:
            progress(number, len(files))
    report.removed = [path for path in known if path not in seen and not Path(path).exists()]
    return results


def _apply_scan(conn: sqlite3.Connection, results: list[_ReadResult], known: dict[str, tuple[int, int, int]],
                report: ScanReport) -> ScanReport:
    """Write what `_read_changed` found (unless dry run) and fill the report."""
    for result in results:
        if result.error is not None:
            report.errors.append((result.path, result.error))
            continue
        if not report.dry_run:
            _upsert(conn, result.info, result.sha256, None)
        (report.added if result.known_id is None else report.updated).append(result.path)
    if not report.dry_run:
        for path in report.removed:
            conn.execute("DELETE FROM loras WHERE id = ?", (known[path][0],))
    return report


def scan_dir_sync(conn: sqlite3.Connection, folder: str | os.PathLike, *, force: bool = False,
                  dry_run: bool = False, progress: ProgressFn | None = None) -> ScanReport:
    """Index every .safetensors under `folder`: new or changed files (size, mtime) are read, vanished ones dropped.

    `force` re-reads every file; `dry_run` only reports what would change. Files that are not LoRAs (base
    models, broken downloads) are listed in `errors` and left out.
    """
    root = _root(folder)
    report = ScanReport(dry_run=dry_run)
    known = _known_rows(conn, root)
    return _apply_scan(conn, _read_changed(root, known, force, progress, report), known, report)


async def scan_dir_async(store, folder: str | os.PathLike, *, force: bool = False, dry_run: bool = False,
                         progress: ProgressFn | None = None) -> ScanReport:
    """scan_dir for a Store: files are read in a worker thread, so the database stays free meanwhile."""
    import asyncio

    root = _root(folder)
    report = ScanReport(dry_run=dry_run)
    known = await store.run_sync(_known_rows, root)
    results = await asyncio.to_thread(_read_changed, root, known, force, progress, report)
    return await store.run_sync(_apply_scan, results, known, report)


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def scan_dir(store_or_conn, folder: str | os.PathLike, *, force: bool = False, dry_run: bool = False,
             progress: ProgressFn | None = None):
    """Scan a folder into the library. Sync for a Connection, awaitable for a Store."""
    if _is_conn(store_or_conn):
        return scan_dir_sync(store_or_conn, folder, force=force, dry_run=dry_run, progress=progress)
    return scan_dir_async(store_or_conn, folder, force=force, dry_run=dry_run, progress=progress)


def list_loras_sync(conn: sqlite3.Connection) -> list[LoraRecord]:
    """Every library entry, newest file first."""
    return [LoraRecord.from_row(r) for r in _select(conn, "SELECT * FROM loras ORDER BY mtime_ns DESC, id DESC")]


def list_loras(store_or_conn):
    """All library entries. Sync for a Connection, awaitable for a Store."""
    return _dispatch(store_or_conn, list_loras_sync)


def get_lora_sync(conn: sqlite3.Connection, ref: str | int) -> LoraRecord | None:
    """A library entry by id or by path (None when the path is not indexed); NotFoundError for an unknown id."""
    text = str(ref)
    if text.isdigit() and not Path(text).exists():
        row = _select(conn, "SELECT * FROM loras WHERE id = ?", (int(text),)).fetchone()
        if row is None:
            raise NotFoundError(f"no LoRA with id {text} in the library (see `loratui lora list`)")
        return LoraRecord.from_row(row)
    row = _select(conn, "SELECT * FROM loras WHERE path = ?", (str(Path(text).expanduser().resolve()),)).fetchone()
    return LoraRecord.from_row(row) if row else None


def get_lora(store_or_conn, ref: str | int):
    """Look a LoRA up by id or path. Sync for a Connection, awaitable for a Store."""
    return _dispatch(store_or_conn, get_lora_sync, ref)


def job_summary_sync(conn: sqlite3.Connection, job_id: int | None) -> dict[str, Any] | None:
    """id, title, status and kind of the job that produced a LoRA (None when unknown or deleted)."""
    if job_id is None:
        return None
    row = _select(conn, "SELECT id, kind, title, status, finished_at FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return dict(row) if row else None


def resolve_file(conn: sqlite3.Connection, ref: str | int) -> tuple[Path, LoraRecord | None]:
    """A FILE|ID argument as a path on disk plus its library row (if indexed)."""
    record = get_lora_sync(conn, ref)
    path = Path(record.path) if record else Path(str(ref)).expanduser().resolve()
    if not path.exists():
        if record:
            raise NotFoundError(f"LoRA {record.id} was indexed at {record.path}, which no longer exists",
                                hint="run `loratui lora scan` on its folder")
        raise NotFoundError(f"no such file or library id: {ref}")
    if path.is_dir():
        raise LoraError(f"{path} is a folder; give a .safetensors file")
    return path, record
