"""The WD14 tagging job: model -> scores -> captions, resumable, written in journaled batches.

    report = await tag_dataset(store, dataset, TagRequest(model="wd-vit-tagger-v3"))

Images that already have a caption are left alone unless the mode says otherwise. Scores are stored so
``loratui.tagging.rethreshold`` can change thresholds and options later without the model.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Callable

from loratui.datasets import caption_set_repo
from loratui.datasets.caption_state import Basis
from loratui.datasets.journal import CaptionChange, apply_caption_changes
from loratui.datasets.dataset_repo import Dataset
from loratui.errors import ModelError
from loratui.hf_download import HubProgress, endpoint
from loratui.jobs.model import Job, JobStatus
from loratui.jobs.runner import Cancelled, JobRunner
from loratui.store import Store
from loratui.tagging.labels import Labels, read_model_labels
from loratui.tagging.modes import Mode, has_caption, merge_tags
from loratui.tagging.options import TagCounter, TagNamer, TagOptions
from loratui.tagging.pipeline import InferenceThread
from loratui.tagging.registry import ModelFiles, model_source
from loratui.tagging.scores import SCORE_FLOOR, kept_scores, rating_indices, write_scores
from loratui.tagging.gpu_slot import take_gpu
from loratui.tagging.session import open_session

WRITE_EVERY = 64
"""Images per journaled write: a killed job loses at most this many."""


@dataclass
class TagRequest:
    """What to tag and how."""

    model: str | None = None
    """Short name, Hub repo id or local folder (None: the default model)."""
    options: TagOptions = field(default_factory=TagOptions)
    mode: Mode = Mode.SKIP_EXISTING
    device: str = "auto"
    batch_size: int | None = None
    """None: the model's fixed batch size, else a default for the device."""
    workers: int = 0
    """Decoding threads (0: one per core)."""
    fast_decode: bool = False
    """Let the JPEG decoder downscale large photos (faster; scores differ slightly from sd-scripts')."""
    image_ids: list[int] | None = None
    """Only these images (a filtered selection); None: the whole dataset."""
    resume: bool = True


@dataclass
class TagReport:
    """What a tagging run did."""

    job_id: int | None = None
    model: str = ""
    provider: str = ""
    note: str = ""
    batch_size: int = 0
    images: int = 0
    written: int = 0
    unchanged: int = 0
    skipped_existing: int = 0
    resumed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    operation_ids: list[int] = field(default_factory=list)
    top_tags: list[tuple[str, int]] = field(default_factory=list)
    elapsed_s: float = 0.0

    def summary(self) -> str:
        """One line for terminals."""
        parts = [f"{self.written} captions written", f"{self.unchanged} unchanged"]
        if self.skipped_existing:
            parts.append(f"{self.skipped_existing} skipped (already captioned)")
        if self.resumed:
            parts.append(f"{self.resumed} done by an earlier run")
        if self.failed:
            parts.append(f"{len(self.failed)} unreadable")
        if self.conflicts:
            parts.append(f"{len(self.conflicts)} left alone (caption changed on disk; rescan and run again)")
        return f"{', '.join(parts)} in {self.elapsed_s:.1f}s"


async def select_images(store: Store, dataset: Dataset, image_ids: list[int] | None = None,
                        caption_set: str | None = None, include_videos: bool = False) -> list[dict]:
    """id, rel_path, media_kind, caption, caption_size, caption_sha256 and the subset's class_tokens of the
    dataset's readable images (and videos with `include_videos`; optionally only `image_ids`), by path; the
    caption is the one in `caption_set` (``caption_sets.set_key``: None is the dataset's own set)."""
    rows = await store.run(caption_set_repo.tagging_rows, dataset.id, caption_set, include_videos)
    wanted = set(image_ids) if image_ids is not None else None
    return [r for r in rows if wanted is None or r["id"] in wanted]


def existing_caption(row: dict) -> str | None:
    """The caption to merge with; a caption too large to load counts as present (skip-existing leaves it)."""
    if row["caption"] is None and row["caption_size"] is not None:
        return "\0"
    return row["caption"]


def caption_basis(row: dict) -> Basis:
    """What the caption held when `row` was read: a new caption merged from it is written only while it still
    does (a batch operation meanwhile is not overwritten; the image is left for the next run)."""
    return Basis.of_row(row["caption"], row["caption_size"], row["caption_sha256"])


def selection_key(image_ids: list[int] | None) -> str | None:
    """A short stable digest of a selection, for job parameters."""
    if image_ids is None:
        return None
    return hashlib.sha256(json.dumps(sorted(image_ids)).encode()).hexdigest()[:16]


class _Writer:
    """Collects results and writes scores + captions every WRITE_EVERY images."""

    def __init__(self, store: Store, dataset: Dataset, runner: JobRunner, model: str, labels: Labels,
                 params: dict, report: TagReport) -> None:
        self.store, self.dataset, self.runner = store, dataset, runner
        self.model, self.labels, self.params, self.report = model, labels, params, report
        self.scores: list[tuple[int, dict[int, float]]] = []
        self.changes: list[CaptionChange] = []
        self.keys: dict[int, str] = {}

    def add(self, image_id: int, rel_path: str, scores: dict[int, float] | None, text: str | None,
            basis: Basis | None = None) -> None:
        if scores is not None:
            self.scores.append((image_id, scores))
        if text is not None:
            self.changes.append(CaptionChange(image_id, text, basis))
        else:
            self.report.unchanged += 1
        self.keys[image_id] = rel_path

    def __len__(self) -> int:
        return len(self.keys)

    async def flush(self) -> None:
        """Write what was collected so far (the collection restarts at once, so adding may go on meanwhile)."""
        if not self.keys:
            return
        scores, changes, keys = self.scores, self.changes, self.keys
        self.scores, self.changes, self.keys = [], [], {}
        await write_scores(self.store, self.model, self.labels, scores)
        result = await apply_caption_changes(
            self.store, self.dataset, changes, kind="tag", params=self.params,
            description=f"tagged with {self.model}",
        )
        if result.operation_id is not None:
            self.report.operation_ids.append(result.operation_id)
        self.report.written += result.changed
        self.report.unchanged += len(changes) - result.changed - len(result.skipped)
        left_alone = {path for path, _ in result.skipped}
        self.report.conflicts.extend(sorted(left_alone))
        for rel_path in keys.values():
            if rel_path not in left_alone:
                await self.runner.item_done(rel_path)
        await self.runner.progress(advance=0, force=True)  # persists the finished items now


async def tag_dataset(
    store: Store,
    dataset: Dataset,
    request: TagRequest,
    *,
    on_update: Callable[[Job], None] | None = None,
    on_runner: Callable[[JobRunner], None] | None = None,
    on_download: HubProgress | None = None,
) -> TagReport:
    """Run (or resume) a tagging job over a dataset; returns what it did. Model errors raise ModelError.

    The job row exists from the start: ``preparing`` while the model is fetched from the Hub (or found in its
    cache), with what it waits for as its message; a cancel request stops that wait at once (Cancelled).
    `on_download(file name, bytes done, total)` hears a Hub model's download (from a worker thread).
    """
    started = time.monotonic()
    source = model_source(request.model)
    options, mode = request.options, request.mode
    params = {"model": source.key, "options": options.as_params(), "mode": mode.value,
              "selection": selection_key(request.image_ids)}
    if request.fast_decode:
        params["fast_decode"] = True
    waiting = (f"fetching model {source.key} (Hugging Face cache, else {endpoint()})" if source.repo_id
               else "loading the model")
    runner = await JobRunner.start(store, "tag", title=f"Tag {dataset.name} ({source.name})", dataset_id=dataset.id,
                                   params=params, resume=request.resume, status=JobStatus.PREPARING,
                                   message=waiting)
    if on_update:
        runner.listeners.append(on_update)
    if on_runner:
        on_runner(runner)
    report = TagReport(job_id=runner.id, model=source.key)
    async with runner:
        download = _DownloadWatch(runner, source.key, on_download)
        files: ModelFiles = await runner.until_cancelled(asyncio.to_thread(source.fetch, download.progress),
                                                         status=download.message)
        labels = read_model_labels(files.tags_path, files.format)
        await runner.set_state(JobStatus.RUNNING, "loading the model")
        images = await select_images(store, dataset, request.image_ids)
        report.images = len(images)
        todo = []
        for row in images:
            if row["rel_path"] in runner.done:
                report.resumed += 1
            elif mode == Mode.SKIP_EXISTING and has_caption(existing_caption(row)):
                report.skipped_existing += 1
            else:
                todo.append(row)
        await runner.set_total(len(images))
        await runner.progress(advance=report.skipped_existing, message="loading the model", force=True)
        if todo:
            await _ModelRun(store, dataset, request, runner, files, labels, params, report).run(todo)
        report.elapsed_s = time.monotonic() - started
        await runner.progress(advance=0, message=report.summary(), force=True)
    return report


class _DownloadWatch:
    """A Hub download's progress, for the job's message and the caller's callback; stops it on a cancel."""

    def __init__(self, runner: JobRunner, model: str, on_download: HubProgress | None) -> None:
        self.runner = runner
        self.model = model
        self.on_download = on_download
        self.latest: tuple[str, int, int | None] | None = None

    def progress(self, name: str, done: int, total: int | None) -> None:
        """huggingface_hub's progress (a worker thread); raising stops the transfer."""
        if self.runner.stop_flag.is_set():
            raise Cancelled()
        self.latest = (name, done, total)
        if self.on_download is not None:
            self.on_download(name, done, total)

    def message(self) -> str | None:
        """The job's message while the model is fetched (None: unchanged)."""
        if self.latest is None:
            return None
        name, done, total = self.latest
        size = f"{done / 1e6:.1f}/{total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
        return f"downloading {self.model}/{name}: {size}"


class _ModelRun:
    """One pass of the model over the images still to tag: pipeline -> scores -> captions, written in batches."""

    def __init__(self, store: Store, dataset: Dataset, request: TagRequest, runner: JobRunner, files: ModelFiles,
                 labels: Labels, params: dict, report: TagReport) -> None:
        self.dataset, self.request, self.runner, self.files = dataset, request, runner, files
        self.labels, self.report = labels, report
        self.namer = TagNamer(labels, request.options)
        self.floor = min(SCORE_FLOOR, request.options.min_threshold)
        self.ratings = rating_indices(labels)
        self.counter = TagCounter()
        self.writer = _Writer(store, dataset, runner, files.key, labels, params, report)

    async def run(self, todo: list[dict]) -> None:
        gpu = await take_gpu(self.runner.store, self.runner, self.request.device)
        session = await asyncio.to_thread(open_session, self.files.model_path, self.request.device, 0, gpu,
                                          fmt=self.files.format)
        report, runner = self.report, self.runner
        report.provider, report.note = session.provider, session.note
        batch_size = session.fixed_batch or self.request.batch_size or session.default_batch()
        report.batch_size = batch_size
        device_text = (f"on {session.device.upper()}" + (f" {gpu}" if gpu is not None and session.device == "cuda"
                                                          else "") + (f" ({session.note})" if session.note else ""))
        await runner.progress(advance=0, message=f"tagging {len(todo)} images {device_text}", force=True)
        by_id = {row["id"]: row for row in todo}
        items = [(row["id"], str(self.dataset.path / row["rel_path"])) for row in todo]
        # Scored batches are small (the images are freed after inference): queue enough of them that the model
        # keeps running while a batch of captions is being written.
        depth = max(4, 2 * WRITE_EVERY // batch_size)
        pipeline = InferenceThread(items, session.run, batch_size, session.size, workers=self.request.workers,
                                   depth=depth, fast=self.request.fast_decode, root=str(self.dataset.path),
                                   fmt=self.files.format).start()
        writing: asyncio.Task | None = None
        try:
            while True:
                await runner.check_cancelled()
                batch = await asyncio.to_thread(pipeline.get)
                if batch is None:
                    break
                self._take(batch, by_id)
                await runner.progress(advance=len(batch.keys) + len(batch.failed))
                if len(self.writer) >= WRITE_EVERY:
                    if writing is not None:
                        await writing
                    writing = asyncio.create_task(self.writer.flush())
            if writing is not None:
                await writing
                writing = None
            await self.writer.flush()
        finally:
            pipeline.stop()
            # Cancelled or failing: keep what was computed (without hiding the original exception).
            try:
                if writing is not None:
                    await asyncio.shield(writing)
                if len(self.writer):
                    await asyncio.shield(self.writer.flush())
            except Exception:
                pass
        report.top_tags = self.counter.top()

    def _take(self, batch, by_id: dict[int, dict]) -> None:
        if batch.keys and batch.scores.shape[1] != len(self.labels):
            raise ModelError(f"the model gives {batch.scores.shape[1]} scores but {self.files.tags_path.name} "
                             f"lists {len(self.labels)} tags")
        for image_id, message in batch.failed:
            self.report.failed.append((by_id[image_id]["rel_path"], message))
        options = self.request.options
        for image_id, row_scores in zip(batch.keys, batch.scores):
            row = by_id[image_id]
            scores = kept_scores(row_scores, self.labels, self.floor, self.ratings)
            tags = self.namer.select(scores)
            self.counter.add(tags)
            text = merge_tags(existing_caption(row), tags, self.request.mode, options.separator)
            self.writer.add(image_id, row["rel_path"], scores, text if text != row["caption"] else None,
                            caption_basis(row))
