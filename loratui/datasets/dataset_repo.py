"""Repository of the ``workspaces``, ``datasets``, ``subsets`` and ``orphan_captions`` tables (see
``loratui.store.db``), and of each dataset's target (which also decides its images' stored buckets).

Plain functions on a ``sqlite3.Connection``; run them with ``await store.run(fn, ...)`` or on a connection of
your own. Writers log what they changed (``loratui.store.changes``) in the same transaction.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from loratui.datasets.target import DatasetTarget, bucket_labeler
from loratui.datasets.walk import subset_info
from loratui.errors import InputError, NotFoundError
from loratui.store import changes, transaction

HAS_CAPTION_SQL = "(caption_size IS NOT NULL AND (caption IS NULL OR trim(caption) != ''))"
"""A caption file exists and is not blank (an oversized, unloaded caption counts as present)."""


@dataclass(frozen=True)
class Dataset:
    """A registered dataset."""

    id: int
    name: str
    path: Path
    caption_ext: str
    workspace: str
    scanned_at: float | None
    target: DatasetTarget | None = None
    """The family and resolution it is being prepared for (None: default buckets at 1024x1024)."""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "Dataset":
        """Build from a row of ``_SELECT``."""
        target = DatasetTarget.from_columns(row["target_family"], row["target_width"], row["target_height"],
                                            row["target_buckets"])
        return cls(row["id"], row["name"], Path(row["path"]), row["caption_ext"], row["workspace"], row["scanned_at"],
                   target)


@dataclass(frozen=True)
class Subset:
    """One subset folder of a dataset (rel_path '' is the dataset root)."""

    id: int
    dataset_id: int
    rel_path: str
    repeats: int
    class_tokens: str | None
    is_reg: bool
    keep_tokens: int | None
    options: dict
    images: int = 0
    """Images indexed in this folder (all statuses)."""


_TARGET_COLUMNS = "d.target_family, d.target_width, d.target_height, d.target_buckets"
_SELECT = (
    f"SELECT d.id, d.name, d.path, d.caption_ext, d.scanned_at, w.name AS workspace, {_TARGET_COLUMNS} "
    "FROM datasets d JOIN workspaces w ON w.id = d.workspace_id"
)


def get_dataset(conn: sqlite3.Connection, name: str) -> Dataset:
    """A dataset by name; NotFoundError naming the known ones otherwise."""
    row = conn.execute(f"{_SELECT} WHERE d.name = ?", (name,)).fetchone()
    if row is None:
        names = [r[0] for r in conn.execute("SELECT name FROM datasets ORDER BY name")]
        known = ", ".join(names) if names else "none yet; add one with `loratui dataset add PATH`"
        raise NotFoundError(f"no dataset named {name!r} (known: {known})")
    return Dataset.from_row(row)


def find_dataset(conn: sqlite3.Connection, *, name: str | None = None, path: str | Path | None = None
                 ) -> Dataset | None:
    """The dataset with this name or this (resolved) folder, or None."""
    if name is not None:
        row = conn.execute(f"{_SELECT} WHERE d.name = ?", (name,)).fetchone()
    else:
        row = conn.execute(f"{_SELECT} WHERE d.path = ?", (str(path),)).fetchone()
    return Dataset.from_row(row) if row else None


def list_datasets(conn: sqlite3.Connection) -> list[Dataset]:
    """Every dataset, by workspace then name."""
    return [Dataset.from_row(r) for r in conn.execute(f"{_SELECT} ORDER BY w.name, d.name")]


def dataset_summaries(conn: sqlite3.Connection) -> list[dict]:
    """Every dataset with its image, broken and captioned counts (for `dataset list`)."""
    rows = conn.execute(
        f"""SELECT d.id, d.name, d.path, d.caption_ext, d.scanned_at, w.name AS workspace, {_TARGET_COLUMNS},
                   COUNT(i.id) AS images,
                   COALESCE(SUM(i.status = 'broken'), 0) AS broken,
                   COALESCE(SUM({HAS_CAPTION_SQL}), 0) AS captioned,
                   (SELECT COUNT(*) FROM orphan_captions o WHERE o.dataset_id = d.id) AS orphan_captions
            FROM datasets d JOIN workspaces w ON w.id = d.workspace_id
            LEFT JOIN images i ON i.dataset_id = d.id
            GROUP BY d.id ORDER BY w.name, d.name""")
    summaries = []
    for r in rows:
        target = Dataset.from_row(r).target
        summaries.append({"name": r["name"], "workspace": r["workspace"], "path": r["path"],
                          "caption_ext": r["caption_ext"], "images": r["images"], "broken": r["broken"],
                          "captioned": r["captioned"], "orphan_captions": r["orphan_captions"],
                          "target": target.to_dict() if target else None, "scanned_at": r["scanned_at"]})
    return summaries


def _workspace_id(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute("SELECT id FROM workspaces WHERE name = ?", (name,)).fetchone()
    if row:
        return row[0]
    return conn.execute("INSERT INTO workspaces (name, created_at) VALUES (?, ?)", (name, time.time())).lastrowid


def insert_dataset(conn: sqlite3.Connection, *, name: str, path: Path, caption_ext: str, workspace: str,
                   target: DatasetTarget | None = None) -> Dataset:
    """Register a folder (already resolved and checked) as a dataset, with its target if given; InputError if the
    name or folder is taken."""
    with transaction(conn):
        if conn.execute("SELECT 1 FROM datasets WHERE name = ?", (name,)).fetchone():
            raise InputError(f"a dataset named {name!r} already exists", hint="pick another with --name")
        other = conn.execute("SELECT name FROM datasets WHERE path = ?", (str(path),)).fetchone()
        if other:
            raise InputError(f"{path} is already registered as dataset {other[0]!r}")
        dataset_id = conn.execute(
            "INSERT INTO datasets (workspace_id, name, path, caption_ext, created_at) VALUES (?, ?, ?, ?, ?)",
            (_workspace_id(conn, workspace), name, str(path), caption_ext, time.time())).lastrowid
        if target is not None:
            _write_target(conn, dataset_id, target)
        changes.datasets_changed(conn, dataset_id, "added")
    return get_dataset(conn, name)


def _write_target(conn: sqlite3.Connection, dataset_id: int, target: DatasetTarget | None) -> None:
    conn.execute("UPDATE datasets SET target_family = ?, target_width = ?, target_height = ?, target_buckets = ? "
                 "WHERE id = ?",
                 (target.family, target.resolution[0], target.resolution[1], target.options_json(), dataset_id)
                 if target is not None else (None, None, None, None, dataset_id))


def get_target(conn: sqlite3.Connection, dataset_id: int) -> DatasetTarget | None:
    """The target of a dataset (None: none set, or no such dataset)."""
    row = conn.execute("SELECT target_family, target_width, target_height, target_buckets FROM datasets "
                       "WHERE id = ?", (dataset_id,)).fetchone()
    return DatasetTarget.from_columns(*row) if row else None


def set_target(conn: sqlite3.Connection, dataset_id: int, target: DatasetTarget | None) -> int:
    """Set (None: clear) a dataset's target and re-bucket its images with it, in one transaction; returns how
    many images moved to another bucket.

    The images' buckets are written here rather than in ``image_repo`` (which imports this module): the target
    and the buckets it decides must change together, or a reader could see one without the other.
    """
    with transaction(conn):
        if get_target(conn, dataset_id) == target:
            return 0
        _write_target(conn, dataset_id, target)
        label = bucket_labeler(target)
        moved = []
        for image_id, width, height, orientation, bucket in conn.execute(
                "SELECT id, width, height, orientation, bucket FROM images "
                "WHERE dataset_id = ? AND status = 'ok' AND width IS NOT NULL", (dataset_id,)).fetchall():
            new = label(width, height, orientation)
            if new != bucket:
                moved.append((new, image_id))
        conn.executemany("UPDATE images SET bucket = ? WHERE id = ?", moved)
        changes.datasets_changed(conn, dataset_id, "target")
        changes.images_changed(conn, dataset_id, [image_id for _, image_id in moved], "buckets")
    return len(moved)


def delete_dataset(conn: sqlite3.Connection, dataset_id: int) -> None:
    """Forget a dataset and everything indexed about it (its files are not touched)."""
    with transaction(conn):
        conn.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,))
        changes.datasets_changed(conn, dataset_id, "removed")
        changes.images_changed(conn, dataset_id, None, "removed")


def mark_scanned(conn: sqlite3.Connection, dataset_id: int) -> None:
    """Record that a scan of the dataset finished now."""
    with transaction(conn):
        conn.execute("UPDATE datasets SET scanned_at = ? WHERE id = ?", (time.time(), dataset_id))
        changes.datasets_changed(conn, dataset_id, "scanned")


def sync_subsets(conn: sqlite3.Connection, dataset_id: int, folders: set[str]) -> dict[str, int]:
    """Make the subsets rows match the image folders found on disk; returns folder -> subset id."""
    with transaction(conn):
        existing = {r[0]: r[1] for r in conn.execute(
            "SELECT rel_path, id FROM subsets WHERE dataset_id = ?", (dataset_id,))}
        changed = False
        for folder in sorted(folders):
            info = subset_info(folder)
            if folder in existing:
                changed |= conn.execute("UPDATE subsets SET repeats = ?, class_tokens = ?, is_reg = ? WHERE id = ? AND "
                             "(repeats, class_tokens, is_reg) IS NOT (?, ?, ?)",
                             (info.repeats, info.class_tokens, int(info.is_reg), existing[folder],
                              info.repeats, info.class_tokens, int(info.is_reg))).rowcount > 0
            else:
                changed = True
                existing[folder] = conn.execute(
                    "INSERT INTO subsets (dataset_id, rel_path, repeats, class_tokens, is_reg) VALUES (?, ?, ?, ?, ?)",
                    (dataset_id, folder, info.repeats, info.class_tokens, int(info.is_reg)),
                ).lastrowid
        for folder, subset_id in list(existing.items()):
            if folder not in folders:
                conn.execute("DELETE FROM subsets WHERE id = ?", (subset_id,))
                del existing[folder]
                changed = True
        if changed:
            changes.datasets_changed(conn, dataset_id, "subsets")
    return existing


def list_subsets(conn: sqlite3.Connection, dataset_id: int | None = None) -> list[Subset]:
    """Subsets of one dataset (or of all), by dataset then folder, with their image counts."""
    where, params = ("WHERE s.dataset_id = ?", (dataset_id,)) if dataset_id is not None else ("", ())
    rows = conn.execute(
        "SELECT s.id, s.dataset_id, s.rel_path, s.repeats, s.class_tokens, s.is_reg, s.keep_tokens, s.options, "
        f"(SELECT COUNT(*) FROM images i WHERE i.subset_id = s.id) AS images FROM subsets s {where} "
        "ORDER BY s.dataset_id, s.rel_path", params)
    return [Subset(r["id"], r["dataset_id"], r["rel_path"], r["repeats"], r["class_tokens"], bool(r["is_reg"]),
                   r["keep_tokens"], _options(r["options"]), r["images"]) for r in rows]


def _options(text: str | None) -> dict:
    try:
        options = json.loads(text or "{}")
    except ValueError:
        return {}
    return options if isinstance(options, dict) else {}


def image_counts(conn: sqlite3.Connection) -> dict[int, int]:
    """Indexed images per dataset id."""
    return {r[0]: r[1] for r in conn.execute("SELECT dataset_id, COUNT(*) FROM images GROUP BY dataset_id")}


# -- orphan captions ------------------------------------------------------------------------------------------


def set_orphan_captions(conn: sqlite3.Connection, dataset_id: int, found: list[tuple[str, int, int]]) -> None:
    """Record the caption files a scan found without an image: (rel_path, size, mtime_ns) each. Logs a change
    only when the set of paths changed."""
    with transaction(conn):
        known = {r[0] for r in conn.execute("SELECT rel_path FROM orphan_captions WHERE dataset_id = ?",
                                            (dataset_id,))}
        paths = {rel for rel, _size, _mtime in found}
        conn.execute("DELETE FROM orphan_captions WHERE dataset_id = ?", (dataset_id,))
        conn.executemany("INSERT OR REPLACE INTO orphan_captions (dataset_id, rel_path, size, mtime_ns) "
                         "VALUES (?, ?, ?, ?)", [(dataset_id, rel, size, mtime) for rel, size, mtime in found])
        if paths != known:
            changes.datasets_changed(conn, dataset_id, "orphans")


def orphan_captions(conn: sqlite3.Connection, dataset_id: int) -> list[dict]:
    """The caption files of a dataset that have no image, by path: rel_path, size, mtime_ns."""
    return [{"path": r[0], "size": r[1], "mtime_ns": r[2]} for r in conn.execute(
        "SELECT rel_path, size, mtime_ns FROM orphan_captions WHERE dataset_id = ? ORDER BY rel_path",
        (dataset_id,))]


def orphan_counts(conn: sqlite3.Connection) -> dict[int, int]:
    """Orphan caption files per dataset id (datasets without any are left out)."""
    return {r[0]: r[1] for r in conn.execute(
        "SELECT dataset_id, COUNT(*) FROM orphan_captions GROUP BY dataset_id")}
