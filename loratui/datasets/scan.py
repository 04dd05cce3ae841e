"""Index a dataset folder into the store, incrementally and in parallel.

Videos (``filekinds.VIDEO_EXTENSIONS``) are indexed with the images, probed by ``datasets.video_probe`` in the
same workers. Unchanged images (same size and mtime) are not re-read; caption sidecars are re-read when their size
or mtime changed, which is how edits made outside loratui are noticed. New and changed images are probed in a process
pool (one worker per core) and written in batches, so an interrupted scan keeps what it finished.

Every file is opened through ``fsutil.open_regular`` (by the probe and ``captions.read_caption``): a file that
cannot or must not be read becomes a reason on its image (``status='broken'`` for the image, a
``caption_warning`` for its caption), never an aborted or hung scan. The workers die with the scanning process
(``datasets.workers``). Control folders (edit-model image pairs) are indexed and paired by ``datasets.pair_scan``
at the end of each scan.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import os
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Callable

from loratui.datasets import caption_set_repo, dataset_repo, image_repo, pair_repo, video_repo
from loratui.datasets.caption_sets import DISCOVERED
from loratui.datasets.captions import caption_path_for, parse_tags, read_caption
from loratui.datasets.filekinds import is_video_name, normalise_caption_ext
from loratui.datasets.pair_scan import update_pairs
from loratui.datasets.probe import probe_image
from loratui.datasets.video_probe import probe_video
from loratui.datasets.walk import FileEntry, walk_dataset
from loratui.datasets.workers import process_pool
from loratui.errors import DatasetError, InputError
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
    """Images and videos."""
    videos: int = 0
    broken_videos: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    broken: int = 0
    captions_changed: int = 0
    thumbnails_made: int = 0
    """Unchanged images probed again because they had no preview thumbnail (indexed by an older loratui)."""
    orphan_captions: int = 0
    """Caption files without an image (listed by `dataset show`), of every caption set."""
    caption_sets: list[str] = field(default_factory=list)
    """The dataset's extra caption sets (``caption_sets``) after this scan."""
    set_captions_changed: int = 0
    """Captions of the extra sets read again (new or changed on disk) or forgotten (file gone)."""
    control_images: int = 0
    """Image files in control folders (edit-model pairs; not counted in `total`)."""
    pair_problems: int = 0
    """Images with a pair problem plus control files with one (see `loratui dataset show`)."""
    warnings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    def summary(self) -> str:
        """One line for the CLI."""
        return (
            f"{self.total} images"
            + (f" (of them {self.videos} videos, {self.broken_videos} broken)" if self.videos else "")
            + f": {self.added} added, {self.updated} updated, {self.removed} removed, "
            f"{self.unchanged} unchanged, {self.broken} broken, {self.captions_changed} captions changed"
            + (f", {self.thumbnails_made} probed again for preview thumbnails" if self.thumbnails_made else "")
            + (f", {self.orphan_captions} caption file(s) without an image" if self.orphan_captions else "")
            + (f"; caption sets {', '.join(self.caption_sets)}: {self.set_captions_changed} captions changed"
               if self.caption_sets else "")
            + (f"; {self.control_images} control images, {self.pair_problems} pair problems"
               if self.control_images or self.pair_problems else "")
            + f" ({self.elapsed_s:.2f}s)"
        )


def _probe_batch(root: str, caption_ext: str, batch: list[tuple[str, int, int]]) -> list[dict]:
    """Probe images and videos and read their captions (in a worker: none of this file I/O runs on the event
    loop)."""
    results = []
    for rel_path, size, mtime_ns in batch:
        if is_video_name(rel_path):
            result = probe_video(rel_path, size, mtime_ns, root=root)
        else:
            result = probe_image(f"{root}/{rel_path}", rel_path, size, mtime_ns, root=root)
        result.update(_caption_fields(Path(root), rel_path, caption_ext))
        results.append(result)
    return results


def _probe_plain(root: str, batch: list[tuple[str, int, int]]) -> list[dict]:
    """Probe images without reading captions (control images), in a worker."""
    return [probe_image(f"{root}/{rel}", rel, size, mtime_ns, root=root) for rel, size, mtime_ns in batch]


def _worker_init() -> None:
    # Workers must not compete with each other for threads inside numpy/scipy.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _caption_fields(root: Path, rel_path: str, caption_ext: str) -> dict:
    caption = read_caption(caption_path_for(root / rel_path, caption_ext), root=root)
    if caption is None or caption.linked:  # a linked caption counts as absent; its warning says why
        return {"caption": None, "caption_mtime_ns": None, "caption_size": None, "caption_encoding": None,
                "caption_warning": caption.warning if caption else None, "caption_sha256": None, "tags": []}
    return {
        "caption": caption.text,
        "caption_mtime_ns": caption.mtime_ns,
        "caption_size": caption.size,
        "caption_encoding": caption.encoding,
        "caption_warning": caption.warning,
        "caption_sha256": caption.sha256,
        "tags": parse_tags(caption.text),
    }


def _executor(count: int, workers: int) -> concurrent.futures.Executor:
    if count < INLINE_LIMIT or workers == 1:
        return concurrent.futures.ThreadPoolExecutor(max_workers=min(workers, 4))
    return process_pool(workers, _worker_init)


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
    try:
        caption_ext = normalise_caption_ext(caption_ext)
    except InputError as exc:  # registered by an older loratui that took any extension
        raise DatasetError(f"the dataset's caption extension cannot be used: {exc.message}",
                           hint="`loratui dataset remove NAME`, then add it again with --caption-ext .txt") from None
    report = ScanReport()
    root = Path(os.path.realpath(root))
    chosen_controls = await store.run(pair_repo.chosen_controls, dataset_id)
    registered = await store.run(caption_set_repo.set_exts, dataset_id)
    extra_exts = tuple(sorted((set(DISCOVERED) | set(registered)) - {caption_ext}))
    walked = await asyncio.to_thread(walk_dataset, root, caption_ext, chosen_controls, extra_exts)
    report.warnings.extend(walked.warnings)
    report.total = len(walked.images)

    found = {ext for entry in walked.images if entry.extra_captions for ext in entry.extra_captions}
    if found - set(registered):
        await store.run(caption_set_repo.register_sets, dataset_id, sorted(found - set(registered)), "found")
    sets = sorted(found | set(registered))
    report.caption_sets = sets

    known = await store.run(image_repo.scan_state, dataset_id)
    folders = {entry.rel_path.rpartition("/")[0] for entry in walked.images}
    subset_ids = await store.run(dataset_repo.sync_subsets, dataset_id, folders)
    orphans = walked.orphan_captions
    if sets:
        orphans = sorted(orphans + [o for ext in sets for o in walked.extra_orphans.get(ext, [])])
    await store.run(dataset_repo.set_orphan_captions, dataset_id, orphans)
    report.orphan_captions = len(orphans)

    to_probe: list[FileEntry] = []
    caption_updates: list[tuple[int, str]] = []
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
            caption_updates.append((row["id"], entry.rel_path))
    report.captions_changed = len(caption_updates)
    if caption_updates:
        fields = await asyncio.to_thread(
            lambda: [(image_id, _caption_fields(root, rel, caption_ext)) for image_id, rel in caption_updates])
        await store.run(image_repo.write_scanned_captions, dataset_id, fields)

    seen = {entry.rel_path for entry in walked.images}
    gone = [row["id"] for rel, row in known.items() if rel not in seen]
    if gone:
        await store.run(image_repo.delete_images, dataset_id, gone)
    report.removed = len(gone)

    await _probe_all(store, dataset_id, root, caption_ext, to_probe, subset_ids, workers, progress)
    if sets:
        report.set_captions_changed = await _sync_caption_sets(store, dataset_id, root, walked.images, set(sets))

    report.broken = await store.run(image_repo.count_broken, dataset_id)
    report.videos, report.broken_videos = await store.run(video_repo.count_videos, dataset_id)

    pairs = await update_pairs(store, dataset_id, walked.control_folders,
                               lambda entries: _probe_files(root, entries, workers))
    report.control_images, report.pair_problems = pairs.controls, pairs.problems
    await store.run(dataset_repo.mark_scanned, dataset_id)
    report.elapsed_s = time.perf_counter() - started
    return report


async def _sync_caption_sets(store: Store, dataset_id: int, root: Path, images: list[FileEntry], sets: set[str]
                             ) -> int:
    """Bring the extra caption sets' index up to date: read the sidecars that are new or changed (size, mtime),
    forget those whose file is gone. Returns how many captions were read or forgotten."""
    stored = await store.run(caption_set_repo.scan_state, dataset_id)
    ids = await store.run(caption_set_repo.image_ids, dataset_id)
    present: set[tuple[int, str]] = set()
    to_read: list[tuple[int, str, str]] = []
    for entry in images:
        if not entry.extra_captions:
            continue
        image_id = ids.get(entry.rel_path)
        if image_id is None:
            continue
        for ext, seen in entry.extra_captions.items():
            if ext not in sets:
                continue
            present.add((image_id, ext))
            if stored.get((image_id, ext)) != seen:
                to_read.append((image_id, entry.rel_path, ext))
    gone = [key for key in stored if key not in present]
    if not to_read and not gone:
        return 0
    fields = await asyncio.to_thread(
        lambda: [(image_id, ext, _caption_fields(root, rel, ext)) for image_id, rel, ext in to_read])
    await store.run(caption_set_repo.write_scanned, dataset_id, fields, gone)
    return len(to_read) + len(gone)


async def _probe_files(root: Path, entries: list[FileEntry], workers: int) -> AsyncIterator[list[dict]]:
    """Probe files without captions (control images) in the scan's executor; yields each finished batch's results,
    with a bounded number of batches in flight (as ``_probe_all``)."""
    if not entries:
        return
    loop = asyncio.get_running_loop()
    workers = workers or os.cpu_count() or 1
    batches = iter([[(e.rel_path, e.size, e.mtime_ns) for e in entries[i:i + BATCH]]
                    for i in range(0, len(entries), BATCH)])
    window = IN_FLIGHT_PER_WORKER * workers
    running: set[asyncio.Future] = set()
    with _executor(len(entries), workers) as pool:
        try:
            while True:
                for batch in itertools.islice(batches, window - len(running)):
                    running.add(loop.run_in_executor(pool, _probe_plain, str(root), batch))
                if not running:
                    break
                finished, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for future in finished:
                    yield _batch_result(future)
        except BaseException:
            for future in running:
                future.cancel()
            raise


def _batch_result(future: asyncio.Future) -> list[dict]:
    try:
        return future.result()
    except BrokenProcessPool:
        raise DatasetError(
            "a scan worker process died (killed, or out of memory?); the images indexed so far are kept",
            hint="run `loratui dataset scan NAME` again; --workers 1 uses the least memory") from None


async def _probe_all(store, dataset_id, root, caption_ext, entries, subset_ids, workers, progress) -> None:
    total = len(entries)
    if progress:
        progress(0, total)
    if not total:
        return
    pending: list[dict] = []
    done = 0

    def finish(result: dict, entry: FileEntry) -> dict:
        result["subset_id"] = subset_ids.get(entry.rel_path.rpartition("/")[0])
        return result

    direct = [e for e in entries if e.outside_link is not None]
    captions = await asyncio.to_thread(lambda: [_caption_fields(root, e.rel_path, caption_ext) for e in direct])
    for entry, caption in zip(direct, captions):
        pending.append(finish({
            "rel_path": entry.rel_path, "size": entry.size, "mtime_ns": entry.mtime_ns, "sha256": None,
            "phash": None, "width": None, "height": None, "format": None, "mode": None, "has_alpha": None,
            "orientation": 1, "frames": 1, "status": "broken",
            "reason": f"symlink pointing outside the dataset ({entry.outside_link}): not followed", **caption,
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
                        pool, _probe_batch, str(root), caption_ext, [(e.rel_path, e.size, e.mtime_ns) for e in batch]))
                if not running:
                    break
                finished, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for future in finished:
                    for result in _batch_result(future):
                        pending.append(finish(result, by_rel[result["rel_path"]]))
                        done += 1
                if len(pending) >= WRITE_EVERY:
                    await store.run(image_repo.write_probed, dataset_id, pending)
                    pending = []
                if progress:
                    progress(done, total)
        except BaseException:
            for future in running:
                future.cancel()
            raise
    if pending:
        await store.run(image_repo.write_probed, dataset_id, pending)
    if progress:
        progress(total, total)
