"""Index a dataset folder into the store, incrementally and in parallel.

Unchanged images (same size and mtime) are not re-read; caption sidecars are re-read when their size or mtime
changed, which is how edits made outside loratui are noticed. New and changed images are probed in a process
pool (one worker per core) and written in batches, so an interrupted scan keeps what it finished.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import multiprocessing
import os
import sqlite3
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

from loratui.datasets.buckets import BucketRules, bucket_label, raw_size
from loratui.datasets.captions import caption_path_for, parse_tags, read_caption
from loratui.datasets.probe import probe_image
from loratui.datasets.thumbnails import store_thumbnail_sync
from loratui.datasets.walk import FileEntry, subset_info, walk_dataset
from loratui.store import Store

ProgressFn = Callable[[int, int], None]

BATCH = 16
WRITE_EVERY = 400
IN_FLIGHT_PER_WORKER = 4
"""Batches queued or running per worker at a time."""
INLINE_LIMIT = 24
"""Fewer new images than this are probed in threads: starting worker processes would cost more."""


@dataclass
class ScanReport:
    """What a scan did."""

    total: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    broken: int = 0
    captions_changed: int = 0
    thumbnails_made: int = 0
    """Unchanged images probed again because they had no preview thumbnail (indexed by an older loratui)."""
    warnings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def summary(self) -> str:
        """One line for the CLI."""
        return (
            f"{self.total} images: {self.added} added, {self.updated} updated, {self.removed} removed, "
            f"{self.unchanged} unchanged, {self.broken} broken, {self.captions_changed} captions changed"
            + (f", {self.thumbnails_made} probed again for preview thumbnails" if self.thumbnails_made else "")
            + f" ({self.elapsed_s:.2f}s)"
        )


@lru_cache(maxsize=4096)
def default_bucket(width: int, height: int, orientation: int) -> str:
    """The kohya bucket at 1024x1024 with default options, for the raw (unrotated) size."""
    return bucket_label(_DEFAULT_RULES.select(*raw_size(width, height, orientation)))


_DEFAULT_RULES = BucketRules()


def _probe_batch(batch: list[tuple[str, str, int, int]]) -> list[dict]:
    return [probe_image(*item) for item in batch]


def _worker_init() -> None:
    # Workers must not compete with each other for threads inside numpy/scipy.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _caption_fields(root: Path, rel_path: str, caption_ext: str) -> dict:
    caption = read_caption(caption_path_for(root / rel_path, caption_ext))
    if caption is None:
        return {"caption": None, "caption_mtime_ns": None, "caption_size": None,
                "caption_encoding": None, "caption_warning": None, "tags": []}
    return {
        "caption": caption.text,
        "caption_mtime_ns": caption.mtime_ns,
        "caption_size": caption.size,
        "caption_encoding": caption.encoding,
        "caption_warning": caption.warning,
        "tags": parse_tags(caption.text),
    }


_IMAGE_COLUMNS = (
    "dataset_id", "subset_id", "rel_path", "size", "mtime_ns", "sha256", "phash", "width", "height", "format",
    "mode", "has_alpha", "orientation", "frames", "bucket", "status", "reason", "caption", "caption_mtime_ns",
    "caption_size", "caption_encoding", "caption_warning", "tag_count", "scanned_at",
)
_UPSERT_IMAGE = (
    f"INSERT INTO images ({', '.join(_IMAGE_COLUMNS)}) VALUES ({', '.join('?' for _ in _IMAGE_COLUMNS)}) "
    "ON CONFLICT (dataset_id, rel_path) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _IMAGE_COLUMNS if c not in ("dataset_id", "rel_path"))
    + " RETURNING id"
)
_UPDATE_CAPTION = (
    "UPDATE images SET caption = ?, caption_mtime_ns = ?, caption_size = ?, caption_encoding = ?, "
    "caption_warning = ?, tag_count = ?, scanned_at = ? WHERE id = ?"
)


def replace_tags(conn: sqlite3.Connection, image_id: int, tags: list[str]) -> None:
    """Replace an image's tag rows (caller holds the transaction)."""
    conn.execute("DELETE FROM image_tags WHERE image_id = ?", (image_id,))
    conn.executemany(
        "INSERT INTO image_tags (image_id, position, tag) VALUES (?, ?, ?)",
        [(image_id, position, tag) for position, tag in enumerate(tags)],
    )


def _write_probed(conn: sqlite3.Connection, dataset_id: int, rows: list[dict]) -> None:
    now = time.time()
    conn.execute("BEGIN IMMEDIATE")
    try:
        for row in rows:
            width, height = row.get("width"), row.get("height")
            bucket = default_bucket(width, height, row["orientation"]) if row["status"] == "ok" and width else None
            values = {**row, "dataset_id": dataset_id, "bucket": bucket, "tag_count": len(row["tags"]),
                      "scanned_at": now, "has_alpha": None if row["has_alpha"] is None else int(row["has_alpha"])}
            image_id = conn.execute(_UPSERT_IMAGE, [values[c] for c in _IMAGE_COLUMNS]).fetchone()[0]
            replace_tags(conn, image_id, row["tags"])
            store_thumbnail_sync(conn, image_id, row)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _write_captions(conn: sqlite3.Connection, rows: list[tuple[int, dict]]) -> None:
    now = time.time()
    conn.execute("BEGIN IMMEDIATE")
    try:
        for image_id, cap in rows:
            conn.execute(_UPDATE_CAPTION, (cap["caption"], cap["caption_mtime_ns"], cap["caption_size"],
                                           cap["caption_encoding"], cap["caption_warning"], len(cap["tags"]),
                                           now, image_id))
            replace_tags(conn, image_id, cap["tags"])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _sync_subsets(conn: sqlite3.Connection, dataset_id: int, folders: set[str]) -> dict[str, int]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        existing = {r[0]: r[1] for r in conn.execute(
            "SELECT rel_path, id FROM subsets WHERE dataset_id = ?", (dataset_id,))}
        for folder in sorted(folders):
            info = subset_info(folder)
            if folder in existing:
                conn.execute("UPDATE subsets SET repeats = ?, class_tokens = ?, is_reg = ? WHERE id = ?",
                             (info.repeats, info.class_tokens, int(info.is_reg), existing[folder]))
            else:
                existing[folder] = conn.execute(
                    "INSERT INTO subsets (dataset_id, rel_path, repeats, class_tokens, is_reg) VALUES (?, ?, ?, ?, ?)",
                    (dataset_id, folder, info.repeats, info.class_tokens, int(info.is_reg)),
                ).lastrowid
        for folder, subset_id in list(existing.items()):
            if folder not in folders:
                conn.execute("DELETE FROM subsets WHERE id = ?", (subset_id,))
                del existing[folder]
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return existing


def _delete_images(conn: sqlite3.Connection, ids: list[int]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("DELETE FROM images WHERE id = ?", [(i,) for i in ids])
    conn.execute("COMMIT")


def _executor(count: int, workers: int) -> concurrent.futures.Executor:
    if count < INLINE_LIMIT or workers == 1:
        return concurrent.futures.ThreadPoolExecutor(max_workers=min(workers, 4))
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init
    )


async def scan_dataset(
    store: Store,
    dataset_id: int,
    root: Path,
    caption_ext: str,
    *,
    workers: int = 0,
    progress: ProgressFn | None = None,
) -> ScanReport:
    """Bring the store's view of one dataset up to date with the folder; returns what changed."""
    started = time.perf_counter()
    report = ScanReport()
    root = Path(os.path.realpath(root))
    walked = await asyncio.to_thread(walk_dataset, root, caption_ext)
    report.warnings.extend(walked.warnings)
    report.total = len(walked.images)

    known = {
        row["rel_path"]: row
        for row in await store.fetchall(
            "SELECT i.id, i.rel_path, i.size, i.mtime_ns, i.caption_mtime_ns, i.caption_size, "
            "i.status = 'ok' AND t.image_id IS NULL AS needs_thumbnail "
            "FROM images i LEFT JOIN thumbnails t ON t.image_id = i.id WHERE i.dataset_id = ?",
            (dataset_id,),
        )
    }
    folders = {entry.rel_path.rpartition("/")[0] for entry in walked.images}
    subset_ids = await store.run_sync(_sync_subsets, dataset_id, folders)

    to_probe: list[FileEntry] = []
    caption_updates: list[tuple[int, dict]] = []
    for entry in walked.images:
        row = known.get(entry.rel_path)
        if row is None or row["size"] != entry.size or row["mtime_ns"] != entry.mtime_ns:
            to_probe.append(entry)
            if row is None:
                report.added += 1
            else:
                report.updated += 1
            continue
        report.unchanged += 1
        if row["needs_thumbnail"]:  # indexed before thumbnails existed: probe again, once
            to_probe.append(entry)
            report.thumbnails_made += 1
            continue
        if (row["caption_size"], row["caption_mtime_ns"]) != (entry.caption_size, entry.caption_mtime_ns):
            caption_updates.append((row["id"], _caption_fields(root, entry.rel_path, caption_ext)))
    report.captions_changed = len(caption_updates)
    if caption_updates:
        await store.run_sync(_write_captions, caption_updates)

    seen = {entry.rel_path for entry in walked.images}
    gone = [row["id"] for rel, row in known.items() if rel not in seen]
    if gone:
        await store.run_sync(_delete_images, gone)
    report.removed = len(gone)

    await _probe_all(store, dataset_id, root, caption_ext, to_probe, subset_ids, workers, progress)

    report.broken = await store.scalar(
        "SELECT COUNT(*) FROM images WHERE dataset_id = ? AND status = 'broken'", (dataset_id,)
    )
    await store.execute("UPDATE datasets SET scanned_at = ? WHERE id = ?", (time.time(), dataset_id))
    report.elapsed_s = time.perf_counter() - started
    return report


async def _probe_all(store, dataset_id, root, caption_ext, entries, subset_ids, workers, progress) -> None:
    total = len(entries)
    if progress:
        progress(0, total)
    if not total:
        return
    pending: list[dict] = []
    done = 0

    def finish(result: dict, entry: FileEntry) -> dict:
        result.update(_caption_fields(root, entry.rel_path, caption_ext))
        result["subset_id"] = subset_ids.get(entry.rel_path.rpartition("/")[0])
        return result

    direct = [e for e in entries if e.outside_link is not None]
    for entry in direct:
        pending.append(finish({
            "rel_path": entry.rel_path, "size": entry.size, "mtime_ns": entry.mtime_ns, "sha256": None,
            "phash": None, "width": None, "height": None, "format": None, "mode": None, "has_alpha": None,
            "orientation": 1, "frames": 1, "status": "broken",
            "reason": f"symlink pointing outside the dataset ({entry.outside_link}): not followed",
        }, entry))
        done += 1
    entries = [e for e in entries if e.outside_link is None]
    by_rel = {e.rel_path: e for e in entries}
    loop = asyncio.get_running_loop()
    workers = workers or os.cpu_count() or 1
    with _executor(len(entries), workers) as pool:
        batches = iter([entries[i:i + BATCH] for i in range(0, len(entries), BATCH)])
        # A bounded window of batches in flight: results (each with its thumbnail) that finished while this loop
        # was writing would otherwise pile up here, ~10 KB each (~100 MB for 10,000 images).
        window = IN_FLIGHT_PER_WORKER * workers
        running: set[asyncio.Future] = set()
        try:
            while True:
                for batch in itertools.islice(batches, window - len(running)):
                    running.add(loop.run_in_executor(
                        pool, _probe_batch, [(str(root / e.rel_path), e.rel_path, e.size, e.mtime_ns) for e in batch]))
                if not running:
                    break
                finished, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for future in finished:
                    for result in future.result():
                        pending.append(finish(result, by_rel[result["rel_path"]]))
                        done += 1
                if len(pending) >= WRITE_EVERY:
                    await store.run_sync(_write_probed, dataset_id, pending)
                    pending = []
                if progress:
                    progress(done, total)
        except BaseException:
            for future in running:
                future.cancel()
            raise
    if pending:
        await store.run_sync(_write_probed, dataset_id, pending)
    if progress:
        progress(total, total)
