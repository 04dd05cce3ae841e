"""Repository of the ``loras`` table: the LoRA library (see ``loratui.loras.library``).

Plain functions on a ``sqlite3.Connection``; run them with ``await store.run(fn, ...)`` or, in the training
supervisor, on its own connection. Writers log a change for the library.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loratui.jobs import repo as job_repo
from loratui.loras.inspect import LoraInfo
from loratui.store import changes, transaction


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
    chosen_at: float | None = None
    """When this checkpoint was kept as the winner of a sweep (None: never chosen)."""
    sweep_folder: str | None = None
    """The sweep folder it was chosen in (its images are the model card's previews)."""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "LoraRecord":
        """Build from a `SELECT * FROM loras` row."""
        data = dict(row)
        data["trigger_words"] = json.loads(data.get("trigger_words") or "[]")
        data["metadata"] = json.loads(data.get("metadata") or "{}")
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

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


def _upsert(conn: sqlite3.Connection, info: LoraInfo, sha: str, job_id: int | None) -> int:
    path = str(info.path)
    if job_id is None:
        job_id = job_repo.job_with_output(conn, path)
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
         json.dumps(info.metadata, ensure_ascii=False), job_id, time.time()))
    lora_id = conn.execute("SELECT id FROM loras WHERE path = ?", (path,)).fetchone()[0]
    changes.lora_changed(conn, lora_id, "indexed")
    return lora_id


def upsert(conn: sqlite3.Connection, info: LoraInfo, sha: str, job_id: int | None = None) -> LoraRecord:
    """Add or refresh the library row of a read LoRA file (the job that made it is looked up when not given)."""
    with transaction(conn):
        lora_id = _upsert(conn, info, sha, job_id)
    return get_by_id(conn, lora_id)


def apply_scan(conn: sqlite3.Connection, read: list[tuple[LoraInfo, str]], removed_ids: list[int]) -> None:
    """Write what a folder scan read (info, sha256 per new or changed file) and drop vanished files."""
    with transaction(conn):
        for info, sha in read:
            _upsert(conn, info, sha, None)
        conn.executemany("DELETE FROM loras WHERE id = ?", [(i,) for i in removed_ids])
        for lora_id in removed_ids:
            changes.lora_changed(conn, lora_id, "removed")


def known_under(conn: sqlite3.Connection, root: Path) -> dict[str, tuple[int, int, int]]:
    """path -> (id, size, mtime_ns) of library rows at or under `root`."""
    prefix = str(root) + os.sep
    like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = conn.execute("SELECT id, path, size, mtime_ns FROM loras WHERE path = ? OR path LIKE ? ESCAPE '\\'",
                        (str(root), like))
    return {row["path"]: (row["id"], row["size"], row["mtime_ns"]) for row in rows}


def list_all(conn: sqlite3.Connection) -> list[LoraRecord]:
    """Every library entry, newest file first."""
    return [LoraRecord.from_row(r) for r in conn.execute("SELECT * FROM loras ORDER BY mtime_ns DESC, id DESC")]


def get_by_id(conn: sqlite3.Connection, lora_id: int) -> LoraRecord | None:
    """A library entry by id, or None."""
    row = conn.execute("SELECT * FROM loras WHERE id = ?", (lora_id,)).fetchone()
    return LoraRecord.from_row(row) if row else None


def get_by_path(conn: sqlite3.Connection, path: str) -> LoraRecord | None:
    """A library entry by its resolved path, or None."""
    row = conn.execute("SELECT * FROM loras WHERE path = ?", (path,)).fetchone()
    return LoraRecord.from_row(row) if row else None


def mark_chosen(conn: sqlite3.Connection, lora_id: int, sweep_folder: str) -> None:
    """Mark a library entry as the checkpoint kept from `sweep_folder` (the previous choice there is cleared)."""
    with transaction(conn):
        previous = [row[0] for row in conn.execute(
            "SELECT id FROM loras WHERE sweep_folder = ? AND id != ?", (sweep_folder, lora_id))]
        conn.execute("UPDATE loras SET chosen_at = NULL, sweep_folder = NULL WHERE sweep_folder = ? AND id != ?",
                     (sweep_folder, lora_id))
        conn.execute("UPDATE loras SET chosen_at = ?, sweep_folder = ? WHERE id = ?",
                     (time.time(), sweep_folder, lora_id))
        for other in previous:
            changes.lora_changed(conn, other, "unchosen")
        changes.lora_changed(conn, lora_id, "chosen")


def chosen_in(conn: sqlite3.Connection, sweep_folder: str) -> LoraRecord | None:
    """The library entry chosen in `sweep_folder`, or None."""
    row = conn.execute("SELECT * FROM loras WHERE sweep_folder = ?", (sweep_folder,)).fetchone()
    return LoraRecord.from_row(row) if row else None


def forget_paths(conn: sqlite3.Connection, paths: list[str]) -> list[int]:
    """Drop the library entries of files that were moved away or deleted; returns their ids."""
    removed = []
    with transaction(conn):
        for path in paths:
            row = conn.execute("SELECT id FROM loras WHERE path = ?", (path,)).fetchone()
            if row is not None:
                conn.execute("DELETE FROM loras WHERE id = ?", (row[0],))
                changes.lora_changed(conn, row[0], "removed")
                removed.append(row[0])
    return removed
