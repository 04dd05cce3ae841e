"""The captioning job: a vision LLM writes captions, N requests at a time, resumable, journaled in batches.

Images go as one JPEG data URL each. Video clips (told apart by their extension until the video index lands) go
as `frames` JPEGs sampled evenly over the clip (``video_sampling``), in one message: as image parts, or as one vLLM
``video_url`` part. A clip or image that cannot be read fails alone; the job goes on.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from loratui.datasets.journal import CaptionChange, apply_caption_changes
from loratui.datasets.dataset_repo import Dataset
from loratui.errors import InputError
from loratui.jobs.model import Job, JobStatus
from loratui.jobs.runner import JobRunner
from loratui.redact import redact_url
from loratui.store import Store
from loratui.tagging.modes import Mode, has_caption, merge_caption
from loratui.tagging.video_sampling import DEFAULT_FRAMES, MAX_FRAMES, VideoUnreadable, is_video, sample_frames
from loratui.tagging.vlm import (DEFAULT_PROMPT, ImageFailed, VisionClient, image_data_url, jpeg_data_url,
                                 render_prompt)
from loratui.tagging.wd14 import caption_basis, existing_caption, select_images, selection_key

WRITE_EVERY = 16
VIDEO_INPUTS = ("frames", "video_url")
ITEM_KINDS = ("all", "images", "videos")


@dataclass
class CaptionRequest:
    """Where to send images and what to do with the answers."""

    base_url: str
    model: str
    prompt: str = DEFAULT_PROMPT
    api_key: str | None = None
    """The key itself (read from the environment by the caller); never stored."""
    api_key_env: str = "OPENAI_API_KEY"
    """Where the key came from (named in error messages)."""
    concurrency: int = 4
    max_side: int = 1024
    mode: Mode = Mode.SKIP_EXISTING
    trigger: str | None = None
    """{trigger} in the prompt; None: the class tokens of the image's kohya folder."""
    separator: str = ", "
    max_tokens: int = 400
    temperature: float | None = None
    timeout_s: float = 120.0
    retries: int = 5
    backoff_s: float = 1.0
    image_ids: list[int] | None = None
    resume: bool = True
    frames: int = DEFAULT_FRAMES
    """Frames sampled evenly over each video clip."""
    video_input: str = "frames"
    """How a clip's frames are sent: 'frames' (one image_url part each, any vision endpoint) or 'video_url' (one
    vLLM video part: data:video/jpeg;base64,<frame>,<frame>...)."""
    items: str = "all"
    """Which items: 'all', 'images' or 'videos' (video clips are told apart by their extension)."""
    length: str = "long"
    """{length} in the prompt (JoyCaption's caption length)."""
    caption_set: str | None = None
    """The caption set written (``caption_sets.set_key``: None is the dataset's own, `.txt`)."""

    def params(self) -> dict:
        """Job parameters (what identifies the job for resume): neither the key nor credentials inside the URL
        (``user:token@``, ``?key=``) are among them. Video and template options appear only when they differ
        from their defaults, so jobs started before they existed still resume."""
        params = {"base_url": redact_url(self.base_url), "model": self.model, "prompt": self.prompt,
                  "mode": self.mode.value, "max_side": self.max_side, "trigger": self.trigger,
                  "separator": self.separator, "max_tokens": self.max_tokens, "temperature": self.temperature,
                  "selection": selection_key(self.image_ids)}
        extra = {"frames": (self.frames, DEFAULT_FRAMES), "video_input": (self.video_input, "frames"),
                 "items": (self.items, "all"), "length": (self.length, "long"),
                 "caption_set": (self.caption_set, None)}
        params.update({key: value for key, (value, default) in extra.items() if value != default})
        return params


@dataclass
class CaptionReport:
    """What a captioning run did."""

    job_id: int | None = None
    images: int = 0
    written: int = 0
    unchanged: int = 0
    skipped_existing: int = 0
    resumed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    requests: int = 0
    retries: int = 0
    elapsed_s: float = 0.0

    def summary(self) -> str:
        parts = [f"{self.written} captions written"]
        if self.unchanged:
            parts.append(f"{self.unchanged} unchanged")
        if self.skipped_existing:
            parts.append(f"{self.skipped_existing} skipped (already captioned)")
        if self.resumed:
            parts.append(f"{self.resumed} done by an earlier run")
        if self.failed:
            parts.append(f"{len(self.failed)} failed (run again to retry them)")
        if self.conflicts:
            parts.append(f"{len(self.conflicts)} left alone (caption changed on disk; rescan and run again)")
        tokens = f"tokens: {self.prompt_tokens} prompt + {self.completion_tokens} completion = {self.total_tokens}"
        return f"{', '.join(parts)} in {self.elapsed_s:.1f}s; {tokens}"


async def caption_dataset(
    store: Store,
    dataset: Dataset,
    request: CaptionRequest,
    *,
    on_update: Callable[[Job], None] | None = None,
    on_runner: Callable[[JobRunner], None] | None = None,
) -> CaptionReport:
    """Run (or resume) a captioning job. Fatal endpoint errors (key, model, unreachable) raise RemoteError."""
    if request.concurrency < 1:
        raise InputError("concurrency must be at least 1")
    if request.retries < 0 or request.backoff_s < 0 or request.timeout_s <= 0:
        raise InputError("retries and backoff must not be negative, and the timeout must be positive")
    if request.max_side < 64:
        raise InputError("max side must be at least 64 pixels")
    if not 1 <= request.frames <= MAX_FRAMES:
        raise InputError(f"frames per clip must be 1 to {MAX_FRAMES}, got {request.frames}")
    if request.video_input not in VIDEO_INPUTS:
        raise InputError(f"video input must be one of {', '.join(VIDEO_INPUTS)}, got {request.video_input!r}")
    if request.items not in ITEM_KINDS:
        raise InputError(f"items must be one of {', '.join(ITEM_KINDS)}, got {request.items!r}")
    started = time.monotonic()
    retries = _RetryNote()
    client = VisionClient(request.base_url, request.model, request.api_key, timeout_s=request.timeout_s,
                          retries=request.retries, backoff_s=request.backoff_s, max_tokens=request.max_tokens,
                          temperature=request.temperature, key_source=request.api_key_env, on_retry=retries.heard)
    report = CaptionReport()
    try:
        # 'preparing' until the endpoint answers for the first time: its message says what the job waits for.
        runner = await JobRunner.start(store, "caption", title=f"Caption {dataset.name} with {request.model}",
                                       dataset_id=dataset.id, params=request.params(), resume=request.resume,
                                       status=JobStatus.PREPARING, message=f"connecting to {client.shown_url}")
        if on_update:
            runner.listeners.append(on_update)
        if on_runner:
            on_runner(runner)
        report.job_id = runner.id
        async with runner:
            rows = [row for row in await select_images(store, dataset, request.image_ids, request.caption_set,
                                                       include_videos=True)
                    if request.items == "all" or _is_video(row) == (request.items == "videos")]
            report.images = len(rows)
            todo = []
            for row in rows:
                existing = existing_caption(row)
                if row["rel_path"] in runner.done:
                    report.resumed += 1
                elif request.mode == Mode.SKIP_EXISTING and has_caption(existing):
                    report.skipped_existing += 1
                else:
                    todo.append(row)
            await runner.set_total(len(rows))
            await runner.progress(advance=report.skipped_existing, force=True)
            await _CaptionRun(store, dataset, request, client, runner, report, retries).run(todo)
            _fill_usage(report, client)
            report.elapsed_s = time.monotonic() - started
            if report.failed:
                await runner.finish(JobStatus.FAILED, message=report.summary(),
                                    error=f"{len(report.failed)} images failed; last: {report.failed[-1][1]}")
            else:
                await runner.progress(advance=0, message=report.summary(), force=True)
    finally:
        _fill_usage(report, client)
        await client.close()
    return report


class _RetryNote:
    """The client's latest retry line, shown as the job's message while requests wait."""

    def __init__(self) -> None:
        self.line: str | None = None

    def heard(self, line: str) -> None:
        self.line = line

    def take(self) -> str | None:
        line, self.line = self.line, None
        return line


def _is_video(row: dict) -> bool:
    """A row of the index is a video by its media kind (a broken video is not listed at all)."""
    return row.get("media_kind") == "video" or (row.get("media_kind") is None and is_video(row["rel_path"]))


def _fill_usage(report: CaptionReport, client: VisionClient) -> None:
    usage = client.usage
    report.prompt_tokens, report.completion_tokens = usage.prompt_tokens, usage.completion_tokens
    report.total_tokens, report.requests, report.retries = usage.total_tokens, usage.requests, usage.retries


class _CaptionRun:
    """`concurrency` workers take images from a queue; answers are written every WRITE_EVERY captions."""

    def __init__(self, store: Store, dataset: Dataset, request: CaptionRequest, client: VisionClient,
                 runner: JobRunner, report: CaptionReport, retries: _RetryNote) -> None:
        self.store, self.dataset, self.request = store, dataset, request
        self.client, self.runner, self.report = client, runner, report
        self.retries = retries
        self.answered = False
        """The endpoint answered once (the job left 'preparing')."""
        self.queue: asyncio.Queue = asyncio.Queue()
        self.pending: list[tuple[dict, str | None]] = []
        self.lock = asyncio.Lock()

    async def run(self, todo: list[dict]) -> None:
        for row in todo:
            self.queue.put_nowait(row)
        workers = min(self.request.concurrency, max(len(todo), 1))
        tasks = [asyncio.create_task(self._worker()) for _ in range(workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Keep every caption received before a failure, a cancel or an interrupt.
            await asyncio.shield(self._flush())

    def _prompt(self, row: dict, existing: str | None, frames: int | None) -> str:
        request = self.request
        trigger = request.trigger if request.trigger is not None else (row["class_tokens"] or "")
        tags = "" if existing in (None, "\0") else existing.strip()
        return render_prompt(request.prompt, tags=tags, trigger=trigger, filename=Path(row["rel_path"]).name,
                             frames=frames, media="image" if frames is None else "video clip",
                             length=request.length)

    def _media(self, row: dict) -> str | list[str]:
        """The item as data URLs: one for an image, `frames` JPEGs sampled over a clip (worker thread)."""
        path, max_side = self.dataset.path / row["rel_path"], self.request.max_side
        if _is_video(row):
            frames = sample_frames(path, self.request.frames, max_side=max_side, root=self.dataset.path)
            return [jpeg_data_url(frame, max_side) for frame in frames]
        return image_data_url(path, max_side, root=self.dataset.path)

    async def _worker(self) -> None:
        request, report = self.request, self.report
        while True:
            try:
                row = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await self.runner.check_cancelled()
            existing = existing_caption(row)
            try:
                media = await asyncio.to_thread(self._media, row)
            except VideoUnreadable as exc:  # a broken clip fails alone
                report.failed.append((row["rel_path"], f"cannot read video: {exc}"))
                continue
            except Exception as exc:  # an unreadable image fails alone
                report.failed.append((row["rel_path"], f"cannot read image: {type(exc).__name__}: {exc}"))
                continue
            frames = len(media) if isinstance(media, list) else None
            as_video = frames is not None and request.video_input == "video_url"
            try:
                # A cancel request ends the wait at once, in the middle of a request or of its retries.
                caption = await self.runner.until_cancelled(
                    self.client.caption(self._prompt(row, existing, frames), media, as_video=as_video),
                    status=self.retries.take)
            except ImageFailed as exc:
                await self._answered()
                report.failed.append((row["rel_path"], str(exc)))
                continue
            await self._answered()
            text = merge_caption(existing, caption, request.mode, request.separator)
            self.pending.append((row, None if text is None or text == row["caption"] else text))
            await self.runner.progress(advance=1)
            if len(self.pending) >= WRITE_EVERY:
                await self._flush()

    async def _answered(self) -> None:
        """The endpoint answered: the job is running from now on."""
        if not self.answered:
            self.answered = True
            await self.runner.set_state(JobStatus.RUNNING, f"captioning with {self.request.model} at "
                                                           f"{self.client.shown_url}")

    async def _flush(self) -> None:
        async with self.lock:
            batch, self.pending = self.pending, []
            if not batch:
                return
            changes = [CaptionChange(row["id"], text, caption_basis(row)) for row, text in batch if text is not None]
            result = await apply_caption_changes(self.store, self.dataset, changes, kind="caption",
                                                 params=self.request.params(),
                                                 description=f"captioned with {self.request.model}",
                                                 caption_set=self.request.caption_set)
            self.report.written += result.changed
            left_alone = {path for path, _ in result.skipped}
            self.report.conflicts.extend(sorted(left_alone))
            self.report.unchanged += sum(1 for _, text in batch if text is None)
            for row, _ in batch:
                if row["rel_path"] not in left_alone:
                    await self.runner.item_done(row["rel_path"])
            await self.runner.progress(advance=0, force=True)  # persists the finished items now
