"""Dataset service functions shared by the CLI and the TUI."""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from loratui.datasets.scan import ProgressFn, ScanReport, scan_dataset
from loratui.errors import DatasetError, InputError, NotFoundError
from loratui.store import Store

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

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "Dataset":
        return cls(row["id"], row["name"], Path(row["path"]), row["caption_ext"], row["workspace"], row["scanned_at"])


_SELECT_DATASET = (
    "SELECT d.id, d.name, d.path, d.caption_ext, d.scanned_at, w.name AS workspace "
    "FROM datasets d JOIN workspaces w ON w.id = d.workspace_id"
)


async def ensure_workspace(store: Store, name: str) -> int:
    """The id of workspace `name`, created if missing."""
    row = await store.fetchone("SELECT id FROM workspaces WHERE name = ?", (name,))
    if row:
        return row["id"]
    return await store.execute("INSERT INTO workspaces (name, created_at) VALUES (?, ?)", (name, time.time()))


async def get_dataset(store: Store, name: str) -> Dataset:
    """Look a dataset up by name; NotFoundError naming the known ones otherwise."""
    row = await store.fetchone(f"{_SELECT_DATASET} WHERE d.name = ?", (name,))
    if row is None:
        names = [r["name"] for r in await store.fetchall("SELECT name FROM datasets ORDER BY name")]
        known = ", ".join(names) if names else "none yet; add one with `loratui dataset add PATH`"
        raise NotFoundError(f"no dataset named {name!r} (known: {known})")
    return Dataset.from_row(row)


async def list_datasets(store: Store) -> list[dict]:
    """All datasets with image counts, for `dataset list`."""
    rows = await store.fetchall(
        f"""SELECT d.id, d.name, d.path, d.caption_ext, d.scanned_at, w.name AS workspace,
                   COUNT(i.id) AS images,
                   COALESCE(SUM(i.status = 'broken'), 0) AS broken,
                   COALESCE(SUM({HAS_CAPTION_SQL}), 0) AS captioned
            FROM datasets d JOIN workspaces w ON w.id = d.workspace_id
            LEFT JOIN images i ON i.dataset_id = d.id
            GROUP BY d.id ORDER BY w.name, d.name"""
    )
    return [
        {
            "name": r["name"], "workspace": r["workspace"], "path": r["path"], "caption_ext": r["caption_ext"],
            "images": r["images"], "broken": r["broken"], "captioned": r["captioned"], "scanned_at": r["scanned_at"],
        }
        for r in rows
    ]


def normalise_caption_ext(ext: str) -> str:
    """'.txt' from 'txt' or '.txt'; rejects path-like values."""
    ext = ext.strip()
    if not ext:
        raise InputError("caption extension is empty")
    if not ext.startswith("."):
        ext = "." + ext
    if "/" in ext or "\\" in ext or ext in (".", ".."):
        raise InputError(f"caption extension {ext!r} is not a file extension")
    return ext


async def add_dataset(
    store: Store,
    path: str | os.PathLike,
    *,
    name: str | None = None,
    workspace: str = "default",
    caption_ext: str = ".txt",
    scan: bool = True,
    workers: int = 0,
    progress: ProgressFn | None = None,
) -> tuple[Dataset, ScanReport | None]:
    """Register a folder as a dataset and (by default) scan it."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise NotFoundError(f"{folder} does not exist")
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder")
    folder = folder.resolve()
    name = (name or folder.name).strip()
    if not name:
        raise InputError("dataset name is empty")
    caption_ext = normalise_caption_ext(caption_ext)
    if await store.fetchone("SELECT 1 FROM datasets WHERE name = ?", (name,)):
        raise InputError(f"a dataset named {name!r} already exists", hint="pick another with --name")
    other = await store.fetchone("SELECT name FROM datasets WHERE path = ?", (str(folder),))
    if other:
        raise InputError(f"{folder} is already registered as dataset {other['name']!r}")
    workspace_id = await ensure_workspace(store, workspace)
    await store.execute(
        "INSERT INTO datasets (workspace_id, name, path, caption_ext, created_at) VALUES (?, ?, ?, ?, ?)",
        (workspace_id, name, str(folder), caption_ext, time.time()),
    )
    dataset = await get_dataset(store, name)
    report = None
    if scan:
        report = await scan_dataset(store, dataset.id, dataset.path, caption_ext, workers=workers, progress=progress)
    return dataset, report


async def rescan_dataset(store: Store, name: str, *, workers: int = 0, progress: ProgressFn | None = None) -> ScanReport:
    """Rescan a registered dataset incrementally."""
    dataset = await get_dataset(store, name)
    if not dataset.path.is_dir():
        raise DatasetError(f"the folder of dataset {name!r} is gone: {dataset.path}")
    return await scan_dataset(store, dataset.id, dataset.path, dataset.caption_ext, workers=workers, progress=progress)


async def remove_dataset(store: Store, name: str) -> None:
    """Forget a dataset (its files on disk are left alone)."""
    dataset = await get_dataset(store, name)
    await store.execute("DELETE FROM datasets WHERE id = ?", (dataset.id,))


async def dataset_stats(store: Store, name: str, top: int = 30) -> dict:
    """Everything `dataset show` prints: counts, subsets, resolution and bucket histograms, top tags."""
    dataset = await get_dataset(store, name)
    counts = await store.fetchone(
        f"""SELECT COUNT(*) AS images, COALESCE(SUM(status = 'broken'), 0) AS broken,
                   COALESCE(SUM({HAS_CAPTION_SQL}), 0) AS captioned,
                   COALESCE(SUM(caption_warning IS NOT NULL), 0) AS caption_warnings,
                   COALESCE(SUM(size), 0) AS bytes
            FROM images WHERE dataset_id = ?""",
        (dataset.id,),
    )
    subsets = await store.fetchall(
        """SELECT s.rel_path, s.repeats, s.class_tokens, s.is_reg, COUNT(i.id) AS images,
                  COALESCE(SUM(i.status = 'ok'), 0) AS ok
           FROM subsets s LEFT JOIN images i ON i.subset_id = s.id
           WHERE s.dataset_id = ? GROUP BY s.id ORDER BY s.rel_path""",
        (dataset.id,),
    )
    resolutions = await store.fetchall(
        """SELECT width || 'x' || height AS reso, COUNT(*) AS n FROM images
           WHERE dataset_id = ? AND status = 'ok' GROUP BY reso ORDER BY n DESC, reso""",
        (dataset.id,),
    )
    buckets = await store.fetchall(
        """SELECT bucket, COUNT(*) AS n FROM images WHERE dataset_id = ? AND status = 'ok' AND bucket IS NOT NULL
           GROUP BY bucket ORDER BY n DESC, bucket""",
        (dataset.id,),
    )
    tags = await store.fetchall(
        """SELECT t.tag, COUNT(*) AS n FROM image_tags t JOIN images i ON i.id = t.image_id
           WHERE i.dataset_id = ? GROUP BY t.tag ORDER BY n DESC, t.tag LIMIT ?""",
        (dataset.id, top),
    )
    return {
        "name": dataset.name,
        "workspace": dataset.workspace,
        "path": str(dataset.path),
        "caption_ext": dataset.caption_ext,
        "images": counts["images"],
        "broken": counts["broken"],
        "captioned": counts["captioned"],
        "uncaptioned": counts["images"] - counts["captioned"],
        "caption_warnings": counts["caption_warnings"],
        "bytes": counts["bytes"],
        "scanned_at": dataset.scanned_at,
        "subsets": [
            {"path": s["rel_path"], "repeats": s["repeats"], "class_tokens": s["class_tokens"],
             "is_reg": bool(s["is_reg"]), "images": s["images"], "ok": s["ok"]}
            for s in subsets
        ],
        "resolutions": {r["reso"]: r["n"] for r in resolutions},
        "buckets": {b["bucket"]: b["n"] for b in buckets},
        "top_tags": [{"tag": t["tag"], "count": t["n"]} for t in tags],
    }


async def list_images(store: Store, name: str) -> list[dict]:
    """Every image of a dataset, for `dataset images`."""
    dataset = await get_dataset(store, name)
    rows = await store.fetchall(
        f"""SELECT rel_path, status, reason, width, height, format, mode, has_alpha, orientation, frames, size,
                   sha256, phash, bucket, tag_count, caption_warning, {HAS_CAPTION_SQL} AS has_caption
            FROM images WHERE dataset_id = ? ORDER BY rel_path""",
        (dataset.id,),
    )
    return [
        {
            "path": r["rel_path"], "status": r["status"], "reason": r["reason"], "width": r["width"],
            "height": r["height"], "format": r["format"], "mode": r["mode"],
            "has_alpha": None if r["has_alpha"] is None else bool(r["has_alpha"]),
            "orientation": r["orientation"], "frames": r["frames"], "size": r["size"], "sha256": r["sha256"],
            "phash": r["phash"], "bucket": r["bucket"], "tags": r["tag_count"],
            "has_caption": bool(r["has_caption"]), "caption_warning": r["caption_warning"],
        }
        for r in rows
    ]

